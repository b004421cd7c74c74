// Package coalesce runs an expensive, idempotent operation (a sync to
// stable storage) once for every caller that asked for it while it was
// not yet running: a caller arriving while a run is under way waits for
// the next run, which starts when the current one ends and serves
// everyone who arrived meanwhile. A lone caller runs the operation at
// once; nobody waits out a timer.
package coalesce

import (
	"errors"
	"sync"
)

// Group coalesces calls of one operation. The zero value is ready.
type Group struct {
	mu      sync.Mutex
	cond    sync.Cond // signalled when a run ends
	running bool      // a run is under way
	started uint64    // runs started so far
	done    uint64    // runs finished so far (they finish in order)
	failed  uint64    // the latest run that failed, 0 if none
	err     error     // its error
	waiters int       // callers waiting in Do
}

// Do returns once a run of fn that started after Do was called has
// finished, running fn itself if no other caller is about to. It returns
// fn's error, or the error of any later run, which may not have covered
// the work of this caller's run either.
func (g *Group) Do(fn func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond.L == nil {
		g.cond.L = &g.mu
	}
	// A run under way may have started before this caller's work was
	// done: it needs the next one.
	want := g.started + 1
	for {
		if g.done >= want {
			if g.failed >= want {
				return g.err
			}
			return nil
		}
		if !g.running {
			return g.run(fn)
		}
		g.waiters++
		g.cond.Wait()
		g.waiters--
	}
}

// run runs fn as the next run; g.mu is held on entry and on return. A
// panic in fn fails the run for its waiters and goes on up.
func (g *Group) run(fn func() error) (err error) {
	g.running = true
	g.started++
	run := g.started
	g.mu.Unlock()
	finished := false
	defer func() {
		g.mu.Lock()
		if !finished {
			err = errPanicked
		}
		g.running = false
		g.done = run
		if err != nil {
			g.failed, g.err = run, err
		}
		g.cond.Broadcast()
	}()
	err = fn()
	finished = true
	return err
}

var errPanicked = errors.New("coalesce: the operation panicked")
