package dht

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

// udpEnd is a raw UDP socket standing for the peer or the referrer.
type udpEnd struct {
	c   *net.UDPConn
	got chan msgAt
}

type msgAt struct {
	m    *Message
	from netip.AddrPort
	at   time.Duration
}

func newUDPEnd(t *testing.T, start time.Time) *udpEnd {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e := &udpEnd{c: c, got: make(chan msgAt, 16)}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			m, err := DecodeMessage(buf[:n])
			if err == nil {
				e.got <- msgAt{m, from, time.Since(start)}
			}
		}
	}()
	return e
}

func (e *udpEnd) addr() netip.AddrPort { return e.c.LocalAddr().(*net.UDPAddr).AddrPort() }

func (e *udpEnd) next(t *testing.T) msgAt {
	t.Helper()
	select {
	case m := <-e.got:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message in 5 s")
		return msgAt{}
	}
}

// TestHolepunchMessages: Holepunch sends what dht-rpc 4's holepunch sends,
// on its schedule: a _holepunch query without a value to the peer and, with
// the same request id, one naming the peer to the referrer; the referrer
// again after 500 ms (the first time); both again after three 750 ms ticks;
// and it succeeds when the peer answers.
func TestHolepunchMessages(t *testing.T) {
	n := newNode(t, Config{})
	start := time.Now()
	peer, ref := newUDPEnd(t, start), newUDPEnd(t, start)
	done := make(chan error, 1)
	go func() { done <- n.Holepunch(t.Context(), peer.addr(), ref.addr(), HolepunchOptions{Fast: true}) }()

	direct := peer.next(t)
	relayed := ref.next(t)
	if direct.m.GetCommand() != "_holepunch" || direct.m.GetType() != TYPE_QUERY || direct.m.Value != nil {
		t.Fatalf("to the peer: %v", direct.m)
	}
	var hp Holepunch
	if err := proto.Unmarshal(relayed.m.Value, &hp); err != nil || relayed.m.GetCommand() != "_holepunch" || string(hp.To) != string(encodePeer(peer.addr())) || hp.From != nil {
		t.Fatalf("to the referrer: %v (%v)", relayed.m, err)
	}
	if relayed.m.GetRid() != direct.m.GetRid() || string(relayed.m.To) != string(encodePeer(ref.addr())) || string(direct.m.To) != string(encodePeer(peer.addr())) {
		t.Fatalf("rids %d, %d; to %x, %x", direct.m.GetRid(), relayed.m.GetRid(), direct.m.To, relayed.m.To)
	}
	if fast := ref.next(t); fast.at < 400*time.Millisecond || fast.at > 900*time.Millisecond || fast.m.GetRid() != direct.m.GetRid() {
		t.Fatalf("fast holepunch at %v, rid %d", fast.at, fast.m.GetRid())
	}
	again := peer.next(t)
	ref.next(t)
	if again.at < 2*time.Second || again.at > 3*time.Second {
		t.Fatalf("retry at %v, want about 2.25 s", again.at)
	}

	// The peer answers (as dht-rpc answers the relayed message).
	resp, _ := proto.Marshal(&Message{Version: proto.Uint64(1), Type: TYPE_RESPONSE.Enum(), Rid: proto.Uint64(direct.m.GetRid()), To: encodePeer(direct.from)})
	peer.c.WriteToUDPAddrPort(resp, direct.from)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Holepunch did not return after the answer")
	}
}

// TestQueryHolepunchesSlowNodes: a query to a node another node told us
// of that does not answer within 500 ms sends, as dht-rpc's IO does, a
// _holepunch naming it to the node that referred it, under a request id of
// its own.
func TestQueryHolepunchesSlowNodes(t *testing.T) {
	start := time.Now()
	ref, silent := newUDPEnd(t, start), newUDPEnd(t, start)
	n := newNode(t, Config{Bootstrap: []string{ref.addr().String()}, Timeout: time.Second})
	var topic, refID, silentID [IDLen]byte
	topic[0], refID[0], silentID[0] = 1, 2, 3
	go n.Lookup(t.Context(), topic, PeersOptions{}, nil)

	q := ref.next(t)
	resp, _ := proto.Marshal(&Message{Version: proto.Uint64(1), Type: TYPE_RESPONSE.Enum(), Rid: proto.Uint64(q.m.GetRid()), Id: refID[:],
		CloserNodes: encodeNodes([]NodeInfo{{ID: silentID, Addr: silent.addr()}}), RoundtripToken: []byte("token")})
	ref.c.WriteToUDPAddrPort(resp, q.from)

	toSilent := silent.next(t)
	punch := ref.next(t)
	var hp Holepunch
	if err := proto.Unmarshal(punch.m.Value, &hp); err != nil || punch.m.GetCommand() != "_holepunch" || string(hp.To) != string(encodePeer(silent.addr())) {
		t.Fatalf("to the referrer: %v (%v)", punch.m, err)
	}
	if d := punch.at - toSilent.at; d < 400*time.Millisecond || d > 900*time.Millisecond {
		t.Fatalf("holepunch %v after the query, want about 500 ms", d)
	}
	if punch.m.GetRid() == toSilent.m.GetRid() {
		t.Fatal("the holepunch reused the query's request id")
	}
}
