package discovery

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/discovery/dht"
	"google.golang.org/protobuf/proto"
)

// libutpClaims is libutp's utp_process_udp test for a uTP packet (with
// UTP_Version): at least a 20-byte header whose first byte holds version 1
// and a type below 5 (ST_NUM_STATES), and whose extension byte is below 3.
// utp-native and go-libutp both run it. A dht-rpc message never passes: its
// first byte is a protobuf tag, 0x08 (type) or 0x58 (version).
func libutpClaims(b []byte) bool {
	return len(b) >= 20 && b[0]&0x0f == 1 && b[0]>>4 < 5 && b[1] < 3
}

// FuzzDemux sends arbitrary datagrams to the swarm's shared UDP socket:
// libutp must neither crash nor stall on them, every datagram it does not
// claim must reach the DHT unchanged and in order, and the DHT's decoder
// must cope with whatever reaches it.
func FuzzDemux(f *testing.F) {
	ping, _ := proto.Marshal(&dht.Message{Version: proto.Uint64(1), Type: dht.TYPE_QUERY.Enum(), Rid: proto.Uint64(7), Command: proto.String("_ping")})
	hp, _ := proto.Marshal(&dht.Holepunch{To: []byte{127, 0, 0, 1, 1, 2}})
	punch, _ := proto.Marshal(&dht.Message{Version: proto.Uint64(1), Type: dht.TYPE_QUERY.Enum(), Rid: proto.Uint64(9), Command: proto.String("_holepunch"), Value: hp})
	syn := []byte{0x41, 0, 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 1, 0, 0}
	for _, s := range [][]byte{ping, punch, syn, {0x01}, bytes.Repeat([]byte{0x11}, 20), append([]byte{0x21, 0}, make([]byte, 40)...), append([]byte{0x51, 0}, make([]byte, 20)...), {}, append([]byte{0x31}, make([]byte, 25)...)} {
		f.Add(s)
	}
	sock, err := listenUTP("127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { sock.Close() })
	go func() { // close whatever connections fuzzed SYNs open
		for {
			c, err := sock.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	pc := sock.packetConn()
	reads := make(chan []byte, 256)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				close(reads)
				return
			}
			reads <- append([]byte(nil), buf[:n]...)
		}
	}()
	sender, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { sender.Close() })
	marker, _ := proto.Marshal(&dht.Message{Version: proto.Uint64(1), Type: dht.TYPE_RESPONSE.Enum(), Rid: proto.Uint64(0xfeed), Error: proto.String("marker")})

	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1400 {
			b = b[:1400]
		}
		if _, err := sender.WriteTo(b, sock.LocalAddr()); err != nil {
			t.Skip(err)
		}
		sender.WriteTo(marker, sock.LocalAddr())
		var got [][]byte
		timeout := time.After(5 * time.Second)
		for {
			select {
			case r, ok := <-reads:
				if !ok {
					t.Fatal("the socket closed")
				}
				if bytes.Equal(r, marker) {
					goto done
				}
				dht.DecodeMessage(r) // must not panic
				got = append(got, r)
			case <-timeout:
				t.Fatal("the DHT side got nothing back within 5 s: the socket stalled")
			}
		}
	done:
		switch want := !libutpClaims(b); {
		case want && (len(got) != 1 || !bytes.Equal(got[0], b)):
			t.Fatalf("datagram % x not for uTP: the DHT got %x", b, got)
		case !want && len(got) != 0:
			t.Fatalf("datagram % x (claimed by libutp) also reached the DHT: %x", b, got)
		}
	})
}
