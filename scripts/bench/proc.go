package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process the bench started. Its output is split into lines,
// handed to onLine as they arrive, and the last few kept for error messages.
type child struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	out     *lineWriter
	done    chan struct{} // closed once the process has exited and been waited for
	exited  time.Time
	err     error
}

// children tracks every live child so that all of them are stopped on exit,
// Ctrl-C included.
type children struct {
	mu   sync.Mutex
	live map[*child]struct{}
}

var procs = &children{live: make(map[*child]struct{})}

// childEnv is the environment of every child: a minimal base, so that stray
// KAFKA_SERVER or TOPIC_NAME settings of the caller do not leak in, plus
// the Go runtime knobs if the caller set them on purpose.
func childEnv(extra map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, k := range []string{"GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// start runs path with args in dir ("" for the bench's own) and the given
// environment. onLine, if not nil, gets every line the process writes to
// stderr or stdout.
func start(name, path string, args, env []string, onLine func(string), dir string) (*child, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Dir = dir
	// Its own process group, so that a Ctrl-C on the terminal reaches only
	// the bench, which then stops the children in order, grandchildren
	// included (go test runs a test binary); and killed if the bench dies
	// without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c := &child{name: name, cmd: cmd, out: &lineWriter{onLine: onLine}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.out, c.out
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	procs.mu.Lock()
	procs.live[c] = struct{}{}
	procs.mu.Unlock()
	go func() {
		c.err = cmd.Wait()
		c.exited = time.Now()
		procs.mu.Lock()
		delete(procs.live, c)
		procs.mu.Unlock()
		close(c.done)
	}()
	return c, nil
}

// wait waits for the child to exit on its own, at most timeout.
func (c *child) wait(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
		if c.err != nil {
			return fmt.Errorf("%s: %w\n%s", c.name, c.err, c.out.tail())
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("%s did not finish within %v\n%s", c.name, timeout, c.out.tail())
	}
}

// stop sends SIGTERM and waits up to grace for the exit, then kills. It
// returns the exit error of a process that did not exit cleanly.
func (c *child) stop(grace time.Duration) error {
	select {
	case <-c.done:
		return c.err
	default:
	}
	// The whole process group: the child and anything it started.
	pgid := -c.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
		return c.err
	case <-t.C:
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-c.done
		return fmt.Errorf("%s did not exit within %v of SIGTERM; killed", c.name, grace)
	}
}

// stopAll stops every child still running.
func (cs *children) stopAll(grace time.Duration) {
	cs.mu.Lock()
	live := make([]*child, 0, len(cs.live))
	for c := range cs.live {
		live = append(live, c)
	}
	cs.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range live {
		wg.Go(func() { _ = c.stop(grace) })
	}
	wg.Wait()
}

// cpuSeconds is the user+system CPU time of an exited child.
func (c *child) cpuSeconds() float64 {
	ps := c.cmd.ProcessState
	return (ps.UserTime() + ps.SystemTime()).Seconds()
}

// peakRSS is the peak resident set (VmHWM) of a live child, in bytes.
// wait4's ru_maxrss is no use for this: Linux starts it from the resident
// set of the address space the child had before exec, which Go's os/exec
// shares with the parent (CLONE_VM), so every child would report at least
// the bench's own size.
func (c *child) peakRSS() (int64, error) {
	return procStatus(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid), "VmHWM")
}

// rss is the resident set of a live child, in bytes.
func (c *child) rss() (int64, error) {
	return procStatus(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid), "VmRSS")
}

// procStatus reads a kB line (VmHWM, VmRSS) of a /proc status file, in
// bytes.
func procStatus(path, key string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %s %q: %w", path, key, v, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}

// lineWriter splits what a child writes into lines.
type lineWriter struct {
	mu      sync.Mutex
	partial []byte
	last    []string
	onLine  func(string)
}

const keepLines = 40

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		if w.onLine != nil {
			w.onLine(line)
		}
		w.last = append(w.last, line)
		if len(w.last) > keepLines {
			w.last = w.last[len(w.last)-keepLines:]
		}
	}
	// Keep the buffer from growing when lines are consumed.
	if len(w.partial) == 0 {
		w.partial = w.partial[:0:0]
	}
	return len(p), nil
}

// tail is the last lines of output, for error messages.
func (w *lineWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return "--- last output ---\n" + strings.Join(w.last, "\n") + "\n" + string(w.partial)
}

// lines returns every kept line (the last keepLines).
func (w *lineWriter) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.last...)
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitListening waits until addr accepts connections or the child exits.
func waitListening(ctx context.Context, c *child, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("%s exited before listening on %s: %v\n%s", c.name, addr, c.err, c.out.tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after %v\n%s", c.name, addr, timeout, c.out.tail())
		}
	}
}
