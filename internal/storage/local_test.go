package storage_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/viewlog/viewlog/internal/storage"
	"github.com/viewlog/viewlog/internal/storage/storagetest"
)

// openLocal is a directory store under a fresh root (the directory itself
// not created yet, its name with a space); its slow twin, whose file writes
// trickle; and its failing twin, whose writes stop halfway with ENOSPC as
// on a full disk.
func openLocal(t *testing.T) storagetest.Backend {
	root := t.TempDir()
	dir := filepath.Join(root, "output data")
	var stores [3]*Local
	for i := range stores {
		var err error
		if stores[i], err = NewLocal(dir); err != nil {
			t.Fatal(err)
		}
	}
	store, slow, failing := stores[0], stores[1], stores[2]
	SetWrite(slow, func(f *os.File, data []byte) (int, error) {
		const chunk = 256 << 10
		n := 0
		for len(data) > 0 {
			c := min(chunk, len(data))
			m, err := f.Write(data[:c])
			n += m
			if err != nil {
				return n, err
			}
			data = data[c:]
			time.Sleep(10 * time.Millisecond)
		}
		return n, nil
	})
	SetWrite(failing, func(f *os.File, data []byte) (int, error) {
		n, err := f.Write(data[:len(data)/2])
		if err != nil {
			return n, err
		}
		return n, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	})
	return storagetest.Backend{
		Store:   store,
		Slow:    slow,
		Failing: failing,
		Prefix:  "output data/",
		List: func(context.Context) ([]string, error) {
			return walkFiles(root, func(name string) bool { return !strings.HasPrefix(name, ".") })
		},
		Read: func(_ context.Context, name string) ([]byte, error) {
			return os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		},
		Leftovers: func(context.Context) ([]string, error) {
			return walkFiles(root, func(name string) bool { return strings.HasPrefix(name, ".") })
		},
		LargeSize: 4 << 20,
	}
}

// walkFiles lists the files under root whose base name passes keep, as
// sorted slash-separated paths relative to root.
func walkFiles(root string, keep func(name string) bool) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a temporary file renamed meanwhile
		}
		if err != nil || d.IsDir() || !keep(d.Name()) {
			return err
		}
		rel, err := filepath.Rel(root, path)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	slices.Sort(out)
	return out, err
}

func TestLocalContract(t *testing.T) {
	storagetest.TestStore(t, openLocal)
}

// A directory that cannot be created (a file is in the way; permissions
// would not stop root, which CI runs as) fails Put and Check with nothing
// visible.
func TestLocalPathBlocked(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "network_id=1"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, _ := NewLocal(root)
	if err := l.Put(t.Context(), "network_id=1/m/part.parquet", []byte("data")); err == nil {
		t.Fatal("Put under a file succeeded")
	}
	if err := l.Check(t.Context()); err != nil {
		t.Fatalf("Check on a writable directory: %v", err)
	}
	under, _ := NewLocal(filepath.Join(root, "network_id=1", "x"))
	if err := under.Check(t.Context()); err == nil {
		t.Fatal("Check passes on a path under a file")
	}
	files, err := walkFiles(root, func(string) bool { return true })
	if err != nil || !slices.Equal(files, []string{"network_id=1"}) {
		t.Fatalf("files after failed writes: %q, %v", files, err)
	}
}

// A directory this process may not write gives ErrAccessDenied. Root
// ignores directory permissions, so the case is only reachable as a
// normal user.
func TestLocalNotWritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes any directory")
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(root, 0o755) })
	l, _ := NewLocal(filepath.Join(root, "out"))
	for name, err := range map[string]error{
		"Check": l.Check(t.Context()),
		"Put":   l.Put(t.Context(), "a/b.parquet", []byte("x")),
	} {
		if !errors.Is(err, ErrAccessDenied) || !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s: %v, want ErrAccessDenied wrapping fs.ErrPermission", name, err)
		}
	}
}

func TestLocalRemoveStaleTemp(t *testing.T) {
	dir := t.TempDir()
	l, _ := NewLocal(dir)
	sub := filepath.Join(dir, "network_id=1", "minute_timestamp=2024-09-11_10-05-00")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(sub, ".part-t-00000.parquet.123.tmp")
	young := filepath.Join(sub, ".part-t-00001.parquet.456.tmp")
	keep := filepath.Join(sub, "part-t-00000.parquet")
	oldKeep := filepath.Join(sub, "part-t-00002.parquet")
	for _, p := range []string{old, young, keep, oldKeep} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	for _, p := range []string{old, oldKeep} {
		if err := os.Chtimes(p, now.Add(-time.Hour), now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := l.RemoveStale(t.Context(), 10*time.Minute, now)
	if err != nil || n != 1 {
		t.Fatalf("removed %d, %v; want 1", n, err)
	}
	for p, exists := range map[string]bool{old: false, young: true, keep: true, oldKeep: true} {
		if _, err := os.Stat(p); (err == nil) != exists {
			t.Errorf("%s exists=%v, want %v", filepath.Base(p), err == nil, exists)
		}
	}
}

// A directory that does not exist yet has nothing stale.
func TestLocalRemoveStaleTempMissingDir(t *testing.T) {
	l, _ := NewLocal(filepath.Join(t.TempDir(), "not-yet"))
	if n, err := l.RemoveStaleTemp(time.Minute, time.Now()); n != 0 || err != nil {
		t.Fatalf("RemoveStaleTemp on a missing directory: %d, %v", n, err)
	}
}

// Put creates the output directory and the parents it lacks; String and
// Dir name it absolutely, so the log says where output goes even when
// OUTPUT_DIR is relative.
func TestLocalRelativeDir(t *testing.T) {
	t.Chdir(t.TempDir())
	l, err := NewLocal("data/out")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	want := filepath.Join(wd, "data", "out")
	if l.String() != want || l.Dir() != want {
		t.Fatalf("String %q, Dir %q; want %q", l.String(), l.Dir(), want)
	}
	if err := l.Put(t.Context(), "k/v.parquet", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(want, "k", "v.parquet")); err != nil || string(got) != "v" {
		t.Fatalf("read back %q, %v", got, err)
	}
}
