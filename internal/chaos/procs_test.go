package chaos

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xbot/xbot/internal/childproc"
)

// capture is everything one process life wrote, kept for the secret scan and for diagnosis.
type capture struct {
	name string
	mu   sync.Mutex
	out  bytes.Buffer
	err  bytes.Buffer
}

type captureWriter struct {
	c   *capture
	buf *bytes.Buffer
}

func (w captureWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.buf.Write(p)
}

func (c *capture) stdout() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func (c *capture) stderr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err.String()
}

// tail is the last n lines of both streams.
func (c *capture) tail(n int) string {
	lines := strings.Split(strings.TrimSpace(c.stdout()+c.stderr()), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// proc is one long-running process of the fleet, restartable; every life gets its own capture.
type proc struct {
	h    *harness
	name string
	args []string
	env  []string

	mu    sync.Mutex
	cmd   *exec.Cmd
	cap   *capture
	done  chan struct{}
	lives int
}

// start launches a new life of the process.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s is already running", p.name)
		}
	}
	p.lives++
	c := p.h.newCapture(fmt.Sprintf("%s#%d", p.name, p.lives))
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = captureWriter{c, &c.out}, captureWriter{c, &c.err}
	cmd.SysProcAttr = childproc.Attr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.cap, p.done = cmd, c, done
	return nil
}

func (p *proc) current() (*exec.Cmd, *capture, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.cap, p.done
}

// running reports whether the current life has not exited.
func (p *proc) running() bool {
	cmd, _, done := p.current()
	if cmd == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	cmd, _, done := p.current()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop sends SIGTERM and waits up to grace, then kills.
func (p *proc) stop(grace time.Duration) {
	cmd, _, done := p.current()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		p.kill()
	}
}

// waitLog waits until the current life's stdout contains s, failing early if the process exits.
func (p *proc) waitLog(s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		_, c, done := p.current()
		if strings.Contains(c.stdout(), s) {
			return nil
		}
		select {
		case <-done:
			if strings.Contains(c.stdout(), s) {
				return nil
			}
			return fmt.Errorf("%s exited before logging %q:\n%s", p.name, s, c.tail(20))
		case <-time.After(100 * time.Millisecond):
		}
	}
	_, c, _ := p.current()
	return fmt.Errorf("%s did not log %q within %s:\n%s", p.name, s, timeout, c.tail(20))
}

// firstLine returns the first stdout line of the current life that starts with prefix.
func (p *proc) firstLine(prefix string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		_, c, _ := p.current()
		sc := bufio.NewScanner(strings.NewReader(c.stdout()))
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), prefix) {
				return sc.Text(), nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("%s printed no line starting %q", p.name, prefix)
}

// run runs a short command to completion and returns its stdout; its output is captured too.
func (h *harness) run(t *testing.T, name string, env []string, args ...string) (string, error) {
	t.Helper()
	c := h.newCapture(name)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = captureWriter{c, &c.out}, captureWriter{c, &c.err}
	err := cmd.Run()
	if err != nil {
		return c.stdout(), fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, c.tail(20))
	}
	return c.stdout(), nil
}

// baseEnv is the little of the test's environment a child needs.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GOCACHE", "GOPATH", "GOFLAGS", "GOMODCACHE"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}
