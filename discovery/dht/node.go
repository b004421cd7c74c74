package dht

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/blake2b"
	"google.golang.org/protobuf/proto"
)

// DefaultBootstrap are the bootstrap nodes of @hyperswarm/dht 4, used when
// Config.Bootstrap is nil.
var DefaultBootstrap = []string{
	"bootstrap1.hyperdht.org:49737",
	"bootstrap2.hyperdht.org:49737",
	"bootstrap3.hyperdht.org:49737",
}

// version is dht-rpc's IO.VERSION; messages from older versions are
// treated as ephemeral.
const version = 1

// Sentinel errors callers branch on.
var (
	// ErrNoNodes: a query got no response at all (no network, or no
	// bootstrap node reachable).
	ErrNoNodes = errors.New("dht: no nodes responded")
	// ErrNoCloseNodes: an announce or unannounce found nodes but none of
	// the closest took the update.
	ErrNoCloseNodes = errors.New("dht: no close nodes responded")
	// ErrTimeout: a request got no response after its retries.
	ErrTimeout = errors.New("dht: request timed out")
	// ErrClosed: the node is closed.
	ErrClosed = errors.New("dht: node closed")
)

// Config configures a Node. The zero value listens on a random UDP port
// of every interface and bootstraps from DefaultBootstrap.
type Config struct {
	// Conn is the UDP socket to use; the node closes it. If nil the node
	// listens on Addr.
	Conn net.PacketConn
	// Addr is the UDP address to listen on when Conn is nil (":0" if empty).
	Addr string
	// Bootstrap lists bootstrap nodes as "host:port", ":port" (meaning
	// 127.0.0.1) or a bare port. Nil means DefaultBootstrap; an empty,
	// non-nil slice means none (a first bootstrap node of a new DHT).
	Bootstrap []string
	// ID is the node id; random if zero.
	ID [IDLen]byte
	// Persistent makes the node put its id in its messages, so others add
	// it to their routing tables and send it queries. Bootstrap nodes and
	// other long-lived reachable nodes should be persistent; hyperswarm
	// peers start ephemeral.
	Persistent bool
	// Timeout is how long one try of a request waits (1 s if zero); a
	// request is tried three times.
	Timeout time.Duration
	// MaxAge is how long an announcement is kept (12 min if zero).
	MaxAge time.Duration
	// Concurrency bounds a query's requests in flight (16 if zero).
	Concurrency int
	// Logger receives debug logs (dropped packets, failed requests);
	// slog.Default() if nil.
	Logger *slog.Logger
}

// Node is a DHT node. Its methods are safe for concurrent use.
type Node struct {
	conn        net.PacketConn
	id          [IDLen]byte
	persistent  bool
	bootstrap   []string
	timeout     time.Duration
	concurrency int
	log         *slog.Logger
	closed      chan struct{}
	closeOnce   sync.Once
	wg          sync.WaitGroup

	mu           sync.Mutex          // guards the fields below
	table        table               // routing table
	inflight     map[uint16]*request // requests awaiting a response, by rid
	rid          uint16              // next request id to try
	secrets      [2][32]byte         // token secrets, current and previous
	store        *peerStore          // announcements we hold
	bootstrapped bool                // first bootstrap finished
	pinging      bool                // a bucket re-ping is running
}

// Listen starts a node. It does not bootstrap: call Bootstrap, or any
// query, which bootstraps from the configured nodes as it goes.
func Listen(ctx context.Context, cfg Config) (*Node, error) {
	conn := cfg.Conn
	if conn == nil {
		addr := cfg.Addr
		if addr == "" {
			addr = ":0"
		}
		var lc net.ListenConfig
		c, err := lc.ListenPacket(ctx, "udp4", addr)
		if err != nil {
			return nil, fmt.Errorf("dht: listen: %w", err)
		}
		conn = c
	}
	n := &Node{
		conn:        conn,
		id:          cfg.ID,
		persistent:  cfg.Persistent,
		bootstrap:   cfg.Bootstrap,
		timeout:     cfg.Timeout,
		concurrency: cfg.Concurrency,
		log:         cfg.Logger,
		closed:      make(chan struct{}),
		inflight:    make(map[uint16]*request),
	}
	if n.bootstrap == nil {
		n.bootstrap = DefaultBootstrap
	}
	if n.timeout <= 0 {
		n.timeout = time.Second
	}
	if n.concurrency <= 0 {
		n.concurrency = 16
	}
	if n.log == nil {
		n.log = slog.Default()
	}
	n.log = n.log.With("pkg", "dht")
	if n.id == ([IDLen]byte{}) {
		rand.Read(n.id[:])
	}
	n.table.self = n.id
	var r [2]byte
	rand.Read(r[:])
	n.rid = uint16(r[0])<<8 | uint16(r[1])
	rand.Read(n.secrets[0][:])
	rand.Read(n.secrets[1][:])
	maxAge := cfg.MaxAge
	if maxAge <= 0 {
		maxAge = 12 * time.Minute
	}
	n.store = newPeerStore(maxAge)
	n.wg.Add(2)
	go n.readLoop()
	go n.tickLoop()
	return n, nil
}

// ID returns the node id.
func (n *Node) ID() [IDLen]byte { return n.id }

// Addr returns the node's UDP address.
func (n *Node) Addr() netip.AddrPort {
	if a, ok := n.conn.LocalAddr().(*net.UDPAddr); ok {
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

// Nodes returns the routing table's nodes.
func (n *Node) Nodes() []NodeInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	return nodeInfos(n.table.all())
}

// AddNodes adds nodes to the routing table, as dht-rpc's addNodes does.
func (n *Node) AddNodes(nodes []NodeInfo) {
	for _, ni := range nodes {
		n.addNode(ni.ID[:], ni.Addr, nil)
	}
}

// Close stops the node and closes its socket; requests in flight fail with
// ErrClosed.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		close(n.closed)
		err = n.conn.Close()
		n.mu.Lock()
		for rid, r := range n.inflight {
			delete(n.inflight, rid)
			r.finish(nil, netip.AddrPort{}, ErrClosed)
		}
		n.mu.Unlock()
		n.wg.Wait()
	})
	return err
}

// tickLoop runs dht-rpc's 5-second tick: every 8th tick it pings a few of
// the least recently seen nodes, every 64th it bootstraps again if the
// table is small; every 5 minutes the token secrets rotate.
func (n *Node) tickLoop() {
	defer n.wg.Done()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	rotate := time.NewTicker(5 * time.Minute)
	defer rotate.Stop()
	for i := 1; ; i++ {
		select {
		case <-n.closed:
			return
		case <-rotate.C:
			n.mu.Lock()
			n.secrets[1] = n.secrets[0]
			rand.Read(n.secrets[0][:])
			n.mu.Unlock()
			continue
		case <-tick.C:
		}
		n.store.gc(time.Now())
		n.mu.Lock()
		size := n.table.n
		var old []seenNode
		if i%8 == 0 {
			old = snapshot(n.table.oldest(5))
		}
		n.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-n.closed:
			case <-ctx.Done():
			}
			cancel()
		}()
		if (i%8 == 0 && size == 0) || (i%64 == 0 && size < K) {
			if err := n.Bootstrap(ctx); err != nil {
				n.log.Debug("background bootstrap", "err", err)
			}
		}
		for _, e := range old {
			if time.Since(e.seen) < 5*time.Second {
				continue
			}
			if _, err := n.ping(ctx, e.Addr, e.ID[:]); err != nil {
				n.removeNode(e.ID)
			}
		}
		cancel()
	}
}

// token returns the roundtrip token for host under secret i: BLAKE2b-256
// of the secret and the host's dotted address, as dht-rpc's _token.
func (n *Node) tokenLocked(host netip.Addr, i int) []byte {
	h, _ := blake2b.New256(nil)
	h.Write(n.secrets[i][:])
	h.Write([]byte(host.Unmap().String()))
	return h.Sum(nil)
}

// queryID returns the id to put in messages: nil when ephemeral.
func (n *Node) queryID() []byte {
	if !n.persistent {
		return nil
	}
	return n.id[:]
}

// send encodes and sends m to addr.
func (n *Node) send(m *Message, addr netip.AddrPort) {
	b, err := proto.Marshal(m)
	if err != nil {
		n.log.Debug("encoding message", "err", err)
		return
	}
	n.sendRaw(b, addr)
}

func (n *Node) sendRaw(b []byte, addr netip.AddrPort) {
	if _, err := n.conn.WriteTo(b, net.UDPAddrFromAddrPort(addr)); err != nil {
		select {
		case <-n.closed:
		default:
			n.log.Debug("send", "to", addr, "err", err)
		}
	}
}

// readLoop decodes datagrams and dispatches them; bad ones are dropped.
func (n *Node) readLoop() {
	defer n.wg.Done()
	buf := make([]byte, 65536)
	for {
		sz, from, err := n.conn.ReadFrom(buf)
		if err != nil {
			select {
			case <-n.closed:
				return
			default:
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			n.log.Debug("read", "err", err)
			continue
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok || ua.Port == 0 {
			continue
		}
		n.handle(buf[:sz], netip.AddrPortFrom(ua.AddrPort().Addr().Unmap(), ua.AddrPort().Port()))
	}
}

// DecodeMessage decodes one datagram as dht-rpc's IO does: it must be a
// Message with a 32-byte id if any; the id of a message older than version
// 1 is cleared.
func DecodeMessage(b []byte) (*Message, error) {
	var m Message
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding message: %w", err)
	}
	if m.Id != nil && len(m.Id) != IDLen {
		return nil, fmt.Errorf("decoding message: id of %d bytes", len(m.Id))
	}
	if m.GetVersion() < version {
		m.Id = nil
	}
	if m.GetRid() > 0xffff {
		return nil, fmt.Errorf("decoding message: rid %d", m.GetRid())
	}
	return &m, nil
}

func (n *Node) handle(b []byte, from netip.AddrPort) {
	m, err := DecodeMessage(b)
	if err != nil {
		n.log.Debug("dropped datagram", "from", from, "len", len(b), "err", err)
		return
	}
	switch m.GetType() {
	case TYPE_RESPONSE:
		n.addNode(m.Id, from, m.RoundtripToken)
		n.mu.Lock()
		r := n.inflight[uint16(m.GetRid())]
		if r != nil && (r.to == from || r.anyPort && r.to.Addr() == from.Addr()) {
			delete(n.inflight, r.rid)
		} else {
			r = nil
		}
		n.mu.Unlock()
		if r == nil {
			n.log.Debug("unexpected response", "from", from, "rid", m.GetRid())
			return
		}
		if r.expectID != nil && (m.Id == nil || string(m.Id) != string(r.expectID)) {
			n.removeNode([IDLen]byte(r.expectID))
		}
		r.finish(m, from, nil)
	case TYPE_QUERY:
		n.onRequest(m, from, false)
	case TYPE_UPDATE:
		rt := m.RoundtripToken
		n.mu.Lock()
		ok := rt != nil && (string(rt) == string(n.tokenLocked(from.Addr(), 0)) || string(rt) == string(n.tokenLocked(from.Addr(), 1)))
		n.mu.Unlock()
		if !ok {
			n.log.Debug("update with a bad token", "from", from, "command", m.GetCommand())
			return
		}
		n.onRequest(m, from, true)
	}
}

// addNode adds a node that sent us a message with an id.
func (n *Node) addNode(id []byte, from netip.AddrPort, token []byte) {
	if len(id) != IDLen || !from.Addr().Is4() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	key := [IDLen]byte(id)
	e := n.table.get(key)
	if e == nil {
		e = &entry{NodeInfo: NodeInfo{ID: key}}
	}
	e.Addr = from
	if token != nil {
		e.token = token
	}
	e.seen = time.Now()
	ok, full := n.table.add(e)
	if ok || !n.bootstrapped || n.pinging {
		return
	}
	old := snapshot(full)
	// A full bucket: ping its least recently seen nodes one by one and
	// replace the first that does not answer, as dht-rpc's _reping.
	n.pinging = true
	go func() {
		defer func() {
			n.mu.Lock()
			n.pinging = false
			n.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 4*n.timeout)
		defer cancel()
		for _, o := range old {
			if time.Since(o.seen) < 5*time.Second {
				continue
			}
			if _, err := n.ping(ctx, o.Addr, o.ID[:]); err != nil {
				n.mu.Lock()
				n.table.remove(o.ID)
				n.table.add(e)
				n.mu.Unlock()
				return
			}
		}
	}()
}

func (n *Node) removeNode(id [IDLen]byte) {
	n.mu.Lock()
	n.table.remove(id)
	n.mu.Unlock()
}

// respond sends a response to req.
func (n *Node) respond(req *Message, from netip.AddrPort, value, closer []byte, errMsg string) {
	n.mu.Lock()
	token := n.tokenLocked(from.Addr(), 0)
	n.mu.Unlock()
	m := &Message{
		Version:     proto.Uint64(version),
		Type:        TYPE_RESPONSE.Enum(),
		Rid:         proto.Uint64(req.GetRid()),
		To:          encodePeer(from),
		Id:          n.queryID(),
		CloserNodes: closer,
		Value:       value,
	}
	if errMsg != "" {
		m.Error = proto.String(errMsg)
	} else {
		m.RoundtripToken = token
	}
	n.send(m, from)
}

func (n *Node) closerNodes(target [IDLen]byte) []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return encodeNodes(nodeInfos(n.table.closest(target, K)))
}

// onRequest serves a QUERY or an UPDATE (whose token has been checked).
func (n *Node) onRequest(m *Message, from netip.AddrPort, update bool) {
	n.addNode(m.Id, from, nil)
	switch m.GetCommand() {
	case "_ping":
		if m.Value != nil && string(m.Value) != string(n.id[:]) {
			return
		}
		n.respond(m, from, encodePeer(from), nil, "")
	case "_find_node":
		if len(m.Target) != IDLen {
			return
		}
		n.respond(m, from, nil, n.closerNodes([IDLen]byte(m.Target)), "")
	case "_holepunch":
		n.onHolepunch(m, from)
	default:
		if len(m.Target) != IDLen {
			return
		}
		target := [IDLen]byte(m.Target)
		if m.GetCommand() != "peers" {
			n.respond(m, from, nil, n.closerNodes(target), "Unsupported command")
			return
		}
		var in PeersInput
		if err := proto.Unmarshal(m.Value, &in); err != nil {
			n.log.Debug("dropped peers request", "from", from, "err", err)
			return
		}
		value, errMsg := n.onPeers(target, &in, from, update)
		if errMsg != "" {
			n.respond(m, from, nil, n.closerNodes(target), errMsg)
			return
		}
		n.respond(m, from, value, n.closerNodes(target), "")
	}
}

// onHolepunch relays a _holepunch as dht-rpc does: a request naming "to"
// is forwarded there with "from" set to the sender; a forwarded one (or one
// without "to") is answered, to "from" if given. This opens the NAT
// mappings between two peers that both talk to this node.
func (n *Node) onHolepunch(m *Message, from netip.AddrPort) {
	if m.Value == nil {
		return // dht-rpc cannot decode a missing value and ignores the message
	}
	var hp Holepunch
	if err := proto.Unmarshal(m.Value, &hp); err != nil {
		n.log.Debug("dropped holepunch", "from", from, "err", err)
		return
	}
	if hp.To != nil {
		to, err := decodePeer(hp.To)
		if err != nil || to == from {
			return
		}
		fwd := proto.Clone(m).(*Message)
		fwd.Version = proto.Uint64(version)
		fwd.Id = n.queryID()
		fwd.To = encodePeer(to)
		fwd.Value, _ = proto.Marshal(&Holepunch{From: encodePeer(from)})
		n.send(fwd, to)
		return
	}
	if hp.From != nil {
		if f, err := decodePeer(hp.From); err == nil {
			from = f
		}
	}
	n.respond(m, from, nil, nil, "")
}

// request is one request awaiting its response.
type request struct {
	rid      uint16
	to       netip.AddrPort
	anyPort  bool   // a response from any port of to's address will do
	expectID []byte // id the node should answer with, if known
	done     chan result
	once     sync.Once
}

type result struct {
	m    *Message
	from netip.AddrPort
	err  error
}

func (r *request) finish(m *Message, from netip.AddrPort, err error) {
	r.once.Do(func() { r.done <- result{m, from, err} })
}

// request sends m (type, command, target, value, token set by the caller)
// to addr, trying three times, and returns the response.
func (n *Node) request(ctx context.Context, m *Message, to netip.AddrPort, expectID []byte) (*Message, error) {
	return n.requestVia(ctx, m, to, expectID, netip.AddrPort{})
}

// requestVia is request to a node that referrer told us of: as dht-rpc's
// IO, if it has not answered after 500 ms, and again with every resend, a
// _holepunch naming it goes to the referrer (under a request id of its
// own, unanswered), in case the node sits behind a NAT.
func (n *Node) requestVia(ctx context.Context, m *Message, to netip.AddrPort, expectID []byte, referrer netip.AddrPort) (*Message, error) {
	select {
	case <-n.closed:
		return nil, ErrClosed
	default:
	}
	r := &request{to: to, expectID: expectID, done: make(chan result, 1)}
	if err := n.register(r); err != nil {
		return nil, err
	}
	defer n.unregister(r)

	m.Version = proto.Uint64(version)
	m.Rid = proto.Uint64(uint64(r.rid))
	m.To = encodePeer(to)
	m.Id = n.queryID()
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("dht: encoding request: %w", err)
	}
	var fast <-chan time.Time
	punch := func() {}
	if referrer.IsValid() && referrer != to {
		ft := time.NewTimer(holepunchFast)
		defer ft.Stop()
		fast = ft.C
		value, _ := proto.Marshal(&Holepunch{To: encodePeer(to)})
		punch = func() {
			n.mu.Lock()
			rid := n.rid // a fresh id, as dht-rpc's _free(); nothing waits for its answer
			n.rid++
			n.mu.Unlock()
			hp, err := proto.Marshal(&Message{
				Version: proto.Uint64(version), Type: TYPE_QUERY.Enum(), Rid: proto.Uint64(uint64(rid)),
				To: encodePeer(referrer), Id: n.queryID(), Command: proto.String("_holepunch"), Value: value,
			})
			if err == nil {
				n.sendRaw(hp, referrer)
			}
		}
	}
	t := time.NewTimer(n.timeout)
	defer t.Stop()
	for try := 1; ; try++ {
		n.sendRaw(b, to)
		if try > 1 {
			punch()
		}
	wait:
		select {
		case res := <-r.done:
			if res.err != nil {
				return nil, res.err
			}
			return res.m, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-fast:
			punch()
			goto wait
		case <-t.C:
			if try == 3 {
				return nil, fmt.Errorf("%w: %s %s", ErrTimeout, m.GetCommand(), to)
			}
			t.Reset(n.timeout)
		}
	}
}

// register gives r a free request id and puts it in flight.
func (n *Node) register(r *request) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for range 65536 {
		rid := n.rid
		n.rid++
		if n.inflight[rid] == nil {
			r.rid = rid
			n.inflight[rid] = r
			return nil
		}
	}
	return errors.New("dht: too many requests in flight")
}

func (n *Node) unregister(r *request) {
	n.mu.Lock()
	if n.inflight[r.rid] == r {
		delete(n.inflight, r.rid)
	}
	n.mu.Unlock()
}

// Ping pings addr and returns our address as the node sees it.
func (n *Node) Ping(ctx context.Context, addr netip.AddrPort) (netip.AddrPort, error) {
	return n.ping(ctx, addr, nil)
}

func (n *Node) ping(ctx context.Context, addr netip.AddrPort, id []byte) (netip.AddrPort, error) {
	m := &Message{Type: TYPE_QUERY.Enum(), Command: proto.String("_ping"), Value: id}
	res, err := n.request(ctx, m, addr, id)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if res.Error != nil {
		return netip.AddrPort{}, fmt.Errorf("dht: ping %s: %s", addr, res.GetError())
	}
	pong := res.To
	if pong == nil {
		pong = res.Value
	}
	p, err := decodePeer(pong)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("dht: ping %s: invalid pong: %w", addr, err)
	}
	return p, nil
}

// resolveBootstrap resolves the bootstrap nodes; failures are logged.
func (n *Node) resolveBootstrap(ctx context.Context) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range n.bootstrap {
		a, err := resolvePeer(ctx, s)
		if err != nil {
			n.log.Debug("bootstrap node", "node", s, "err", err)
			continue
		}
		out = append(out, a)
	}
	return out
}

// resolvePeer parses "host:port", ":port" or "port" as dht-rpc's parsePeer
// does, resolving host names to an IPv4 address.
func resolvePeer(ctx context.Context, s string) (netip.AddrPort, error) {
	if !strings.Contains(s, ":") {
		s = ":" + s
	}
	if strings.HasPrefix(s, ":") {
		s = "127.0.0.1" + s
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(ip.Unmap(), uint16(p)), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("no IPv4 address for %s", host)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(p)), nil
}
