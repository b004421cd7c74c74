package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/hyperfs/hyperfs/hypercore"
)

// Defaults of the reference (hypercore 9 lib/replicate.js, index.js).
const (
	// DefaultMaxRequests caps the in-flight request window per peer for
	// background downloads; waited-for blocks may use 16 more. The
	// reference uses 16; a larger cap keeps fast links busy. Below the
	// cap the window adapts to each peer's link (see queueTarget).
	DefaultMaxRequests = 64
	// DefaultMaxInflightBytes bounds the estimated bytes of in-flight
	// requests per peer (by the feed's mean block size).
	DefaultMaxInflightBytes = 8 << 20
	// wantWindow is the span of every Want (and the Have answering it).
	wantWindow = 1 << 20
	// maxInflightWants is the reference's cap on unanswered Wants per peer.
	maxInflightWants = 16
)

// Options configure a Replicator.
type Options struct {
	// MaxRequests caps the in-flight request window per peer for
	// background downloads (DefaultMaxRequests if 0). Waited-for blocks (Get, Update)
	// may use 16 more, so they are never stuck behind a download.
	MaxRequests int
	// MaxInflightBytes bounds the estimated in-flight bytes per peer
	// (DefaultMaxInflightBytes if 0).
	MaxInflightBytes int
	// EagerUpdate keeps an Update running for the next block, so a sparse
	// feed learns of new blocks as soon as a peer has them (the
	// reference's eagerUpdate).
	EagerUpdate bool
	// Logger receives diagnostics; nil uses slog.Default().
	Logger *slog.Logger
}

// EventKind says what happened.
type EventKind int

const (
	// EventPeerAdd: a peer started replicating the feed (channel opened
	// locally).
	EventPeerAdd EventKind = iota
	// EventPeerOpen: the remote opened the feed's channel too.
	EventPeerOpen
	// EventPeerRemove: a peer stopped (Err says why, nil for a clean
	// close).
	EventPeerRemove
	// EventDownload: block Index was verified and stored from Peer.
	EventDownload
	// EventUpload: block Index was sent to Peer.
	EventUpload
	// EventAppend: the feed grew to Length blocks.
	EventAppend
	// EventSync: every block of the feed is stored locally.
	EventSync
	// EventAck: Peer acknowledged block Index (Options.ack).
	EventAck
)

var eventNames = [...]string{"peer-add", "peer-open", "peer-remove", "download", "upload", "append", "sync", "ack"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing that happened to a replicated feed.
type Event struct {
	Kind   EventKind
	Peer   *Peer
	Index  uint64 // block, for download, upload, ack
	Bytes  int    // block size, for download and upload
	Length uint64 // feed length, for append
	Err    error  // for peer-remove
}

// Stats counts blocks and bytes moved.
type Stats struct {
	UploadedBlocks, UploadedBytes     uint64
	DownloadedBlocks, DownloadedBytes uint64
}

type stats struct {
	upBlocks, upBytes, downBlocks, downBytes atomic.Uint64
}

func (s *stats) snapshot() Stats {
	return Stats{s.upBlocks.Load(), s.upBytes.Load(), s.downBlocks.Load(), s.downBytes.Load()}
}

// waiter is a block somebody waits for: a Get (through Fetch) or an
// Update (the block at minLength-1, or the first later one a peer has).
type waiter struct {
	index     uint64 // may move forward for update waiters, as in the reference
	hash      bool
	update    bool
	minLength uint64
	// ifAvailable waiters fail once every peer has answered its Wants and
	// none has a long enough feed; barrier counts peers still to schedule.
	ifAvailable bool
	barrier     int
	checked     bool
	done        chan error // buffered 1; update waiters only
}

// selection is a Download range (the reference's _selections entry).
type selection struct {
	start            uint64
	end              int64 // -1: open-ended
	blocks           []uint64
	blocksDownloaded int
	linear           bool
	hash             bool
	requested        int
	handle           *Download // nil for the default range of a non-sparse feed
}

// Replicator replicates one feed with any number of peers on any number of
// streams. It installs itself as the feed's Fetcher, so Feed.Get of a
// missing block asks peers for it at top priority.
type Replicator struct {
	feed *hypercore.Feed
	log  *slog.Logger
	opts Options
	id   string // short discovery key, for logs

	unsubscribe func()
	stopEager   context.CancelFunc
	stats       stats

	mu sync.Mutex
	// peers is guarded by mu and copy-on-write: a change stores a new
	// slice and never writes into the old one, so a slice read under mu
	// stays valid to range over after mu is released, while another
	// stream's loop adds or closes peers.
	peers      []*Peer
	waiting    []*waiter           // guarded by mu: Get and Update waiters
	gets       map[uint64]*waiter  // guarded by mu: the Get waiters in waiting, by index
	selections []*selection        // guarded by mu
	reserved   map[uint64]struct{} // guarded by mu: blocks requested from some peer
	guard      int                 // guarded by mu: unopened peers + unanswered Wants (the reference's ifAvailable)
	extNames   []string            // guarded by mu: sorted local extension names
	exts       map[string]*Extension
	synced     uint64 // guarded by mu: blocks [0, synced) are known to be stored
	closed     bool   // guarded by mu

	lmu       sync.Mutex
	listeners map[int]func(Event) // guarded by lmu
	nextL     int                 // guarded by lmu
}

// NewReplicator prepares feed for replication and installs it as the feed's
// fetcher. A non-sparse feed starts downloading everything peers have.
func NewReplicator(feed *hypercore.Feed, opts Options) *Replicator {
	if opts.MaxRequests <= 0 {
		opts.MaxRequests = DefaultMaxRequests
	}
	if opts.MaxInflightBytes <= 0 {
		opts.MaxInflightBytes = DefaultMaxInflightBytes
	}
	dk := feed.DiscoveryKey()
	r := &Replicator{
		feed:      feed,
		opts:      opts,
		id:        fmt.Sprintf("%x", dk[:8]),
		gets:      map[uint64]*waiter{},
		reserved:  map[uint64]struct{}{},
		exts:      map[string]*Extension{},
		listeners: map[int]func(Event){},
	}
	r.log = opts.Logger
	if r.log == nil {
		r.log = defaultLogger()
	}
	r.log = r.log.With("feed", r.id)
	if !feed.Sparse() {
		r.selections = append(r.selections, &selection{end: -1})
	}
	r.unsubscribe = feed.Subscribe(r.onFeedEvent)
	feed.SetFetcher(r)
	if opts.EagerUpdate {
		ctx, cancel := context.WithCancel(context.Background())
		r.stopEager = cancel
		go r.eagerUpdate(ctx)
	}
	return r
}

// eagerUpdate loops Update until the replicator closes.
func (r *Replicator) eagerUpdate(ctx context.Context) {
	for {
		err := r.Update(ctx, UpdateOptions{})
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return
		}
	}
}

// Feed returns the replicated feed.
func (r *Replicator) Feed() *hypercore.Feed { return r.feed }

// Close stops replicating: every peer's channel is closed, waiters fail
// with ErrClosed and the feed's fetcher is removed.
func (r *Replicator) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	if r.stopEager != nil {
		r.stopEager()
	}
	peers := r.peers // copy-on-write: safe to range after unlocking
	for _, w := range r.waiting {
		if w.done != nil {
			w.done <- ErrClosed
		}
	}
	r.waiting, r.gets = nil, map[uint64]*waiter{}
	sels := r.selections
	r.selections = nil
	r.mu.Unlock()
	for _, s := range sels {
		if s.handle != nil {
			s.handle.finish(ErrClosed)
		}
	}
	r.feed.SetFetcher(nil)
	r.unsubscribe()
	for _, p := range peers {
		p.s.post(func() { p.close(nil, true) })
	}
	return nil
}

// Subscribe calls fn for every event, on the goroutine where it happened
// (usually a stream's loop); fn must not block. The returned function
// unsubscribes.
func (r *Replicator) Subscribe(fn func(Event)) (cancel func()) {
	r.lmu.Lock()
	id := r.nextL
	r.nextL++
	r.listeners[id] = fn
	r.lmu.Unlock()
	return func() {
		r.lmu.Lock()
		delete(r.listeners, id)
		r.lmu.Unlock()
	}
}

// emit delivers ev; it must be called without r.mu held.
func (r *Replicator) emit(ev Event) {
	r.lmu.Lock()
	if len(r.listeners) == 0 {
		r.lmu.Unlock()
		return
	}
	fns := make([]func(Event), 0, len(r.listeners))
	for _, fn := range r.listeners {
		fns = append(fns, fn)
	}
	r.lmu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
}

// Stats returns the blocks and bytes moved for this feed over all peers.
func (r *Replicator) Stats() Stats { return r.stats.snapshot() }

// Peers returns the feed's current peers.
func (r *Replicator) Peers() []*Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.peers)
}

// RemoteLength is the longest feed length any peer announced.
func (r *Replicator) RemoteLength() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.remoteLengthLocked()
}

func (r *Replicator) remoteLengthLocked() uint64 {
	var n uint64
	for _, p := range r.peers {
		n = max(n, p.remoteLen.Load())
	}
	return n
}

// SetDownloading turns downloading from every current peer on or off
// (sending Status to each).
func (r *Replicator) SetDownloading(on bool) {
	for _, p := range r.Peers() {
		p.SetDownloading(on)
	}
}

// SetUploading turns uploading to every current peer on or off.
func (r *Replicator) SetUploading(on bool) {
	for _, p := range r.Peers() {
		p.SetUploading(on)
	}
}

// Fetch implements hypercore.Fetcher: a reader waits for block index.
func (r *Replicator) Fetch(index uint64) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if _, ok := r.gets[index]; !ok {
		w := &waiter{index: index}
		r.gets[index] = w
		r.waiting = append(r.waiting, w)
	}
	r.mu.Unlock()
	r.updatePeers()
}

// Cancel implements hypercore.Fetcher: nobody waits for block index any
// more. A request already sent is left to complete.
func (r *Replicator) Cancel(index uint64) {
	r.mu.Lock()
	if w, ok := r.gets[index]; ok {
		delete(r.gets, index)
		r.removeWaiterLocked(w)
	}
	r.mu.Unlock()
}

func (r *Replicator) removeWaiterLocked(w *waiter) {
	if i := slices.Index(r.waiting, w); i >= 0 {
		r.waiting = slices.Delete(r.waiting, i, i+1)
	}
}

// UpdateOptions configure Update.
type UpdateOptions struct {
	// MinLength is the length to wait for; 0 means one more block than
	// the feed has now.
	MinLength uint64
	// IfAvailable fails with ErrNoUpdate instead of waiting when, once every
	// peer has opened the feed and answered its Wants, none announced a
	// long enough feed (the reference's update({ifAvailable: true})).
	IfAvailable bool
	// FetchBlock downloads the block at MinLength-1 too; by default only
	// its hash and the signed roots are fetched (hash: true).
	FetchBlock bool
}

// Update waits until the feed is at least opts.MinLength long, asking peers
// for the proof of a later block (the reference's feed.update).
func (r *Replicator) Update(ctx context.Context, opts UpdateOptions) error {
	length := r.feed.Length()
	minLength := opts.MinLength
	if minLength == 0 {
		minLength = length + 1
	}
	if length >= minLength {
		return nil
	}
	if opts.IfAvailable && r.feed.Writable() {
		return ErrNoUpdate
	}
	w := &waiter{index: minLength - 1, hash: !opts.FetchBlock, update: true, minLength: minLength,
		ifAvailable: opts.IfAvailable, done: make(chan error, 1)}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.waiting = append(r.waiting, w)
	peers := r.peers
	w.barrier = len(peers)
	r.pollWaitingLocked()
	r.checkIfAvailableLocked()
	r.mu.Unlock()
	// The ifAvailable check waits until every peer has had the chance to
	// send its Wants for this waiter.
	for _, p := range peers {
		if !p.s.post(func() {
			p.update()
			r.mu.Lock()
			w.barrier--
			r.checkIfAvailableLocked()
			r.mu.Unlock()
		}) {
			r.mu.Lock()
			w.barrier--
			r.checkIfAvailableLocked()
			r.mu.Unlock()
		}
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		r.mu.Lock()
		r.removeWaiterLocked(w)
		r.mu.Unlock()
		select {
		case err := <-w.done:
			return err
		default:
		}
		return ctx.Err()
	}
}

// checkIfAvailableLocked fails ifAvailable update waiters once the guard is
// released and no peer has announced enough blocks.
func (r *Replicator) checkIfAvailableLocked() {
	if r.guard > 0 {
		return
	}
	length := r.feed.Length()
	remote := r.remoteLengthLocked()
	for i := 0; i < len(r.waiting); i++ {
		w := r.waiting[i]
		if !w.ifAvailable || w.checked || w.barrier > 0 {
			continue
		}
		w.checked = true
		if length >= w.minLength || remote >= w.minLength {
			continue
		}
		r.waiting = slices.Delete(r.waiting, i, i+1)
		i--
		w.done <- ErrNoUpdate
	}
}

// guardAddLocked changes the ifAvailable guard.
func (r *Replicator) guardAddLocked(n int) {
	r.guard += n
	if r.guard < 0 {
		r.guard = 0
	}
	if r.guard == 0 {
		r.checkIfAvailableLocked()
	}
}

// pollWaitingLocked retires waiters that are satisfied.
func (r *Replicator) pollWaitingLocked() {
	var length uint64
	lengthRead := false
	for i := 0; i < len(r.waiting); i++ {
		w := r.waiting[i]
		if w.update {
			if !lengthRead {
				length, lengthRead = r.feed.Length(), true
			}
			if length < w.minLength {
				continue
			}
			w.done <- nil
		} else {
			if !r.feed.Has(w.index) {
				continue
			}
			delete(r.gets, w.index)
		}
		r.waiting = slices.Delete(r.waiting, i, i+1)
		i--
	}
}

// Range is a set of blocks to download: [Start, End) (End 0: open-ended,
// following the feed as it grows) or, if Blocks is set, just those blocks.
type Range struct {
	Start, End uint64
	Blocks     []uint64
	// Linear downloads in order instead of at random positions.
	Linear bool
}

// Download is a running download; it ends when every block of its range is
// stored, or with an error when cancelled.
type Download struct {
	r    *Replicator
	sel  *selection
	once sync.Once
	done chan struct{}
	err  error
}

// Done is closed when the download ends.
func (d *Download) Done() <-chan struct{} { return d.done }

// Err is the download's outcome once Done is closed: nil when complete.
func (d *Download) Err() error {
	select {
	case <-d.done:
		return d.err
	default:
		return nil
	}
}

// Wait waits for the download to end.
func (d *Download) Wait(ctx context.Context) error {
	select {
	case <-d.done:
		return d.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Cancel stops the download; Wait returns ErrCanceled.
func (d *Download) Cancel() {
	d.r.mu.Lock()
	if i := slices.Index(d.r.selections, d.sel); i >= 0 {
		d.r.selections = slices.Delete(d.r.selections, i, i+1)
	}
	d.r.mu.Unlock()
	d.finish(ErrCanceled)
}

func (d *Download) finish(err error) {
	d.once.Do(func() {
		d.err = err
		close(d.done)
	})
}

// Download fetches a range of blocks from peers in the background
// (the reference's feed.download). Waited-for blocks go first.
func (r *Replicator) Download(rng Range) *Download {
	sel := &selection{start: rng.Start, end: -1, linear: rng.Linear}
	if rng.End > 0 {
		sel.end = int64(rng.End)
	}
	if rng.Blocks != nil {
		sel.blocks = slices.Clone(rng.Blocks)
		lo, hi := uint64(0), uint64(0)
		for k, b := range sel.blocks {
			if k == 0 || b < lo {
				lo = b
			}
			hi = max(hi, b+1)
		}
		sel.start, sel.end = lo, int64(hi)
	}
	d := &Download{r: r, sel: sel, done: make(chan struct{})}
	sel.handle = d
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		d.finish(ErrClosed)
		return d
	}
	r.selections = append(r.selections, sel)
	r.mu.Unlock()
	r.updatePeers()
	return d
}

// updatePeers asks every peer's stream to reschedule.
func (r *Replicator) updatePeers() {
	for _, p := range r.peerSnapshot() {
		p.s.kick()
	}
}

// peerSnapshot returns the current peers. The slice is never modified (see
// Replicator.peers), so callers may range over it without holding mu.
func (r *Replicator) peerSnapshot() []*Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peers
}

// addPeerLocked adds p to the peers, copying the slice (see Replicator.peers).
func (r *Replicator) addPeerLocked(p *Peer) {
	r.peers = append(slices.Clip(r.peers), p)
}

// removePeerLocked removes p from the peers, copying the slice (see
// Replicator.peers): slices.Delete in place would shift and nil out entries
// that a snapshot taken earlier is still ranging over.
func (r *Replicator) removePeerLocked(p *Peer) {
	i := slices.Index(r.peers, p)
	if i < 0 {
		return
	}
	peers := make([]*Peer, 0, len(r.peers)-1)
	peers = append(peers, r.peers[:i]...)
	r.peers = append(peers, r.peers[i+1:]...)
}

func (r *Replicator) reserveLocked(i uint64) bool {
	if _, ok := r.reserved[i]; ok {
		return false
	}
	r.reserved[i] = struct{}{}
	return true
}

func (r *Replicator) isReservedLocked(i uint64) bool {
	_, ok := r.reserved[i]
	return ok
}

// onFeedEvent forwards feed changes to the peers: Haves for new blocks,
// Unhaves for cleared ones, and wakes waiters.
func (r *Replicator) onFeedEvent(ev hypercore.Event) {
	switch ev.Kind {
	case hypercore.EventAppend:
		r.mu.Lock()
		r.pollWaitingLocked()
		peers := r.peers
		r.mu.Unlock()
		length := ev.Start + ev.Length
		if ev.From == nil { // a local append: announce it
			for _, p := range peers {
				p.s.post(func() { p.announce(ev.Start, ev.Length) })
			}
		}
		r.emit(Event{Kind: EventAppend, Length: length})
		r.updatePeers()
	case hypercore.EventDownload:
		from, _ := ev.From.(*Peer)
		r.mu.Lock()
		peers := r.peers
		r.mu.Unlock()
		for _, p := range peers {
			if p != from {
				p.s.post(func() { p.announce(ev.Start, 1) })
			}
		}
	case hypercore.EventClear:
		r.mu.Lock()
		if ev.Start < r.synced {
			r.synced = ev.Start
		}
		peers := r.peers
		r.mu.Unlock()
		for _, p := range peers {
			p.s.post(func() { p.unannounce(ev.Start, ev.Length) })
		}
	}
}

// checkSync emits EventSync when a replica holds every block.
func (r *Replicator) checkSync() {
	if r.feed.Writable() {
		return
	}
	length := r.feed.Length()
	r.mu.Lock()
	from := r.synced
	r.mu.Unlock()
	if from >= length {
		return
	}
	i, missing := r.feed.FirstMissing(from, length)
	r.mu.Lock()
	if missing {
		r.synced = max(r.synced, i)
		r.mu.Unlock()
		return
	}
	r.synced = length
	r.mu.Unlock()
	r.emit(Event{Kind: EventSync, Length: length})
}

// Extension is a named message type on a feed's channels (registered on
// the Replicator) or on a whole stream (registered on the Stream).
type Extension struct {
	name    string
	r       *Replicator
	s       *Stream
	handler func(p *Peer, msg []byte)
	shandle func(s *Stream, msg []byte)
}

// Name is the extension's name.
func (e *Extension) Name() string { return e.name }

// RegisterExtension adds a per-feed extension: handler is called, on the
// peer's stream loop (it must not block), with every message a peer sends
// under this name. Options announcing the new name list go to every open
// peer.
func (r *Replicator) RegisterExtension(name string, handler func(p *Peer, msg []byte)) *Extension {
	e := &Extension{name: name, r: r, handler: handler}
	r.mu.Lock()
	if _, ok := r.exts[name]; !ok {
		r.extNames = append(r.extNames, name)
		sort.Strings(r.extNames)
	}
	r.exts[name] = e
	peers := r.peers
	r.mu.Unlock()
	for _, p := range peers {
		p.s.post(func() {
			if p.remoteOpened && !p.closed {
				p.sendOptions()
			}
		})
	}
	return e
}

// extID returns the id of name in the local sorted list.
func (r *Replicator) extID(name string) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := slices.BinarySearch(r.extNames, name)
	return uint64(i), ok
}

func (r *Replicator) extension(name string) *Extension {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exts[name]
}

// Send sends msg to one peer of a per-feed extension.
func (e *Extension) Send(p *Peer, msg []byte) {
	msg = slices.Clone(msg)
	p.s.post(func() { p.sendExtension(e.name, msg) })
}

// Broadcast sends msg to every peer of the feed (per-feed extension) or
// over the stream (stream extension).
func (e *Extension) Broadcast(msg []byte) {
	if e.s != nil {
		e.s.SendExtension(e, msg)
		return
	}
	for _, p := range e.r.Peers() {
		e.Send(p, msg)
	}
}
