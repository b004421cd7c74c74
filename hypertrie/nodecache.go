package hypertrie

import (
	"container/list"
	"sync"
)

// nodeCache keeps decoded nodes by seq, shared by a trie and its checkouts
// (blocks never change, so a seq names one node forever). The reference
// keeps the 32768 most recent raw blocks; decoding is most of the cost of a
// walk here, so decoded nodes are kept instead.
type nodeCache struct {
	mu    sync.Mutex
	max   int
	items map[uint64]*list.Element // guarded by mu
	order *list.List               // guarded by mu: front = most recent
}

type cacheEntry struct {
	seq  uint64
	node *node
}

func newNodeCache(max int) *nodeCache {
	return &nodeCache{max: max, items: make(map[uint64]*list.Element), order: list.New()}
}

func (c *nodeCache) get(seq uint64) (*node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[seq]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).node, true
}

func (c *nodeCache) put(seq uint64, n *node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[seq]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.items[seq] = c.order.PushFront(&cacheEntry{seq, n})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).seq)
	}
}
