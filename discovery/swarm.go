// Package discovery finds and announces peers for a topic the way
// hyperswarm v2 does, so hyperfs and JavaScript Dat peers find and connect
// to each other.
//
// A Swarm listens on one port for TCP connections and, on the same port
// number, on one UDP socket shared by uTP (BEP 29, through libutp, as
// utp-native) and its DHT node (package dht, the hyperswarm v2 DHT of
// @hyperswarm/dht 4); it also answers multicast DNS on the LAN (package
// mdns, as @hyperswarm/discovery 2). Joining a topic (a 32-byte discovery
// key) announces us and/or looks peers up, through the DHT every 5 to 10
// minutes and through mDNS every 30 to 60 seconds. Every peer found goes
// into hyperswarm 2's peer queue: local peers first, failed ones again
// after 1, 5 and 15 seconds, forgotten after four failures; connections
// end when MaxPeers are open. Accept hands out connections both dialled
// and received, each a Conn (a net.Conn that says whether we are the
// initiator, which peer it is and over which transport), ready for the
// replication protocol.
//
// # Finding, connecting, pooling
//
// The swarm is split the way hyperswarm is. Finders (finder.go: the DHT,
// mDNS, static --peer addresses) find peers of each joined topic;
// connectors (connect.go: TCP, holepunch+uTP) dial them; one pool
// (pool.go) owns the queue, the caps, the backoff and the duplicate rules
// for all of them. A new way to find peers or a new transport is a new
// Finder or Connector. A topic joined with Wait is looked up again every
// 10 s while no peer of it is connected, and Unreachable tells a caller
// that gave up that peers were found but none could be reached.
//
// # Connecting
//
// A peer is dialled by every Connector at once, as @hyperswarm/network 2.1
// does: TCP, and for a peer a DHT node told us of, a UDP holepunch through
// that node (dht-rpc's _holepunch) followed by a uTP connection from the
// DHT's socket. The first connection made wins; the attempt fails after
// 10 s. A peer behind a NAT that forwards only established traffic is
// reached by the holepunch; one behind a NAT that picks a new port for
// every destination (symmetric) is not, by JavaScript peers either.
// Connections received, TCP or uTP, are treated alike.
//
// # Duplicates
//
// Two peers that find each other may connect twice (once each way, or once
// per topic). As in hyperswarm 2, the swarm cannot tell before the
// protocol handshake reveals the peers' keys: the caller then calls
// Conn.Deduplicate, which keeps one connection per pair of keys, the same
// one on both sides.
package discovery

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/hyperfs/hyperfs/discovery/dht"
	"github.com/hyperfs/hyperfs/discovery/mdns"
	acceptloop "github.com/hyperfs/hyperfs/internal/accept"
)

// Errors callers branch on.
var (
	ErrClosed = errors.New("discovery: swarm closed")
)

// Options configures a Swarm. The zero value is hyperswarm 2's defaults:
// the public bootstrap nodes, mDNS on, 24 peers.
type Options struct {
	// Bootstrap lists the DHT bootstrap nodes, "host:port". Nil means
	// dht.DefaultBootstrap; an empty non-nil slice means none.
	Bootstrap []string
	// NoDHT turns the DHT off (LAN discovery only).
	NoDHT bool
	// NoMDNS turns LAN discovery off.
	NoMDNS bool
	// NoUTP turns uTP off: no holepunching, TCP only, and the DHT gets a
	// plain UDP socket.
	NoUTP bool
	// NoTCP dials peers over holepunch+uTP only (TCP is still accepted):
	// for measuring uTP.
	NoTCP bool
	// MDNS configures LAN discovery.
	MDNS mdns.Config
	// Host is the address to listen on ("" for every interface).
	Host string
	// Port is the TCP and UDP port; 0 tries PreferredPort, the two after
	// it, then random ports.
	Port, PreferredPort int
	// AnnouncePort is the port to announce; 0 is our own (the DHT then
	// records the port our UDP messages come from, as hyperswarm does).
	AnnouncePort uint16
	// AnnounceLocalAddress also announces our LAN address on the DHT,
	// for peers behind the same NAT.
	AnnounceLocalAddress bool
	// Persistent makes our DHT node persistent (see dht.Config).
	Persistent bool
	// MaxPeers caps the connections, both ways (24 if zero).
	MaxPeers int
	// MaxClientSockets and MaxServerSockets cap dialled and received
	// connections (no cap if zero).
	MaxClientSockets, MaxServerSockets int
	// Multiplex makes one queue entry, so one connection, per peer
	// address whatever the topics; hyperswarm's default (false) dials a
	// peer once per topic.
	Multiplex bool
	// ValidatePeer, if set, rejects peers it returns false for.
	ValidatePeer func(Peer) bool
	// Backoff are the requeue delays (DefaultBackoff if nil).
	Backoff []time.Duration
	// Forget is how long an unreachable peer is kept before it may be
	// queued again when found again (7.5 s if zero).
	Forget time.Duration
	// DialTimeout bounds the attempt to connect to a peer, over every
	// transport at once (10 s if zero).
	DialTimeout time.Duration
	// Refresh is the base of the DHT refresh: a topic is announced or
	// looked up again after Refresh to twice it (5 min if zero).
	Refresh time.Duration
	// WaitRefresh is how often a topic joined with Wait is looked up on the
	// DHT while no peer of it is connected (DefaultWaitRefresh if zero).
	WaitRefresh time.Duration
	// DHTTimeout is the DHT request timeout (see dht.Config).
	DHTTimeout time.Duration
	// Peers are static peers, "host:port": "found" for every topic looked
	// up, dialled over TCP, and retried with backoff for as long as the
	// topic is joined (the --peer finder).
	Peers []string
	// Finders are more finders, run beside the DHT, mDNS and static ones.
	Finders []Finder
	// Logger receives logs; slog.Default() if nil.
	Logger *slog.Logger
}

// JoinOptions say what a Join does; Announce and Lookup both false means
// Lookup. A one-shot reader looks up without announcing; a seeder
// announces and looks up.
type JoinOptions struct {
	Announce bool // announce us as a peer of the topic
	Lookup   bool // look peers of the topic up and connect to them
	// Wait says the caller waits for a peer of the topic (to open a drive
	// it does not have): until a connection to one is open, the DHT is
	// asked again every Options.WaitRefresh (10 s) instead of every
	// Refresh.
	Wait bool
}

// Swarm finds, announces and connects peers. Its methods are safe for
// concurrent use.
type Swarm struct {
	opts  Options
	log   *slog.Logger
	ln    *net.TCPListener
	udp   net.PacketConn
	utp   *utpSocket // nil with NoDHT or NoUTP
	conn  []Connector
	node  *dht.Node    // nil with NoDHT
	mdns  *mdns.Server // nil with NoMDNS
	find  []Finder
	conns chan *Conn
	ev    chan event
	ctx   context.Context // cancelled on Close
	stop  context.CancelFunc
	once  sync.Once
	wg    sync.WaitGroup

	mu     sync.Mutex          // guards topics
	topics map[[32]byte]*topic // joined topics

	// Owned by the loop goroutine:
	infos   map[string]*peerInfo
	queue   peerQueue
	dedup   map[string]*Conn
	unban   map[*Conn]*peerInfo // survivor → duplicate peer banned while it lives
	peers   int                 // open connections, both ways, and dials in flight
	clients int                 // dials in flight and dialled connections
	servers int                 // received connections
	reach   map[[32]byte]*reach // what became of the peers found, by topic

	lmu  sync.Mutex       // guards live
	live map[[32]byte]int // open dialled connections by topic
}

type topic struct {
	key      [32]byte
	opts     JoinOptions
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the finders' goroutines
	first    chan struct{}  // closed once every finder did a first round
	firstErr error          // errors of the first rounds, set before first closes
}

// Listen binds the swarm's TCP and UDP port and starts its DHT node and
// mDNS responder. ctx bounds the setup only.
func Listen(ctx context.Context, opts Options) (*Swarm, error) {
	if opts.MaxPeers <= 0 {
		opts.MaxPeers = 24
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.Forget <= 0 {
		opts.Forget = 7500 * time.Millisecond
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 5 * time.Minute
	}
	if opts.WaitRefresh <= 0 {
		opts.WaitRefresh = DefaultWaitRefresh
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Swarm{
		opts:   opts,
		log:    opts.Logger.With("pkg", "discovery"),
		conns:  make(chan *Conn, opts.MaxPeers+16),
		ev:     make(chan event, 64),
		topics: make(map[[32]byte]*topic),
		infos:  make(map[string]*peerInfo),
		dedup:  make(map[string]*Conn),
		unban:  make(map[*Conn]*peerInfo),
		reach:  make(map[[32]byte]*reach),
		live:   make(map[[32]byte]int),
	}
	if err := s.bind(ctx); err != nil {
		return nil, err
	}
	if !opts.NoDHT {
		n, err := dht.Listen(ctx, dht.Config{
			Conn: s.udp, Bootstrap: opts.Bootstrap, Persistent: opts.Persistent,
			Timeout: opts.DHTTimeout, Logger: opts.Logger,
		})
		if err != nil {
			s.ln.Close()
			s.udp.Close()
			return nil, fmt.Errorf("discovery: %w", err)
		}
		s.node = n
	} else {
		s.udp.Close()
		s.utp = nil
	}
	if !opts.NoMDNS {
		cfg := opts.MDNS
		if cfg.Logger == nil {
			cfg.Logger = opts.Logger
		}
		m, err := mdns.Listen(ctx, cfg)
		if err != nil {
			s.log.Warn("LAN discovery off", "err", err)
		} else {
			s.mdns = m
		}
	}
	if s.node != nil {
		bs := opts.Bootstrap
		if bs == nil {
			bs = dht.DefaultBootstrap
		}
		s.find = append(s.find, &dhtFinder{node: s.node, refresh: opts.Refresh, waitRefresh: opts.WaitRefresh, opts: s.peersOptions, log: s.log, bootstrap: bs})
	}
	if s.mdns != nil {
		s.find = append(s.find, &mdnsFinder{server: s.mdns, port: s.announcePort})
	}
	if len(opts.Peers) > 0 {
		s.find = append(s.find, &staticFinder{addrs: opts.Peers, log: s.log})
	}
	s.find = append(s.find, opts.Finders...)
	if !opts.NoTCP {
		s.conn = []Connector{tcpConnector{}}
	}
	if s.utp != nil && s.node != nil {
		s.conn = append(s.conn, holepunchConnector{node: s.node, sock: s.utp})
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.wg.Add(2)
	go s.acceptLoop()
	go s.loop()
	if s.utp != nil {
		s.wg.Add(1)
		go s.acceptUTP()
	}
	return s, nil
}

// bind listens on TCP and then UDP on the same port, as @hyperswarm/network.
func (s *Swarm) bind(ctx context.Context) error {
	ports := []int{s.opts.Port}
	if s.opts.Port == 0 {
		p := s.opts.PreferredPort
		ports = []int{p, 0, 0, 0, 0, 0, 0}
		if p != 0 {
			ports[1], ports[2] = p+1, p+2
		}
	}
	var lc net.ListenConfig
	var lastErr error
	for _, port := range ports {
		addr := net.JoinHostPort(s.opts.Host, strconv.Itoa(port))
		l, err := lc.Listen(ctx, "tcp4", addr)
		if err != nil {
			lastErr = err
			continue
		}
		ln := l.(*net.TCPListener)
		got := ln.Addr().(*net.TCPAddr).Port
		if s.opts.NoDHT {
			s.ln, s.udp = ln, nopPacketConn{}
			return nil
		}
		uaddr := net.JoinHostPort(s.opts.Host, strconv.Itoa(got))
		if s.opts.NoUTP {
			u, err := lc.ListenPacket(ctx, "udp4", uaddr)
			if err != nil {
				ln.Close()
				lastErr = err
				continue
			}
			s.ln, s.udp = ln, u
			return nil
		}
		u, err := listenUTP(uaddr)
		if err != nil {
			ln.Close()
			lastErr = err
			continue
		}
		s.ln, s.udp, s.utp = ln, u.packetConn(), u
		return nil
	}
	return fmt.Errorf("discovery: listen: %w", lastErr)
}

// Addr returns the TCP address we listen on.
func (s *Swarm) Addr() netip.AddrPort { return s.ln.Addr().(*net.TCPAddr).AddrPort() }

// DHT returns the swarm's DHT node, nil with NoDHT.
func (s *Swarm) DHT() *dht.Node { return s.node }

func (s *Swarm) announcePort() uint16 {
	if s.opts.AnnouncePort != 0 {
		return s.opts.AnnouncePort
	}
	return s.Addr().Port()
}

// Join starts announcing and/or looking up key with every finder; it
// returns at once (Flush waits for the first rounds). Joining again
// replaces the options and starts new rounds.
func (s *Swarm) Join(key [32]byte, o JoinOptions) error {
	if !o.Announce && !o.Lookup {
		o.Lookup = true
	}
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	s.mu.Lock()
	old := s.topics[key]
	s.mu.Unlock()
	if old != nil {
		s.leaveTopic(old)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	t := &topic{key: key, opts: o, cancel: cancel, first: make(chan struct{})}
	s.mu.Lock()
	s.topics[key] = t
	s.mu.Unlock()
	var mu sync.Mutex
	pending := len(s.find)
	var errs []error
	if pending == 0 {
		close(t.first)
	}
	for _, f := range s.find {
		var once sync.Once
		q := Query{
			Topic: key, JoinOptions: o,
			Found: func(p Peer) { s.found(p) },
			Round: func(err error) {
				once.Do(func() {
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", f.Name(), err))
					}
					if pending--; pending == 0 {
						t.firstErr = errors.Join(errs...)
						close(t.first)
					}
				})
			},
			Waiting: func() bool { return o.Wait && s.liveFor(key) == 0 },
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			f.Find(ctx, q)
			q.Round(ctx.Err()) // a finder that ended early still counts
		}()
	}
	s.log.Debug("join", "topic", hex.EncodeToString(key[:]), "announce", o.Announce, "lookup", o.Lookup, "wait", o.Wait)
	return nil
}

func (s *Swarm) peersOptions() dht.PeersOptions {
	o := dht.PeersOptions{Port: s.opts.AnnouncePort}
	if s.opts.AnnounceLocalAddress {
		if ip := localIPv4(); ip.IsValid() {
			o.LocalAddress = netip.AddrPortFrom(ip, s.Addr().Port())
		}
	}
	return o
}

// Flush waits until every joined topic has done its first round with
// every finder (so an announce is in place and a lookup's peers are
// queued). It returns the first rounds' errors, such as dht.ErrNoNodes
// with no network.
func (s *Swarm) Flush(ctx context.Context) error {
	s.mu.Lock()
	ts := make([]*topic, 0, len(s.topics))
	for _, t := range s.topics {
		ts = append(ts, t)
	}
	s.mu.Unlock()
	var errs []error
	for _, t := range ts {
		select {
		case <-t.first:
			if t.firstErr != nil {
				errs = append(errs, fmt.Errorf("discovery: topic %x: %w", t.key[:4], t.firstErr))
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ctx.Done():
			return ErrClosed
		}
	}
	return errors.Join(errs...)
}

// Leave stops announcing and looking up key; if it was announced, it is
// unannounced from the DHT (bounded by ctx).
func (s *Swarm) Leave(ctx context.Context, key [32]byte) error {
	s.mu.Lock()
	t := s.topics[key]
	s.mu.Unlock()
	if t == nil {
		return nil
	}
	s.leaveTopic(t)
	if !t.opts.Announce {
		return nil
	}
	var errs []error
	for _, f := range s.find {
		if u, ok := f.(unannouncer); ok {
			if err := u.Unannounce(ctx, key); err != nil {
				errs = append(errs, fmt.Errorf("discovery: unannounce (%s): %w", f.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

func (s *Swarm) leaveTopic(t *topic) {
	s.mu.Lock()
	if s.topics[t.key] == t {
		delete(s.topics, t.key)
	}
	s.mu.Unlock()
	t.cancel()
	t.wg.Wait()
}

func (s *Swarm) joined(key [32]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[key]
	return t != nil && t.opts.Lookup
}

// found queues a discovered peer.
func (s *Swarm) found(p Peer) {
	if s.opts.ValidatePeer != nil && !s.opts.ValidatePeer(p) {
		s.log.Debug("peer rejected", "peer", p.Addr)
		return
	}
	s.post(event{kind: evPeer, peer: p})
}

// Accept returns the next connection, dialled or received.
func (s *Swarm) Accept(ctx context.Context) (*Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.ctx.Done():
		return nil, ErrClosed
	}
}

// Close leaves every topic (without unannouncing), closes the sockets
// and every connection not yet accepted. Accepted connections are the
// caller's to close.
func (s *Swarm) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		ts := make([]*topic, 0, len(s.topics))
		for _, t := range s.topics {
			ts = append(ts, t)
		}
		s.mu.Unlock()
		for _, t := range ts {
			s.leaveTopic(t)
		}
		s.stop()
		s.ln.Close()
		if s.node != nil {
			s.node.Close()
		}
		if s.mdns != nil {
			s.mdns.Close()
		}
		s.wg.Wait()
		for {
			select {
			case c := <-s.conns:
				c.Conn.Close()
			default:
				return
			}
		}
	})
	return nil
}

func (s *Swarm) acceptLoop() {
	defer s.wg.Done()
	acceptloop.Loop(s.ctx, s.ln, s.log, func(c net.Conn) {
		c.(*net.TCPConn).SetNoDelay(true)
		if !s.post(event{kind: evIncoming, nc: c, transport: Transport{Name: "tcp"}}) {
			c.Close()
		}
	})
}

// acceptUTP takes uTP connections (their SYNs arrive on the DHT's socket,
// after a holepunch) into the swarm as acceptLoop takes TCP ones.
func (s *Swarm) acceptUTP() {
	defer s.wg.Done()
	acceptloop.Loop(s.ctx, s.utp, s.log, func(c net.Conn) {
		if !s.post(event{kind: evIncoming, nc: c, transport: Transport{Name: "utp"}}) {
			c.Close()
		}
	})
}

// nopPacketConn stands for the UDP socket with NoDHT.
type nopPacketConn struct{ net.PacketConn }

func (nopPacketConn) Close() error { return nil }

// localIPv4 returns the first non-loopback IPv4 address, as
// @hyperswarm/network's localIp.
func localIPv4() netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			ip, _ := netip.AddrFromSlice(n.IP.To4())
			return ip
		}
	}
	return netip.Addr{}
}
