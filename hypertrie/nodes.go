package hypertrie

import (
	"sync/atomic"
	"unsafe"

	"github.com/hyperfs/hyperfs/cache"
)

// nodeCache keeps decoded nodes by seq in the cache of the trie's feed,
// under the feed's id, so they count against the one budget of everything
// a process keeps of its feeds (a seq names one node forever, so a trie
// and all its checkouts share the entries). A feed without a cache caches
// nothing there: every walk decodes the blocks it reads.
//
// In front sits a small direct-mapped table of the nodes read last: every
// walk starts at the head and passes the same few nodes near the top, and
// a table slot is a pointer load where a cache lookup is a hashed, locked
// map access. It pins at most frontSlots nodes outside the budget.
type nodeCache struct {
	c     *cache.Cache
	id    uint64
	front *[frontSlots]atomic.Pointer[node]
}

const frontSlots = 256

// cachedFeed is implemented by feeds that have a cache (*hypercore.Feed).
type cachedFeed interface {
	Cache() (*cache.Cache, uint64)
}

func newNodeCache(feed Feed) nodeCache {
	if cf, ok := feed.(cachedFeed); ok {
		c, id := cf.Cache()
		return nodeCache{c: c, id: id, front: new([frontSlots]atomic.Pointer[node])}
	}
	return nodeCache{front: new([frontSlots]atomic.Pointer[node])}
}

func (c nodeCache) get(seq uint64) (*node, bool) {
	if c.front != nil {
		if n := c.front[seq%frontSlots].Load(); n != nil && n.seq == seq {
			return n, true
		}
	}
	v, ok := c.c.GetDecoded(c.id, seq)
	if !ok {
		return nil, false
	}
	n, ok := v.(*node)
	if ok && c.front != nil {
		c.front[seq%frontSlots].Store(n)
	}
	return n, ok
}

// put caches n, which must be compact (decoded, or written and then
// compacted) and is never modified afterwards.
func (c nodeCache) put(n *node) {
	if c.front != nil {
		c.front[n.seq%frontSlots].Store(n)
	}
	c.c.SetDecoded(c.id, n.seq, n, n.heapBytes())
}

// heapBytes estimates the memory n holds, which is what its cache entry
// costs: its fields, plus allocOverhead for each of its allocations (the
// node, key, value, split, hash and the trie's two slices).
func (n *node) heapBytes() int64 {
	const allocOverhead = 16
	b := int(unsafe.Sizeof(*n)) + len(n.key) + len(n.value) + len(n.hash) +
		len(n.split)*int(unsafe.Sizeof("")) + n.sparse.heapBytes() + 7*allocOverhead
	for _, bucket := range n.trie {
		b += int(unsafe.Sizeof(bucket)) + 8*cap(bucket)
	}
	return int64(b + len(n.encoded))
}
