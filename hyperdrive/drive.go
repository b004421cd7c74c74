// Package hyperdrive is a file system kept in two hypercores, read and
// written exactly as hyperdrive 10 does, so a drive written by either
// implementation is read (and extended) by the other.
//
// # Layout
//
// The metadata feed is a hypertrie (subtype "hyperdrive") mapping each
// path to a Stat; the file bytes are in a second feed, the content feed,
// and a file's Stat names its range of content blocks. Block 0 of the
// metadata feed records the content feed's public key. Both feeds come
// from a corestore: the metadata feed is the store's default feed (or the
// feed of a given key), the content feed is derived from the name
// hex(metadataKey)+"-content", so the same master key regains both secret
// keys. Directories are implicit (any key below a path makes it one);
// Mkdir writes an explicit entry. A drive can mount other drives at paths
// (package mounts resolves them); reads and writes below a mountpoint go to
// the mounted drive, its trie and its own content feed.
//
// # Concurrency
//
// A Drive is safe for concurrent use. Writes of file content to one
// content feed are serialized (a file's blocks must be contiguous): a
// streaming Writer holds its content feed from its first full block until
// Close, and small files (one block) take it only on Close, where those
// written meanwhile share one append and one signature (batch.go).
//
// # Errors
//
// Every error names its path (*PathError) and wraps one of the sentinels
// (ErrNotFound, ErrExist, ErrNotDir, ...) where one applies.
package hyperdrive

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypertrie"
	"github.com/hyperfs/hyperfs/internal/coalesce"
	"github.com/hyperfs/hyperfs/mounts"
)

// Subtype is the header subtype of a drive's metadata trie.
const Subtype = "hyperdrive"

// DefaultGroupCommit is the Options.GroupCommit a mount uses: metadata
// writes of one burst (an untar, a checkout) share appends, and a write
// nobody flushes is appended within this long.
const DefaultGroupCommit = 10 * time.Millisecond

// Options configure Open.
type Options struct {
	// Key opens the drive with this metadata key; nil opens the store's
	// default drive (created on first use, writable).
	Key ed25519.PublicKey
	// Sparse downloads only what is read (the reference's default) when
	// the drive is replicated; otherwise every block is fetched.
	Sparse bool
	// Version opens a read-only checkout at this metadata version; 0 is
	// the latest.
	Version uint64
	// Now is the clock for the times of new entries; nil is time.Now.
	Now func() time.Time
	// Update, if set, is called once for every feed of someone else's
	// drive the drive opens (metadata and content, the mounted drives'
	// too) before it is first read, to learn how long the feed is from
	// peers: the replication layer's Update (hypertrie and hyperdrive
	// update a remote feed before reading it). nil reads what is local.
	Update func(ctx context.Context, f *hypercore.Feed) error
	// GroupCommit, if set, lets metadata writes (creates, stats, renames,
	// deletes) that come within this long of each other share one append
	// and one signature; Sync (and Close) appends them at once. Reads see
	// every write at once either way. 0 appends each write as it is made.
	GroupCommit time.Duration
	// LearnLength, if set, learns from peers how long one of our own
	// feeds is (the replication layer's: it waits until a peer announced
	// the feed, then fetches the proof of its head). It is called for a
	// writable feed restored into this storage without its blocks
	// (corestore.Core.Restored, as after importing keys into a new
	// storage) before the drive writes to it, so that writes go after the
	// history peers hold instead of signing other blocks at the same
	// indexes. If it fails (or is nil), writes to that feed fail with
	// ErrMayFork for as long as the drive is open (the drive reads as
	// what is stored, which for a restored metadata feed is nothing),
	// unless Force.
	LearnLength func(ctx context.Context, f *hypercore.Feed) error
	// Force opens a restored drive for writing without learning its
	// length from peers: for when no peer holds a newer version.
	Force bool
}

// Drive is an open hyperdrive, or a checkout of one.
type Drive struct {
	*tree
	trie *hypertrie.Trie   // the root trie, or a checkout of it
	ns   *mounts.Namespace // the root trie and everything mounted in it
	// readOnly marks a checkout; owner a drive whose Close releases the
	// tree (the one Open returned, even if it is a checkout).
	readOnly, owner bool
}

// tree is the state a drive shares with its checkouts: the feeds opened
// for it and its mounts, and the content feeds by metadata key.
type tree struct {
	store   *corestore.Store
	sparse  bool
	meta    *hypercore.Feed
	created time.Time // when opened: the root directory's times
	now     func() time.Time
	update  func(context.Context, *hypercore.Feed) error
	group   time.Duration // Options.GroupCommit
	learn   func(context.Context, *hypercore.Feed) error
	force   bool

	// bg bounds what the drive starts in the background (the content
	// feed of someone else's drive, opened ahead of the first read); Close
	// ends it and waits for it.
	bg     context.Context
	stopBG context.CancelFunc
	bgWG   sync.WaitGroup

	mu       sync.Mutex
	contents map[string]*content        // guarded by mu: by hex metadata key
	opening  map[string]chan struct{}   // guarded by mu: content feeds being opened, closed when done
	opened   []*corestore.Core          // guarded by mu: handles to close on Close
	tries    map[string]*hypertrie.Trie // guarded by mu: by hex metadata key
	cores    map[string]*hypercore.Feed // guarded by mu: cores mounted as files, by key
	closed   bool                       // guarded by mu

	syncs coalesce.Group // Syncs of the drive and its checkouts
}

// content is a drive's content feed with the lock that keeps each file's
// blocks contiguous.
type content struct {
	feed *hypercore.Feed
	lock chan struct{} // one token: held while a file's blocks are appended

	mu    sync.Mutex
	batch *contentBatch // guarded by mu: small files waiting to be appended together (batch.go)
}

func newContent(f *hypercore.Feed) *content {
	c := &content{feed: f, lock: make(chan struct{}, 1)}
	c.lock <- struct{}{}
	return c
}

// acquire takes the content lock, giving up when ctx ends.
func (c *content) acquire(ctx context.Context) error {
	select {
	case <-c.lock:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *content) release() { c.lock <- struct{}{} }

// Open opens the drive described by opts from store: its default drive
// (created on first use) or the drive of opts.Key.
func Open(ctx context.Context, store *corestore.Store, opts Options) (*Drive, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	t := &tree{store: store, sparse: opts.Sparse, now: opts.Now, update: opts.Update, group: opts.GroupCommit, learn: opts.LearnLength, force: opts.Force, created: opts.Now(), contents: map[string]*content{}, opening: map[string]chan struct{}{}, tries: map[string]*hypertrie.Trie{}}
	t.bg, t.stopBG = context.WithCancel(context.Background())
	o := corestore.GetOptions{Name: store.Name(), Sparse: opts.Sparse}
	if opts.Key != nil {
		o = corestore.GetOptions{Key: opts.Key, Sparse: opts.Sparse}
	}
	meta, err := store.Get(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("opening drive metadata feed: %w", err)
	}
	t.meta = meta.Feed
	t.opened = append(t.opened, meta)
	held := false
	if err := t.learnLength(ctx, meta); err != nil {
		// Readable (empty until peers send it), never written: the
		// reason is what every write returns.
		meta.HoldAppends(err)
		held = true
	}
	trie, err := t.openTrie(ctx, meta.Feed, held)
	if err != nil {
		t.close()
		return nil, err
	}
	d := &Drive{tree: t, trie: trie, owner: true}
	d.ns = mounts.New(trie, mounts.OpenerFunc(t.openMounted), mounts.Options{})
	if !meta.Writable() && meta.Length() > 0 {
		// Someone else's drive: its content feed is opened now, while the
		// first lookup walks the trie, so the first read of a file does
		// not wait for the feed's own round trips (open, announce, head)
		// after the lookup's. A failure here is the first read's to report.
		t.bgWG.Add(1)
		go func() {
			defer t.bgWG.Done()
			t.contentOf(t.bg, trie)
		}()
	}
	if opts.Version != 0 {
		d = d.checkout(opts.Version)
		d.owner = true
	}
	return d, nil
}

// openTrie opens the trie in a metadata feed. An empty writable feed is
// initialized as the reference does: the content feed is derived from the
// name hex(metadataKey)+"-content" and its key recorded in the header.
//
// held marks a restored feed that may not be written yet (see
// learnLength): it is not initialized, as that would sign its first block.
func (t *tree) openTrie(ctx context.Context, meta *hypercore.Feed, held bool) (*hypertrie.Trie, error) {
	id := hex.EncodeToString(meta.Key())
	if err := t.refresh(ctx, meta); err != nil {
		return nil, fmt.Errorf("updating drive %s: %w", id, err)
	}
	if n := meta.Length(); n > 1 && !meta.Writable() && !meta.Has(n-1) {
		// The newest block is the trie's root, which every lookup reads
		// first: it is fetched with the header rather than after it.
		t.bgWG.Add(1)
		go func() {
			defer t.bgWG.Done()
			meta.Prefetch(t.bg, n-1, n)
		}()
	}
	trie, err := t.newTrie(ctx, meta, id, held)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.tries[id] = trie
	t.mu.Unlock()
	return trie, nil
}

// newTrie makes the trie of openTrie: over a guard that hides a held
// feed's writes, or initializing an empty writable feed.
func (t *tree) newTrie(ctx context.Context, meta *hypercore.Feed, id string, held bool) (*hypertrie.Trie, error) {
	var topts hypertrie.Options
	if held {
		g := &initGuard{Feed: meta}
		g.hide.Store(true)
		trie, err := hypertrie.New(g, topts)
		g.hide.Store(false) // writes now reach the feed, which refuses them
		if err != nil {
			return nil, fmt.Errorf("opening drive %s: %w", id, err)
		}
		return trie, nil
	}
	if meta.Writable() && meta.Length() == 0 {
		cf, err := t.store.Get(ctx, corestore.GetOptions{Name: id + "-content", Sparse: t.sparse})
		if err != nil {
			return nil, fmt.Errorf("creating content feed of drive %s: %w", id, err)
		}
		t.mu.Lock()
		t.opened = append(t.opened, cf)
		t.contents[id] = newContent(cf.Feed)
		t.mu.Unlock()
		topts = hypertrie.Options{Subtype: Subtype, Metadata: cf.Key()}
	}
	if meta.Writable() {
		topts.GroupCommit = t.group
	}
	trie, err := hypertrie.New(meta, topts)
	if err != nil {
		return nil, fmt.Errorf("opening drive %s: %w", id, err)
	}
	return trie, nil
}

// openMounted opens the metadata trie of a mounted drive through the store.
func (t *tree) openMounted(ctx context.Context, key ed25519.PublicKey) (*hypertrie.Trie, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, errors.New("drive is closed")
	}
	if trie, ok := t.tries[hex.EncodeToString(key)]; ok {
		t.mu.Unlock()
		return trie, nil
	}
	t.mu.Unlock()
	meta, err := t.store.Get(ctx, corestore.GetOptions{Key: key, Sparse: t.sparse})
	if err != nil {
		return nil, fmt.Errorf("opening mounted drive %x: %w", key, err)
	}
	t.mu.Lock()
	t.opened = append(t.opened, meta)
	t.mu.Unlock()
	return t.openTrie(ctx, meta.Feed, false)
}

// contentOf returns the content feed of the drive whose metadata trie is
// trie, opening it from the key in the trie's header on first use. Callers
// that arrive while another opens it wait for that one.
func (t *tree) contentOf(ctx context.Context, trie *hypertrie.Trie) (*content, error) {
	id := hex.EncodeToString(trie.Key())
	for {
		t.mu.Lock()
		if t.closed {
			// Its feeds are closed, even one opened before Close.
			t.mu.Unlock()
			return nil, fmt.Errorf("content feed of drive %s: %w", id, hypercore.ErrClosed)
		}
		if c, ok := t.contents[id]; ok {
			t.mu.Unlock()
			return c, nil
		}
		wait, busy := t.opening[id]
		if !busy {
			done := make(chan struct{})
			t.opening[id] = done
			t.mu.Unlock()
			c, err := t.openContent(ctx, trie, id)
			t.mu.Lock()
			delete(t.opening, id)
			t.mu.Unlock()
			close(done)
			return c, err
		}
		t.mu.Unlock()
		select {
		case <-wait: // opened, or failed: then try ourselves
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// openContent opens the content feed of contentOf.
func (t *tree) openContent(ctx context.Context, trie *hypertrie.Trie, id string) (*content, error) {
	if trie.Feed().Length() == 0 {
		// No header to wait for: nobody sent the drive (or a restored
		// drive has not learned its history yet).
		return nil, fmt.Errorf("drive %s has no blocks yet, so no content feed: %w", id, hypercore.ErrNotAvailable)
	}
	h, err := trie.Header(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading content key of drive %s: %w", id, err)
	}
	if len(h.Metadata) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("drive %s records a content key of %d bytes: %w", id, len(h.Metadata), ErrCorrupt)
	}
	o := corestore.GetOptions{Key: h.Metadata, Sparse: t.sparse}
	if trie.Feed().Writable() {
		// Our own drive's content feed is derived from a name: open it by
		// that name, which gives its secret key even if its name or key
		// file was damaged (the key must still be the recorded one).
		name := id + "-content"
		if kp, err := corestore.DeriveKeyPair(t.store.MasterKey(), []byte(name)); err == nil && bytes.Equal(kp.PublicKey, h.Metadata) {
			o = corestore.GetOptions{Name: name, Sparse: t.sparse}
		}
	}
	cf, err := t.store.Get(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("opening content feed of drive %s: %w", id, err)
	}
	if err := t.refresh(ctx, cf.Feed); err != nil {
		cf.Close()
		return nil, fmt.Errorf("updating content feed of drive %s: %w", id, err)
	}
	if err := t.learnLength(ctx, cf); err != nil {
		// Its blocks can still be read from peers; only writes wait.
		cf.HoldAppends(err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		cf.Close()
		return nil, errors.New("drive is closed")
	}
	if c, ok := t.contents[id]; ok { // opened meanwhile
		t.opened = append(t.opened, cf) // released once more on Close
		return c, nil
	}
	c := newContent(cf.Feed)
	t.contents[id] = c
	t.opened = append(t.opened, cf)
	return c, nil
}

// refresh runs the Update hook on a feed that is not ours.
func (t *tree) refresh(ctx context.Context, f *hypercore.Feed) error {
	if t.update == nil || f.Writable() {
		return nil
	}
	return t.update(ctx, f)
}

// Key is the drive's public key (its metadata feed's).
func (d *Drive) Key() ed25519.PublicKey { return d.meta.Key() }

// DiscoveryKey is the metadata feed's discovery key.
func (d *Drive) DiscoveryKey() [32]byte { return d.meta.DiscoveryKey() }

// Writable reports whether the drive can be written (not a checkout, and
// the metadata secret key is known).
func (d *Drive) Writable() bool { return !d.readOnly && d.meta.Writable() }

// Version is the metadata feed length the drive reads (fixed for a
// checkout).
func (d *Drive) Version() uint64 { return d.trie.Version() }

// Metadata returns the metadata feed.
func (d *Drive) Metadata() *hypercore.Feed { return d.meta }

// Content returns the drive's own content feed.
func (d *Drive) Content(ctx context.Context) (*hypercore.Feed, error) {
	c, err := d.contentOf(ctx, d.trie)
	if err != nil {
		return nil, err
	}
	return c.feed, nil
}

// Trie returns the drive's metadata trie (a checkout for a checkout).
func (d *Drive) Trie() *hypertrie.Trie { return d.trie }

// Checkout returns a read-only view of the drive at a metadata version
// (a feed length). Mounted drives are read at their latest version unless
// their mount pins one. Closing it closes nothing.
func (d *Drive) Checkout(version uint64) (*Drive, error) {
	if live := d.ns.Root().Version(); version > live {
		return nil, pathErr("checkout", "/", fmt.Errorf("version %d is past the drive's %d: %w", version, live, ErrNotFound))
	}
	return d.checkout(version), nil
}

func (d *Drive) checkout(version uint64) *Drive {
	trie := d.ns.Root().Checkout(version)
	return &Drive{tree: d.tree, trie: trie, ns: d.ns.WithRoot(trie), readOnly: true}
}

// Close releases the feeds the drive opened (its own and its mounts').
func (d *Drive) Close() error {
	if !d.owner {
		return nil
	}
	return d.close()
}

// Flush appends every metadata write still waiting to be grouped with
// others (Options.GroupCommit), of this drive and the drives mounted in
// it, and returns once they are appended and signed (Sync also puts them
// on stable storage). Content is always appended before the write that
// points to it.
func (d *Drive) Flush() error { return d.tree.flush() }

func (t *tree) flush() error {
	t.mu.Lock()
	tries := make([]*hypertrie.Trie, 0, len(t.tries))
	for _, tr := range t.tries {
		tries = append(tries, tr)
	}
	t.mu.Unlock()
	var first error
	for _, tr := range tries {
		if err := tr.Flush(); err != nil && first == nil {
			first = fmt.Errorf("syncing drive %x: %w", tr.Key(), err)
		}
	}
	return first
}

func (t *tree) close() error {
	t.stopBG()
	t.bgWG.Wait()
	first := t.flush()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return first
	}
	t.closed = true
	opened := t.opened
	t.opened = nil
	t.mu.Unlock()
	for _, f := range opened {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Sync commits the writable feeds the drive opened (metadata and content,
// its mounts' too) to stable storage: what fsync(2) on a file of the drive
// promises. Metadata writes waiting to be grouped (Options.GroupCommit)
// are appended first. Feeds of other people's drives hold nothing that a
// peer could not send again, so they are not synced.
//
// Concurrent Syncs share the work: one that arrives while another runs
// waits for it to end and then runs one more pass, which serves every
// caller that arrived meanwhile (package coalesce); the files of all the
// feeds are synced at once (hypercore.SyncFeeds), and only those written
// since they were last synced.
func (d *Drive) Sync() error { return d.tree.syncs.Do(d.tree.syncPass) }

// syncPass appends what waits to be grouped and syncs every writable feed.
func (t *tree) syncPass() error {
	if err := t.flush(); err != nil {
		return err
	}
	t.mu.Lock()
	feeds := make([]*hypercore.Feed, 0, len(t.opened))
	seen := map[*hypercore.Feed]bool{}
	for _, c := range t.opened {
		if f := c.Feed; !seen[f] && f.Writable() {
			seen[f] = true
			feeds = append(feeds, f)
		}
	}
	t.mu.Unlock()
	return hypercore.SyncFeeds(feeds...)
}

// initGuard hides that a feed is writable while hide is set, so that
// hypertrie.New does not write a header into it.
type initGuard struct {
	*hypercore.Feed
	hide atomic.Bool
}

func (g *initGuard) Writable() bool { return !g.hide.Load() && g.Feed.Writable() }

// learnLength makes sure a restored feed (see Options.LearnLength) learned
// its length from peers before the drive can write to it.
func (t *tree) learnLength(ctx context.Context, c *corestore.Core) error {
	if !c.Restored() || t.force {
		return nil
	}
	why := errors.New("no way to ask peers")
	if t.learn != nil {
		why = t.learn(ctx, c.Feed)
	}
	if why == nil && c.Length() > 0 {
		return nil
	}
	if why == nil {
		why = errors.New("no peer holds any of it")
	}
	return fmt.Errorf("feed %x was restored into this storage without its blocks, and its length could not be learned from peers (%v): writing now could fork it; connect to a peer that has it, or force it if no peer holds a newer version: %w",
		c.Key(), why, ErrMayFork)
}
