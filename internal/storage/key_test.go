package storage_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/viewlog/viewlog/internal/storage"
)

// The local path of a valid key stays inside the directory, and any key
// that would leave it (or collide with temporary names) is refused.
func FuzzLocalPath(f *testing.F) {
	for _, k := range []string{
		"network_id=1/minute_timestamp=2026-11-25_12-14-00/part-view_log-00002.parquet",
		"../x", "a/../../b", "/abs", "a\\..\\b", ".hidden", "a/.b", "a//b", "..", ".", "a/..", "ü/名前",
	} {
		f.Add(k)
	}
	root := f.TempDir()
	l, err := NewLocal(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key string) {
		p, err := l.Path(key)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("Path(%q): %v, not ErrInvalidKey", key, err)
			}
			return
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(os.PathSeparator)) || filepath.IsAbs(rel) {
			t.Fatalf("Path(%q) = %q, outside %q", key, p, root)
		}
		if filepath.ToSlash(rel) != key {
			t.Fatalf("Path(%q) = %q: the key was rewritten", key, rel)
		}
		if strings.HasPrefix(filepath.Base(p), ".") {
			t.Fatalf("Path(%q) = %q: a hidden name, reserved for temporary files", key, p)
		}
	})
}
