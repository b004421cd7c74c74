// Package accept runs a listener's accept loop that survives running out
// of file descriptors.
//
// An accept that fails with EMFILE or ENFILE (or any other error short of
// the listener being closed) leaves the pending connection in the kernel's
// backlog; retrying at once spins, and giving up leaves the listener dead
// for good. Loop backs off instead, from 5 ms doubling to 1 s as net/http's
// server does, logs the first failure of a run once, and accepts again as
// soon as descriptors are free.
package accept

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"
)

// Backoff bounds of the retry delay after a failed accept.
const (
	MinDelay = 5 * time.Millisecond
	MaxDelay = time.Second
)

// Loop accepts connections from l and hands each to handle (which must not
// block for long) until ctx is done or l is closed. It closes l when ctx
// is done.
func Loop(ctx context.Context, l net.Listener, log *slog.Logger, handle func(net.Conn)) {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err == nil {
			if delay > 0 {
				log.Info("accepting connections again", "addr", l.Addr().String())
			}
			delay = 0
			handle(c)
			continue
		}
		if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
			return
		}
		if delay == 0 {
			log.Warn("accepting a connection failed; retrying with backoff (out of file descriptors? raise ulimit -n)",
				"addr", l.Addr().String(), "err", err)
			delay = MinDelay
		} else {
			delay = min(2*delay, MaxDelay)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
