package dht

import (
	"bytes"
	"encoding/hex"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

// Datagrams encoded by dht-rpc 4.9.6 / @hyperswarm/dht 4.0.1 (protocol-
// buffers): a "peers" query with PeersInput{port: 0}, its response with a
// closer node, a token and PeersOutput{peers: 127.0.0.1:3333}, and a bare
// _ping with no version.
var (
	jsPeersQuery    = mustHex("5801080110b42452067f000001c2491a200707070707070707070707070707070707070707070707070707070707070707222009090909090909090909090909090909090909090909090909090909090909093a0570656572734a020800")
	jsPeersResponse = mustHex("5801080310b42452060a0000050cd21a2007070707070707070707070707070707070707070707070707070707070707072a260707070707070707070707070707070707070707070707070707070707070707010203040005322001010101010101010101010101010101010101010101010101010101010101014a080a067f0000010d05")
	jsPing          = mustHex("080110003a055f70696e67")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeJSMessages(t *testing.T) {
	q, err := DecodeMessage(jsPeersQuery)
	if err != nil {
		t.Fatal(err)
	}
	if q.GetType() != TYPE_QUERY || q.GetRid() != 4660 || q.GetCommand() != "peers" || !bytes.Equal(q.Id, bytes.Repeat([]byte{7}, 32)) {
		t.Fatalf("query %v", q)
	}
	if p, _ := decodePeer(q.To); p != netip.MustParseAddrPort("127.0.0.1:49737") {
		t.Errorf("to %v", p)
	}
	var in PeersInput
	if err := proto.Unmarshal(q.Value, &in); err != nil || in.Port == nil || in.GetPort() != 0 {
		t.Errorf("peers input %v, %v", &in, err)
	}
	// Go encodes the same message to the same bytes (field order aside,
	// protobuf-go writes fields by number, protocol-buffers by schema
	// order, so compare decoded).
	b, _ := proto.Marshal(q)
	q2, _ := DecodeMessage(b)
	if !proto.Equal(q, q2) {
		t.Error("round trip changed the query")
	}

	r, err := DecodeMessage(jsPeersResponse)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := decodeNodes(r.CloserNodes)
	if err != nil || len(nodes) != 1 || nodes[0].Addr != netip.MustParseAddrPort("1.2.3.4:5") {
		t.Errorf("closer nodes %v, %v", nodes, err)
	}
	rep, ok := peersReply(Reply{Value: r.Value}, netip.AddrPort{})
	if !ok || len(rep.Peers) != 1 || rep.Peers[0] != netip.MustParseAddrPort("127.0.0.1:3333") {
		t.Errorf("peers reply %+v", rep)
	}

	p, err := DecodeMessage(jsPing)
	if err != nil || p.GetCommand() != "_ping" || p.Id != nil {
		t.Errorf("ping %v, %v", p, err)
	}
}

func TestDecodeBad(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":           {},
		"no type":         mustHex("1001"),
		"id of 3 bytes":   mustHex("080110011a03010203"),
		"rid past 16 bit": mustHex("08011080800c"),
		"truncated":       jsPeersQuery[:20],
	} {
		if m, err := DecodeMessage(b); err == nil {
			t.Errorf("%s: decoded %v", name, m)
		}
	}
	if _, err := DecodePeers(mustHex("7f00000100")); err == nil {
		t.Error("5-byte peers list decoded")
	}
	if _, err := DecodePeers(mustHex("7f0000010000")); err == nil {
		t.Error("port 0 decoded")
	}
	if _, err := DecodePeers(mustHex("000000000d05")); err == nil {
		t.Error("0.0.0.0 decoded")
	}
}

// FuzzDecodeMessage: any datagram decodes or fails, never panics, and a
// decoded message survives a round trip.
func FuzzDecodeMessage(f *testing.F) {
	for _, b := range [][]byte{jsPeersQuery, jsPeersResponse, jsPing, {}, {0x08, 0x03}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			return
		}
		out, err := proto.Marshal(m)
		if err != nil {
			t.Fatalf("re-encoding %v: %v", m, err)
		}
		if _, err := DecodeMessage(out); err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
	})
}

// FuzzRecords: the compact peer and node lists.
func FuzzRecords(f *testing.F) {
	f.Add(mustHex("7f0000010d05"))
	f.Add(mustHex("0707070707070707070707070707070707070707070707070707070707070707010203040005"))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		if ps, err := DecodePeers(b); err == nil {
			for i, p := range ps {
				if !bytes.Equal(encodePeer(p), b[i*6:i*6+6]) {
					t.Fatalf("peer %d does not round trip", i)
				}
			}
		}
		DecodeLocalPeers([2]byte{10, 0}, b)
		if ns, err := decodeNodes(b); err == nil {
			if enc := encodeNodes(ns); !bytes.Equal(enc, b[:len(ns)*nodeLen]) {
				t.Fatal("nodes do not round trip")
			}
		}
	})
}

// FuzzHandle feeds datagrams to a node as if they came from the network:
// whatever they hold, the node answers or drops them without panicking.
func FuzzHandle(f *testing.F) {
	update := proto.Clone(mustMessage(jsPeersQuery)).(*Message)
	update.Type = TYPE_UPDATE.Enum()
	update.RoundtripToken = make([]byte, 32)
	ub, _ := proto.Marshal(update)
	hp, _ := proto.Marshal(&Message{Type: TYPE_QUERY.Enum(), Rid: proto.Uint64(1), Command: proto.String("_holepunch"),
		Value: mustMarshal(&Holepunch{To: mustHex("7f0000010d05")})})
	fn, _ := proto.Marshal(&Message{Type: TYPE_QUERY.Enum(), Rid: proto.Uint64(2), Command: proto.String("_find_node"), Target: make([]byte, 32)})
	for _, b := range [][]byte{jsPeersQuery, jsPeersResponse, jsPing, ub, hp, fn} {
		f.Add(b)
	}
	conn := &discardConn{closed: make(chan struct{})}
	n, err := Listen(f.Context(), Config{Conn: conn, Bootstrap: []string{}, Persistent: true, Logger: testLogger(f)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { n.Close() })
	from := netip.MustParseAddrPort("127.0.0.1:3333")
	f.Fuzz(func(t *testing.T, b []byte) {
		n.handle(b, from)
	})
}

func mustMessage(b []byte) *Message {
	m, err := DecodeMessage(b)
	if err != nil {
		panic(err)
	}
	return m
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// discardConn is a PacketConn that receives nothing and drops writes.
type discardConn struct {
	once   sync.Once
	closed chan struct{}
}

func (c *discardConn) ReadFrom([]byte) (int, net.Addr, error) {
	<-c.closed
	return 0, nil, net.ErrClosed
}
func (c *discardConn) WriteTo(b []byte, _ net.Addr) (int, error) { return len(b), nil }
func (c *discardConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}
func (c *discardConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
}
func (c *discardConn) SetDeadline(time.Time) error      { return nil }
func (c *discardConn) SetReadDeadline(time.Time) error  { return nil }
func (c *discardConn) SetWriteDeadline(time.Time) error { return nil }
