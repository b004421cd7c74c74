package discovery

// The connection pool: every peer any finder found, every connection any
// connector made or the listeners took, under hyperswarm 2's rules
// (lib/queue.js, swarm.js): one loop goroutine owns the peer queue, the
// connection counts against MaxPeers, MaxClientSockets and
// MaxServerSockets, the backoff of failed and closed peers, the
// duplicate resolution once handshakes tell keys apart, and what became
// of each topic's peers (Unreachable).

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// reach is what became of the peers found for a topic.
type reach struct {
	found     map[netip.AddrPort]bool // peer → a connection to it failed
	failed    int                     // peers whose dials all failed so far
	connected int                     // connections made, ever
	lastErr   error
}

func (s *Swarm) liveFor(t [32]byte) int {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	return s.live[t]
}

// ErrUnreachable: peers of a topic were found but none could be connected
// to.
var ErrUnreachable = errors.New("peers were found but none could be reached")

// Unreachable returns an ErrUnreachable error, saying how many peers and
// why the last attempt failed, when peers of topic were found but every
// attempt to connect to each of them failed and no peer connected to us;
// nil otherwise. A caller that gave up waiting for a topic tells its user
// this rather than that nobody is online.
func (s *Swarm) Unreachable(topic [32]byte) error {
	errc := make(chan error, 1)
	if !s.post(event{kind: evReach, peer: Peer{Topic: topic}, errc: errc}) {
		return nil
	}
	return <-errc
}

func (s *Swarm) unreachable(topic [32]byte) error {
	r := s.reach[topic]
	if r == nil || len(r.found) == 0 || r.connected > 0 || r.failed < len(r.found) || s.servers > 0 {
		return nil
	}
	var ways []string
	for _, c := range s.conn {
		switch c.(type) {
		case tcpConnector:
			ways = append(ways, "TCP")
		case holepunchConnector:
			ways = append(ways, "UDP holepunching with uTP through the DHT")
		}
	}
	how := strings.Join(ways, " and ")
	return fmt.Errorf("%w: found %d peer(s) but could not connect to any over %s (both sides may be behind NATs that cannot be holepunched, such as symmetric NATs; one side forwarding its port, or --peer host:port to a reachable peer, helps); last error: %w",
		ErrUnreachable, len(r.found), how, r.lastErr)
}

// Stats are a snapshot of the swarm's counters.
type Stats struct {
	Peers   int // open connections and dials in flight
	Clients int // dialled
	Servers int // received
	Queued  int // peers waiting to be dialled
	Known   int // peers known
}

// Stats returns the swarm's counters.
func (s *Swarm) Stats() Stats {
	reply := make(chan Stats, 1)
	if !s.post(event{kind: evStats, stats: reply}) {
		return Stats{}
	}
	return <-reply
}

// post sends an event to the loop; false once the swarm is closed.
func (s *Swarm) post(e event) bool {
	select {
	case s.ev <- e:
		return true
	case <-s.ctx.Done():
		return false
	}
}

type eventKind int

const (
	evPeer eventKind = iota
	evIncoming
	evDialed
	evClosed
	evRequeue
	evForget
	evDedup
	evBan
	evReconnect
	evStats
	evReach
)

type event struct {
	kind   eventKind
	peer   Peer
	nc     net.Conn
	conn   *Conn
	info   *peerInfo
	err    error
	local  []byte
	remote []byte
	on     bool
	reply  chan bool
	stats  chan Stats
	errc   chan error
	// transport of a connection made or received
	transport Transport
}

// loop owns the peer queue and the connection counts.
func (s *Swarm) loop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case e := <-s.ev:
			s.handle(e)
			s.drain()
		}
	}
}

func (s *Swarm) open() bool { return s.peers < s.opts.MaxPeers }

func (s *Swarm) handle(e event) {
	switch e.kind {
	case evPeer:
		s.add(e.peer)
	case evIncoming:
		if !s.open() || (s.opts.MaxServerSockets > 0 && s.servers >= s.opts.MaxServerSockets) {
			s.log.Debug("refused connection: at the peer cap", "peer", e.nc.RemoteAddr())
			e.nc.Close()
			return
		}
		s.peers++
		s.servers++
		addr, _ := netip.ParseAddrPort(e.nc.RemoteAddr().String())
		c := &Conn{Conn: e.nc, s: s, Peer: Peer{Addr: addr}, Transport: e.transport}
		s.deliver(c)
	case evDialed:
		i := e.info
		if e.err != nil {
			s.log.Debug("dial failed", "peer", i.peer.Addr, "err", e.err)
			s.clients--
			s.peers--
			for _, t := range i.topics {
				if r := s.reach[t]; r != nil {
					if !r.found[i.peer.Addr] {
						r.found[i.peer.Addr] = true
						r.failed++
					}
					r.lastErr = e.err
				}
			}
			s.requeue(i)
			return
		}
		s.lmu.Lock()
		for _, t := range i.topics {
			s.live[t]++
			if r := s.reach[t]; r != nil {
				r.connected++
			}
		}
		s.lmu.Unlock()
		i.status &^= statusFirewalled
		i.status |= statusProven
		i.retries = 0
		c := &Conn{Conn: e.nc, Initiator: true, Peer: i.peer, s: s, info: i, Transport: e.transport}
		c.topic = append(c.topic, i.topics...)
		i.conn = c
		if i.status&statusBanned != 0 {
			e.nc.Close()
		}
		s.deliver(c)
	case evClosed:
		c := e.conn
		if c.Initiator {
			s.clients--
			s.lmu.Lock()
			for _, t := range c.Topics() {
				if s.live[t]--; s.live[t] <= 0 {
					delete(s.live, t)
				}
			}
			s.lmu.Unlock()
		} else {
			s.servers--
		}
		s.peers--
		for k, o := range s.dedup {
			if o == c {
				delete(s.dedup, k)
			}
		}
		if i := c.info; i != nil && i.conn == c {
			i.conn = nil
			s.requeue(i)
		}
		if dup := s.unban[c]; dup != nil {
			// The survivor closed: the duplicate's peer may be dialled
			// again, from scratch (queue.js's _unbanduplicate).
			delete(s.unban, c)
			if c.info == nil || c.info.status&statusBanned == 0 {
				s.queue.remove(dup)
				if s.infos[dup.key] == dup {
					delete(s.infos, dup.key)
				}
				for _, t := range dup.topics {
					p := dup.peer
					p.Topic = t
					s.add(p)
				}
			}
		}
	case evRequeue:
		i := e.info
		if s.infos[i.key] != i {
			return
		}
		i.status &^= statusActive
		if !i.update() {
			s.forget(i)
			return
		}
		s.queue.push(i)
	case evForget:
		if s.infos[e.info.key] == e.info && e.info.status&statusActive == 0 {
			s.queue.remove(e.info)
			delete(s.infos, e.info.key)
		}
	case evDedup:
		e.reply <- s.deduplicate(e.conn, e.local, e.remote)
	case evBan:
		if i := e.conn.info; i != nil {
			i.status |= statusBanned
			s.queue.remove(i)
		}
	case evReconnect:
		if i := e.conn.info; i != nil {
			if e.on {
				i.status |= statusReconnect
			} else {
				i.status &^= statusReconnect
			}
		}
	case evReach:
		e.errc <- s.unreachable(e.peer.Topic)
	case evStats:
		e.stats <- Stats{Peers: s.peers, Clients: s.clients, Servers: s.servers, Queued: s.queued(), Known: len(s.infos)}
	}
}

func (s *Swarm) queued() int {
	n := 0
	for _, l := range s.queue.byPrio {
		n += len(l)
	}
	return n
}

func (s *Swarm) deliver(c *Conn) {
	s.log.Debug("connection", "peer", c.Peer.Addr, "initiator", c.Initiator)
	select {
	case s.conns <- c:
	default:
		// Cannot happen while conns holds MaxPeers+16; be safe.
		s.log.Warn("connection dropped: Accept is not called", "peer", c.Peer.Addr)
		go c.Close()
	}
}

func (s *Swarm) key(p Peer) string {
	k := p.Addr.String()
	// A static peer gets one connection whatever the topics: it is named
	// to replicate everything with.
	if !s.opts.Multiplex && !p.Static {
		k += "@" + hex.EncodeToString(p.Topic[:])
	}
	return k
}

// add is queue.js's add.
func (s *Swarm) add(p Peer) {
	r := s.reach[p.Topic]
	if r == nil {
		r = &reach{found: map[netip.AddrPort]bool{}}
		s.reach[p.Topic] = r
	}
	if _, ok := r.found[p.Addr]; !ok {
		r.found[p.Addr] = false
	}
	k := s.key(p)
	i := s.infos[k]
	existing := i != nil
	if !existing {
		i = newPeerInfo(k, p)
		s.infos[k] = i
	}
	if i.addTopic(p.Topic) && i.conn != nil {
		i.conn.mu.Lock()
		i.conn.topic = append(i.conn.topic, p.Topic)
		i.conn.mu.Unlock()
	}
	if (s.opts.Multiplex && existing) || i.queued || !i.update() {
		return
	}
	s.queue.push(i)
}

// requeue is queue.js's requeue: back into the queue after a backoff, or
// forgotten.
func (s *Swarm) requeue(i *peerInfo) {
	step := i.requeue()
	if step < 0 {
		s.forget(i)
		return
	}
	d := s.opts.Backoff[min(step, len(s.opts.Backoff)-1)]
	time.AfterFunc(d, func() { s.post(event{kind: evRequeue, info: i}) })
}

func (s *Swarm) forget(i *peerInfo) {
	i.status &^= statusActive
	if i.status&statusBanned != 0 {
		return // banned peers are kept, so they are never dialled again
	}
	time.AfterFunc(s.opts.Forget, func() { s.post(event{kind: evForget, info: i}) })
}

// drain dials queued peers while there is room, as swarm.js's drain.
func (s *Swarm) drain() {
	for s.open() && (s.opts.MaxClientSockets == 0 || s.clients < s.opts.MaxClientSockets) {
		i := s.queue.shift()
		if i == nil {
			return
		}
		active := false
		for _, t := range i.topics {
			if s.joined(t) {
				active = true
				break
			}
		}
		if !active {
			continue
		}
		i.status |= statusActive | statusTried
		s.clients++
		s.peers++
		first := !i.dialled
		i.dialled = true
		go s.dial(i, first)
	}
}

// dial races the connectors for a peer, as @hyperswarm/network's connect:
// the first connection made wins, and the attempt fails after DialTimeout
// (10 s, its CONNECTION_TIMEOUT).
func (s *Swarm) dial(i *peerInfo, first bool) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.DialTimeout)
	defer cancel()
	nc, tr, err := race(ctx, s.conn, i.peer, first)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("no connection within %v: %w", s.opts.DialTimeout, err)
	}
	if !s.post(event{kind: evDialed, info: i, nc: nc, err: err, transport: tr}) && nc != nil {
		nc.Close()
	}
}

// deduplicate is queue.js's deduplicate.
func (s *Swarm) deduplicate(c *Conn, local, remote []byte) bool {
	cmp := bytes.Compare(local, remote)
	if cmp == 0 {
		s.log.Debug("connected to self", "peer", c.Peer.Addr)
		s.banConn(c)
		return true
	}
	id := hex.EncodeToString(local) + "\n" + hex.EncodeToString(remote)
	other := s.dedup[id]
	if other == nil || other == c {
		s.dedup[id] = c
		return false
	}
	// Same transport: keep the one dialled by the smaller key.
	otherIsDup := !c.Initiator
	if cmp < 0 {
		otherIsDup = c.Initiator
	}
	if otherIsDup {
		s.dropDuplicate(other, c)
		s.dedup[id] = c
		return false
	}
	s.dropDuplicate(c, other)
	return true
}

// dropDuplicate closes a duplicate we dialled and keeps its peer from
// being dialled again; one received is left for the remote side to close.
func (s *Swarm) dropDuplicate(c, survivor *Conn) {
	s.log.Debug("duplicate connection", "peer", c.Peer.Addr, "initiator", c.Initiator)
	if !c.Initiator {
		return
	}
	s.banConn(c)
	if c.info != nil {
		s.unban[survivor] = c.info
	}
}

func (s *Swarm) banConn(c *Conn) {
	if i := c.info; i != nil {
		i.status |= statusBanned
		s.queue.remove(i)
	}
	go c.Close()
}
