package storage

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxKeyLen is S3's limit on an object key, in bytes; the directory backend
// keeps it too, so that a key valid for one backend is valid for both.
const maxKeyLen = 1024

// validateKey checks that key is a relative, slash-separated name that stays
// inside the store (see checkName). Its last element may not start with a
// dot either: those names are the backends' own temporary files and check
// objects.
func validateKey(key string) error {
	if err := checkName(key); err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalidKey, key, err)
	}
	if strings.HasPrefix(key[strings.LastIndexByte(key, '/')+1:], ".") {
		return fmt.Errorf("%w %q: name starts with a dot, reserved for temporary files", ErrInvalidKey, key)
	}
	return nil
}

// checkName checks a relative slash-separated name: UTF-8 (as S3 requires),
// no empty, "." or ".." element, no leading or trailing slash, no backslash
// (a separator on Windows), no control character.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case len(name) > maxKeyLen:
		return fmt.Errorf("%d bytes, more than %d", len(name), maxKeyLen)
	case !utf8.ValidString(name):
		return errors.New("not UTF-8")
	case strings.HasPrefix(name, "/"):
		return errors.New("absolute")
	case strings.ContainsRune(name, '\\'):
		return errors.New("contains a backslash")
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return errors.New("contains a control character")
		}
	}
	for e := range strings.SplitSeq(name, "/") {
		if e == "" || e == "." || e == ".." {
			return errors.New(`empty, "." or ".." path element`)
		}
	}
	return nil
}
