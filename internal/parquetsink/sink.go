// Package parquetsink stores output files in a local directory. Files are
// written under a hidden temporary name, synced and renamed into place, so a
// reader never sees a partial file, and a file written again replaces the
// old one.
package parquetsink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tempSuffix marks files being written; they start with a dot and do not end
// in .parquet, so no reader glob picks them up.
const tempSuffix = ".tmp"

// Sink writes output files under one directory.
type Sink struct {
	dir string
}

// New returns a sink writing under dir. The directory is created by the
// first Write: an output directory that is not writable yet is a reason to
// retry writes, not to refuse to start.
func New(dir string) *Sink { return &Sink{dir: dir} }

// Check reports whether the output directory can be created and written now.
func (s *Sink) Check() error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	f, err := os.CreateTemp(s.dir, ".check-*"+tempSuffix)
	if err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	return errors.Join(f.Close(), os.Remove(f.Name()))
}

// Dir is the output directory.
func (s *Sink) Dir() string { return s.dir }

// Put makes data durable at key, a slash-separated path below the
// directory: written to a temporary file, synced, renamed over any previous
// version, and the directories synced. When Put returns nil the file
// survives a crash.
func (s *Sink) Put(_ context.Context, key string, data []byte) (err error) {
	if !fs.ValidPath(key) || strings.Contains(key, "\\") {
		return fmt.Errorf("write %q: not a relative slash-separated path", key)
	}
	path := filepath.Join(s.dir, filepath.FromSlash(key))
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*"+tempSuffix)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	// The rename is durable only once the directory entry is; the
	// directories between the file and the root may be new too.
	for d := dir; ; d = filepath.Dir(d) {
		if err := syncDir(d); err != nil {
			return err
		}
		if d == s.dir || len(d) <= len(s.dir) {
			return nil
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	err = d.Sync()
	return errors.Join(wrapIf(err, "sync directory "+dir), d.Close())
}

func wrapIf(err error, what string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// RemoveStaleTemp deletes temporary files older than age left by writers
// that crashed mid-write. Younger ones may belong to another consumer
// instance that is writing right now.
func (s *Sink) RemoveStaleTemp(age time.Duration, now time.Time) (removed int, err error) {
	err = filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() || !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, tempSuffix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		if now.Sub(info.ModTime()) < age {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed++
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("remove stale temporary files in %s: %w", s.dir, err)
	}
	return removed, nil
}
