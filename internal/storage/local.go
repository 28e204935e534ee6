package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// tempSuffix marks files being written. Temporary names also start with a
// dot, so neither a "*.parquet" glob nor pyarrow or Spark (which skip names
// starting with "." or "_") sees them.
const tempSuffix = ".tmp"

// Local writes objects as files under one directory.
type Local struct {
	dir string // absolute

	// rootMu guards rootDurable: whether the directory itself, and any
	// parent that had to be created for it, is known to be durable.
	rootMu      sync.Mutex
	rootDurable bool

	// write writes data to the temporary file; tests replace it to fail
	// mid-write as a full disk would.
	write func(f *os.File, data []byte) (int, error)
}

// NewLocal returns a store writing under dir, made absolute against the
// working directory now. The directory is created by the first Put or
// Check: an output directory that is not writable yet is a reason to retry,
// not to refuse to start.
func NewLocal(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("output directory %s: %w", dir, err)
	}
	return &Local{dir: abs, write: (*os.File).Write}, nil
}

// Dir is the absolute output directory.
func (l *Local) Dir() string { return l.dir }

// String is the absolute output directory.
func (l *Local) String() string { return l.dir }

// Path is the file that key is written to.
func (l *Local) Path(key string) (string, error) {
	if err := validateKey(key); err != nil {
		return "", err
	}
	return filepath.Join(l.dir, filepath.FromSlash(key)), nil
}

// Check reports whether the output directory can be created and written
// now, by creating and removing a temporary file in it.
func (l *Local) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("check %s: %w", l.dir, err)
	}
	if err := l.ensureRoot(); err != nil {
		return l.fail("check", l.dir, err)
	}
	f, err := os.CreateTemp(l.dir, ".check-*"+tempSuffix)
	if err != nil {
		return l.fail("check", l.dir, err)
	}
	if err := errors.Join(f.Close(), os.Remove(f.Name())); err != nil {
		return l.fail("check", l.dir, err)
	}
	return nil
}

// Put makes data durable at Path(key): written to a temporary file in the
// same directory, synced, renamed over any previous version, and the
// directories up to the output directory synced. When Put returns nil the
// file survives a crash; when it fails, the previous version (if any) is
// left as it was and the temporary file is removed.
func (l *Local) Put(ctx context.Context, key string, data []byte) (err error) {
	path, err := l.Path(key)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", path, err)
	}
	if err := l.ensureRoot(); err != nil {
		return l.fail("put", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return l.fail("put", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*"+tempSuffix)
	if err != nil {
		return l.fail("put", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := l.write(tmp, data); err != nil {
		return l.fail("write", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return l.fail("sync", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return l.fail("close", tmp.Name(), err)
	}
	// The last moment to give up without replacing the previous version.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return l.fail("rename into", path, err)
	}
	// The rename is durable once the directory entry is, and a directory
	// created for this key (here or by a concurrent Put that has not synced
	// yet) is durable once its parent's entry is: sync every directory up
	// to the output directory.
	for d := dir; ; d = filepath.Dir(d) {
		if err := syncDir(d); err != nil {
			return l.fail("put", path, err)
		}
		if d == l.dir {
			return nil
		}
	}
}

// ensureRoot creates the output directory and syncs every parent it had
// to create, once per Local.
func (l *Local) ensureRoot() error {
	l.rootMu.Lock()
	defer l.rootMu.Unlock()
	if l.rootDurable {
		return nil
	}
	// The highest missing ancestor's parent is the last directory to sync.
	top := l.dir
	for {
		parent := filepath.Dir(top)
		if _, err := os.Stat(top); err == nil || parent == top {
			break
		}
		top = parent
	}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return err
	}
	for d := l.dir; ; d = filepath.Dir(d) {
		if err := syncDir(d); err != nil {
			return err
		}
		if d == top || d == filepath.Dir(d) {
			break
		}
	}
	l.rootDurable = true
	return nil
}

// fail wraps err with what was being done to path, and the class of the
// failure.
func (l *Local) fail(op, path string, err error) error {
	if class := classifyLocal(err); class != nil {
		return fmt.Errorf("%s %s: %w: %w", op, path, class, err)
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return d.Close()
}

// RemoveStale removes temporary files older than age; see RemoveStaleTemp.
func (l *Local) RemoveStale(_ context.Context, age time.Duration, now time.Time) (int, error) {
	return l.RemoveStaleTemp(age, now)
}

// RemoveStaleTemp deletes temporary files older than age left by writers
// that crashed mid-write. Younger ones may belong to another consumer
// instance writing to the same directory right now.
func (l *Local) RemoveStaleTemp(age time.Duration, now time.Time) (removed int, err error) {
	err = filepath.WalkDir(l.dir, func(path string, d fs.DirEntry, err error) error {
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
		return removed, fmt.Errorf("remove stale temporary files in %s: %w", l.dir, err)
	}
	return removed, nil
}
