package jsref

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/internal/syncbuf"
)

// Timeout bounds how long Process.Next and Process.Stop wait.
const Timeout = 2 * time.Minute

// Process is a long-running script started by Start, such as a peer. Its
// stdout is read as JSON lines, one value per line, and buffered without
// limit, so the script never blocks on an unread stdout.
type Process struct {
	t     testing.TB
	name  string // command line, for messages
	cmd   *exec.Cmd
	stdin io.WriteCloser

	stderr syncbuf.Buffer
	kill   sync.Once

	mu    sync.Mutex    // guards lines, eof and wake
	lines [][]byte      // stdout lines not yet read
	eof   bool          // stdout has ended
	wake  chan struct{} // closed and replaced when lines or eof change

	exited  chan struct{} // closed once the process has been waited for
	waitErr error         // from cmd.Wait; set before exited is closed
}

// Start starts script as a long-running process and returns at once. The
// process is killed, and waited for, in t.Cleanup; its stderr is logged
// there if the test failed.
func Start(t testing.TB, script string, args ...string) *Process {
	t.Helper()
	Require(t)
	cmd := Command(context.Background(), script, args...)
	p := &Process{
		t:      t,
		name:   commandLine(script, args),
		cmd:    cmd,
		wake:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	cmd.Stderr = &p.stderr
	cmd.WaitDelay = 10 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	go p.readLoop(stdout)
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", p.name, p.Stderr())
		}
	})
	return p
}

// readLoop queues stdout lines until EOF, then waits for the process.
func (p *Process) readLoop(stdout io.Reader) {
	r := bufio.NewReader(stdout)
	for {
		line, err := r.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			p.mu.Lock()
			p.lines = append(p.lines, line)
			close(p.wake)
			p.wake = make(chan struct{})
			p.mu.Unlock()
		}
		if err != nil {
			break
		}
	}
	p.mu.Lock()
	p.eof = true
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
	p.waitErr = p.cmd.Wait()
	close(p.exited)
}

// ReadJSON decodes the next stdout line into v, waiting for it until ctx
// ends. It returns an error if the process exits without printing another
// line or the line is not JSON.
func (p *Process) ReadJSON(ctx context.Context, v any) error {
	for {
		p.mu.Lock()
		if len(p.lines) > 0 {
			line := p.lines[0]
			p.lines = p.lines[1:]
			p.mu.Unlock()
			if err := json.Unmarshal(line, v); err != nil {
				return fmt.Errorf("%s: decoding %q: %w", p.name, line, err)
			}
			return nil
		}
		eof, wake := p.eof, p.wake
		p.mu.Unlock()
		if eof {
			<-p.exited
			return fmt.Errorf("%s exited (%v) before printing another line; stderr:\n%s", p.name, p.waitErr, p.Stderr())
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for a line: %w", p.name, ctx.Err())
		}
	}
}

// Next decodes the next stdout line into v, failing the test if none comes
// within Timeout. Call it from the test's goroutine.
func (p *Process) Next(v any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.t.Context(), Timeout)
	defer cancel()
	if err := p.ReadJSON(ctx, v); err != nil {
		p.t.Fatal(err)
	}
}

// Stdin returns the pipe to the process's standard input. Closing it is the
// usual way to ask a script to finish.
func (p *Process) Stdin() io.WriteCloser { return p.stdin }

// Stderr returns what the process has written to stderr so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// Done is closed when the process has exited and been waited for.
func (p *Process) Done() <-chan struct{} { return p.exited }

// Wait waits until the process exits or ctx ends. It returns the exit error,
// with the stderr, if the process did not exit with status 0.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.exited:
	case <-ctx.Done():
		return fmt.Errorf("%s: waiting for exit: %w", p.name, ctx.Err())
	}
	if p.waitErr != nil {
		return fmt.Errorf("%s: %w; stderr:\n%s", p.name, p.waitErr, p.Stderr())
	}
	return nil
}

// Kill kills the process, if it still runs, and waits up to Timeout for it
// to be reaped. It may be called more than once.
func (p *Process) Kill() {
	p.kill.Do(func() {
		p.stdin.Close()
		if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			p.t.Logf("%s: kill: %v", p.name, err)
		}
	})
	select {
	case <-p.exited:
	case <-time.After(Timeout):
		p.t.Errorf("%s: not reaped %v after kill", p.name, Timeout)
	}
}
