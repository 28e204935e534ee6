package s3test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Binary looks on PATH first, then in GOPATH/bin, where go install puts
// the server and where CI's PATH does not reach.
func TestBinary(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	onPath, withGo, gopath := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.Symlink(goBin, filepath.Join(withGo, "go")); err != nil {
		t.Fatal(err)
	}
	fake := func(dir string) string {
		p := filepath.Join(dir, "versitygw")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("GOPATH", gopath)

	t.Setenv("PATH", withGo)
	if p, err := Binary(); err == nil {
		t.Fatalf("found %s where there is none", p)
	}
	inGopath := fake(filepath.Join(gopath, "bin"))
	if p, err := Binary(); err != nil || p != inGopath {
		t.Fatalf("Binary() = %q, %v; want %q", p, err, inGopath)
	}
	first := fake(onPath)
	t.Setenv("PATH", onPath+string(os.PathListSeparator)+withGo)
	if p, err := Binary(); err != nil || p != first {
		t.Fatalf("Binary() = %q, %v; want %q from PATH", p, err, first)
	}
}
