package dht

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
)

// Limits of @hyperswarm/dht's record cache and replies.
const (
	maxRecords    = 65536 // announcements held in all
	maxRemoteResp = 128   // peers per reply, remote and local together
	maxLocalResp  = 32    // local peers per reply
)

// PeersOptions are the options of Announce, Lookup and Unannounce.
type PeersOptions struct {
	// Port is the port to announce; 0 means the port our DHT messages come
	// from, as hyperswarm does (its TCP port is its UDP port).
	Port uint16
	// LocalAddress, if valid, is our LAN address: the node also returns
	// us the announcers with the same first two address bytes, and an
	// announce records us under it for them.
	LocalAddress netip.AddrPort
}

// PeersReply is one node's answer to a lookup or announce.
type PeersReply struct {
	Node   netip.AddrPort // the DHT node that answered
	NodeID []byte         // its id (nil if ephemeral)
	// To is our address as the node saw it (invalid if unknown).
	To         netip.AddrPort
	Peers      []netip.AddrPort // announcers of the topic
	LocalPeers []netip.AddrPort // announcers on our /16, if we gave LocalAddress
}

func (o PeersOptions) input(announce, unannounce bool) []byte {
	in := &PeersInput{}
	if announce {
		in.Port = proto.Uint32(uint32(o.Port))
	}
	if o.LocalAddress.IsValid() {
		in.LocalAddress = encodePeer(o.LocalAddress)
	}
	if unannounce {
		in.Unannounce = proto.Bool(true)
	}
	b, _ := proto.Marshal(in)
	if b == nil {
		b = []byte{} // always send a value: the reference reads value.port
	}
	return b
}

// peersReply decodes a "peers" reply as @hyperswarm/dht's mapPeers; ok is
// false when it holds no peers.
func peersReply(r Reply, local netip.AddrPort) (PeersReply, bool) {
	var out PeersOutput
	if r.Value == nil || proto.Unmarshal(r.Value, &out) != nil || (out.Peers == nil && out.LocalPeers == nil) {
		return PeersReply{}, false
	}
	p := PeersReply{Node: r.Node, NodeID: r.NodeID, To: r.To}
	p.Peers, _ = DecodePeers(out.Peers)
	if local.IsValid() && out.LocalPeers != nil {
		a := local.Addr().As4()
		p.LocalPeers, _ = DecodeLocalPeers([2]byte{a[0], a[1]}, out.LocalPeers)
	}
	return p, true
}

// Lookup asks the nodes closest to topic for its announcers, calling fn
// (from this goroutine) for every reply that lists some.
func (n *Node) Lookup(ctx context.Context, topic [IDLen]byte, o PeersOptions, fn func(PeersReply)) error {
	return n.peersQuery(ctx, topic, o, true, false, false, fn)
}

// Announce looks topic up as Lookup does, then records us as a peer of it
// at the closest nodes, as @hyperswarm/dht's announce.
func (n *Node) Announce(ctx context.Context, topic [IDLen]byte, o PeersOptions, fn func(PeersReply)) error {
	return n.peersQuery(ctx, topic, o, true, true, false, fn)
}

// Unannounce removes our announcement of topic from the closest nodes.
func (n *Node) Unannounce(ctx context.Context, topic [IDLen]byte, o PeersOptions) error {
	return n.peersQuery(ctx, topic, o, false, true, true, nil)
}

func (n *Node) peersQuery(ctx context.Context, topic [IDLen]byte, o PeersOptions, query, update, unannounce bool, fn func(PeersReply)) error {
	qo := queryOptions{command: "peers", target: topic, value: o.input(update, unannounce), query: query, update: update}
	return n.runQuery(ctx, qo, func(r Reply) {
		if p, ok := peersReply(r, o.LocalAddress); ok && fn != nil {
			fn(p)
		}
	})
}

// onPeers serves the "peers" command: a query returns the announcers, an
// update records or removes the sender.
// A non-empty errMsg is sent back as the response's error, in the
// reference's words.
func (n *Node) onPeers(target [IDLen]byte, in *PeersInput, from netip.AddrPort, update bool) (value []byte, errMsg string) {
	port := uint16(in.GetPort())
	if in.GetPort() > 65535 {
		return nil, "Invalid port"
	}
	if port == 0 {
		port = from.Port()
	}
	remoteRecord := string(encodePeer(netip.AddrPortFrom(from.Addr(), port)))
	remoteKey := hex.EncodeToString(target[:])
	var localKey, localSuffix string
	if la := in.LocalAddress; len(la) >= peerLen {
		localKey = remoteKey + "@local." + hex.EncodeToString(la[:2])
		localSuffix = string(la[2:peerLen])
	}
	now := time.Now()
	if !update {
		var local []string
		if localKey != "" {
			local = n.store.get(localKey, maxLocalResp, localSuffix, now)
		}
		remote := n.store.get(remoteKey, maxRemoteResp-len(local), remoteRecord, now)
		out := &PeersOutput{}
		if len(remote) > 0 {
			out.Peers = joinRecords(remote)
		}
		if len(local) > 0 {
			out.LocalPeers = joinRecords(local)
		}
		b, _ := proto.Marshal(out)
		if b == nil {
			b = []byte{}
		}
		return b, ""
	}
	if in.GetUnannounce() {
		n.store.remove(remoteKey, remoteRecord)
		if localKey != "" {
			n.store.remove(localKey, localSuffix)
		}
		n.log.Debug("unannounce", "topic", remoteKey, "from", from)
	} else {
		n.store.add(remoteKey, remoteRecord, now)
		if localKey != "" {
			n.store.add(localKey, localSuffix, now)
		}
		n.log.Debug("announce", "topic", remoteKey, "from", from)
	}
	return nil, ""
}

func joinRecords(rs []string) []byte {
	var b []byte
	for _, r := range rs {
		b = append(b, r...)
	}
	return b
}

// peerStore holds announcements for maxAge, as record-cache.
type peerStore struct {
	maxAge time.Duration

	mu   sync.Mutex                      // guards sets and size
	sets map[string]map[string]time.Time // key → record → added
	size int
}

func newPeerStore(maxAge time.Duration) *peerStore {
	return &peerStore{maxAge: maxAge, sets: make(map[string]map[string]time.Time)}
}

func (s *peerStore) add(key, record string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.sets[key]
	if set == nil {
		set = make(map[string]time.Time)
		s.sets[key] = set
	}
	if _, ok := set[record]; !ok {
		if s.size >= maxRecords {
			return
		}
		s.size++
	}
	set[record] = now
}

func (s *peerStore) remove(key, record string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set := s.sets[key]; set != nil {
		if _, ok := set[record]; ok {
			delete(set, record)
			s.size--
		}
		if len(set) == 0 {
			delete(s.sets, key)
		}
	}
}

// get returns up to n random live records of key, leaving out except.
func (s *peerStore) get(key string, n int, except string, now time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for r, t := range s.sets[key] {
		if r != except && now.Sub(t) <= s.maxAge {
			out = append(out, r)
		}
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:min(n, len(out))]
}

// gc drops records older than maxAge.
func (s *peerStore) gc(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, set := range s.sets {
		for r, t := range set {
			if now.Sub(t) > s.maxAge {
				delete(set, r)
				s.size--
			}
		}
		if len(set) == 0 {
			delete(s.sets, key)
		}
	}
}
