package discovery

import (
	"math/rand/v2"
	"net/netip"
	"time"
)

// The peer queue of hyperswarm 2 (lib/queue.js, lib/peer-info.js): every
// peer found is a peerInfo keyed by address and topic; the swarm dials the
// queued peer of highest priority (random among equals); a failed dial or
// a closed connection requeues the peer after a backoff that grows with
// its retries, and a peer that failed four times, or was banned, is
// forgotten. All of it is owned by the swarm's loop goroutine.

// Status bits of a peer, as peer-info.js.
const (
	statusProven     = 1 << iota // a connection to it succeeded once
	statusReconnect              // requeue it when its connection closes
	statusBanned                 // never dial it again
	statusActive                 // dialling or connected
	statusTried                  // dialled at least once
	statusFirewalled             // no TCP connection yet
)

type peerInfo struct {
	key      string // host:port, and @topic unless the swarm multiplexes
	peer     Peer
	topics   [][32]byte // topics it was found for
	priority int        // 0 (lowest) to 5
	retries  int
	status   int
	queued   bool
	dialled  bool  // dialled before: only a first holepunch is hurried
	conn     *Conn // the live client connection, if any
}

func newPeerInfo(key string, p Peer) *peerInfo {
	i := &peerInfo{key: key, peer: p, status: statusReconnect | statusFirewalled}
	switch {
	case p.Local || p.Static:
		i.priority = 3
	case p.To.IsValid() && p.To.Addr() == p.Addr.Addr():
		// Our public address is theirs: the same NAT, hard to reach.
		i.priority = 1
		i.retries = 3
	default:
		i.priority = 2
	}
	return i
}

func (i *peerInfo) addTopic(t [32]byte) bool {
	for _, o := range i.topics {
		if o == t {
			return false
		}
	}
	i.topics = append(i.topics, t)
	return true
}

// priorityOf is peer-info.js's priority().
func priorityOf(i *peerInfo) int {
	switch {
	case i.status&statusTried != 0 && i.status&statusProven == 0:
		return 0
	case i.retries == 3:
		return 1
	case i.retries == 2:
		return 4
	case i.retries == 1:
		return 5
	case i.peer.Local || i.peer.Static:
		return 3
	}
	return 2
}

// update recomputes the priority; false if the peer may not be queued.
func (i *peerInfo) update() bool {
	if i.status&(statusBanned|statusActive) != 0 || i.retries > 3 {
		return false
	}
	i.priority = priorityOf(i)
	return true
}

// requeue returns the backoff step to wait, or -1 to forget the peer.
func (i *peerInfo) requeue() int {
	if i.status&statusBanned != 0 || i.status&statusReconnect == 0 {
		return -1
	}
	if i.peer.Static {
		i.retries = min(i.retries+1, 3)
		return i.retries - 1
	}
	if i.retries >= 3 {
		i.retries++
		return -1
	}
	i.retries++
	return i.retries - 1
}

// peerQueue is shuffled-priority-queue: highest priority first, random
// among equal priorities.
type peerQueue struct {
	byPrio [6][]*peerInfo
}

func (q *peerQueue) push(i *peerInfo) {
	if i.queued {
		return
	}
	i.queued = true
	q.byPrio[i.priority] = append(q.byPrio[i.priority], i)
}

func (q *peerQueue) shift() *peerInfo {
	for p := len(q.byPrio) - 1; p >= 0; p-- {
		l := q.byPrio[p]
		if len(l) == 0 {
			continue
		}
		j := rand.IntN(len(l))
		i := l[j]
		l[j] = l[len(l)-1]
		q.byPrio[p] = l[:len(l)-1]
		i.queued = false
		return i
	}
	return nil
}

func (q *peerQueue) remove(i *peerInfo) {
	if !i.queued {
		return
	}
	l := q.byPrio[i.priority]
	for j, o := range l {
		if o == i {
			l[j] = l[len(l)-1]
			q.byPrio[i.priority] = l[:len(l)-1]
			break
		}
	}
	i.queued = false
}

// Peer is a peer found for a topic.
type Peer struct {
	Addr  netip.AddrPort // its TCP address
	Topic [32]byte       // the topic it was found for
	Local bool           // found on the LAN (mDNS, or a DHT local address)
	// Static is a peer the user named (--peer): never forgotten, retried
	// with backoff while its topic is joined.
	Static bool
	// Referrer is the DHT node that told us of it (invalid for LAN peers).
	Referrer netip.AddrPort
	// To is our address as that DHT node saw it.
	To netip.AddrPort
}

// DefaultBackoff are hyperswarm's requeue delays after a first, second and
// third failure.
var DefaultBackoff = []time.Duration{time.Second, 5 * time.Second, 15 * time.Second}
