// Package events runs a benchmark's child process (a script of the
// JavaScript reference, or the driver itself in a network namespace) that
// reports what it does as JSON lines on stdout, and waits for the events a
// driver names.
package events

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Event is what a child prints on each line: its name, and for the event
// named "error", what failed. A driver's own event type embeds it and adds
// the fields its children report.
type Event struct {
	Event string `json:"event"`
	Error string `json:"error,omitempty"`
}

func (e Event) base() Event { return e }

// Eventer is a driver's event type: a struct embedding Event.
type Eventer interface{ base() Event }

// Proc is a running child whose stdout is decoded into events of type E.
type Proc[E Eventer] struct {
	Cmd   *exec.Cmd
	Stdin io.WriteCloser // closing it asks the child to finish
	lines chan E
}

// Start starts cmd, passing its stderr through, and decodes its stdout.
// Lines that are not JSON are skipped.
func Start[E Eventer](cmd *exec.Cmd) (*Proc[E], error) {
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc[E]{Cmd: cmd, Stdin: stdin, lines: make(chan E, 64)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev E
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				p.lines <- ev
			}
		}
		close(p.lines)
	}()
	return p, nil
}

// Wait returns the next event called name, skipping others. An "error"
// event, the child's exit or the timeout end the wait with an error.
func (p *Proc[E]) Wait(name string, timeout time.Duration) (E, error) {
	var zero E
	t := time.After(timeout)
	for {
		select {
		case ev, ok := <-p.lines:
			if !ok {
				return zero, fmt.Errorf("%s exited before %q", strings.Join(p.Cmd.Args, " "), name)
			}
			switch b := ev.base(); b.Event {
			case "error":
				return zero, errors.New(b.Error)
			case name:
				return ev, nil
			}
		case <-t:
			return zero, fmt.Errorf("%s: no %q in %v", strings.Join(p.Cmd.Args, " "), name, timeout)
		}
	}
}

// Stop ends the child at once and reaps it.
func (p *Proc[E]) Stop() {
	p.Stdin.Close()
	p.Cmd.Process.Kill()
	p.Cmd.Wait()
}
