package discovery

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/internal/syncbuf"
)

// TestStaticPeerRetried: a --peer address that refuses at first is dialled
// again with backoff and connected once it listens.
func TestStaticPeerRetried(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nobody listens yet
	s, err := Listen(t.Context(), Options{Host: "127.0.0.1", NoDHT: true, NoMDNS: true, Peers: []string{addr}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	topic := randomTopic()
	s.Join(topic, JoinOptions{Lookup: true})
	time.Sleep(300 * time.Millisecond) // the first dial is refused
	l, err = net.Listen("tcp4", addr)
	if err != nil {
		t.Skip("port taken meanwhile:", err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			defer c.Close()
			c.Write([]byte("static\n"))
			time.Sleep(2 * time.Second)
		}
	}()
	c := accept(t, s)
	if !c.Peer.Static || c.Peer.Addr.String() != addr || c.Transport.Name != "tcp" {
		t.Fatalf("connection %+v over %v", c.Peer, c.Transport)
	}
}

// TestUnreachable: peers found whose every dial fails make Unreachable say
// so; before any peer is found it says nothing.
func TestUnreachable(t *testing.T) {
	bs := bootstrapNode(t)
	dead, _ := net.Listen("tcp4", "127.0.0.1:0")
	deadPort := dead.Addr().(*net.TCPAddr).Port
	dead.Close()
	a := newSwarm(t, bs, Options{AnnouncePort: uint16(deadPort)})
	b := newSwarm(t, bs, Options{NoUTP: true})
	topic := randomTopic()
	if err := b.Unreachable(topic); err != nil {
		t.Fatalf("before any lookup: %v", err)
	}
	a.Join(topic, JoinOptions{Announce: true})
	if err := a.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.Join(topic, JoinOptions{Lookup: true})
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := b.Unreachable(topic)
		if err != nil {
			if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "found 1 peer") {
				t.Fatalf("unreachable: %v", err)
			}
			t.Log(err)
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no unreachable error 10 s after the only peer refused")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWaitLooksUpAgain: a topic joined with Wait before anyone announced
// it is looked up again soon and connects once someone does.
func TestWaitLooksUpAgain(t *testing.T) {
	bs := bootstrapNode(t)
	a := newSwarm(t, bs, Options{})
	b := newSwarm(t, bs, Options{WaitRefresh: 300 * time.Millisecond})
	topic := randomTopic()
	b.Join(topic, JoinOptions{Lookup: true, Wait: true})
	if err := b.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.Join(topic, JoinOptions{Announce: true})
	if c := accept(t, b); !c.Initiator {
		t.Fatal("b did not dial a")
	}
}

// TestNoBootstrapWarns: when no bootstrap node answers, one warning says
// so and what still works, at the first failed round.
func TestNoBootstrapWarns(t *testing.T) {
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := Listen(t.Context(), Options{Host: "127.0.0.1", Bootstrap: []string{"127.0.0.1:9"}, NoMDNS: true, DHTTimeout: 50 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Join(randomTopic(), JoinOptions{Lookup: true})
	s.Join(randomTopic(), JoinOptions{Lookup: true})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s.Flush(ctx)
	out := logs.String()
	if n := strings.Count(out, "no DHT bootstrap node answered"); n != 1 || !strings.Contains(out, "--peer") || !strings.Contains(out, "127.0.0.1:9") {
		t.Fatalf("warnings: %q", out)
	}
}
