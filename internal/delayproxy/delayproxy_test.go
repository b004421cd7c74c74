package delayproxy

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer echoes every connection until it ends.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func proxy(t *testing.T, to string, delay time.Duration) net.Conn {
	p, err := Listen("127.0.0.1:0", to, delay, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A round trip through the proxy takes at least twice the delay, and the
// bytes come back intact.
func TestRoundTripDelayed(t *testing.T) {
	const delay = 25 * time.Millisecond
	c := proxy(t, echoServer(t), delay)
	msg := make([]byte, 300<<10)
	rand.Read(msg)
	for range 3 {
		start := time.Now()
		go c.Write(msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if rtt := time.Since(start); rtt < 2*delay {
			t.Fatalf("round trip took %v, want at least %v", rtt, 2*delay)
		}
		if !bytes.Equal(got, msg) {
			t.Fatal("bytes changed on the way")
		}
	}
}

// Chunks sent one after another are in flight together: each of ten
// writes 10 ms apart comes back about two delays after it was sent, not
// two delays after the one before (a proxy that slept after every read
// would hold the last one ten times as long).
func TestChunksPipelined(t *testing.T) {
	const delay = 50 * time.Millisecond
	c := proxy(t, echoServer(t), delay)
	sent := make(chan time.Time, 10)
	go func() {
		for range 10 {
			sent <- time.Now()
			c.Write([]byte("x"))
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var lags []time.Duration
	for range 10 {
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		lags = append(lags, time.Since(<-sent))
	}
	// Echoed, each byte passes the proxy twice: at least 2 × delay. Slept
	// per read, the last would lag about 20 × delay − 90 ms.
	if last := lags[len(lags)-1]; last < 2*delay || last > 8*delay {
		t.Fatalf("lags %v; want the last between %v and %v", lags, 2*delay, 8*delay)
	}
}

// A half close passes through after the bytes before it, and the other
// direction keeps working.
func TestHalfClose(t *testing.T) {
	c := proxy(t, echoServer(t), 5*time.Millisecond)
	c.Write([]byte("hello"))
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello" {
		t.Fatalf("got %q", got)
	}
}

// Close cuts forwarded connections.
func TestCloseCutsConnections(t *testing.T) {
	p, err := Listen("127.0.0.1:0", echoServer(t), time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("a"))
	io.ReadFull(c, make([]byte, 1))
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after Close")
	}
}
