package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperfs/hyperfs/hypercore/wire"
)

const (
	// DefaultTimeout is the reference's stream timeout: a stream that
	// receives nothing for this long is destroyed, and keep-alives go out
	// after half of it without sending.
	DefaultTimeout = 20 * time.Second
	// maxChannels bounds the channels (feeds) one stream may carry.
	maxChannels = 1024
	// maxWriteQueue is the bytes queued for the writer beyond which no
	// more uploads are served until it drains (the byte-bounded window of
	// what we send).
	maxWriteQueue = 4 << 20
	// inboundQueue is how many decoded frames the reader may run ahead.
	inboundQueue = 64
)

// Config configures a Stream.
type Config struct {
	// Initiator is true on the end that starts the handshake (the dialer);
	// the two ends must differ.
	Initiator bool
	// Live keeps the stream open when no feed is left to replicate, and
	// keeps non-sparse downloads following the feed; a non-live stream
	// ends once every channel has closed.
	Live bool
	// KeyPair is the stream's Noise static identity (random if nil).
	KeyPair *wire.NoiseKeyPair
	// Authenticate, if set, vets the remote's Noise static key during the
	// handshake; an error aborts it.
	Authenticate func(remoteStaticKey []byte) error
	// OnDiscoveryKey is called (on the stream's loop; it must not block)
	// when the remote opens a feed we have not opened. It may call
	// Replicate to join, or Refuse.
	OnDiscoveryKey func(s *Stream, discoveryKey [32]byte)
	// Timeout is the idle timeout (DefaultTimeout if 0, none if negative);
	// keep-alives go out after half of it without sending. It is also the
	// request timeout.
	Timeout time.Duration
	// Logger receives diagnostics; nil uses slog.Default().
	Logger *slog.Logger
}

// channel is one feed's channel, matched by discovery key; each direction
// numbers it independently (trap 8). Owned by the loop.
type channel struct {
	dk         [32]byte
	localID    uint64 // 0: not opened by us
	remoteID   uint64
	remoteOpen bool
	remoteCap  []byte
	peer       *Peer
}

// inbound is one decoded frame handed from the reader to the loop.
type inbound struct {
	channel uint64
	typ     wire.Type
	msg     wire.Message
	extID   uint64
	payload []byte
}

// countingRW counts the bytes on the wire (ciphertext).
type countingRW struct {
	rwc      io.ReadWriteCloser
	rd, wr   atomic.Uint64
	lastRecv atomic.Int64
}

func (c *countingRW) Read(p []byte) (int, error) {
	n, err := c.rwc.Read(p)
	if n > 0 {
		c.rd.Add(uint64(n))
		c.lastRecv.Store(time.Now().UnixNano())
	}
	return n, err
}

func (c *countingRW) Write(p []byte) (int, error) {
	n, err := c.rwc.Write(p)
	c.wr.Add(uint64(n))
	return n, err
}

func (c *countingRW) Close() error { return c.rwc.Close() }

// SetDeadline lets Handshake interrupt blocked I/O on ctx.
func (c *countingRW) SetDeadline(t time.Time) error {
	if d, ok := c.rwc.(interface{ SetDeadline(time.Time) error }); ok {
		return d.SetDeadline(t)
	}
	return nil
}

// Stream is one replication connection carrying any number of feeds.
type Stream struct {
	cfg     Config
	log     *slog.Logger
	rw      *countingRW
	conn    *wire.Conn
	timeout time.Duration

	in        chan inbound
	closed    chan struct{}
	closeOnce sync.Once
	err       error // set before closed is closed
	loopDone  chan struct{}

	wmu       sync.Mutex
	wq        []byte        // guarded by wmu: encrypted-to-be frames for the writer
	finishing bool          // guarded by wmu: end the stream once wq is written
	wsig      chan struct{} // wakes the writer

	pmu    sync.Mutex
	posted []func()      // guarded by pmu
	psig   chan struct{} // wakes the loop
	kicked atomic.Bool

	feedsMu sync.Mutex
	feeds   map[[32]byte]bool // guarded by feedsMu: feeds Replicate was called for

	extMu       sync.Mutex
	extNames    []string              // guarded by extMu: sorted stream extension names
	exts        map[string]*Extension // guarded by extMu
	extChanged  bool                  // guarded by extMu: Options not yet sent for extNames
	remoteNames atomic.Pointer[[]string]

	// owned by the loop
	byDK       map[[32]byte]*channel
	remote     map[uint64]*channel
	nextLocal  uint64
	peers      []*Peer
	batch      wire.Batch
	everOpened bool
	needUpdate bool
	deferred   []func()
}

// NewStream runs the hypercore-protocol handshake on rwc and starts
// replicating on it; feeds are added with Replicate. The stream owns rwc
// and closes it when it ends.
func NewStream(ctx context.Context, rwc io.ReadWriteCloser, cfg Config) (*Stream, error) {
	s := &Stream{
		cfg:       cfg,
		rw:        &countingRW{rwc: rwc},
		in:        make(chan inbound, inboundQueue),
		closed:    make(chan struct{}),
		loopDone:  make(chan struct{}),
		wsig:      make(chan struct{}, 1),
		psig:      make(chan struct{}, 1),
		feeds:     map[[32]byte]bool{},
		exts:      map[string]*Extension{},
		byDK:      map[[32]byte]*channel{},
		remote:    map[uint64]*channel{},
		nextLocal: 1,
	}
	s.rw.lastRecv.Store(time.Now().UnixNano())
	switch {
	case cfg.Timeout == 0:
		s.timeout = DefaultTimeout
	case cfg.Timeout > 0:
		s.timeout = cfg.Timeout
	}
	s.log = cfg.Logger
	if s.log == nil {
		s.log = defaultLogger()
	}
	conn, err := wire.Handshake(ctx, s.rw, wire.HandshakeConfig{
		Initiator:     cfg.Initiator,
		StaticKeyPair: cfg.KeyPair,
		Authenticate:  cfg.Authenticate,
	})
	if err != nil {
		rwc.Close()
		return nil, fmt.Errorf("replication: %w", err)
	}
	s.conn = conn
	s.log = s.log.With("peer", fmt.Sprintf("%x", conn.RemoteStaticKey()[:8]))
	go s.readLoop()
	go s.writeLoop()
	go s.loop()
	return s, nil
}

// RemoteStaticKey is the remote's Noise static public key.
func (s *Stream) RemoteStaticKey() []byte { return s.conn.RemoteStaticKey() }

// BytesRead and BytesWritten count the bytes on the wire so far.
func (s *Stream) BytesRead() uint64 { return s.rw.rd.Load() }

// BytesWritten counts the bytes written to the wire so far.
func (s *Stream) BytesWritten() uint64 { return s.rw.wr.Load() }

// Done is closed when the stream has ended.
func (s *Stream) Done() <-chan struct{} { return s.loopDone }

// Err is why the stream ended: nil for a clean end or Close.
func (s *Stream) Err() error {
	select {
	case <-s.closed:
		return s.err
	default:
		return nil
	}
}

// Wait waits for the stream to end and returns Err.
func (s *Stream) Wait(ctx context.Context) error {
	select {
	case <-s.loopDone:
		return s.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close destroys the stream at once.
func (s *Stream) Close() error {
	s.fail(nil)
	<-s.loopDone
	return nil
}

// fail ends the stream; err nil is a clean end.
func (s *Stream) fail(err error) {
	s.closeOnce.Do(func() {
		s.err = err
		if err != nil {
			s.log.Warn("replication stream dropped", "reason", err)
		}
		close(s.closed)
		s.rw.Close()
	})
}

// post runs fn on the loop; false if the stream has ended.
func (s *Stream) post(fn func()) bool {
	s.pmu.Lock()
	select {
	case <-s.closed:
		s.pmu.Unlock()
		return false
	default:
	}
	s.posted = append(s.posted, fn)
	s.pmu.Unlock()
	select {
	case s.psig <- struct{}{}:
	default:
	}
	return true
}

// kick asks the loop to reschedule every peer.
func (s *Stream) kick() {
	s.kicked.Store(true)
	select {
	case s.psig <- struct{}{}:
	default:
	}
}

// Replicate opens feed r's channel on the stream and replicates it.
func (s *Stream) Replicate(r *Replicator, opts PeerOptions) (*Peer, error) {
	dk := r.feed.DiscoveryKey()
	s.feedsMu.Lock()
	if s.feeds[dk] {
		s.feedsMu.Unlock()
		return nil, ErrAlreadyReplicating
	}
	s.feeds[dk] = true
	s.feedsMu.Unlock()
	p := newPeer(s, r, opts)
	if !s.post(func() { s.openLocal(p) }) {
		return nil, ErrClosed
	}
	return p, nil
}

// Refuse tells the remote we will not replicate a feed it opened (a Close
// carrying the discovery key, on an id of its own).
func (s *Stream) Refuse(discoveryKey [32]byte) {
	s.post(func() {
		id := s.nextLocal
		s.nextLocal++
		s.send(id, wire.NewClose(discoveryKey[:]))
		if ch := s.byDK[discoveryKey]; ch != nil && ch.localID == 0 {
			s.dropChannel(ch)
		}
	})
}

func (s *Stream) openLocal(p *Peer) {
	ch := s.byDK[p.dk]
	if ch == nil {
		if len(s.byDK) >= maxChannels {
			p.close(fmt.Errorf("too many channels: %w", ErrProtocol), false)
			return
		}
		ch = &channel{dk: p.dk}
		s.byDK[p.dk] = ch
	}
	s.everOpened = true
	key := p.r.feed.Key()
	if ch.remoteOpen && !s.conn.VerifyRemoteCapability(key, ch.remoteCap) {
		// The remote opened first without proving it knows the key:
		// refuse just this channel (replicatePeer's stream.close).
		id := s.nextLocal
		s.nextLocal++
		s.send(id, wire.NewClose(p.dk[:]))
		s.dropChannel(ch)
		p.log.Warn("refusing feed: remote capability does not match", "reason", ErrBadCapability)
		p.close(ErrBadCapability, false)
		s.maybeFinish()
		return
	}
	ch.localID = s.nextLocal
	s.nextLocal++
	ch.peer = p
	p.ch = ch
	s.peers = append(s.peers, p)
	s.send(ch.localID, wire.NewOpen(p.dk[:], s.conn.Capability(key)))
	r := p.r
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		p.close(ErrClosed, true)
		return
	}
	r.addPeerLocked(p)
	p.guardForOpened = true
	r.guardAddLocked(1)
	if !r.feed.Sparse() && !slices.ContainsFunc(r.selections, func(s *selection) bool { return s.handle == nil }) {
		r.selections = append(r.selections, &selection{end: -1})
	}
	r.mu.Unlock()
	r.emit(Event{Kind: EventPeerAdd, Peer: p})
	if ch.remoteOpen {
		p.onOpen()
	}
}

// closeChannel sends our Close for a channel we opened and forgets it.
func (s *Stream) closeChannel(ch *channel) {
	if ch.localID != 0 {
		s.send(ch.localID, wire.NewClose(nil))
		ch.localID = 0
	}
	s.dropChannel(ch)
	s.maybeFinish()
}

func (s *Stream) dropChannel(ch *channel) {
	if s.byDK[ch.dk] == ch {
		delete(s.byDK, ch.dk)
	}
	if ch.remoteOpen && s.remote[ch.remoteID] == ch {
		delete(s.remote, ch.remoteID)
	}
}

// forget removes a closed peer from the loop's list.
func (s *Stream) forget(p *Peer) {
	if i := slices.Index(s.peers, p); i >= 0 {
		s.peers = slices.Delete(s.peers, i, i+1)
	}
	s.feedsMu.Lock()
	delete(s.feeds, p.dk)
	s.feedsMu.Unlock()
}

// maybeFinish ends a non-live stream once no channel is left.
func (s *Stream) maybeFinish() {
	if s.cfg.Live || !s.everOpened || len(s.byDK) > 0 {
		return
	}
	s.wmu.Lock()
	s.finishing = true
	s.wmu.Unlock()
	select {
	case s.wsig <- struct{}{}:
	default:
	}
}

// send queues a message on a channel; frames go out when the loop flushes.
func (s *Stream) send(id uint64, m wire.Message) {
	if err := s.batch.Message(id, m); err != nil {
		s.log.Error("encoding message", "type", m.Type(), "err", err)
	}
}

func (s *Stream) sendExtension(id, ext uint64, msg []byte) {
	if err := s.batch.Extension(id, ext, msg); err != nil {
		s.log.Error("encoding extension", "err", err)
	}
}

// flush hands the loop's batch to the writer.
func (s *Stream) flush() {
	if s.batch.Len() == 0 {
		return
	}
	s.wmu.Lock()
	s.wq = append(s.wq, s.batch.Bytes()...)
	s.wmu.Unlock()
	s.batch.Reset()
	select {
	case s.wsig <- struct{}{}:
	default:
	}
}

func (s *Stream) queued() int {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return len(s.wq) + s.batch.Len()
}

// readLoop only reads and decodes frames.
func (s *Stream) readLoop() {
	fr := wire.NewFramer(nil, s.conn)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			select {
			case <-s.closed:
				return
			default:
			}
			if errors.Is(err, io.EOF) {
				s.fail(nil) // the remote ended the stream
				return
			}
			s.fail(fmt.Errorf("reading frame: %w", err))
			return
		}
		if f.KeepAlive {
			continue
		}
		in := inbound{channel: f.Channel, typ: f.Type}
		switch {
		case f.Type == wire.TypeExtension:
			id, payload, err := wire.ParseExtension(f.Body)
			if err != nil {
				s.fail(err)
				return
			}
			in.extID, in.payload = id, slices.Clone(payload)
		case f.Type.IsProtobuf():
			m, err := wire.DecodeMessage(f.Type, f.Body)
			if err != nil {
				s.fail(err)
				return
			}
			in.msg = m
		default:
			continue // types 11-14 are ignored, as by the reference
		}
		select {
		case s.in <- in:
		case <-s.closed:
			return
		}
	}
}

// writeLoop only writes: queued frames, and a keep-alive after half the
// timeout without sending.
func (s *Stream) writeLoop() {
	var buf []byte
	var keepAlive <-chan time.Time
	var timer *time.Timer
	if s.timeout > 0 {
		timer = time.NewTimer((s.timeout + 1) / 2)
		defer timer.Stop()
		keepAlive = timer.C
	}
	for {
		ping := false
		select {
		case <-s.wsig:
		case <-keepAlive:
			ping = true
		case <-s.closed:
			return
		}
		s.wmu.Lock()
		buf, s.wq = s.wq, buf[:0]
		fin := s.finishing
		s.wmu.Unlock()
		if len(buf) == 0 && ping {
			buf = append(buf, 0)
		}
		if len(buf) > 0 {
			if _, err := s.conn.Write(buf); err != nil {
				s.wmu.Lock()
				fin := s.finishing
				s.wmu.Unlock()
				if fin {
					s.fail(nil) // both ends were closing; the remote went first
				} else {
					s.fail(fmt.Errorf("writing: %w", err))
				}
				return
			}
			s.kick() // the loop may serve more uploads
		}
		if timer != nil {
			timer.Reset((s.timeout + 1) / 2)
		}
		if fin {
			s.wmu.Lock()
			empty := len(s.wq) == 0
			s.wmu.Unlock()
			if empty {
				if cw, ok := s.rw.rwc.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite() // the remote ends too, and the reader sees EOF
					continue
				}
				s.fail(nil)
				return
			}
		}
	}
}

// loop owns the channels and peers.
func (s *Stream) loop() {
	defer close(s.loopDone)
	tick := time.Second
	if s.timeout > 0 {
		tick = min(tick, s.timeout/4)
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		var err error
		select {
		case in := <-s.in:
			err = s.handle(in)
			for n := 0; err == nil && n < inboundQueue; n++ {
				select {
				case in = <-s.in:
					err = s.handle(in)
					continue
				default:
				}
				break
			}
		case <-s.psig:
		case now := <-ticker.C:
			err = s.checkTimeouts(now)
		case <-s.closed:
			s.shutdown()
			return
		}
		if err == nil {
			err = s.runPosted()
		}
		if err == nil {
			err = s.schedule()
		}
		s.flush()
		if err != nil {
			s.fail(err)
		}
	}
}

func (s *Stream) runPosted() error {
	for {
		s.pmu.Lock()
		fns := s.posted
		s.posted = nil
		s.pmu.Unlock()
		if len(fns) == 0 {
			return nil
		}
		for _, fn := range fns {
			fn()
		}
		s.runDeferred()
	}
}

func (s *Stream) runDeferred() {
	for len(s.deferred) > 0 {
		fn := s.deferred[0]
		s.deferred = s.deferred[1:]
		fn()
	}
}

// schedule runs request scheduling and serves uploads while the write
// queue has room.
func (s *Stream) schedule() error {
	if s.kicked.Swap(false) || s.needUpdate {
		s.needUpdate = false
		for _, p := range slices.Clone(s.peers) {
			p.update()
			s.runDeferred()
		}
	}
	for s.queued() < maxWriteQueue {
		served := false
		for _, p := range slices.Clone(s.peers) {
			if len(p.uploads) == 0 || p.closed {
				continue
			}
			if err := p.serveOne(); err != nil {
				return err
			}
			served = true
		}
		if !served {
			break
		}
	}
	return nil
}

func (s *Stream) checkTimeouts(now time.Time) error {
	if s.timeout <= 0 {
		return nil
	}
	if last := time.Unix(0, s.rw.lastRecv.Load()); now.Sub(last) > s.timeout {
		return fmt.Errorf("nothing received for %v: %w", now.Sub(last).Round(time.Millisecond), ErrTimeout)
	}
	for _, p := range s.peers {
		if err := p.checkRequestTimeout(now, s.timeout); err != nil {
			return err
		}
	}
	return nil
}

// shutdown removes every peer once the stream has ended.
func (s *Stream) shutdown() {
	err := s.err
	for _, p := range slices.Clone(s.peers) {
		p.close(err, false)
	}
	// Posted work that will never run: drop it.
	s.pmu.Lock()
	s.posted = nil
	s.pmu.Unlock()
}

// handle dispatches one frame. A returned error is fatal for the stream.
func (s *Stream) handle(in inbound) error {
	if in.typ == wire.TypeOpen {
		return s.onOpen(in.channel, in.msg.(*wire.Open))
	}
	ch := s.remote[in.channel]
	if ch == nil && in.channel == 0 {
		switch in.typ {
		case wire.TypeOptions:
			names := in.msg.(*wire.Options).GetExtensions()
			s.remoteNames.Store(&names)
		case wire.TypeExtension:
			s.onStreamExtension(in.extID, in.payload)
		}
		return nil
	}
	if in.typ == wire.TypeClose {
		return s.onClose(in.channel, in.msg.(*wire.Close))
	}
	if ch == nil || ch.peer == nil || ch.localID == 0 || ch.peer.closed {
		return nil // not opened by us (yet): ignored, as by the reference
	}
	p := ch.peer
	var err error
	switch m := in.msg.(type) {
	case *wire.Options:
		p.onOptions(m)
	case *wire.Status:
		p.onStatus(m)
	case *wire.Have:
		err = p.onHave(m)
	case *wire.Unhave:
		p.onUnhave(m)
	case *wire.Want:
		p.onWant(m)
	case *wire.Unwant:
	case *wire.Request:
		err = p.onRequest(m)
	case *wire.Cancel:
		p.onCancel(m)
	case *wire.Data:
		err = p.onData(m)
	case nil:
		if in.typ == wire.TypeExtension {
			p.onExtension(in.extID, in.payload)
		}
	}
	s.runDeferred()
	if err != nil {
		return fmt.Errorf("feed %s: %w", p.r.id, err)
	}
	return nil
}

func (s *Stream) onOpen(id uint64, m *wire.Open) error {
	if len(m.DiscoveryKey) != 32 {
		return nil // cannot name a feed
	}
	dk := [32]byte(m.DiscoveryKey)
	ch := s.byDK[dk]
	if ch == nil {
		if len(s.byDK) >= maxChannels {
			return fmt.Errorf("more than %d channels: %w", maxChannels, ErrProtocol)
		}
		ch = &channel{dk: dk}
		s.byDK[dk] = ch
	}
	s.everOpened = true
	ch.remoteCap = m.Capability
	ch.remoteID = id
	ch.remoteOpen = true
	s.remote[id] = ch
	if ch.localID == 0 {
		if s.cfg.OnDiscoveryKey != nil {
			s.cfg.OnDiscoveryKey(s, dk)
		}
		return nil
	}
	if !s.conn.VerifyRemoteCapability(ch.peer.r.feed.Key(), m.Capability) {
		return fmt.Errorf("feed %s: %w", ch.peer.r.id, ErrBadCapability)
	}
	ch.peer.onOpen()
	return nil
}

func (s *Stream) onClose(id uint64, m *wire.Close) error {
	ch := s.remote[id]
	if ch != nil {
		delete(s.remote, id)
	} else if len(m.DiscoveryKey) == 32 {
		ch = s.byDK[[32]byte(m.DiscoveryKey)]
	}
	if ch == nil {
		return nil
	}
	ch.remoteOpen = false
	if ch.localID != 0 {
		s.send(ch.localID, wire.NewClose(nil))
		ch.localID = 0
		if ch.peer != nil {
			ch.peer.close(nil, false)
		}
	}
	s.dropChannel(ch)
	s.maybeFinish()
	return nil
}

// RegisterExtension adds a stream-level extension (channel 0): handler is
// called on the loop (it must not block) with every message the remote
// sends under this name.
func (s *Stream) RegisterExtension(name string, handler func(s *Stream, msg []byte)) *Extension {
	e := &Extension{name: name, s: s, shandle: handler}
	s.extMu.Lock()
	if _, ok := s.exts[name]; !ok {
		s.extNames = append(s.extNames, name)
		sort.Strings(s.extNames)
		s.extChanged = true
	}
	s.exts[name] = e
	s.extMu.Unlock()
	return e
}

// SendExtension sends msg under a stream extension; Options with our name
// list go first when it changed (as the reference's StreamExtension does).
func (s *Stream) SendExtension(e *Extension, msg []byte) {
	msg = slices.Clone(msg)
	s.post(func() {
		s.extMu.Lock()
		id, ok := slices.BinarySearch(s.extNames, e.name)
		var names []string
		if s.extChanged {
			names = slices.Clone(s.extNames)
			s.extChanged = false
		}
		s.extMu.Unlock()
		if !ok {
			return
		}
		if names != nil {
			s.send(0, wire.NewOptions(names, false))
		}
		s.sendExtension(0, uint64(id), msg)
	})
}

func (s *Stream) onStreamExtension(id uint64, payload []byte) {
	names := s.remoteNames.Load()
	if names == nil || id >= uint64(len(*names)) {
		return
	}
	s.extMu.Lock()
	e := s.exts[(*names)[id]]
	s.extMu.Unlock()
	if e != nil && e.shandle != nil {
		e.shandle(s, payload)
	}
}
