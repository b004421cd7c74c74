// Package cache is the byte-budgeted cache of decoded tree nodes, blocks
// and decoded blocks (a trie's nodes) that sits under every feed's read
// path: one budget for everything a process keeps of its feeds.
//
// One Cache is shared by all the feeds of a process. It wraps a ristretto
// cache (TinyLFU admission, sampled LFU eviction) whose cost unit is bytes,
// so Options.MaxBytes bounds the memory held by entries, including a fixed
// per-entry overhead.
//
// # Keys
//
// An entry is named by (feed, kind, index): the feed's id from NewFeedID,
// whether it is a tree node, a block, a decoded block or a page of a
// file, and the node, block or page index. The
// three are hashed to ristretto's uint64 key; each entry also stores its
// full key and a lookup that finds another key's entry under the same hash
// counts as a miss (Metrics.Conflicts), so a hash collision can cost a
// re-read but never returns the wrong data.
//
// Feed ids are never reused, so a closed feed needs no invalidation: its
// entries are never looked up again and age out under the budget.
// DelBlock, DelNode and DelPage drop one entry, for blocks cleared by an
// audit or nodes removed by a truncation.
//
// # Ownership
//
// The cache never shares memory with its callers: SetBlock copies the data
// it is given (SetPage takes it over: the caller lets go of it), and
// GetBlock, AppendBlock and ReadPage copy out. Callers may modify what
// they get back, except ViewPage's bytes, which are the page itself.
// Nodes are plain values.
// Decoded values (SetDecoded) are shared, not copied: whoever stores one
// must never modify it afterwards.
//
// # Consistency
//
// Sets are applied asynchronously and may be dropped under contention or
// refused by the admission policy; a Get right after a Set may miss. Dels
// take effect at once and are ordered after earlier Sets. Tests that need
// a Set to be visible call Wait.
//
// A nil *Cache is valid and caches nothing: every Get misses and every Set,
// Del and Close does nothing.
package cache

import (
	"fmt"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
)

// DefaultMaxBytes is the budget used when Options.MaxBytes is 0.
const DefaultMaxBytes = 64 << 20

// EntryOverhead is the cost charged for every entry on top of its block
// bytes: the entry value and ristretto's bookkeeping for it (store item,
// map slot, policy cost record). Measured at about 260 bytes of heap per
// node entry (Go 1.26, ristretto 2.4.2). A node entry costs only this.
const EntryOverhead = 256

// avgEntryBytes is the mean entry cost assumed when sizing ristretto's
// frequency counters (ten per expected entry, as ristretto advises).
const avgEntryBytes = 1024

// HashSize is the size of a tree node's hash.
const HashSize = 32

// DefaultMaxBlockSize is the largest block cached when
// Options.MaxBlockSize is 0.
const DefaultMaxBlockSize = 16 << 10

// Options configures a Cache.
type Options struct {
	// MaxBytes is the budget for all entries, block bytes plus
	// EntryOverhead each. 0 means DefaultMaxBytes.
	MaxBytes int64
	// MaxBlockSize is the largest block SetBlock keeps; 0 means
	// DefaultMaxBlockSize, negative caches no blocks. Larger blocks are
	// cheaper to read again from their file, which the kernel's page cache
	// already holds, than to copy into and out of this cache.
	MaxBlockSize int
}

// kind says what an entry holds.
type kind uint8

const (
	kindNode kind = iota + 1
	kindBlock
	kindDecoded
	kindPage
)

// key names an entry.
type key struct {
	feed  uint64
	index uint64
	kind  kind
}

// entry is what ristretto stores: the full key, checked on every Get, and
// either a node or a block.
type entry struct {
	key
	size  uint64         // node: bytes below the node; page: its stamp
	hash  [HashSize]byte // node: its hash
	block []byte         // block or page: a private copy, never handed out
	value any            // decoded: an immutable value, shared
}

// Cache is a byte-budgeted cache of tree nodes and blocks shared by many
// feeds. Its methods are safe for concurrent use, except Close.
type Cache struct {
	rc        *ristretto.Cache[uint64, entry]
	maxBytes  int64
	reserved  atomic.Int64     // bytes of the budget held outside the cache
	maxBlock  int              // largest block SetBlock keeps
	hash      func(key) uint64 // replaced in tests to force collisions
	nextFeed  atomic.Uint64    // last id handed out by NewFeedID
	conflicts atomic.Uint64    // ristretto hits that held another key
}

// New returns a cache with the budget in opts.
func New(opts Options) (*Cache, error) {
	maxBytes := opts.MaxBytes
	switch {
	case maxBytes == 0:
		maxBytes = DefaultMaxBytes
	case maxBytes < 0:
		return nil, fmt.Errorf("cache: negative MaxBytes %d", maxBytes)
	}
	counters := max(10*(maxBytes/avgEntryBytes), 1024)
	rc, err := ristretto.NewCache(&ristretto.Config[uint64, entry]{
		NumCounters: counters,
		MaxCost:     maxBytes,
		BufferItems: 64,
		Metrics:     true,
		// Costs are computed here, EntryOverhead included.
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	maxBlock := opts.MaxBlockSize
	if maxBlock == 0 {
		maxBlock = DefaultMaxBlockSize
	}
	return &Cache{rc: rc, maxBytes: maxBytes, hash: hashKey, maxBlock: maxBlock}, nil
}

// Close releases the cache's goroutines and entries. It must be the last
// call on c; afterwards every Get misses and every Set does nothing.
func (c *Cache) Close() {
	if c == nil {
		return
	}
	c.rc.Close()
}

// MaxBytes is the whole budget the cache was made with.
func (c *Cache) MaxBytes() int64 {
	if c == nil {
		return 0
	}
	return c.maxBytes
}

// Reserve takes delta bytes of the budget for memory held outside the
// cache (the inodes a mount's kernel holds), so the cache keeps that much
// less, or gives them back when delta is negative. The cache keeps at
// least a quarter of the budget.
func (c *Cache) Reserve(delta int64) {
	if c == nil {
		return
	}
	r := c.reserved.Add(delta)
	c.rc.UpdateMaxCost(max(c.maxBytes-r, c.maxBytes/4))
}

// NewFeedID returns an id no other feed of this cache has or will get. It
// never returns 0. A nil cache returns 0.
func (c *Cache) NewFeedID() uint64 {
	if c == nil {
		return 0
	}
	return c.nextFeed.Add(1)
}

// GetBlock returns a copy of block index of feed. A zero-length block is
// returned as a non-nil empty slice.
func (c *Cache) GetBlock(feed, index uint64) ([]byte, bool) {
	e, ok := c.get(key{feed: feed, index: index, kind: kindBlock})
	if !ok {
		return nil, false
	}
	return append([]byte{}, e.block...), true
}

// AppendBlock appends block index of feed to dst and returns the extended
// slice, like GetBlock without allocating when dst has room. On a miss it
// returns dst unchanged and false.
func (c *Cache) AppendBlock(dst []byte, feed, index uint64) ([]byte, bool) {
	e, ok := c.get(key{feed: feed, index: index, kind: kindBlock})
	if !ok {
		return dst, false
	}
	return append(dst, e.block...), true
}

// SetBlock caches a copy of block index of feed, at a cost of
// len(data)+EntryOverhead. The cache may decline it, and never keeps blocks
// over Options.MaxBlockSize.
func (c *Cache) SetBlock(feed, index uint64, data []byte) {
	if c == nil || len(data) > c.maxBlock {
		return
	}
	k := key{feed: feed, index: index, kind: kindBlock}
	c.rc.Set(c.hash(k), entry{key: k, block: append([]byte{}, data...)}, int64(len(data))+EntryOverhead)
}

// DelBlock drops block index of feed, for a block that was cleared.
func (c *Cache) DelBlock(feed, index uint64) {
	c.del(key{feed: feed, index: index, kind: kindBlock})
}

// GetDecoded returns the decoded form of block index of feed that a
// layer above the feed stored with SetDecoded (a trie keeps its nodes so).
func (c *Cache) GetDecoded(feed, index uint64) (any, bool) {
	e, ok := c.get(key{feed: feed, index: index, kind: kindDecoded})
	if !ok {
		return nil, false
	}
	return e.value, true
}

// SetDecoded caches v, the decoded form of block index of feed, at a cost
// of cost+EntryOverhead; cost is the caller's estimate of the heap v holds.
// v is shared with every later GetDecoded and must not be modified. The
// cache may decline it.
func (c *Cache) SetDecoded(feed, index uint64, v any, cost int64) {
	if c == nil {
		return
	}
	k := key{feed: feed, index: index, kind: kindDecoded}
	c.rc.Set(c.hash(k), entry{key: k, value: v}, max(cost, 0)+EntryOverhead)
}

// GetNode returns the hash and size of tree node index of feed.
func (c *Cache) GetNode(feed, index uint64) (hash [HashSize]byte, size uint64, ok bool) {
	e, ok := c.get(key{feed: feed, index: index, kind: kindNode})
	if !ok {
		return hash, 0, false
	}
	return e.hash, e.size, true
}

// SetNode caches tree node index of feed, at a cost of EntryOverhead. The
// cache may decline it.
func (c *Cache) SetNode(feed, index uint64, hash [HashSize]byte, size uint64) {
	if c == nil {
		return
	}
	k := key{feed: feed, index: index, kind: kindNode}
	c.rc.Set(c.hash(k), entry{key: k, hash: hash, size: size}, EntryOverhead)
}

// SetPage caches page index of feed: a run of bytes of one of the feed's
// files (a tree file's records, say), which the caller numbers and sizes.
// Unlike SetBlock it keeps data itself, which the caller must not modify
// afterwards. stamp is returned by ReadPage with the bytes, so the caller
// can tell a page read before some change of the file from one read after
// it. The cost is len(data)+EntryOverhead; the cache may decline it.
func (c *Cache) SetPage(feed, index uint64, data []byte, stamp uint64) {
	if c == nil {
		return
	}
	k := key{feed: feed, index: index, kind: kindPage}
	c.rc.Set(c.hash(k), entry{key: k, size: stamp, block: data}, int64(len(data))+EntryOverhead)
}

// ReadPage copies page index of feed, from byte off on, into dst and
// returns how many bytes it copied (fewer than len(dst) where the page
// ends) and the stamp SetPage was given; ok is false on a miss.
func (c *Cache) ReadPage(feed, index uint64, off int, dst []byte) (n int, stamp uint64, ok bool) {
	e, ok := c.get(key{feed: feed, index: index, kind: kindPage})
	if !ok {
		return 0, 0, false
	}
	if off < len(e.block) {
		n = copy(dst, e.block[off:])
	}
	return n, e.size, true
}

// ViewPage returns page index of feed itself, not a copy, and the stamp
// SetPage was given: its bytes are read-only, as SetPage's caller gave
// them up. ok is false on a miss.
func (c *Cache) ViewPage(feed, index uint64) (data []byte, stamp uint64, ok bool) {
	e, ok := c.get(key{feed: feed, index: index, kind: kindPage})
	if !ok {
		return nil, 0, false
	}
	return e.block, e.size, true
}

// DelPage drops page index of feed.
func (c *Cache) DelPage(feed, index uint64) {
	c.del(key{feed: feed, index: index, kind: kindPage})
}

// DelNode drops tree node index of feed.
func (c *Cache) DelNode(feed, index uint64) {
	c.del(key{feed: feed, index: index, kind: kindNode})
}

func (c *Cache) get(k key) (entry, bool) {
	if c == nil {
		return entry{}, false
	}
	e, ok := c.rc.Get(c.hash(k))
	if !ok {
		return entry{}, false
	}
	if e.key != k {
		c.conflicts.Add(1)
		return entry{}, false
	}
	return e, true
}

// del drops whatever entry sits under k's hash: k's own, or a colliding
// one, which is only an extra miss later.
func (c *Cache) del(k key) {
	if c == nil {
		return
	}
	c.rc.Del(c.hash(k))
}

// Wait blocks until every Set made before it has been applied or declined.
// It is meant for tests; the read path never needs it.
func (c *Cache) Wait() {
	if c == nil {
		return
	}
	c.rc.Wait()
}

// Metrics are counters since New.
type Metrics struct {
	Hits      uint64 // Gets that returned an entry
	Misses    uint64 // Gets that did not, conflicts included
	Conflicts uint64 // Gets that found another key's entry under their hash
	Cost      int64  // bytes charged for the entries held now
	MaxCost   int64  // the budget
	Evicted   uint64 // entries evicted to make room
	Declined  uint64 // Sets refused by the admission policy or dropped under contention
}

// Metrics returns the cache's counters. A nil cache returns zeros.
func (c *Cache) Metrics() Metrics {
	if c == nil {
		return Metrics{}
	}
	m := c.rc.Metrics
	conflicts := c.conflicts.Load()
	hits := m.Hits()
	// A conflict was a ristretto hit; it is counted as a miss here.
	hits -= min(conflicts, hits)
	return Metrics{
		Hits:      hits,
		Misses:    m.Misses() + conflicts,
		Conflicts: conflicts,
		Cost:      c.rc.MaxCost() - c.rc.RemainingCost(),
		MaxCost:   c.rc.MaxCost(),
		Evicted:   m.KeysEvicted(),
		Declined:  m.SetsRejected() + m.SetsDropped(),
	}
}

// hashKey maps a key to ristretto's uint64 key. For one feed and kind it is
// a bijection of the index, so only keys of different feeds or kinds can
// collide.
func hashKey(k key) uint64 {
	return mix64(k.index ^ mix64(k.feed<<2|uint64(k.kind)))
}

// mix64 is the splitmix64 finalizer, a bijection on uint64.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
