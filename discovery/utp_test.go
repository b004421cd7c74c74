package discovery

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"
)

// TestHolepunchUTP: a looker whose only connector is holepunch+uTP reaches
// an announcer through the DHT node that referred it; the announcer takes
// the uTP connection from its DHT socket, and bytes cross both ways.
func TestHolepunchUTP(t *testing.T) {
	bs := bootstrapNode(t)
	a := newSwarm(t, bs, Options{})
	b := newSwarm(t, bs, Options{NoTCP: true})
	topic := randomTopic()
	a.Join(topic, JoinOptions{Announce: true})
	if err := a.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.Join(topic, JoinOptions{Lookup: true})
	cb := accept(t, b)
	ca := accept(t, a)
	want := Transport{Name: "utp", Holepunched: true}
	if cb.Transport != want || ca.Transport.Name != "utp" || !cb.Initiator {
		t.Fatalf("transports: looker %v (initiator %v), announcer %v", cb.Transport, cb.Initiator, ca.Transport)
	}
	if cb.Peer.Referrer.String() != bs {
		t.Fatalf("referrer %v, want %v", cb.Peer.Referrer, bs)
	}
	data := make([]byte, 4<<20)
	rand.Read(data)
	go func() { cb.Write(data); cb.Close() }()
	got, err := io.ReadAll(ca)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d of %d bytes over uTP: %v", len(got), len(data), err)
	}
	// DHT traffic still flows on the shared socket.
	if err := b.Join(randomTopic(), JoinOptions{Announce: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
}
