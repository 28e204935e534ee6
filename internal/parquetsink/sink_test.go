package parquetsink

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPutReplaces(t *testing.T) {
	dir := t.TempDir()
	s := New(dir)
	key := "network_id=3/minute_timestamp=2024-09-11_10-05-00/part-view_log-00002.parquet"
	for _, data := range []string{"first version", "second"} {
		if err := s.Put(t.Context(), key, []byte(data)); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.FromSlash(key))
		got, err := os.ReadFile(path)
		if err != nil || string(got) != data {
			t.Fatalf("read back %q, %v; want %q", got, err, data)
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 || entries[0].Name() != filepath.Base(path) {
			t.Fatalf("directory holds %v, want only the file", entries)
		}
	}
	for _, bad := range []string{"../x", "/abs", "a/../../b", `a\b`, ""} {
		if s.Put(t.Context(), bad, nil) == nil {
			t.Errorf("Put(%q) accepted a key outside the directory", bad)
		}
	}
}

// A directory that cannot be created (a file is in the way; directory
// permissions would not stop root) fails the write with nothing visible.
func TestWriteFailureLeavesNothingVisible(t *testing.T) {
	dir := t.TempDir()
	s := New(dir)
	if err := os.WriteFile(filepath.Join(dir, "network_id=1"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := s.Put(t.Context(), "network_id=1/minute_timestamp=2024-09-11_10-05-00/part-t-00000.parquet", []byte("x"))
	if err == nil {
		t.Fatal("write into a file-as-directory succeeded")
	}
	if s.Check() != nil {
		t.Fatal("Check fails on a writable directory")
	}
	if New(filepath.Join(dir, "network_id=1", "x")).Check() == nil {
		t.Fatal("Check passes on a path under a file")
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "**", "*.parquet"))
	if len(matches) != 0 {
		t.Fatalf("partial output visible: %v", matches)
	}
}

func TestRemoveStaleTemp(t *testing.T) {
	dir := t.TempDir()
	s := New(dir)
	sub := filepath.Join(dir, "network_id=1", "minute_timestamp=2024-09-11_10-05-00")
	os.MkdirAll(sub, 0o755)
	old := filepath.Join(sub, ".part-t-00000.parquet.123.tmp")
	young := filepath.Join(sub, ".part-t-00001.parquet.456.tmp")
	keep := filepath.Join(sub, "part-t-00000.parquet")
	for _, p := range []string{old, young, keep} {
		os.WriteFile(p, nil, 0o644)
	}
	now := time.Now()
	os.Chtimes(old, now.Add(-time.Hour), now.Add(-time.Hour))
	n, err := s.RemoveStaleTemp(10*time.Minute, now)
	if err != nil || n != 1 {
		t.Fatalf("removed %d, %v; want 1", n, err)
	}
	for p, exists := range map[string]bool{old: false, young: true, keep: true} {
		if _, err := os.Stat(p); (err == nil) != exists {
			t.Errorf("%s exists=%v, want %v", filepath.Base(p), err == nil, exists)
		}
	}
}
