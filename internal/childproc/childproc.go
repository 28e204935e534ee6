// Package childproc runs the project's programs as child processes for
// end-to-end tests: with exactly the environment it is given, output
// captured, stopped by signal, and always reaped when the test ends.
package childproc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a running (or finished) child process.
type Proc struct {
	name string
	cmd  *exec.Cmd
	out  syncBuffer // stdout and stderr as they interleave
	// stdout is standard output alone: the programs print their results
	// there and log to stderr.
	stdout syncBuffer
	done   chan struct{}
	err    error // set before done is closed
}

// Start runs path with args and exactly env as its environment: nothing of
// the test's own environment leaks in, as in a container. When the test
// ends, the process is killed if still running, and its output is logged if
// the test failed.
func Start(t testing.TB, path string, env map[string]string, args ...string) *Proc {
	t.Helper()
	p := &Proc{name: filepath.Base(path), done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = []string{}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	slices.Sort(p.cmd.Env)
	p.cmd.Stdout, p.cmd.Stderr = io.MultiWriter(&p.out, &p.stdout), &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", p.name, p.Output())
		}
	})
	return p
}

// Name is the program's file name.
func (p *Proc) Name() string { return p.name }

// Output is what the process wrote to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

// Stdout is what the process wrote to standard output so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to timeout for the process to end. It
// returns how long that took, and an error unless the process exited 0.
func (p *Proc) Stop(timeout time.Duration) (time.Duration, error) {
	if p.Exited() {
		return 0, fmt.Errorf("%s had already exited: %v", p.name, p.err)
	}
	began := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.Kill()
		return time.Since(began), fmt.Errorf("%s still running %v after SIGTERM", p.name, timeout)
	}
	took := time.Since(began)
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return took, fmt.Errorf("%s: exit status %d after SIGTERM, want 0", p.name, ee.ExitCode())
	}
	return took, p.err
}

// Kill sends SIGKILL, if the process still runs, and waits for it to end.
func (p *Proc) Kill() {
	if !p.Exited() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// FreeAddr returns a loopback address with a port nothing listens on now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// WaitTCP waits until addr accepts connections, failing the test if p exits
// first or timeout passes.
func WaitTCP(t testing.TB, addr string, p *Proc, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if p.Exited() {
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.Output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: nothing listens on %s after %v\n%s", p.name, addr, timeout, p.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer that a child writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
