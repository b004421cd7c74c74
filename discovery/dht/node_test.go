package dht

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"
)

// testLogger logs at debug level under -v only.
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// newNode starts a node on 127.0.0.1, closed at cleanup.
func newNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Bootstrap == nil {
		cfg.Bootstrap = []string{}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 200 * time.Millisecond
	}
	cfg.Logger = testLogger(t)
	n, err := Listen(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func randomTopic() (k [IDLen]byte) {
	rand.Read(k[:])
	return k
}

func TestAnnounceLookup(t *testing.T) {
	ctx := t.Context()
	boot := newNode(t, Config{Persistent: true})
	bs := []string{boot.Addr().String()}
	// A few persistent nodes so queries walk.
	for range 5 {
		n := newNode(t, Config{Persistent: true, Bootstrap: bs})
		if err := n.Bootstrap(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a := newNode(t, Config{Bootstrap: bs})
	b := newNode(t, Config{Bootstrap: bs})
	topic := randomTopic()

	if err := a.Announce(ctx, topic, PeersOptions{Port: 4567}, nil); err != nil {
		t.Fatal(err)
	}
	found := map[netip.AddrPort]bool{}
	if err := b.Lookup(ctx, topic, PeersOptions{}, func(r PeersReply) {
		for _, p := range r.Peers {
			found[p] = true
		}
		if r.To != b.Addr() {
			t.Errorf("reply says we are %v, want %v", r.To, b.Addr())
		}
	}); err != nil {
		t.Fatal(err)
	}
	want := netip.MustParseAddrPort("127.0.0.1:4567")
	if !found[want] {
		t.Fatalf("lookup found %v, want %v", found, want)
	}

	// Port 0 announces the UDP port the announce came from.
	if err := b.Announce(ctx, topic, PeersOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	found = map[netip.AddrPort]bool{}
	a.Lookup(ctx, topic, PeersOptions{}, func(r PeersReply) {
		for _, p := range r.Peers {
			found[p] = true
		}
	})
	if !found[b.Addr()] {
		t.Fatalf("lookup from a found %v, want b at %v", found, b.Addr())
	}

	if err := a.Unannounce(ctx, topic, PeersOptions{Port: 4567}); err != nil {
		t.Fatal(err)
	}
	found = map[netip.AddrPort]bool{}
	b.Lookup(ctx, topic, PeersOptions{}, func(r PeersReply) {
		for _, p := range r.Peers {
			found[p] = true
		}
	})
	if found[want] {
		t.Fatalf("after unannounce, lookup still finds %v", want)
	}
}

func TestLocalPeers(t *testing.T) {
	ctx := t.Context()
	boot := newNode(t, Config{Persistent: true})
	bs := []string{boot.Addr().String()}
	a := newNode(t, Config{Bootstrap: bs})
	b := newNode(t, Config{Bootstrap: bs})
	topic := randomTopic()
	if err := a.Announce(ctx, topic, PeersOptions{LocalAddress: netip.MustParseAddrPort("10.1.2.3:999")}, nil); err != nil {
		t.Fatal(err)
	}
	var local []netip.AddrPort
	b.Lookup(ctx, topic, PeersOptions{LocalAddress: netip.MustParseAddrPort("10.1.9.9:1")}, func(r PeersReply) {
		local = append(local, r.LocalPeers...)
	})
	if len(local) != 1 || local[0] != netip.MustParseAddrPort("10.1.2.3:999") {
		t.Fatalf("local peers %v", local)
	}
}

func TestPing(t *testing.T) {
	a := newNode(t, Config{Persistent: true})
	b := newNode(t, Config{})
	got, err := b.Ping(t.Context(), a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if got != b.Addr() {
		t.Fatalf("pong %v, want %v", got, b.Addr())
	}
	// a learnt nothing about b, which is ephemeral.
	if n := len(a.Nodes()); n != 0 {
		t.Errorf("persistent node added %d ephemeral nodes", n)
	}
}

func TestNoNetwork(t *testing.T) {
	// A bootstrap address nobody listens at: the query fails clearly.
	n := newNode(t, Config{Bootstrap: []string{"127.0.0.1:9"}, Timeout: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := n.Bootstrap(ctx)
	if !errors.Is(err, ErrNoNodes) {
		t.Fatalf("bootstrap with no network: %v, want ErrNoNodes", err)
	}
	t.Log(err)
}

func TestUpdateNeedsToken(t *testing.T) {
	boot := newNode(t, Config{Persistent: true})
	a := newNode(t, Config{})
	topic := randomTopic()
	// An update with a made-up token is dropped: no response, a timeout.
	m := &Message{Type: TYPE_UPDATE.Enum(), Target: topic[:], RoundtripToken: make([]byte, 32)}
	m.Command = new(string)
	*m.Command = "peers"
	m.Value = PeersOptions{Port: 1}.input(true, false)
	if _, err := a.request(t.Context(), m, boot.Addr(), nil); !errors.Is(err, ErrTimeout) {
		t.Fatalf("update with a bad token: %v, want a timeout", err)
	}
	if got := boot.store.get(encodeHex(topic), 10, "", time.Now()); len(got) != 0 {
		t.Fatalf("bad-token update stored %d records", len(got))
	}
}

func encodeHex(t [IDLen]byte) string { return hex.EncodeToString(t[:]) }

func timeNow() time.Time { return time.Now() }

// TestQueriesWhileNodesUpdate: a query reads the routing table while
// messages update its entries (under -race this caught the query reading
// entries after the lock was released).
func TestQueriesWhileNodesUpdate(t *testing.T) {
	bs := newNode(t, Config{Persistent: true})
	n := newNode(t, Config{Bootstrap: []string{bs.Addr().String()}})
	if err := n.Bootstrap(t.Context()); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				n.AddNodes([]NodeInfo{{ID: bs.ID(), Addr: bs.Addr()}})
			}
		}
	}()
	var topic [IDLen]byte
	for range 20 {
		rand.Read(topic[:])
		if err := n.Lookup(t.Context(), topic, PeersOptions{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
}
