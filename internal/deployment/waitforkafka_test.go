package deployment

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/viewlog/viewlog/internal/childproc"
)

// posixShell is dash where it is installed, the strictest common sh, so
// that a bash-only construct in the script fails here.
func posixShell(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"dash", "sh"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no sh")
	return ""
}

// toolDir returns a directory holding links to the named programs found in
// PATH, to run the script with only those. Missing ones are left out.
func toolDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			if err := os.Symlink(p, filepath.Join(dir, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

type waitResult struct {
	code    int
	stdout  string
	stderr  string
	elapsed time.Duration
}

func runWait(t *testing.T, path string, environ []string, args ...string) waitResult {
	t.Helper()
	script := filepath.Join(repoRoot(t), "scripts", "wait-for-kafka.sh")
	cmd := exec.Command(posixShell(t), append([]string{script}, args...)...)
	cmd.Env = append([]string{"PATH=" + path}, environ...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	begin := time.Now()
	err := cmd.Run()
	r := waitResult{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(begin)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// TestWaitForKafkaScript runs scripts/wait-for-kafka.sh with a POSIX sh
// against a listening port, a closed one and one that opens late, once per
// way it can probe.
func TestWaitForKafkaScript(t *testing.T) {
	sh := posixShell(t)
	script := filepath.Join(repoRoot(t), "scripts", "wait-for-kafka.sh")
	if out, err := exec.Command(sh, "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("%s -n: %v\n%s", sh, err, out)
	}
	if r := runWait(t, os.Getenv("PATH"), nil); r.code != 2 || !strings.Contains(r.stderr, "usage:") {
		t.Errorf("no arguments: exit %d, stderr %q; want 2 and the usage", r.code, r.stderr)
	}

	// Each way the script can probe, chosen by what PATH offers.
	probes := map[string]string{
		"bash /dev/tcp": toolDir(t, "date", "sleep", "bash"),
		"no probe":      toolDir(t, "date", "sleep"),
	}
	if _, err := exec.LookPath("nc"); err == nil {
		probes["nc"] = toolDir(t, "date", "sleep", "nc")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		delete(probes, "bash /dev/tcp")
	}
	for name, path := range probes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			host, port, _ := net.SplitHostPort(l.Addr().String())

			if name == "no probe" {
				r := runWait(t, path, nil, host, port)
				if r.code != 1 || !strings.Contains(r.stderr, "none of nc, bash or python3") {
					t.Errorf("exit %d, stderr %q; want 1 and a message naming what to install", r.code, r.stderr)
				}
				return
			}

			// Listening: runs the command with its arguments.
			r := runWait(t, path, nil, host, port, sh, "-c", `echo ran "$@"`, "cmd", "a b", "c")
			if r.code != 0 || r.stdout != "ran a b c\n" {
				t.Errorf("listening: exit %d, stdout %q, stderr %q; want 0 and the command's output", r.code, r.stdout, r.stderr)
			}

			// Closed: gives up after WAIT_TIMEOUT with a message.
			closed := childproc.FreeAddr(t)
			chost, cport, _ := net.SplitHostPort(closed)
			r = runWait(t, path, []string{"WAIT_TIMEOUT=1"}, chost, cport, sh, "-c", "echo must not run")
			if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "did not accept connections within 1s") {
				t.Errorf("closed: exit %d, stdout %q, stderr %q; want 1, no command, a timeout message", r.code, r.stdout, r.stderr)
			}
			if r.elapsed > 10*time.Second {
				t.Errorf("closed: took %v with WAIT_TIMEOUT=1", r.elapsed)
			}

			// Opening later: keeps trying until it does.
			late := childproc.FreeAddr(t)
			lhost, lport, _ := net.SplitHostPort(late)
			opened := make(chan net.Listener, 1)
			time.AfterFunc(1500*time.Millisecond, func() {
				l, err := net.Listen("tcp", late)
				if err != nil {
					t.Error(err)
				}
				opened <- l
			})
			r = runWait(t, path, []string{"WAIT_TIMEOUT=20"}, lhost, lport)
			if ll := <-opened; ll != nil {
				ll.Close()
			}
			if r.code != 0 || r.elapsed < time.Second {
				t.Errorf("opening after 1.5s: exit %d after %v, stderr %q; want 0 after the port opened", r.code, r.elapsed, r.stderr)
			}
		})
	}
}
