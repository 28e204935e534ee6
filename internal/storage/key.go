package storage

import (
	"fmt"
	"strings"

	"github.com/viewlog/viewlog/internal/location"
)

// validateKey checks that key is a relative, slash-separated name that stays
// inside the store (see location.CheckName). Its last element may not start with a
// dot either: those names are the backends' own temporary files and check
// objects.
func validateKey(key string) error {
	if err := location.CheckName(key); err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalidKey, key, err)
	}
	if strings.HasPrefix(key[strings.LastIndexByte(key, '/')+1:], ".") {
		return fmt.Errorf("%w %q: name starts with a dot, reserved for temporary files", ErrInvalidKey, key)
	}
	return nil
}
