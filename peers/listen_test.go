package peers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/corestore"
)

// TestIdleConnectionsAreCappedAndTimedOut: connections that never start
// their handshake are held at most MaxPending at a time and for at most
// HandshakeTimeout; an honest peer then still replicates.
func TestIdleConnectionsAreCappedAndTimedOut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, rs := openStore(t), openStore(t)
	src, _ := ws.Get(ctx, corestore.GetOptions{Name: "data"})
	defer src.Close()
	src.Append([]byte("hello"))
	const maxPending = 8
	w := New(ws, Options{MaxPending: maxPending, HandshakeTimeout: 700 * time.Millisecond})
	defer w.Close()
	addr, err := w.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	// 40 idle connections: all but maxPending are closed at once, the
	// rest after the handshake timeout.
	start := time.Now()
	closedAt := make(chan time.Duration, 40)
	for range 40 {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, c)
			closedAt <- time.Since(start)
		}()
	}
	early, late := 0, 0
	for range 40 {
		d := <-closedAt
		switch {
		case d < 500*time.Millisecond:
			early++
		case d < 5*time.Second:
			late++
		default:
			t.Fatalf("an idle connection was held %v", d)
		}
	}
	if late > maxPending || early < 40-maxPending {
		t.Fatalf("%d connections closed at once, %d after the handshake timeout; want at most %d held", early, late, maxPending)
	}

	r := New(rs, Options{})
	defer r.Close()
	r.Dial(ctx, addr.String())
	dst, err := rs.Get(ctx, corestore.GetOptions{Key: src.Key(), Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if got, err := dst.Get(ctx, 0); err != nil || string(got) != "hello" {
		t.Fatalf("after the idle connections: %q %v", got, err)
	}
}

// flakyListener fails its first accepts with EMFILE, as a process out of
// file descriptors does.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: fmt.Errorf("accept4: %w", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestListenerSurvivesEMFILE: a listener whose accepts fail with EMFILE
// keeps accepting once they succeed again.
func TestListenerSurvivesEMFILE(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, rs := openStore(t), openStore(t)
	src, _ := ws.Get(ctx, corestore.GetOptions{Name: "data"})
	defer src.Close()
	src.Append([]byte("still here"))
	w := New(ws, Options{})
	defer w.Close()
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: tl}
	fl.fails.Store(8) // about 1.3 s of backoff
	done := make(chan struct{})
	go func() { w.ServeListener(ctx, fl); close(done) }()

	r := New(rs, Options{})
	defer r.Close()
	r.Dial(ctx, tl.Addr().String())
	dst, err := rs.Get(ctx, corestore.GetOptions{Key: src.Key(), Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if got, err := dst.Get(ctx, 0); err != nil || string(got) != "still here" {
		t.Fatalf("after EMFILE: %q %v", got, err)
	}
	if fl.fails.Load() >= 0 {
		t.Fatal("the injected accept errors were not hit")
	}
	// Both ends say how the peer is connected.
	if cs := r.Conns(); len(cs) != 1 || cs[0].Transport != "tcp" || !cs[0].Initiator || cs[0].Addr != tl.Addr().String() {
		t.Fatalf("reader's connections: %+v", cs)
	}
	if cs := w.ConnsOf(src.Feed); len(cs) != 1 || cs[0].Transport != "tcp" || cs[0].Initiator {
		t.Fatalf("writer's connections of the feed: %+v", cs)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeListener did not return after its context ended")
	}
	if _, err := tl.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("listener not closed: %v", err)
	}
}
