// Package hypertrie is a key-value store kept in a hypercore feed, read and
// written exactly as hypertrie 5 (and mountable-hypertrie 2's mount
// records) do, so a trie written by either implementation is read by the
// other. It is the metadata layer under hyperdrive.
//
// # Layout
//
// Block 0 is a DEP-0007 Header ({type: "hypertrie", metadata, subtype});
// every later block is one Node: a key, an optional value, flags, and a
// trie of pointers to earlier blocks. Keys are split on "/" and every
// component hashed with SipHash-2-4, so each node has a path of 2-bit
// values; a node's trie records, for every position where another key's
// path leaves its own, the newest node on that other branch. A lookup
// starts at the newest block (the head) and follows pointers, reading only
// the blocks on its path, which is what makes a sparse remote trie cheap to
// read: a Get on a replica only asks the feed for those blocks.
//
// Deleting appends a node too (the closest remaining key, re-put without a
// pointer to the deleted one), so every version of the trie stays
// readable: Checkout(v) reads the trie as it was at feed length v.
//
// # Where this differs from the reference
//
//   - The header is checked: a feed whose block 0 is not a "hypertrie"
//     header is refused (ErrUnsupportedHeader); the reference reads any.
//     On a replica this reads block 0 once, before the first lookup.
//   - Trie pointers must point to earlier blocks (a valid feed never does
//     otherwise) and iterations never expand a (node, position) twice, so
//     walks over a malformed feed end.
//   - StopAtMounts treats a key as inside a mount only below a whole path
//     component ("a/b" is inside "a", "ab" is not); the reference tests a
//     string prefix.
//   - Watch does not report the state at the time it is called.
//
// Everything written is byte for byte what hypertrie 5 writes for the same
// operations, including its quirks: a node with the empty key reads as
// nothing, and Get with Closest returns nothing where a hash collision
// check fails.
//
// # Concurrency
//
// A Trie is safe for concurrent use. Writes are serialized by a mutex per
// feed; reads take no lock and see the feed as long as it was when they
// started. With Options.GroupCommit, writes join a pending tail that reads
// see at once and that is appended in one signed append (group.go).
//
// # Memory
//
// Decoded nodes are kept in the cache of the trie's feed (cache.Cache,
// the one budget of everything a process keeps of its feeds), compactly:
// a node keeps only the buckets of its trie that hold pointers.
package hypertrie

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypertrie/internal/schema"
)

// HeaderType is the only header type this package reads and writes.
const HeaderType = "hypertrie"

// Feed is what a trie needs of a hypercore; *hypercore.Feed implements it.
// Get on a sparse replica waits for peers, so a trie over it fetches
// exactly the blocks its walks visit.
type Feed interface {
	Get(ctx context.Context, i uint64) ([]byte, error)
	Append(blocks ...[]byte) (uint64, error)
	Length() uint64
	Has(i uint64) bool
	Writable() bool
	Key() ed25519.PublicKey
	Subscribe(fn func(hypercore.Event)) (cancel func())
}

var _ Feed = (*hypercore.Feed)(nil)

// uncachedFeed is implemented by feeds that can read a block without
// caching it (*hypercore.Feed), for a trie that caches the decoded node.
type uncachedFeed interface {
	GetUncached(ctx context.Context, i uint64) ([]byte, error)
}

var _ uncachedFeed = (*hypercore.Feed)(nil)

// Options configure New.
type Options struct {
	// Subtype goes into the header of a new trie ("hyperdrive" for drives,
	// "mountable-hypertrie" for mountable-hypertrie's default); empty
	// leaves the field out.
	Subtype string
	// Metadata goes into the header of a new trie (hyperdrive: the content
	// feed's public key).
	Metadata []byte
	// GroupCommit, if set, lets writes wait up to this long to be
	// appended together, in one append with one signature (see Flush);
	// 0 appends every write at once. Pending writes are seen by this trie
	// and its checkouts only: a process writes a feed through one Trie.
	GroupCommit time.Duration
}

// Header is block 0 of a trie.
type Header struct {
	Type     string
	Metadata []byte
	Subtype  string
}

// Trie is a hypertrie over a feed, or a checkout of one at a version.
type Trie struct {
	*shared
	checkout uint64 // 0 = follow the feed; else the version (feed length) read
}

// shared is the state of a trie and all its checkouts.
type shared struct {
	feed   Feed
	cache  nodeCache              // decoded nodes, in the feed's cache
	group  groupState             // writes waiting to be appended together
	header atomic.Pointer[Header] // set once block 0 has been read and checked
	write  sync.Mutex             // serializes Put, Del, Batch and Mount
}

// New opens the trie kept in feed. On an empty writable feed it writes the
// header first. If block 0 is stored locally it is checked now; on a replica
// without it, the first read checks it.
func New(feed Feed, opts Options) (*Trie, error) {
	t := &Trie{shared: &shared{feed: feed, cache: newNodeCache(feed)}}
	t.group.delay = opts.GroupCommit
	if feed.Length() == 0 && feed.Writable() {
		h := &Header{Type: HeaderType, Metadata: opts.Metadata, Subtype: opts.Subtype}
		if _, err := feed.Append(EncodeHeader(h)); err != nil {
			return nil, fmt.Errorf("writing hypertrie header to feed %x: %w", feed.Key(), err)
		}
		t.header.Store(h)
	} else if feed.Has(0) {
		if _, err := t.Header(context.Background()); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// EncodeHeader encodes a header block; absent (empty) fields are left out.
func EncodeHeader(h *Header) []byte {
	msg := &schema.Header{Type: &h.Type, Metadata: h.Metadata}
	if h.Subtype != "" {
		msg.Subtype = &h.Subtype
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	return b
}

// DecodeHeader decodes block 0 and refuses any type but "hypertrie".
func DecodeHeader(b []byte) (*Header, error) {
	var msg schema.Header
	if err := proto.Unmarshal(b, &msg); err != nil {
		return nil, fmt.Errorf("header: %w: %w", ErrCorrupt, err)
	}
	h := &Header{Type: msg.GetType(), Metadata: msg.Metadata, Subtype: msg.GetSubtype()}
	if h.Type != HeaderType {
		return h, fmt.Errorf("header type %q: %w (this reads %q)", h.Type, ErrUnsupportedHeader, HeaderType)
	}
	return h, nil
}

// Header returns block 0, reading and checking it on first use.
func (t *Trie) Header(ctx context.Context) (*Header, error) {
	if h := t.header.Load(); h != nil {
		return h, nil
	}
	b, err := t.feed.Get(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("reading header of feed %x: %w", t.feed.Key(), err)
	}
	h, err := DecodeHeader(b)
	if err != nil {
		return nil, fmt.Errorf("feed %x: %w", t.feed.Key(), err)
	}
	t.header.Store(h)
	return h, nil
}

// Feed returns the feed the trie is kept in.
func (t *Trie) Feed() Feed { return t.feed }

// Key returns the feed's public key.
func (t *Trie) Key() ed25519.PublicKey { return t.feed.Key() }

// Version is the feed length the trie reads: fixed for a checkout.
func (t *Trie) Version() uint64 {
	if t.checkout != 0 {
		return t.checkout
	}
	return t.length()
}

// Checkout returns the trie as it was at version (a feed length); 0 reads
// as the empty trie. Checkouts are read-only and share the node cache.
func (t *Trie) Checkout(version uint64) *Trie {
	return &Trie{shared: t.shared, checkout: max(version, 1)}
}

// Snapshot is Checkout(Version()).
func (t *Trie) Snapshot() *Trie { return t.Checkout(t.Version()) }

// headSeq returns the seq of the newest node, 0 if the trie is empty.
func (t *Trie) headSeq() uint64 {
	if t.checkout != 0 {
		return t.checkout - 1
	}
	if n := t.length(); n >= 2 {
		return n - 1
	}
	return 0
}

// begin returns the head node, nil for an empty trie. Before the first
// read of a node it checks the header, so a feed of another type is
// refused rather than misread.
func (t *Trie) begin(ctx context.Context) (*node, error) {
	seq := t.headSeq()
	if seq == 0 {
		return nil, nil
	}
	if _, err := t.Header(ctx); err != nil {
		return nil, err
	}
	return t.getBySeq(ctx, seq)
}

// getBySeq loads node seq: nil for seq 0 and for a node with the empty key
// (such as the reset node deleting the last key writes).
func (t *Trie) getBySeq(ctx context.Context, seq uint64) (*node, error) {
	if seq < 1 {
		return nil, nil
	}
	n := t.group.pending.Load().get(seq)
	ok := n != nil
	if !ok {
		n, ok = t.cache.get(seq)
	}
	if !ok {
		// The decoded node is cached, not the raw block: keeping both
		// would spend the budget twice on one node.
		var b []byte
		var err error
		if u, ok := t.feed.(uncachedFeed); ok {
			b, err = u.GetUncached(ctx, seq)
		} else {
			b, err = t.feed.Get(ctx, seq)
		}
		if err != nil {
			return nil, fmt.Errorf("reading node %d of feed %x: %w", seq, t.feed.Key(), err)
		}
		if n, err = decodeNode(b, seq); err != nil {
			return nil, fmt.Errorf("feed %x: %w", t.feed.Key(), err)
		}
		t.cache.put(n)
	}
	// The reference means to skip only the reset node (key "", no value),
	// but its check sees the value only after decoding it, so every node
	// with the empty key reads as nothing.
	if n.key == "" {
		return nil, nil
	}
	return n, nil
}

// GetBySeq returns the node stored in block seq (ErrNotFound for the header
// and reset blocks).
func (t *Trie) GetBySeq(ctx context.Context, seq uint64) (*Node, error) {
	n, err := t.getBySeq(ctx, seq)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, fmt.Errorf("block %d: %w", seq, ErrNotFound)
	}
	return n.public(), nil
}

// writable fails for checkouts and read-only feeds.
func (t *Trie) writable() error {
	if t.checkout != 0 || !t.feed.Writable() {
		return fmt.Errorf("feed %x: %w", t.feed.Key(), ErrReadOnly)
	}
	return nil
}
