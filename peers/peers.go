// Package peers replicates every feed of a corestore with every connected
// peer, as corestore's replicate() does in the reference: each open feed is
// offered on each connection, and a feed a peer asks for is opened from
// disk if the store has it (and refused otherwise).
//
// Connections come from anywhere (a dialled or accepted TCP socket, a
// discovery swarm, a pipe in tests); Serve runs the protocol on one until
// it ends.
package peers

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/replication"
	"github.com/hyperfs/hyperfs/hypercore/wire"
	"github.com/hyperfs/hyperfs/internal/accept"
)

// Options configure a Set.
type Options struct {
	// KeyPair is this node's Noise identity on every connection (random,
	// but the same for all of them, if nil: duplicate connections to one
	// peer are told apart by it).
	KeyPair *wire.NoiseKeyPair
	// Timeout is each stream's idle timeout (the reference's 20 s if 0).
	Timeout time.Duration
	// HandshakeTimeout bounds each connection's Noise handshake
	// (DefaultHandshakeTimeout if 0).
	HandshakeTimeout time.Duration
	// MaxPending caps the connections we accepted that have not finished
	// their handshake (DefaultMaxPending if 0); one more is closed at once.
	MaxPending int
	// Logger receives diagnostics; nil uses slog.Default().
	Logger *slog.Logger
}

// Defaults of Options. A silent connection holds a descriptor and a
// goroutine: without a cap and a deadline on the handshake, idle
// connections to a listening port pile up until the process runs out of
// file descriptors (the established streams have their own idle timeout).
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxPending       = 64
)

// ErrTooManyPending: an accepted connection was closed because
// Options.MaxPending others are still in their handshake.
var ErrTooManyPending = errors.New("too many connections in their handshake")

// Set is the peers of one store.
type Set struct {
	store *corestore.Store
	opts  Options
	log   *slog.Logger

	mu      sync.Mutex
	reps    map[[32]byte]*replication.Replicator      // guarded by mu: one per open feed
	healing map[[32]byte]bool                         // guarded by mu: own feeds that lost blocks and download them again
	unsub   map[[32]byte]func()                       // guarded by mu: feed event subscriptions
	streams map[*replication.Stream][]*corestore.Core // guarded by mu: live streams and the feeds opened for them
	info    map[*replication.Stream]ConnInfo          // guarded by mu: how each stream's peer is connected
	closed  bool                                      // guarded by mu
	unhook  []func()
	pending chan struct{} // a slot per accepted connection in its handshake
}

// New starts replicating store's feeds with whatever connections Serve is
// given.
func New(store *corestore.Store, opts Options) *Set {
	s := &Set{
		store:   store,
		opts:    opts,
		log:     opts.Logger,
		reps:    map[[32]byte]*replication.Replicator{},
		streams: map[*replication.Stream][]*corestore.Core{},
		info:    map[*replication.Stream]ConnInfo{},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.opts.HandshakeTimeout <= 0 {
		s.opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if s.opts.MaxPending <= 0 {
		s.opts.MaxPending = DefaultMaxPending
	}
	s.pending = make(chan struct{}, s.opts.MaxPending)
	if s.opts.KeyPair == nil {
		if kp, err := wire.NewNoiseKeyPair(rand.Reader); err == nil {
			s.opts.KeyPair = &kp
		}
	}
	s.unhook = append(s.unhook, store.OnFeed(s.addFeed), store.OnFeedClose(s.removeFeed))
	for _, f := range store.List() {
		s.addFeed(f)
	}
	return s
}

// addFeed makes a feed's replicator and offers it on every stream.
func (s *Set) addFeed(f *hypercore.Feed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dk := f.DiscoveryKey()
	if s.closed || s.reps[dk] != nil {
		return
	}
	// Someone else's feed follows its peers' new blocks (hashes only), so
	// a mounted remote drive shows what they add.
	r := replication.NewReplicator(f, replication.Options{Logger: s.log, EagerUpdate: !f.Writable()})
	s.reps[dk] = r
	if f.Writable() {
		if s.unsub == nil {
			s.unsub, s.healing = map[[32]byte]func(){}, map[[32]byte]bool{}
		}
		s.unsub[dk] = f.Subscribe(func(e hypercore.Event) {
			if e.Kind == hypercore.EventClear {
				s.heal(dk)
			}
		})
	}
	for st := range s.streams {
		s.replicateLocked(st, r)
	}
}

func (s *Set) replicateLocked(st *replication.Stream, r *replication.Replicator) {
	p, err := st.Replicate(r, replication.PeerOptions{})
	if err != nil && !errors.Is(err, replication.ErrAlreadyReplicating) && !errors.Is(err, replication.ErrClosed) {
		s.log.Warn("offering feed to peer", "feed", fmt.Sprintf("%x", r.Feed().DiscoveryKey()), "err", err)
	}
	if p != nil && s.healing[r.Feed().DiscoveryKey()] {
		p.SetDownloading(true)
	}
}

// heal turns downloading on for one of our own feeds that lost blocks (a
// corrupt block was cleared): a writer downloads nothing otherwise, and its
// peers announce what they have only to a peer that downloads. Readers
// waiting for the cleared blocks then get them from peers.
func (s *Set) heal(dk [32]byte) {
	s.mu.Lock()
	r := s.reps[dk]
	if r == nil || s.healing[dk] {
		s.mu.Unlock()
		return
	}
	s.healing[dk] = true
	s.mu.Unlock()
	r.SetDownloading(true)
}

func (s *Set) removeFeed(f *hypercore.Feed) {
	s.mu.Lock()
	dk := f.DiscoveryKey()
	r := s.reps[dk]
	delete(s.reps, dk)
	unsub := s.unsub[dk]
	delete(s.unsub, dk)
	delete(s.healing, dk)
	s.mu.Unlock()
	if unsub != nil {
		unsub()
	}
	if r != nil {
		r.Close()
	}
}

// Replicator returns the replicator of an open feed of the store (nil if
// the feed is not open): for Update, Download and stats.
func (s *Set) Replicator(f *hypercore.Feed) *replication.Replicator {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reps[f.DiscoveryKey()]
}

// Update brings someone else's feed up to date from peers before it is
// first read (hyperdrive.Options.Update): an empty feed waits for a peer to
// send its head; one with blocks asks the peers there are and goes on with
// what it has if none has more. A feed that is not open here is left as is.
func (s *Set) Update(ctx context.Context, f *hypercore.Feed) error {
	r := s.Replicator(f)
	if r == nil {
		return nil
	}
	if f.Length() == 0 {
		return r.Update(ctx, replication.UpdateOptions{MinLength: 1})
	}
	err := r.Update(ctx, replication.UpdateOptions{IfAvailable: true})
	if errors.Is(err, replication.ErrNoUpdate) {
		return nil
	}
	return err
}

// LearnLength learns how long one of our own feeds is from peers
// (hyperdrive.Options.LearnLength), for a writer whose local copy may be
// behind, such as keys restored into a new storage: downloading is turned
// on for the feed, so that peers announce what they have, and once one
// did, the proof of their head is fetched, which makes the feed that long.
// It fails when ctx ends before any peer announced the feed.
func (s *Set) LearnLength(ctx context.Context, f *hypercore.Feed) error {
	r := s.Replicator(f)
	if r == nil {
		return errors.New("the feed is not replicated")
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for r.RemoteLength() == 0 {
		r.SetDownloading(true) // again for peers that connected since
		select {
		case <-ctx.Done():
			return fmt.Errorf("no peer announced it (%d connected): %w", len(r.Peers()), ctx.Err())
		case <-tick.C:
		}
	}
	if n := r.RemoteLength(); n > f.Length() {
		if err := r.Update(ctx, replication.UpdateOptions{MinLength: n}); err != nil {
			return fmt.Errorf("fetching the head a peer announced (block %d): %w", n-1, err)
		}
	}
	return nil
}

// Serve runs the replication protocol on conn until it ends or ctx is done;
// initiator is true on the end that connected. The handshake must finish
// within Options.HandshakeTimeout; a connection we accepted (initiator
// false) while Options.MaxPending others are in their handshake is closed
// at once with ErrTooManyPending.
func (s *Set) Serve(ctx context.Context, conn io.ReadWriteCloser, initiator bool) error {
	if !initiator {
		select {
		case s.pending <- struct{}{}:
		default:
			conn.Close()
			s.log.Debug("connection refused: too many in their handshake", "max", s.opts.MaxPending)
			return ErrTooManyPending
		}
	}
	hsCtx, cancel := context.WithTimeout(ctx, s.opts.HandshakeTimeout)
	st, err := replication.NewStream(hsCtx, conn, replication.Config{
		Initiator:      initiator,
		Live:           true,
		KeyPair:        s.opts.KeyPair,
		Timeout:        s.opts.Timeout,
		Logger:         s.log,
		OnDiscoveryKey: s.onDiscoveryKey,
	})
	cancel()
	if !initiator {
		<-s.pending
	}
	if err != nil {
		conn.Close()
		return err
	}
	// A discovery connection may be a second one to the same peer: keep
	// the one both sides agree on, as hyperswarm does.
	if d, ok := conn.(deduplicator); ok && s.opts.KeyPair != nil && d.Deduplicate(s.opts.KeyPair.PublicKey[:], st.RemoteStaticKey()) {
		st.Close()
		return ErrDuplicate
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		st.Close()
		return replication.ErrClosed
	}
	s.streams[st] = nil
	s.info[st] = connInfo(conn, initiator)
	for _, r := range s.reps {
		s.replicateLocked(st, r)
	}
	s.mu.Unlock()

	select {
	case <-st.Done():
	case <-ctx.Done():
		st.Close()
	}
	s.mu.Lock()
	held := s.streams[st]
	delete(s.streams, st)
	delete(s.info, st)
	s.mu.Unlock()
	for _, c := range held {
		c.Close()
	}
	return st.Err()
}

// ErrDuplicate: the connection duplicated another one to the same peer and
// was dropped.
var ErrDuplicate = errors.New("duplicate connection to a peer")

// deduplicator is a connection that knows its siblings to the same peer
// (discovery.Conn).
type deduplicator interface {
	Deduplicate(localKey, remoteKey []byte) bool
}

// onDiscoveryKey answers a peer that opened a feed we have not offered:
// open it from disk if the store has it. It runs on the stream's loop, so
// the store is asked on another goroutine.
func (s *Set) onDiscoveryKey(st *replication.Stream, dk [32]byte) {
	go func() {
		c, ok, err := s.store.LookupByDiscoveryKey(dk)
		if err != nil {
			s.log.Warn("opening feed a peer asked for", "feed", fmt.Sprintf("%x", dk), "err", err)
		}
		if !ok {
			st.Refuse(dk)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, live := s.streams[st]; !live {
			go c.Close()
			return
		}
		s.streams[st] = append(s.streams[st], c)
		if r := s.reps[dk]; r != nil {
			s.replicateLocked(st, r) // usually done already by the store's OnFeed
		}
	}()
}

// Dial connects to a peer at addr and serves the connection in the
// background, reconnecting with backoff until ctx is done.
func (s *Set) Dial(ctx context.Context, addr string) {
	go func() {
		backoff := time.Second
		for ctx.Err() == nil {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				s.log.Info("connected", "peer", addr)
				start := time.Now()
				err = s.Serve(ctx, conn, true)
				if time.Since(start) > time.Minute {
					backoff = time.Second
				}
			}
			if ctx.Err() != nil {
				return
			}
			s.log.Info("peer connection ended; retrying", "peer", addr, "err", err, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, time.Minute)
		}
	}()
}

// Listen accepts peers on addr (host:port) and serves each connection
// until ctx is done, as ServeListener. It returns the address it listens
// on.
func (s *Set) Listen(ctx context.Context, addr string) (net.Addr, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for peers on %s: %w", addr, err)
	}
	go s.ServeListener(ctx, l)
	return l.Addr(), nil
}

// ServeListener accepts peers from l and serves each connection until ctx
// is done, then closes l. A failed accept (out of file descriptors) is
// retried with backoff, so the listener recovers once descriptors are
// free; connections beyond Options.MaxPending in their handshake are
// closed at once.
func (s *Set) ServeListener(ctx context.Context, l net.Listener) {
	accept.Loop(ctx, l, s.log, func(conn net.Conn) {
		s.log.Debug("peer connected", "peer", conn.RemoteAddr().String())
		go func() {
			if err := s.Serve(ctx, conn, false); err != nil && !errors.Is(err, ErrTooManyPending) && ctx.Err() == nil {
				s.log.Debug("peer connection ended", "peer", conn.RemoteAddr().String(), "err", err)
			}
		}()
	})
}

// ConnInfo says how a peer is connected, for info and stats.
type ConnInfo struct {
	Addr      string `json:"addr"`      // the peer's address, host:port
	Transport string `json:"transport"` // "tcp", "utp", "utp (holepunched)"
	Initiator bool   `json:"initiator"` // we connected to it
}

func (c ConnInfo) String() string { return c.Addr + " " + c.Transport }

// connInfo describes conn: its remote address if it has one, and its
// transport as a discovery connection says or as its address's network
// says.
func connInfo(conn io.ReadWriteCloser, initiator bool) ConnInfo {
	ci := ConnInfo{Initiator: initiator, Transport: "pipe"}
	if a, ok := conn.(interface{ RemoteAddr() net.Addr }); ok && a.RemoteAddr() != nil {
		ci.Addr = a.RemoteAddr().String()
		switch a.RemoteAddr().Network() {
		case "tcp", "tcp4", "tcp6":
			ci.Transport = "tcp"
		case "udp", "udp4", "udp6":
			ci.Transport = "utp"
		}
	}
	if t, ok := conn.(interface{ PeerTransport() string }); ok {
		ci.Transport = t.PeerTransport()
	}
	return ci
}

// Conns describes every live connection.
func (s *Set) Conns() []ConnInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ConnInfo, 0, len(s.info))
	for _, ci := range s.info {
		out = append(out, ci)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// ConnsOf describes the connections on which feed f is replicated.
func (s *Set) ConnsOf(f *hypercore.Feed) []ConnInfo {
	r := s.Replicator(f)
	if r == nil {
		return nil
	}
	var out []ConnInfo
	s.mu.Lock()
	for _, p := range r.Peers() {
		if ci, ok := s.info[p.Stream()]; ok {
			out = append(out, ci)
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// Peers is the number of live connections.
func (s *Set) Peers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// Close ends every stream and detaches from the store.
func (s *Set) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	streams := make([]*replication.Stream, 0, len(s.streams))
	for st := range s.streams {
		streams = append(streams, st)
	}
	reps := s.reps
	s.reps = map[[32]byte]*replication.Replicator{}
	s.mu.Unlock()
	for _, fn := range s.unhook {
		fn()
	}
	for _, st := range streams {
		st.Close()
	}
	for _, r := range reps {
		r.Close()
	}
	return nil
}
