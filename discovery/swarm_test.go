package discovery

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/discovery/dht"
)

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// bootstrapNode starts a persistent DHT node on 127.0.0.1.
func bootstrapNode(t *testing.T) string {
	t.Helper()
	n, err := dht.Listen(t.Context(), dht.Config{Addr: "127.0.0.1:0", Bootstrap: []string{}, Persistent: true, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n.Addr().String()
}

// newSwarm starts a loopback swarm without mDNS, closed at cleanup.
func newSwarm(t *testing.T, bootstrap string, o Options) *Swarm {
	t.Helper()
	o.Host = "127.0.0.1"
	o.Bootstrap = []string{bootstrap}
	o.NoMDNS = true
	o.Logger = testLogger()
	if o.DHTTimeout == 0 {
		o.DHTTimeout = 200 * time.Millisecond
	}
	s, err := Listen(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func randomTopic() (k [32]byte) {
	rand.Read(k[:])
	return k
}

func accept(t *testing.T, s *Swarm) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := s.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// hello writes name and reads the remote's line.
func hello(t *testing.T, c io.ReadWriter, name string) string {
	t.Helper()
	go c.Write([]byte(name + "\n"))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return line[:len(line)-1]
}

func TestAnnounceLookupConnect(t *testing.T) {
	bs := bootstrapNode(t)
	a := newSwarm(t, bs, Options{})
	b := newSwarm(t, bs, Options{})
	topic := randomTopic()
	if err := a.Join(topic, JoinOptions{Announce: true}); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Join(topic, JoinOptions{Lookup: true}); err != nil {
		t.Fatal(err)
	}
	cb := accept(t, b)
	ca := accept(t, a)
	if !cb.Initiator || ca.Initiator {
		t.Fatalf("initiator: looker %v, announcer %v", cb.Initiator, ca.Initiator)
	}
	if cb.Peer.Addr != a.Addr() || len(cb.Topics()) != 1 || cb.Topics()[0] != topic {
		t.Fatalf("dialled peer %+v topics %x, want %v", cb.Peer, cb.Topics(), a.Addr())
	}
	done := make(chan string)
	go func() { done <- hello(t, ca, "a") }()
	if got := hello(t, cb, "b"); got != "a" {
		t.Fatalf("b read %q", got)
	}
	if got := <-done; got != "b" {
		t.Fatalf("a read %q", got)
	}
	if st := b.Stats(); st.Peers != 1 || st.Clients != 1 {
		t.Errorf("b stats %+v", st)
	}

	// Closing the dialled connection makes b dial again after the backoff.
	cb.Close()
	ca2 := accept(t, a)
	_ = ca2
	accept(t, b)

	if err := a.Leave(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
}

func TestMaxPeers(t *testing.T) {
	bs := bootstrapNode(t)
	topic := randomTopic()
	looker := newSwarm(t, bs, Options{MaxPeers: 2})
	for range 4 {
		s := newSwarm(t, bs, Options{})
		s.Join(topic, JoinOptions{Announce: true})
		if err := s.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	looker.Join(topic, JoinOptions{})
	accept(t, looker)
	accept(t, looker)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if c, err := looker.Accept(ctx); err == nil {
		t.Fatalf("third connection from %v past MaxPeers 2", c.Peer.Addr)
	}
	if st := looker.Stats(); st.Peers != 2 {
		t.Fatalf("stats %+v, want 2 peers", st)
	}
}

func TestDeduplicate(t *testing.T) {
	s := newSwarm(t, bootstrapNode(t), Options{})
	pair := func() (dialled, received *Conn) {
		p1, p2 := net.Pipe()
		t.Cleanup(func() { p1.Close(); p2.Close() })
		return &Conn{Conn: p1, Initiator: true, s: s}, &Conn{Conn: p2, s: s}
	}
	small, big := []byte{1, 2}, []byte{3, 4}
	for _, c := range []struct {
		name          string
		local, remote []byte
		keepDialled   bool
	}{
		{"our key smaller: keep the one we dialled", small, big, true},
		{"our key larger: keep the one we received", big, small, false},
	} {
		d, r := pair()
		if r.Deduplicate(c.local, c.remote) {
			t.Errorf("%s: first connection reported a duplicate", c.name)
		}
		dup := d.Deduplicate(c.local, c.remote)
		if dup == c.keepDialled {
			t.Errorf("%s: dialled connection duplicate = %v", c.name, dup)
		}
		// Asking again about the survivor does not flip the answer.
		if c.keepDialled && d.Deduplicate(c.local, c.remote) {
			t.Errorf("%s: survivor reported a duplicate on a second call", c.name)
		}
	}
	d, _ := pair()
	if !d.Deduplicate(small, small) {
		t.Error("connection to our own key not reported")
	}
}

func TestNoNetwork(t *testing.T) {
	s, err := Listen(t.Context(), Options{Host: "127.0.0.1", Bootstrap: []string{"127.0.0.1:9"}, NoMDNS: true, DHTTimeout: 50 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Join(randomTopic(), JoinOptions{Announce: true})
	err = s.Flush(t.Context())
	if !errors.Is(err, dht.ErrNoNodes) {
		t.Fatalf("flush with no network: %v, want dht.ErrNoNodes", err)
	}
	t.Log(err)
}
