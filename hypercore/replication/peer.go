package replication

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/hypercore/rle"
	"github.com/hyperfs/hyperfs/hypercore/treeindex"
	"github.com/hyperfs/hyperfs/hypercore/wire"
)

const (
	// maxPendingUploads bounds the requests a peer may queue with us; the
	// reference never has more than maxRequests+16 in flight.
	maxPendingUploads = 4096
	// maxHaveRange bounds a bitfield-less Have's length (JS announces
	// append batches with it).
	maxHaveRange = 1 << 24
	// maxHaveBitfield bounds a decoded Have bitfield (a 1 MiB-block Want
	// window is 128 KiB of bits).
	maxHaveBitfield = 1 << 20
	// maxIndex keeps block numbers where JS numbers are exact.
	maxIndex = 1 << 53
	// recentCancels is how many cancelled requests a peer remembers, so a
	// late Data for one is ignored instead of punished.
	recentCancels = 256
)

// PeerOptions configure one feed on one stream.
type PeerOptions struct {
	// Download and Upload override the defaults (download unless the feed
	// is writable; always upload).
	Download, Upload *bool
	// Ack asks the remote to acknowledge every block it gets from us
	// (EventAck).
	Ack bool
}

// request is one in-flight Request.
type request struct {
	index uint64
	hash  bool
	sent  time.Time
	alone bool // sent when no other request was in flight
}

// The request window of a peer adapts to its link, as LEDBAT's congestion
// window does: a response that took no longer than the base latency (the
// link's round trip plus one block's transmission) plus queueTarget widens
// the window by up to one request, a later one narrows it. The window
// settles where about queueTarget of requests wait in the peer's queue: a
// full pipe whatever the link's bandwidth-delay product, yet short enough
// that a slow peer holds only the blocks it can send soon, and the blocks a
// reader needs next go to whichever peer has room.
//
// The base is the latency of a request sent when none was in flight. A
// busy link never has such a request, and the least latency seen while it
// is full includes a queue, so every baseEpoch the window drops to one
// request until one comes back (as BBR's ProbeRTT): about a round trip
// without a full pipe, and a base that follows a link that got slower.
const (
	// initialWindow requests, or fewer if they would hold more than
	// initialWindowBytes (drive content blocks are 512 KiB, and a slow
	// peer should not start with seconds of a reader's blocks).
	initialWindow      = 16
	initialWindowBytes = 1 << 20
	minWindow          = 2
	queueTarget        = 100 * time.Millisecond
	baseEpoch          = 20 * time.Second
)

// Peer is one feed replicating on one stream. Its fields are owned by the
// stream's loop goroutine unless noted.
type Peer struct {
	s  *Stream
	r  *Replicator
	ch *channel
	dk [32]byte

	stats     stats
	remoteLen atomic.Uint64 // copy of remoteLength for other goroutines
	done      chan struct{} // closed when the peer is removed
	errv      atomic.Pointer[error]

	// owned by the loop
	ack, live                     bool
	wants                         map[uint64]bool // 1-MiB windows Wanted; nil in compat mode
	remote                        *bitset         // blocks the remote has and we lack
	remoteLength                  uint64
	remoteWant, remoteAck         bool
	remoteOpened                  bool
	remoteTree                    *treeindex.TreeIndex
	remoteUploading               bool
	remoteDownloading             bool
	downloading, uploading        bool
	defaultDownloading            bool
	maxRequests, urgentRequests   int
	window                        float64 // adaptive request window; see queueTarget
	base                          time.Duration
	baseAt                        time.Time
	probing                       bool // draining to measure the base
	inflight                      []request
	inflightWants                 int
	lastProgress                  time.Time
	cancelled                     []uint64
	remoteExtNames                []string
	uploads                       []*wire.Request
	lastBytes                     uint64
	first                         bool
	ended, closed, guardForOpened bool
	log                           *slog.Logger
}

func newPeer(s *Stream, r *Replicator, opts PeerOptions) *Peer {
	p := &Peer{
		s: s, r: r, dk: r.feed.DiscoveryKey(),
		done:              make(chan struct{}),
		ack:               opts.Ack,
		live:              s.cfg.Live,
		wants:             map[uint64]bool{},
		remote:            newBitset(),
		remoteUploading:   true,
		remoteDownloading: true,
		downloading:       !r.feed.Writable(),
		uploading:         true,
		maxRequests:       r.opts.MaxRequests,
		first:             true,
	}
	if opts.Download != nil {
		p.downloading = *opts.Download
	}
	if opts.Upload != nil {
		p.uploading = *opts.Upload
	}
	p.defaultDownloading = p.downloading
	p.urgentRequests = p.maxRequests + 16
	p.log = s.log.With("feed", r.id)
	return p
}

// Stream returns the stream the peer is on.
func (p *Peer) Stream() *Stream { return p.s }

// Replicator returns the feed's replicator.
func (p *Peer) Replicator() *Replicator { return p.r }

// RemoteStaticKey is the remote's Noise static key.
func (p *Peer) RemoteStaticKey() []byte { return p.s.RemoteStaticKey() }

// RemoteLength is the feed length the remote announced.
func (p *Peer) RemoteLength() uint64 { return p.remoteLen.Load() }

// Stats counts what moved between us and this peer.
func (p *Peer) Stats() Stats { return p.stats.snapshot() }

// Done is closed when the peer is removed.
func (p *Peer) Done() <-chan struct{} { return p.done }

// Err is why the peer was removed (nil for a clean close).
func (p *Peer) Err() error {
	if e := p.errv.Load(); e != nil {
		return *e
	}
	return nil
}

// SetDownloading turns downloading from this peer on or off; the remote is
// told with a Status message.
func (p *Peer) SetDownloading(on bool) {
	p.s.post(func() {
		if p.closed || on == p.downloading {
			return
		}
		p.downloading = on
		p.send(wire.NewStatus(p.uploading, p.downloading))
		p.s.needUpdate = true
	})
}

// SetUploading turns uploading to this peer on or off.
func (p *Peer) SetUploading(on bool) {
	p.s.post(func() {
		if p.closed || on == p.uploading {
			return
		}
		p.uploading = on
		if !on {
			p.uploads = nil
		}
		p.send(wire.NewStatus(p.uploading, p.downloading))
		p.s.needUpdate = true
	})
}

// Close closes the feed's channel on this stream.
func (p *Peer) Close() { p.s.post(func() { p.close(nil, true) }) }

func (p *Peer) send(m wire.Message) {
	if p.ch == nil || p.ch.localID == 0 {
		return
	}
	p.s.send(p.ch.localID, m)
}

func (p *Peer) setRemoteLength(n uint64) {
	p.remoteLength = n
	p.remoteLen.Store(n)
}

// onOpen runs when both sides have opened the channel (Peer#onopen).
func (p *Peer) onOpen() {
	if p.remoteOpened {
		return
	}
	p.remoteOpened = true
	p.r.mu.Lock()
	if p.guardForOpened {
		p.guardForOpened = false
		p.r.guardAddLocked(-1)
	}
	p.r.mu.Unlock()
	p.sendOptions()
	if !p.uploading || !p.downloading {
		p.send(wire.NewStatus(p.uploading, p.downloading))
	}
	p.sendWants()
	p.r.emit(Event{Kind: EventPeerOpen, Peer: p})
	p.s.needUpdate = true
}

func (p *Peer) sendOptions() {
	p.r.mu.Lock()
	names := slices.Clone(p.r.extNames)
	p.r.mu.Unlock()
	if p.ack || len(names) > 0 {
		p.send(wire.NewOptions(names, p.ack))
	}
}

func (p *Peer) onOptions(m *wire.Options) {
	p.remoteAck = m.GetAck()
	p.remoteExtNames = m.GetExtensions()
}

func (p *Peer) onExtension(id uint64, payload []byte) {
	if id >= uint64(len(p.remoteExtNames)) {
		return
	}
	e := p.r.extension(p.remoteExtNames[id])
	if e == nil || e.handler == nil {
		return
	}
	e.handler(p, payload)
}

func (p *Peer) sendExtension(name string, msg []byte) {
	if p.closed || p.ch == nil || p.ch.localID == 0 {
		return
	}
	id, ok := p.r.extID(name)
	if !ok {
		return
	}
	p.s.sendExtension(p.ch.localID, id, msg)
}

// onWant answers every Want with a Have of the same start and length (trap
// 1), announcing our head first the first time (Peer#onwant).
func (p *Peer) onWant(m *wire.Want) {
	if !p.uploading {
		return
	}
	start, length := m.GetStart(), m.GetLength()
	if start&8191 != 0 || length&8191 != 0 {
		return
	}
	feed := p.r.feed
	if !p.remoteWant {
		if n := feed.Length(); n > 0 && feed.Has(n-1) {
			p.send(wire.NewHave(n - 1))
		}
	}
	p.remoteWant = true
	bf := feed.CompressBitfield(start, length)
	if bf == nil {
		bf = []byte{}
	}
	p.send(wire.NewHaveRange(start, length, bf))
}

// onHave records what the remote has and we lack (Peer#onhave).
func (p *Peer) onHave(m *wire.Have) error {
	start, length := m.GetStart(), m.GetLength()
	feed := p.r.feed
	if p.ack && m.GetAck() && m.Bitfield == nil && feed.Has(start) {
		p.r.emit(Event{Kind: EventAck, Peer: p, Index: start})
		return nil
	}
	if start >= maxIndex {
		return fmt.Errorf("have at %d: %w", start, ErrProtocol)
	}
	p.first = false
	if length == wantWindow && p.inflightWants > 0 {
		p.inflightWants--
		p.r.mu.Lock()
		p.r.guardAddLocked(-1)
		p.r.mu.Unlock()
	}
	if m.Bitfield != nil {
		if length == 0 || length == 1 {
			p.wants = nil // the reference's compat mode
		}
		if start%8 != 0 {
			return fmt.Errorf("have bitfield at %d, not a multiple of 8: %w", start, ErrProtocol)
		}
		buf, err := rle.Decode(m.Bitfield, rle.HypercoreAlign, maxHaveBitfield)
		if err != nil {
			return fmt.Errorf("have bitfield: %w: %w", ErrProtocol, err)
		}
		local := feed.AppendDataBytes(make([]byte, 0, len(buf)), start/8, uint64(len(buf)))
		for k, b := range buf {
			p.remote.setByte(start/8+uint64(k), b&^local[k])
		}
		if bits := uint64(len(buf)) * 8; bits > p.remoteLength {
			n := uint64(0)
			if last, ok := p.remote.last(); ok {
				n = last + 1
			}
			p.setRemoteLength(n)
		}
	} else {
		if length == 0 {
			length = 1
		}
		if length > maxHaveRange || start+length > maxIndex {
			return fmt.Errorf("have of %d blocks at %d: %w", length, start, ErrProtocol)
		}
		for i := start; i < start+length; i++ {
			p.remote.set(i, !feed.Has(i))
		}
		if start+length > p.remoteLength {
			p.setRemoteLength(start + length)
		}
	}
	p.updateEnd()
	p.s.needUpdate = true
	return nil
}

func (p *Peer) onUnhave(m *wire.Unhave) {
	start, length := m.GetStart(), m.GetLength()
	if length == 0 {
		length = 1
	}
	if start == 0 && length >= p.remoteLength {
		p.setRemoteLength(0)
		p.remote = newBitset()
		return
	}
	length = min(length, maxHaveRange)
	for i := start; i < start+length && i >= start; i++ {
		p.remote.set(i, false)
	}
}

func (p *Peer) onStatus(m *wire.Status) {
	p.remoteUploading = m.GetUploading()
	p.remoteDownloading = m.GetDownloading()
	if !p.remoteUploading {
		p.clearInflight()
		p.r.mu.Lock()
		p.r.guardAddLocked(-p.inflightWants)
		p.r.mu.Unlock()
		p.inflightWants = 0
		p.wants = map[uint64]bool{}
	}
	p.update()
	if p.remoteDownloading || p.live {
		return
	}
	p.r.mu.Lock()
	sels := len(p.r.selections)
	p.r.mu.Unlock()
	if sels > 0 && p.downloading {
		return
	}
	p.autoEnd()
}

func (p *Peer) autoEnd() {
	if p.uploading && p.remoteDownloading {
		return
	}
	if (p.r.feed.Sparse() || p.live) && (p.remoteUploading || p.downloading) {
		return
	}
	p.end()
}

// end is Peer#end: tell the remote we are done downloading, or close.
func (p *Peer) end() {
	if !p.downloading && !p.remoteDownloading && !p.live {
		if !p.defaultDownloading {
			p.send(wire.NewStatus(false, false))
		}
		p.close(nil, true)
		return
	}
	if !p.ended {
		p.ended = true
		p.downloading = false
		p.send(wire.NewStatus(true, false))
	} else if !p.live {
		p.close(nil, true)
	}
}

// updateEnd is Peer#_updateEnd: a non-live, non-sparse download ends at
// the longest length any peer announced.
func (p *Peer) updateEnd() {
	if p.live || p.r.feed.Sparse() {
		return
	}
	r := p.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.selections) == 0 {
		return
	}
	end := int64(-1)
	if n := r.feed.Length(); n > 0 {
		end = int64(n)
	}
	for _, q := range r.peers {
		if l := int64(q.remoteLen.Load()); l > end {
			end = l
		}
	}
	r.selections[0].end = end
}

// onRequest queues a request; uploads are served as the write queue drains.
func (p *Peer) onRequest(m *wire.Request) error {
	if !p.uploading {
		return nil
	}
	if len(p.uploads) >= maxPendingUploads {
		return fmt.Errorf("%d requests pending: %w", len(p.uploads), ErrProtocol)
	}
	p.uploads = append(p.uploads, m)
	return nil
}

func (p *Peer) onCancel(m *wire.Cancel) {
	for k, q := range p.uploads {
		if q.GetIndex() == m.GetIndex() && q.GetHash() == m.GetHash() && q.GetBytes() == m.GetBytes() {
			p.uploads = slices.Delete(p.uploads, k, k+1)
			return
		}
	}
}

// serveOne answers the oldest queued request (Peer#onrequest).
func (p *Peer) serveOne() error {
	m := p.uploads[0]
	p.uploads = p.uploads[1:]
	if !p.uploading {
		return nil
	}
	feed := p.r.feed
	index, digest, hash := m.GetIndex(), m.GetNodes(), m.GetHash()
	if b := m.GetBytes(); b > 0 {
		if i, _, err := feed.Seek(b); err == nil {
			if p.lastBytes == b {
				return nil
			}
			p.lastBytes = b
			index, digest = i, 0
		}
	}
	if p.remoteTree == nil {
		p.remoteTree = treeindex.New(nil)
	}
	proof, err := feed.Proof(index, digest, hash, p.remoteTree)
	if err != nil {
		// The reference destroys the stream when asked for a block it
		// has no tree node for (trap 3).
		return fmt.Errorf("request for block %d: %w", index, err)
	}
	var value []byte
	if !hash {
		if !feed.Has(index) {
			return nil // the reference never answers this
		}
		if value, err = feed.GetLocal(index); err != nil {
			if errors.Is(err, hypercore.ErrNotAvailable) {
				return nil
			}
			return fmt.Errorf("reading block %d: %w", index, err)
		}
		p.stats.upBlocks.Add(1)
		p.stats.upBytes.Add(uint64(len(value)))
		p.r.stats.upBlocks.Add(1)
		p.r.stats.upBytes.Add(uint64(len(value)))
		p.r.emit(Event{Kind: EventUpload, Peer: p, Index: index, Bytes: len(value)})
	}
	if index+1 > p.remoteLength {
		p.setRemoteLength(index + 1)
		p.updateEnd()
	}
	nodes := make([]*wire.Data_Node, len(proof.Nodes))
	for k, n := range proof.Nodes {
		nodes[k] = wire.NewNode(n.Index, n.Hash[:], n.Size)
	}
	if hash {
		p.send(wire.NewHashData(index, nodes, proof.Signature))
	} else {
		p.send(wire.NewData(index, value, nodes, proof.Signature))
	}
	return nil
}

// onData verifies and stores a block (Peer#ondata). Any failure is fatal
// for the stream, as in the reference.
func (p *Peer) onData(m *wire.Data) error {
	index := m.GetIndex()
	hash := m.Value == nil
	k := slices.IndexFunc(p.inflight, func(q request) bool { return q.index == index && (q.hash || !hash) })
	if k < 0 {
		if slices.Contains(p.cancelled, index) {
			if !hash && !p.r.feed.Has(index) {
				p.send(wire.NewUnhave(index))
			}
			return nil
		}
		return fmt.Errorf("block %d: %w", index, ErrUnrequested)
	}
	proof := hypercore.Proof{Nodes: make([]hcrypto.Node, len(m.Nodes)), Signature: m.Signature}
	for j, n := range m.Nodes {
		if len(n.Hash) != hcrypto.HashSize {
			return fmt.Errorf("block %d: node %d has a %d-byte hash: %w", index, n.GetIndex(), len(n.Hash), hypercore.ErrBadProof)
		}
		proof.Nodes[j] = hcrypto.Node{Index: n.GetIndex(), Size: n.GetSize(), Hash: [hcrypto.HashSize]byte(n.Hash)}
	}
	if err := p.r.feed.Put(index, m.Value, proof, p); err != nil {
		return err
	}
	if !hash {
		p.remote.set(index, false)
		if p.remoteAck {
			p.send(wire.NewHaveAck(index))
		}
		p.stats.downBlocks.Add(1)
		p.stats.downBytes.Add(uint64(len(m.Value)))
		p.r.stats.downBlocks.Add(1)
		p.r.stats.downBytes.Add(uint64(len(m.Value)))
		p.r.emit(Event{Kind: EventDownload, Peer: p, Index: index, Bytes: len(m.Value)})
	}
	now := time.Now()
	if !hash {
		p.adjustWindow(now.Sub(p.inflight[k].sent), len(m.Value), p.inflight[k].alone, now)
	}
	p.inflight = slices.Delete(p.inflight, k, k+1)
	p.lastProgress = now
	p.r.mu.Lock()
	delete(p.r.reserved, index)
	p.r.pollWaitingLocked()
	p.r.mu.Unlock()
	if !hash {
		p.r.checkSync()
	}
	p.r.updatePeers()
	return nil
}

// clearInflight drops every in-flight request (remote stopped uploading or
// the peer closed), releasing their reservations.
func (p *Peer) clearInflight() {
	if len(p.inflight) == 0 {
		return
	}
	p.r.mu.Lock()
	for _, q := range p.inflight {
		delete(p.r.reserved, q.index)
		p.noteCancelled(q.index)
	}
	p.r.mu.Unlock()
	p.inflight = p.inflight[:0]
	p.r.updatePeers()
}

func (p *Peer) noteCancelled(i uint64) {
	if len(p.cancelled) >= recentCancels {
		p.cancelled = p.cancelled[1:]
	}
	p.cancelled = append(p.cancelled, i)
}

// checkRequestTimeout is Peer#_onrequesttimeout.
func (p *Peer) checkRequestTimeout(now time.Time, timeout time.Duration) error {
	if len(p.inflight) == 0 || timeout <= 0 || now.Sub(p.lastProgress) < timeout {
		return nil
	}
	first := p.inflight[0]
	feed := p.r.feed
	if first.hash && feed.HasNode(2*first.index) || !first.hash && feed.Has(first.index) {
		p.inflight = p.inflight[1:]
		p.r.mu.Lock()
		delete(p.r.reserved, first.index)
		p.r.mu.Unlock()
		p.noteCancelled(first.index)
		p.lastProgress = now
		return nil
	}
	return fmt.Errorf("block %d: %w", first.index, ErrRequestTimeout)
}

// announce tells the remote about new local blocks (Peer#have).
func (p *Peer) announce(start, length uint64) {
	if p.closed {
		return
	}
	if p.remoteWant {
		if length == 1 {
			p.send(wire.NewHave(start))
		} else {
			p.send(wire.NewHaveRange(start, length, nil))
		}
	}
	for i := start; i < start+length; i++ {
		p.remote.set(i, false)
	}
}

// unannounce tells the remote blocks were cleared (Peer#unhave).
func (p *Peer) unannounce(start, length uint64) {
	if p.closed || !p.remoteWant {
		return
	}
	m := wire.NewUnhave(start)
	if length != 1 {
		m.Length = &length
	}
	p.send(m)
}

// update schedules requests until nothing changes, then Wants (Peer#update).
func (p *Peer) update() {
	if p.closed {
		return
	}
	for p.updateOnce() {
	}
	if len(p.inflight) < p.urgentRequests {
		p.sendWants()
	}
}

// requestWindow is the window, set first from the feed's mean block size
// once its length is known.
func (p *Peer) requestWindow() float64 {
	if p.window > 0 {
		return p.window
	}
	n := p.r.feed.Length()
	if n == 0 {
		return initialWindow
	}
	mean := max(1, p.r.feed.ByteLength()/n)
	p.window = float64(min(max(initialWindowBytes/mean, minWindow), initialWindow))
	return p.window
}

// windowLimit is how many requests may be in flight: the window, or one
// while probing for the base.
func (p *Peer) windowLimit() int {
	if p.probing {
		return 1
	}
	return int(p.requestWindow() + 0.5)
}

// adjustWindow moves the request window after a response of size bytes
// that took lat; alone says its request had the pipe to itself. Only
// full-size blocks count: a short last block would make a large block's
// transmission time look like queueing.
func (p *Peer) adjustWindow(lat time.Duration, size int, alone bool, now time.Time) {
	p.requestWindow()
	full := true
	if n := p.r.feed.Length(); n > 0 {
		mean := p.r.feed.ByteLength() / n
		full = mean < 16<<10 || uint64(size) >= mean/2
	}
	switch {
	case alone && full:
		p.base, p.baseAt, p.probing = lat, now, false
	case alone && p.probing:
		p.baseAt, p.probing = now, false // keep the base; probe again later
	case full && (p.base == 0 || lat < p.base):
		p.base, p.baseAt = lat, now
	}
	if p.base == 0 || p.probing {
		return
	}
	if now.Sub(p.baseAt) > baseEpoch {
		p.probing = true
		return
	}
	if q := lat - p.base; q <= queueTarget {
		p.window += float64(queueTarget-q) / float64(queueTarget)
	} else {
		// Narrow half as fast as it widens: at twice the target, a
		// window's worth of late responses halves it.
		p.window -= min(1, float64(q-queueTarget)/float64(queueTarget)) / 2
	}
	p.window = min(max(p.window, minWindow), float64(p.urgentRequests))
}

// inflightFull reports whether the window (count and estimated bytes) is
// full. limit is maxRequests for downloads and urgentRequests for waited-for
// blocks; the adaptive window caps both, downloads at three quarters of it,
// so waited-for blocks always find room.
func (p *Peer) inflightFull(limit int) bool {
	w := p.windowLimit()
	if limit < p.urgentRequests {
		w = max(1, w*3/4)
	}
	if len(p.inflight) >= min(limit, w) {
		return true
	}
	if n := p.r.feed.Length(); n > 0 && len(p.inflight) > 0 {
		mean := p.r.feed.ByteLength() / n
		if uint64(len(p.inflight))*mean >= uint64(p.r.opts.MaxInflightBytes) {
			return true
		}
	}
	return false
}

// updateOnce is Peer#_update: waiters first (Get, Update) up to the urgent
// window, then download ranges up to the normal one. It reports whether the
// waiting or selection lists changed.
func (p *Peer) updateOnce() bool {
	if !p.downloading || !p.remoteUploading || !p.remoteOpened {
		return false
	}
	r := p.r
	r.mu.Lock()
	defer r.mu.Unlock()
	wlen, slen := len(r.waiting), len(r.selections)

	inflight := len(p.inflight)
	for !p.inflightFull(p.urgentRequests) && len(r.waiting) > 0 {
		// Oldest first (the reference starts at a random waiter): a
		// sequential reader's read-ahead asks in order, and the block it
		// reads next is then the next requested, whichever peer sends it.
		off := 0
		for range len(r.waiting) {
			w := r.waiting[off]
			off = (off + 1) % len(r.waiting)
			p.downloadWaitingLocked(w)
			if len(r.waiting) != wlen {
				return true
			}
			if p.inflightFull(p.urgentRequests) {
				return false
			}
		}
		if inflight == len(p.inflight) {
			break
		}
		inflight = len(p.inflight)
	}

	for !p.inflightFull(p.maxRequests) && len(r.selections) > 0 {
		off := rand.IntN(len(r.selections))
		for range len(r.selections) {
			s := r.selections[off]
			off = (off + 1) % len(r.selections)
			if s.blocks != nil {
				p.downloadBlocksLocked(s)
			} else {
				p.downloadRangeLocked(s)
			}
			if len(r.selections) != slen {
				return true
			}
			if p.inflightFull(p.maxRequests) {
				return false
			}
		}
		if inflight == len(p.inflight) {
			return false
		}
		inflight = len(p.inflight)
	}
	return false
}

func (p *Peer) downloadWaitingLocked(w *waiter) {
	r := p.r
	if !p.remote.get(w.index) || !w.hash && p.stale(w.index) || !r.reserveLocked(w.index) {
		if !w.update || r.isReservedLocked(w.index) {
			return
		}
		i, ok := p.remote.next(w.index)
		if !ok || !r.reserveLocked(i) {
			return
		}
		w.index = i
	}
	p.request(w.index, w.hash)
}

func (p *Peer) downloadBlocksLocked(s *selection) {
	feed := p.r.feed
	for s.blocksDownloaded < len(s.blocks) && feed.Has(s.blocks[s.blocksDownloaded]) {
		s.blocksDownloaded++
	}
	if s.blocksDownloaded >= len(s.blocks) {
		p.removeSelectionLocked(s)
		return
	}
	for _, b := range s.blocks[s.blocksDownloaded:] {
		if p.remote.get(b) && !p.stale(b) && p.r.reserveLocked(b) {
			s.requested++
			p.request(b, false)
			return
		}
	}
}

func (p *Peer) removeSelectionLocked(s *selection) {
	r := p.r
	if i := slices.Index(r.selections, s); i >= 0 {
		r.selections = slices.Delete(r.selections, i, i+1)
	}
	if s.handle != nil {
		s.handle.finish(nil)
	}
}

func (p *Peer) downloadRangeLocked(s *selection) {
	r := p.r
	feed := r.feed
	wantedEnd := p.remoteLength
	if s.end >= 0 {
		wantedEnd = min(uint64(s.end), p.remoteLength)
	}
	var i uint64
	var ok bool
	if s.linear {
		i, ok = p.remote.next(s.start)
	} else {
		i, ok = p.nextRandom(s.start, wantedEnd)
	}
	start := i
	if !ok || i >= wantedEnd {
		if s.end >= 0 && feed.Length() >= uint64(s.end) {
			if _, missing := feed.FirstMissing(s.start, uint64(s.end)); !missing {
				p.removeSelectionLocked(s)
				if !p.live && !feed.Sparse() && len(r.selections) == 0 {
					// Done: every non-live peer ends, not only this one
					// (the reference ends just this one, and a second
					// peer's stream then stays open).
					p.s.deferred = append(p.s.deferred, p.end)
					for _, q := range r.peers {
						if q != p && !q.live {
							q.s.post(func() {
								if q.remoteOpened && !q.closed {
									q.end()
								}
							})
						}
					}
				}
			}
		}
		return
	}
	for s.hash && feed.HasNode(2*i) || !s.hash && p.stale(i) || !r.reserveLocked(i) {
		i, ok = p.remote.next(i + 1)
		if ok && i < wantedEnd {
			continue
		}
		if !s.linear && start != 0 {
			i, ok = p.remote.next(s.start)
			start = 0
			if ok && i < wantedEnd {
				continue
			}
		}
		return
	}
	s.requested++
	p.request(i, s.hash)
}

// stale reports (and forgets) a remote block we got meanwhile from another
// peer, whose announcement to this peer is still queued on its loop.
func (p *Peer) stale(i uint64) bool {
	if p.r.feed.Has(i) {
		p.remote.set(i, false)
		return true
	}
	return false
}

func (p *Peer) nextRandom(start, end uint64) (uint64, bool) {
	if end <= start {
		return p.remote.next(start)
	}
	i, ok := p.remote.next(start + rand.Uint64N(end-start))
	if !ok || i >= end {
		return p.remote.next(start)
	}
	return i, ok
}

func (p *Peer) request(index uint64, hash bool) {
	now := time.Now()
	if len(p.inflight) == 0 {
		p.lastProgress = now
	}
	p.inflight = append(p.inflight, request{index: index, hash: hash, sent: now, alone: len(p.inflight) == 0})
	p.send(wire.NewRequest(index, 0, hash, p.r.feed.Digest(index)))
}

// sendWants is Peer#_sendWants: a Want for the window of every waiter and
// of each range, then always window 0.
func (p *Peer) sendWants() {
	if p.wants == nil || !p.downloading || !p.remoteOpened || !p.remoteUploading {
		return
	}
	if p.inflightWants >= maxInflightWants {
		return
	}
	r := p.r
	r.mu.Lock()
	idx := make([]uint64, 0, len(r.waiting))
	for _, w := range r.waiting {
		idx = append(idx, w.index)
	}
	type rng struct {
		start  uint64
		end    int64
		blocks []uint64
		sel    *selection
	}
	sels := make([]rng, 0, len(r.selections))
	for _, s := range r.selections {
		sels = append(sels, rng{s.start, s.end, s.blocks, s})
	}
	r.mu.Unlock()
	for _, i := range idx {
		p.sendWant(i)
		if p.inflightWants >= maxInflightWants {
			return
		}
	}
	for _, s := range sels {
		if s.blocks != nil {
			for _, b := range s.blocks {
				p.sendWant(b)
			}
		} else {
			want := s.start / wantWindow * wantWindow
			for {
				if want >= p.remoteLength || s.end >= 0 && want >= uint64(s.end) {
					break
				}
				if p.sendWant(want) {
					break
				}
				if !p.wants[want/wantWindow] {
					break
				}
				want += wantWindow
			}
		}
		if p.inflightWants >= maxInflightWants {
			return
		}
	}
	p.sendWant(0)
}

func (p *Peer) sendWant(index uint64) bool {
	if p.wants == nil {
		return false
	}
	j := index / wantWindow
	if p.wants[j] {
		return false
	}
	p.wants[j] = true
	p.inflightWants++
	p.r.mu.Lock()
	p.r.guardAddLocked(1)
	p.r.mu.Unlock()
	p.send(wire.NewWant(j*wantWindow, wantWindow))
	return true
}

// close removes the peer (Peer#_close); sendClose says whether to send our
// Close on the channel.
func (p *Peer) close(err error, sendClose bool) {
	if p.closed {
		return
	}
	p.closed = true
	if err != nil {
		p.errv.Store(&err)
	}
	if sendClose && p.ch != nil && p.ch.localID != 0 {
		p.s.closeChannel(p.ch)
	}
	r := p.r
	r.mu.Lock()
	for _, q := range p.inflight {
		delete(r.reserved, q.index)
	}
	r.removePeerLocked(p)
	g := -p.inflightWants
	if p.guardForOpened {
		p.guardForOpened = false
		g--
	}
	p.inflightWants = 0
	r.guardAddLocked(g)
	r.mu.Unlock()
	p.inflight = nil
	p.uploads = nil
	p.remoteWant = false
	p.updateEnd()
	close(p.done)
	p.s.forget(p)
	r.updatePeers()
	r.emit(Event{Kind: EventPeerRemove, Peer: p, Err: err})
}
