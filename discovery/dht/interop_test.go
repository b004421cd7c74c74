package dht

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/hyperfs/hyperfs/integration/jsref"
)

// jsNode is a swarm-dht.js process.
type jsNode struct {
	p    *jsref.Process
	addr string
}

type jsEvent struct {
	Event      string
	Host       string
	Port       int
	Op         string
	Peers      []string
	LocalPeers []string
	Error      *string
	Topic      string
	From       string
}

func startJSNode(t *testing.T, args ...string) *jsNode {
	t.Helper()
	p := jsref.Start(t, "swarm-dht.js", args...)
	var ev jsEvent
	p.Next(&ev)
	if ev.Event != "listening" {
		t.Fatalf("swarm-dht.js: first event %+v", ev)
	}
	n := &jsNode{p: p, addr: fmt.Sprintf("%s:%d", ev.Host, ev.Port)}
	p.Next(&ev)
	if ev.Event != "ready" {
		t.Fatalf("swarm-dht.js: second event %+v", ev)
	}
	return n
}

// do sends a command and returns its result, skipping other events.
func (n *jsNode) do(t *testing.T, op string, topic [IDLen]byte, port int) jsEvent {
	t.Helper()
	cmd, _ := json.Marshal(map[string]any{"op": op, "topic": hex.EncodeToString(topic[:]), "port": port})
	if _, err := n.p.Stdin().Write(append(cmd, '\n')); err != nil {
		t.Fatal(err)
	}
	for {
		var ev jsEvent
		n.p.Next(&ev)
		if ev.Event == "result" {
			if ev.Error != nil {
				t.Fatalf("swarm-dht.js %s: %s", op, *ev.Error)
			}
			return ev
		}
	}
}

func lookupAll(t *testing.T, n *Node, topic [IDLen]byte) []netip.AddrPort {
	t.Helper()
	var found []netip.AddrPort
	if err := n.Lookup(t.Context(), topic, PeersOptions{}, func(r PeersReply) {
		found = append(found, r.Peers...)
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

// TestJSBootstrap: a Go node finds, through a JS bootstrap node, what a JS
// node announced, and the JS node finds what Go announced.
func TestJSBootstrap(t *testing.T) {
	boot := startJSNode(t, "--persistent")
	js := startJSNode(t, "--bootstrap", boot.addr)
	g := newNode(t, Config{Bootstrap: []string{boot.addr}})
	topic := randomTopic()

	js.do(t, "announce", topic, 4321)
	if found := lookupAll(t, g, topic); !slices.Contains(found, netip.MustParseAddrPort("127.0.0.1:4321")) {
		t.Fatalf("Go lookup found %v, want 127.0.0.1:4321", found)
	}

	topic2 := randomTopic()
	if err := g.Announce(t.Context(), topic2, PeersOptions{Port: 5432}, nil); err != nil {
		t.Fatal(err)
	}
	if res := js.do(t, "lookup", topic2, 0); !slices.Contains(res.Peers, "127.0.0.1:5432") {
		t.Fatalf("JS lookup found %v, want 127.0.0.1:5432", res.Peers)
	}
	// Port 0: the announce records the UDP port of the Go node.
	if err := g.Announce(t.Context(), topic2, PeersOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if res := js.do(t, "lookup", topic2, 0); !slices.Contains(res.Peers, g.Addr().String()) {
		t.Fatalf("JS lookup found %v, want %v", res.Peers, g.Addr())
	}
	if err := g.Unannounce(t.Context(), topic2, PeersOptions{Port: 5432}); err != nil {
		t.Fatal(err)
	}
	if res := js.do(t, "lookup", topic2, 0); slices.Contains(res.Peers, "127.0.0.1:5432") {
		t.Fatalf("JS lookup still finds 127.0.0.1:5432 after Go unannounced: %v", res.Peers)
	}
	// A Go ping of a JS node.
	if _, err := g.Ping(t.Context(), netip.MustParseAddrPort(boot.addr)); err != nil {
		t.Fatal(err)
	}
}

// TestGoBootstrap: JS nodes announce and look up through a Go bootstrap
// node, with a persistent JS node in the DHT too.
func TestGoBootstrap(t *testing.T) {
	boot := newNode(t, Config{Persistent: true})
	bs := boot.Addr().String()
	mid := startJSNode(t, "--bootstrap", bs, "--persistent")
	a := startJSNode(t, "--bootstrap", bs)
	b := startJSNode(t, "--bootstrap", bs)
	topic := randomTopic()

	a.do(t, "announce", topic, 6543)
	if res := b.do(t, "lookup", topic, 0); !slices.Contains(res.Peers, "127.0.0.1:6543") {
		t.Fatalf("JS lookup through a Go bootstrap node found %v", res.Peers)
	}
	// The Go node holds the record itself.
	if got := boot.store.get(hex.EncodeToString(topic[:]), 10, "", timeNow()); len(got) != 1 {
		t.Fatalf("Go bootstrap node holds %d records of the topic, want 1", len(got))
	}
	// The persistent JS node learnt of the Go node, and the other way round.
	mid.do(t, "lookup", topic, 0)
	if n := len(boot.Nodes()); n != 1 {
		t.Errorf("Go bootstrap node has %d nodes in its table, want 1 (the persistent JS node)", n)
	}
	a.do(t, "unannounce", topic, 6543)
	if res := b.do(t, "lookup", topic, 0); slices.Contains(res.Peers, "127.0.0.1:6543") {
		t.Fatalf("JS lookup after unannounce still finds the peer: %v", res.Peers)
	}
}
