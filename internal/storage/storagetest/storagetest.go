// Package storagetest checks that a storage backend keeps the contract of
// package storage, as testing/fstest checks a file system: a backend's own
// test calls TestStore with a constructor, and the same tests run against
// every backend.
package storagetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/viewlog/viewlog/internal/storage"
)

// Store is the writing side of a backend.
type Store interface {
	Put(ctx context.Context, key string, data []byte) error
	Check(ctx context.Context) error
}

// Backend is one store under test, and the means to look at what it wrote
// without going through it.
type Backend struct {
	// Store writes to an empty place.
	Store Store
	// Slow writes to the same place as Store, slowed down at a layer below
	// the store's own code (the file writes, the connection), so that the
	// suite can watch a Put of LargeSize bytes midway.
	Slow Store
	// Failing writes to the same place as Store, but every Put of
	// LargeSize bytes fails partway through, at a layer below the store's
	// own code (a full disk, a connection that breaks mid-upload).
	Failing Store
	// Prefix is what Store puts before its keys among the names List
	// returns: "" or ending in a slash.
	Prefix string
	// List returns the names of the complete objects a reader of the place
	// can see, sorted: all of them, not only those under Prefix, so that a
	// write outside it is found.
	List func(ctx context.Context) ([]string, error)
	// Read returns the content of the object name (Prefix included), or an
	// error wrapping fs.ErrNotExist if there is none.
	Read func(ctx context.Context, name string) ([]byte, error)
	// Leftovers returns what writers may leave behind that readers do not
	// see: temporary files, incomplete multipart uploads. The suite
	// expects none once a Put or Check has returned, whether it failed or
	// not.
	Leftovers func(ctx context.Context) ([]string, error)
	// LargeSize is the size of the objects that Slow and Failing write; for
	// an object store, more than the multipart threshold, so that the
	// multipart path is the one watched and broken.
	LargeSize int
}

// TestStore runs the contract's tests as subtests of t, each against a
// fresh backend from open.
func TestStore(t *testing.T, open func(t *testing.T) Backend) {
	tests := []struct {
		name string
		run  func(*testing.T, Backend)
	}{
		{"RoundTrip", testRoundTrip},
		{"Layout", testLayout},
		{"Rewrite", testRewrite},
		{"NothingVisibleBeforePutReturns", testNothingVisibleEarly},
		{"RewriteNeverShowsPartOrNothing", testRewriteAtomic},
		{"FailedPutLeavesNothing", testFailedPut},
		{"FailedRewriteKeepsPrevious", testFailedRewrite},
		{"CancelledContext", testCancelled},
		{"ConcurrentPuts", testConcurrent},
		{"InvalidKeys", testInvalidKeys},
		{"Check", testCheck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := open(t)
			if b.Store == nil || b.Slow == nil || b.Failing == nil || b.List == nil || b.Read == nil || b.Leftovers == nil || b.LargeSize <= 0 {
				t.Fatal("storagetest: Backend needs Store, Slow, Failing, List, Read, Leftovers and LargeSize")
			}
			tt.run(t, b)
		})
	}
}

// The key layout the consumer writes.
const partKey = "network_id=1/minute_timestamp=2026-11-25_12-14-00/part-view_log-00002.parquet"

// content is size bytes that depend on seed, so that a prefix, a mix or a
// stale version of one content never equals another.
func content(seed string, size int) []byte {
	h := fnv.New64a()
	h.Write([]byte(seed))
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], h.Sum64())
	binary.LittleEndian.PutUint64(key[8:], uint64(size))
	b := make([]byte, size)
	_, _ = rand.NewChaCha8(key).Read(b) // never fails
	return b
}

func put(t *testing.T, s Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, data); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
}

// expectObjects checks that exactly names are visible, each with its
// content, and that nothing is left over.
func expectObjects(t *testing.T, b Backend, want map[string][]byte) {
	t.Helper()
	names, err := b.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	wantNames := make([]string, 0, len(want))
	for n := range want {
		wantNames = append(wantNames, n)
	}
	slices.Sort(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Errorf("visible objects %q, want %q", names, wantNames)
	}
	for _, n := range wantNames {
		got, err := b.Read(t.Context(), n)
		if err != nil {
			t.Errorf("Read(%q): %v", n, err)
			continue
		}
		if msg := diff(got, want[n]); msg != "" {
			t.Errorf("Read(%q): %s", n, msg)
		}
	}
	expectNoLeftovers(t, b)
}

func expectNoLeftovers(t *testing.T, b Backend) {
	t.Helper()
	left, err := b.Leftovers(t.Context())
	if err != nil {
		t.Fatalf("Leftovers: %v", err)
	}
	if len(left) > 0 {
		t.Errorf("left behind: %q", left)
	}
}

// diff describes how got differs from want, or returns "".
func diff(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Sprintf("%d bytes, want %d; first difference at byte %d", len(got), len(want), i)
}

func testRoundTrip(t *testing.T, b Backend) {
	want := map[string][]byte{}
	for _, size := range []int{0, 1, 1000, 100 << 10} {
		key := fmt.Sprintf("sizes/size-%d.bin", size)
		data := content(key, size)
		put(t, b.Store, key, data)
		want[b.Prefix+key] = data
	}
	expectObjects(t, b, want)
}

// Each key lands at exactly Prefix+key: no escaping, no re-encoding of
// "=", ":", spaces or non-ASCII letters, no flattening.
func testLayout(t *testing.T, b Backend) {
	keys := []string{
		partKey,
		"top.parquet",
		"a/b/c/d/e/deep.parquet",
		"with space/and=equals:colon/ünïcode-名前.parquet",
		"trailing.dots./x..y",
		"network_id=-1/minute_timestamp=1970-01-01_00-00-00/part-a.b-c_d-1073741824.parquet",
	}
	want := map[string][]byte{}
	for _, k := range keys {
		data := content(k, 64)
		put(t, b.Store, k, data)
		want[b.Prefix+k] = data
	}
	expectObjects(t, b, want)
}

// A rewrite replaces: the new bytes (shorter and longer than before), one
// object, nothing left over.
func testRewrite(t *testing.T, b Backend) {
	versions := [][]byte{content("v1", 50_000), content("v2", 10), content("v3", 200_000), {}}
	for _, v := range versions {
		put(t, b.Store, partKey, v)
		expectObjects(t, b, map[string][]byte{b.Prefix + partKey: v})
	}
}

// observe watches the place while put runs: every observation must pass
// ok. It fails the test unless at least one observation began while put
// ran, so that the test cannot pass without watching a write.
func observe(t *testing.T, b Backend, put func() error, ok func(names []string, read func(string) ([]byte, error)) error) {
	t.Helper()
	ctx := t.Context()
	var (
		putting  atomic.Int32 // 0 before, 1 during, 2 after put
		during   int          // observations that began during put
		firstErr error
		started  = make(chan struct{})
		wg       sync.WaitGroup
	)
	wg.Go(func() {
		signal := sync.OnceFunc(func() { close(started) })
		defer signal()
		for {
			phase := putting.Load()
			names, err := b.List(ctx)
			if err == nil {
				err = ok(names, func(name string) ([]byte, error) { return b.Read(ctx, name) })
			}
			if err != nil {
				firstErr = err
				return
			}
			if phase == 1 {
				during++
			}
			signal()
			if phase == 2 {
				return
			}
		}
	})
	<-started
	putting.Store(1)
	putErr := put()
	putting.Store(2)
	wg.Wait()
	if putErr != nil {
		t.Fatalf("Put: %v", putErr)
	}
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	if during == 0 {
		t.Fatalf("no observation began during the Put of %d bytes; slow the Slow store down", b.LargeSize)
	}
	t.Logf("%d observations during the Put", during)
}

// While a new object is being written, readers see either nothing or the
// whole object: never a part of it, never a temporary name.
func testNothingVisibleEarly(t *testing.T, b Backend) {
	data := content("large", b.LargeSize)
	name := b.Prefix + partKey
	observe(t, b, func() error { return b.Slow.Put(t.Context(), partKey, data) },
		func(names []string, read func(string) ([]byte, error)) error {
			switch {
			case len(names) == 0:
				return nil
			case len(names) > 1 || names[0] != name:
				return fmt.Errorf("during the Put, visible: %q; want nothing or %q", names, name)
			}
			got, err := read(name)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%q listed but not readable", name)
			}
			if err != nil {
				return err
			}
			if msg := diff(got, data); msg != "" {
				return fmt.Errorf("during the Put, %q read back: %s", name, msg)
			}
			return nil
		})
	expectObjects(t, b, map[string][]byte{name: data})
}

// While an object is being rewritten, readers see the old version or the
// new one, whole: never a part, a mix, or nothing.
func testRewriteAtomic(t *testing.T, b Backend) {
	old, new := content("old", b.LargeSize), content("new", b.LargeSize+1)
	name := b.Prefix + partKey
	put(t, b.Store, partKey, old)
	observe(t, b, func() error { return b.Slow.Put(t.Context(), partKey, new) },
		func(names []string, read func(string) ([]byte, error)) error {
			if len(names) != 1 || names[0] != name {
				return fmt.Errorf("during the rewrite, visible: %q; want only %q", names, name)
			}
			got, err := read(name)
			if err != nil {
				return fmt.Errorf("during the rewrite: %w", err)
			}
			if diff(got, old) != "" && diff(got, new) != "" {
				return fmt.Errorf("during the rewrite, %q read back %d bytes, neither the old (%d) nor the new (%d) version", name, len(got), len(old), len(new))
			}
			return nil
		})
	expectObjects(t, b, map[string][]byte{name: new})
}

func testFailedPut(t *testing.T, b Backend) {
	err := b.Failing.Put(t.Context(), partKey, content("doomed", b.LargeSize))
	if err == nil {
		t.Fatal("Put on the failing store returned nil")
	}
	t.Logf("failed as intended: %v", err)
	expectObjects(t, b, map[string][]byte{})
}

func testFailedRewrite(t *testing.T, b Backend) {
	old := content("old", 1000)
	put(t, b.Store, partKey, old)
	if err := b.Failing.Put(t.Context(), partKey, content("doomed", b.LargeSize)); err == nil {
		t.Fatal("Put on the failing store returned nil")
	}
	expectObjects(t, b, map[string][]byte{b.Prefix + partKey: old})
}

func testCancelled(t *testing.T, b Backend) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := b.Store.Put(ctx, partKey, content("cancelled", 1000))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: %v, want context.Canceled", err)
	}
	expectObjects(t, b, map[string][]byte{})
}

// Puts of different keys run concurrently, some creating the same new
// directories (or key prefixes) at the same time.
func testConcurrent(t *testing.T, b Backend) {
	const n = 24
	want := map[string][]byte{}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("network_id=%d/minute_timestamp=2026-11-25_12-%02d-00/part-view_log-%05d.parquet", i%3, i%2, i)
		want[b.Prefix+keys[i]] = content(keys[i], 20_000+i*1000)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, k := range keys {
		wg.Go(func() {
			<-start
			errs[i] = b.Store.Put(t.Context(), k, want[b.Prefix+k])
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	expectObjects(t, b, want)
}

func testInvalidKeys(t *testing.T, b Backend) {
	for _, k := range []string{
		"", "/abs/x.parquet", "../x.parquet", "a/../../x", "a/./b", "a//b", "a/b/", "a\\b",
		".hidden", "a/.part-x.parquet.123.tmp", "a\x00b", "a\nb", "\xff\xfe",
	} {
		err := b.Store.Put(t.Context(), k, []byte("x"))
		if !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Put(%q): %v, want ErrInvalidKey", k, err)
		}
	}
	expectObjects(t, b, map[string][]byte{})
}

// Check writes nothing a reader sees, and leaves nothing behind.
func testCheck(t *testing.T, b Backend) {
	for range 2 {
		if err := b.Store.Check(t.Context()); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	expectObjects(t, b, map[string][]byte{})
}
