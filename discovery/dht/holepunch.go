package dht

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"google.golang.org/protobuf/proto"
)

// The holepunch schedule of dht-rpc 4's IO: a request is looked at every
// 750 ms tick; it is sent again (with a new _holepunch to the referrer)
// when two ticks of its four are left, twice, and fails after the tenth
// tick. A first request to a peer with a referrer also punches through the
// referrer after 500 ms.
const (
	holepunchTick  = 750 * time.Millisecond
	holepunchFast  = 500 * time.Millisecond
	holepunchTries = 3
)

// ErrHolepunch: the peer did not answer a holepunch.
var ErrHolepunch = errors.New("dht: holepunch: no answer from the peer")

// HolepunchOptions say how Holepunch punches.
type HolepunchOptions struct {
	// Fast also punches through the referrer after 500 ms, as dht-rpc
	// does on the first request to a peer object (its fastHolepunch flag).
	Fast bool
}

// Holepunch opens the NAT mappings between us and peer, a peer that
// referrer (a DHT node both of us talk to) told us about, as dht-rpc 4's
// holepunch: a _holepunch query goes to peer and, with the same request
// id, a _holepunch naming peer goes to referrer, which forwards it to peer
// with our address; peer answers us directly. Our own packet to peer opens
// our NAT for its answer; its answer opens its NAT for us. On success, a
// uTP connection from this node's socket to peer gets through.
//
// It returns when peer answers, or with ErrHolepunch after dht-rpc's
// three tries (about 7.5 s).
func (n *Node) Holepunch(ctx context.Context, peer, referrer netip.AddrPort, o HolepunchOptions) error {
	if !referrer.IsValid() {
		return errors.New("dht: holepunch: a referrer is needed")
	}
	select {
	case <-n.closed:
		return ErrClosed
	default:
	}
	r := &request{to: peer, anyPort: true, done: make(chan result, 1)}
	if err := n.register(r); err != nil {
		return err
	}
	defer n.unregister(r)

	direct, err := proto.Marshal(&Message{
		Version: proto.Uint64(version),
		Type:    TYPE_QUERY.Enum(),
		Rid:     proto.Uint64(uint64(r.rid)),
		To:      encodePeer(peer),
		Id:      n.queryID(),
		Command: proto.String("_holepunch"),
	})
	if err != nil {
		return fmt.Errorf("dht: encoding holepunch: %w", err)
	}
	value, _ := proto.Marshal(&Holepunch{To: encodePeer(peer)})
	relayed, err := proto.Marshal(&Message{
		Version: proto.Uint64(version),
		Type:    TYPE_QUERY.Enum(),
		Rid:     proto.Uint64(uint64(r.rid)),
		To:      encodePeer(referrer),
		Id:      n.queryID(),
		Command: proto.String("_holepunch"),
		Value:   value,
	})
	if err != nil {
		return fmt.Errorf("dht: encoding holepunch: %w", err)
	}
	punch := func() {
		n.sendRaw(direct, peer)
		n.sendRaw(relayed, referrer)
	}
	punch()
	var fast <-chan time.Time
	if o.Fast {
		t := time.NewTimer(holepunchFast)
		defer t.Stop()
		fast = t.C
	}
	tick := time.NewTicker(holepunchTick)
	defer tick.Stop()
	timeout, tries := 4, 0
	for {
		select {
		case res := <-r.done:
			if res.err != nil {
				return res.err
			}
			if res.m.Error != nil {
				return fmt.Errorf("dht: holepunch %s: %s", peer, res.m.GetError())
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-fast:
			n.sendRaw(relayed, referrer)
		case <-tick.C:
			if timeout == 2 {
				if tries++; tries < holepunchTries {
					timeout = 4
					punch()
					continue
				}
			}
			if timeout--; timeout == 0 {
				return fmt.Errorf("%w %s (via %s)", ErrHolepunch, peer, referrer)
			}
		}
	}
}
