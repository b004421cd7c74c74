package coalesce

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Callers that arrive while a run is under way share the next run: one
// run for all of them, not one each, and none returns before a run that
// started after it arrived has finished.
func TestCallersShareTheNextRun(t *testing.T) {
	var g Group
	var runs atomic.Int32
	first := make(chan struct{})
	release := make(chan struct{})
	var work atomic.Int64 // bumped by callers before Do; a run records what it saw
	var covered atomic.Int64
	fn := func() error {
		n := runs.Add(1)
		seen := work.Load()
		if n == 1 {
			close(first)
			<-release
		}
		covered.Store(seen)
		return nil
	}
	go g.Do(fn)
	<-first
	const waiters = 20
	var wg sync.WaitGroup
	for range waiters {
		wg.Go(func() {
			mine := work.Add(1)
			if err := g.Do(fn); err != nil {
				t.Error(err)
			}
			if covered.Load() < mine {
				t.Errorf("Do returned after a run that saw %d units of work, before this caller's %d", covered.Load(), mine)
			}
		})
	}
	// Let the waiters queue behind the first run, then end it.
	for g.waiting() < waiters {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := runs.Load(); n != 2 {
		t.Fatalf("%d runs for one caller and %d that arrived during its run; want 2", n, waiters)
	}
}

// A lone caller runs at once, every time.
func TestLoneCallerRuns(t *testing.T) {
	var g Group
	n := 0
	for range 3 {
		if err := g.Do(func() error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n != 3 {
		t.Fatalf("%d runs for 3 calls in a row", n)
	}
}

// The waiters of a failed run get its error; a later caller runs again.
func TestFailureReachesWaiters(t *testing.T) {
	var g Group
	boom := errors.New("boom")
	started := make(chan struct{})
	release := make(chan struct{})
	runs := 0
	go g.Do(func() error { close(started); <-release; return nil })
	<-started
	errs := make(chan error, 5)
	for range 5 {
		go func() { errs <- g.Do(func() error { runs++; return boom }) }()
	}
	for g.waiting() < 5 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	for range 5 {
		if err := <-errs; !errors.Is(err, boom) {
			t.Fatalf("waiter got %v, want the failed run's error", err)
		}
	}
	if runs != 1 {
		t.Fatalf("%d failing runs, want 1 shared", runs)
	}
	if err := g.Do(func() error { return nil }); err != nil {
		t.Fatalf("a run after the failure: %v", err)
	}
}

// A panicking run fails its waiters instead of leaving them stuck.
func TestPanicFailsWaiters(t *testing.T) {
	var g Group
	started := make(chan struct{})
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer func() { recover(); close(done) }()
		g.Do(func() error { close(started); <-release; panic("boom") })
	}()
	<-started
	errc := make(chan error, 1)
	go func() { errc <- g.Do(func() error { return nil }) }()
	for g.waiting() < 1 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	<-done
	// The waiter needs a run that started after it arrived: it runs its
	// own, which succeeds.
	if err := <-errc; err != nil {
		t.Fatalf("waiter after a panicked run: %v", err)
	}
	if err := g.Do(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// waiting is how many callers wait for a run.
func (g *Group) waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiters
}
