// Package mdns finds and announces hyperswarm topics on the local network
// with multicast DNS, as @hyperswarm/discovery 2 does through
// multicast-dns 7.
//
// A topic is the name hex(topic[:20]) + ".hyperswarm.local". A peer looking
// a topic up multicasts a query for its SRV record, at once and then every
// 30 to 60 seconds. A peer announcing the topic answers with an SRV record
// (target 0.0.0.0, meaning "the address this packet comes from", and its
// TCP port), a TXT record holding "id=" and 32 random bytes that identify
// the announcement (so a peer ignores its own answers), and an A record
// "referrer.hyperswarm.local" holding the querier's address. An announcer
// also multicasts its answer once, unasked, when it joins.
//
// The socket is bound to 0.0.0.0:5353 with SO_REUSEADDR, so it shares the
// port with other mDNS responders of the host, and joins 224.0.0.251 on
// every interface with an IPv4 address (rechecked every 5 seconds).
// Malformed packets are dropped with a debug log.
package mdns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// Defaults of multicast-dns and @hyperswarm/discovery.
const (
	DefaultGroup  = "224.0.0.251:5353"
	DefaultDomain = "hyperswarm.local"
)

// Config configures a Server; the zero value is hyperswarm's.
type Config struct {
	// Group is the multicast group and port (DefaultGroup if empty).
	Group string
	// Domain is the top-level domain of topic names (DefaultDomain if
	// empty).
	Domain string
	// QueryInterval: a lookup queries again after a random time between
	// QueryInterval and twice it (30 s if zero).
	QueryInterval time.Duration
	// Logger receives debug logs; slog.Default() if nil.
	Logger *slog.Logger
}

// Server answers and sends mDNS queries for joined topics.
type Server struct {
	conn     *ipv4.PacketConn
	raw      net.PacketConn
	group    *net.UDPAddr
	tld      string // "." + domain
	interval time.Duration
	log      *slog.Logger
	closed   chan struct{}
	once     sync.Once
	wg       sync.WaitGroup

	mu     sync.Mutex                 // guards topics and joined
	topics map[string]map[*topic]bool // by domain name, without the final dot
	joined map[string]bool            // interface names whose group we joined
}

type topic struct {
	key    [32]byte
	id     []byte // "id=" and 32 random bytes
	port   uint16 // announced TCP port, 0 if only looking up
	onPeer func(netip.AddrPort)
	stop   chan struct{}
}

// Listen binds the mDNS socket and joins the multicast group.
func Listen(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	if cfg.QueryInterval <= 0 {
		cfg.QueryInterval = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	group, err := net.ResolveUDPAddr("udp4", cfg.Group)
	if err != nil {
		return nil, fmt.Errorf("mdns: group %q: %w", cfg.Group, err)
	}
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		})
		return errors.Join(err, serr)
	}}
	raw, err := lc.ListenPacket(ctx, "udp4", fmt.Sprintf("0.0.0.0:%d", group.Port))
	if err != nil {
		return nil, fmt.Errorf("mdns: listen: %w", err)
	}
	pc := ipv4.NewPacketConn(raw)
	pc.SetMulticastTTL(255)
	pc.SetMulticastLoopback(true)
	s := &Server{
		conn:     pc,
		raw:      raw,
		group:    group,
		tld:      "." + strings.TrimSuffix(cfg.Domain, "."),
		interval: cfg.QueryInterval,
		log:      cfg.Logger.With("pkg", "mdns"),
		closed:   make(chan struct{}),
		topics:   make(map[string]map[*topic]bool),
		joined:   make(map[string]bool),
	}
	if n := s.joinGroups(); n == 0 {
		raw.Close()
		return nil, errors.New("mdns: no interface with an IPv4 address joined the multicast group")
	}
	s.wg.Add(2)
	go s.readLoop()
	go s.updateLoop()
	return s, nil
}

// joinGroups joins the group on every up interface with an IPv4 address
// not joined yet, as multicast-dns's update; it returns how many are
// joined in all.
func (s *Server) joinGroups() int {
	ifs, err := net.Interfaces()
	if err != nil {
		s.log.Debug("interfaces", "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || s.joined[ifi.Name] || !hasIPv4(&ifi) {
			continue
		}
		if err := s.conn.JoinGroup(&ifi, &net.UDPAddr{IP: s.group.IP}); err != nil {
			s.log.Debug("join group", "interface", ifi.Name, "err", err)
			continue
		}
		s.joined[ifi.Name] = true
	}
	return len(s.joined)
}

func hasIPv4(ifi *net.Interface) bool {
	addrs, _ := ifi.Addrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			return true
		}
	}
	return false
}

func (s *Server) updateLoop() {
	defer s.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
			s.joinGroups()
		}
	}
}

// Close leaves every topic and closes the socket.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		err = s.raw.Close()
		s.wg.Wait()
	})
	return err
}

// Name returns the mDNS name of key, without the final dot.
func (s *Server) Name(key [32]byte) string { return hex.EncodeToString(key[:20]) + s.tld }

// Join starts announcing key with port (if port is not 0) and, if lookup
// is set, looking it up; onPeer is called, from the Server's goroutine,
// with the address of every peer found (it must not block). The returned
// function leaves the topic.
func (s *Server) Join(key [32]byte, port uint16, lookup bool, onPeer func(netip.AddrPort)) (leave func()) {
	t := &topic{key: key, id: make([]byte, 35), port: port, onPeer: onPeer, stop: make(chan struct{})}
	copy(t.id, "id=")
	rand.Read(t.id[3:])
	name := s.Name(key)
	s.mu.Lock()
	if s.topics[name] == nil {
		s.topics[name] = make(map[*topic]bool)
	}
	s.topics[name][t] = true
	s.mu.Unlock()
	if port != 0 {
		// Answer once unasked, as @hyperswarm/discovery's _fireAnnounce.
		s.answer([]string{name}, nil, netip.Addr{})
	}
	if lookup || port == 0 {
		s.wg.Add(1)
		go s.queryLoop(t, name)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			close(t.stop)
			s.mu.Lock()
			delete(s.topics[name], t)
			if len(s.topics[name]) == 0 {
				delete(s.topics, name)
			}
			s.mu.Unlock()
		})
	}
}

func (s *Server) queryLoop(t *topic, name string) {
	defer s.wg.Done()
	for {
		s.query(name)
		wait := s.interval + time.Duration(mrand.Int64N(int64(s.interval)))
		timer := time.NewTimer(wait)
		select {
		case <-s.closed:
			timer.Stop()
			return
		case <-t.stop:
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

func (s *Server) send(b []byte) {
	if _, err := s.conn.WriteTo(b, nil, s.group); err != nil {
		select {
		case <-s.closed:
		default:
			s.log.Debug("send", "err", err)
		}
	}
}

// query multicasts a query for the SRV record of name.
func (s *Server) query(name string) {
	b, err := EncodeQuery(name)
	if err != nil {
		s.log.Debug("encoding query", "name", name, "err", err)
		return
	}
	s.send(b)
}

// answer multicasts the answers of our announcing topics among names,
// leaving out those with the TXT id in skipIDs[name]; from, if valid, is
// the querier's address, sent back as the referrer A record.
func (s *Server) answer(names []string, skipIDs map[string][]byte, from netip.Addr) {
	var rs []Record
	s.mu.Lock()
	for _, name := range names {
		for t := range s.topics[name] {
			if t.port == 0 || (skipIDs[name] != nil && string(skipIDs[name]) == string(t.id)) {
				continue
			}
			rs = append(rs, Record{Name: name, Port: t.port, ID: t.id})
		}
	}
	s.mu.Unlock()
	if len(rs) == 0 {
		return
	}
	var referrer string
	if from.IsValid() {
		referrer = "referrer" + s.tld
	}
	b, err := EncodeResponse(rs, referrer, from)
	if err != nil {
		s.log.Debug("encoding response", "err", err)
		return
	}
	s.send(b)
}

func (s *Server) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, 9000)
	for {
		n, _, src, err := s.conn.ReadFrom(buf)
		if err != nil {
			select {
			case <-s.closed:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("read", "err", err)
			continue
		}
		ua, ok := src.(*net.UDPAddr)
		if !ok {
			continue
		}
		s.handle(buf[:n], ua.AddrPort().Addr().Unmap())
	}
}

func (s *Server) handle(b []byte, from netip.Addr) {
	p, err := Decode(b)
	if err != nil {
		s.log.Debug("dropped packet", "from", from, "len", len(b), "err", err)
		return
	}
	if !p.Response {
		s.answer(append([]string(nil), p.Questions...), p.IDs, from)
		return
	}
	type hit struct {
		f    func(netip.AddrPort)
		addr netip.AddrPort
	}
	var hits []hit
	s.mu.Lock()
	for _, r := range p.Records {
		host := r.Target
		if !host.IsValid() || host.IsUnspecified() {
			host = from
		}
		for t := range s.topics[r.Name] {
			if r.ID != nil && string(r.ID) == string(t.id) {
				continue
			}
			if t.onPeer != nil {
				hits = append(hits, hit{t.onPeer, netip.AddrPortFrom(host, r.Port)})
			}
		}
	}
	s.mu.Unlock()
	for _, h := range hits {
		h.f(h.addr)
	}
}

// Packet is what the discovery reads from an mDNS packet.
type Packet struct {
	Response  bool
	Questions []string          // names asked for SRV, without the final dot
	Records   []Record          // SRV answers, with the TXT id of their name
	IDs       map[string][]byte // first TXT string by name
}

// Record is one announcement: an SRV answer and its TXT id.
type Record struct {
	Name   string
	Target netip.Addr // the SRV target if it is an IPv4 address (0.0.0.0: the sender)
	Port   uint16
	ID     []byte
}

// Decode parses an mDNS packet; records of other types are skipped.
func Decode(b []byte) (*Packet, error) {
	var m dnsmessage.Message
	if err := m.Unpack(b); err != nil {
		return nil, fmt.Errorf("mdns: %w", err)
	}
	p := &Packet{Response: m.Header.Response, IDs: map[string][]byte{}}
	for _, q := range m.Questions {
		if q.Type == dnsmessage.TypeSRV {
			p.Questions = append(p.Questions, trimDot(q.Name.String()))
		}
	}
	for _, a := range m.Answers {
		if txt, ok := a.Body.(*dnsmessage.TXTResource); ok && len(txt.TXT) > 0 {
			name := trimDot(a.Header.Name.String())
			if _, seen := p.IDs[name]; !seen {
				p.IDs[name] = []byte(txt.TXT[0])
			}
		}
	}
	for _, a := range m.Answers {
		srv, ok := a.Body.(*dnsmessage.SRVResource)
		if !ok {
			continue
		}
		name := trimDot(a.Header.Name.String())
		r := Record{Name: name, Port: srv.Port, ID: p.IDs[name]}
		if ip, err := netip.ParseAddr(trimDot(srv.Target.String())); err == nil && ip.Is4() {
			r.Target = ip
		} else {
			// A host name target: hyperswarm only ever sends 0.0.0.0;
			// other targets are not resolved.
			continue
		}
		p.Records = append(p.Records, r)
	}
	return p, nil
}

func trimDot(s string) string { return strings.TrimSuffix(s, ".") }

// EncodeQuery encodes a query for the SRV record of name, as dns-packet
// does (no name compression).
func EncodeQuery(name string) ([]byte, error) {
	n, err := dnsmessage.NewName(name + ".")
	if err != nil {
		return nil, err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{})
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: n, Type: dnsmessage.TypeSRV, Class: dnsmessage.ClassINET}); err != nil {
		return nil, err
	}
	return b.Finish()
}

var zeroTarget = dnsmessage.MustNewName("0.0.0.0.")

// EncodeResponse encodes an answer as @hyperswarm/discovery does through
// dns-packet: SRV (target 0.0.0.0) and TXT id records for rs, and, if
// referrer is not empty, an A record of that name holding from; no name
// compression.
func EncodeResponse(rs []Record, referrer string, from netip.Addr) ([]byte, error) {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{Response: true, Authoritative: true})
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	for _, r := range rs {
		n, err := dnsmessage.NewName(r.Name + ".")
		if err != nil {
			return nil, err
		}
		h := dnsmessage.ResourceHeader{Name: n, Class: dnsmessage.ClassINET}
		if err := b.SRVResource(h, dnsmessage.SRVResource{Target: zeroTarget, Port: r.Port}); err != nil {
			return nil, err
		}
		if err := b.TXTResource(h, dnsmessage.TXTResource{TXT: []string{string(r.ID)}}); err != nil {
			return nil, err
		}
	}
	if referrer != "" && from.Is4() {
		n, err := dnsmessage.NewName(referrer + ".")
		if err != nil {
			return nil, err
		}
		h := dnsmessage.ResourceHeader{Name: n, Class: dnsmessage.ClassINET}
		if err := b.AResource(h, dnsmessage.AResource{A: from.As4()}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}
