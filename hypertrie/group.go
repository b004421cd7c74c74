package hypertrie

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Group commit. With Options.GroupCommit set, a write does not append its
// nodes at once: they join the trie's pending tail, which every read of
// the live trie (and of checkouts that include it) sees as if appended, and
// the tail is appended in one call, under one signature, when Flush is
// called, when GroupCommit has passed since the first pending write, or
// when maxPending nodes wait. The feed's blocks are exactly those the same
// writes would append one by one: seqs are handed out in write order and
// nothing else appends to a trie's feed.
//
// A pending write is lost if the process ends before the tail is appended;
// callers that promise durability (fsync, close) call Flush first.

// maxPending is the most nodes kept pending before a write appends them.
const maxPending = 1024

// pendingTail is the nodes written but not yet appended: nodes[i] has seq
// offset+i. Immutable once published; a write publishes a longer one.
type pendingTail struct {
	offset uint64
	nodes  []*node
}

func (p *pendingTail) get(seq uint64) *node {
	if p == nil || seq < p.offset || seq-p.offset >= uint64(len(p.nodes)) {
		return nil
	}
	return p.nodes[seq-p.offset]
}

// groupState is the group-commit state of a trie and its checkouts.
type groupState struct {
	delay   time.Duration               // 0: writes append at once
	pending atomic.Pointer[pendingTail] // nil when nothing is pending
	timer   *time.Timer                 // guarded by write: flushes the tail
}

// length is the live trie's version: the feed's length plus what is
// pending. A flush appends before it clears the tail, so the larger of the
// two is right at every moment.
func (t *Trie) length() uint64 {
	n := t.feed.Length()
	if p := t.group.pending.Load(); p != nil {
		n = max(n, p.offset+uint64(len(p.nodes)))
	}
	return n
}

// addPending adds written nodes to the pending tail (their seqs already
// set) and arms the flush timer. Called with t.write held.
func (t *Trie) addPending(nodes ...*node) error {
	p := t.group.pending.Load()
	next := &pendingTail{offset: nodes[0].seq}
	if p != nil {
		next.offset = p.offset
		next.nodes = append(p.nodes[:len(p.nodes):len(p.nodes)], nodes...)
	} else {
		next.nodes = nodes
	}
	t.group.pending.Store(next)
	if len(next.nodes) >= maxPending {
		if err := t.flushLocked(); err != nil {
			t.group.pending.Store(p) // this write did not happen
			return err
		}
		return nil
	}
	if t.group.timer == nil {
		t.group.timer = time.AfterFunc(t.group.delay, func() {
			t.write.Lock()
			defer t.write.Unlock()
			t.group.timer = nil
			// A failure leaves the tail pending: the next Flush, which
			// someone waits on, tries again and reports it.
			t.flushLocked()
		})
	}
	return nil
}

// Flush appends every pending write in one append. It returns once they
// are stored and signed, or with the error that kept them pending (they
// stay pending, and the next Flush tries again). Without group commit, or
// with nothing pending, it does nothing.
func (t *Trie) Flush() error {
	t.write.Lock()
	defer t.write.Unlock()
	if t.group.timer != nil {
		t.group.timer.Stop()
		t.group.timer = nil
	}
	return t.flushLocked()
}

// flushLocked appends the pending tail. Called with t.write held.
func (t *Trie) flushLocked() error {
	p := t.group.pending.Load()
	if p == nil {
		return nil
	}
	if got := t.feed.Length(); got != p.offset {
		return fmt.Errorf("feed %x grew under the trie (pending nodes from %d, feed at %d): %w", t.feed.Key(), p.offset, got, ErrCorrupt)
	}
	blocks := make([][]byte, len(p.nodes))
	for i, n := range p.nodes {
		b, err := n.encodeBlock()
		if err != nil {
			return err
		}
		blocks[i] = b
	}
	if _, err := t.feed.Append(blocks...); err != nil {
		return fmt.Errorf("appending %d pending nodes to feed %x: %w", len(blocks), t.feed.Key(), err)
	}
	// Readers may still hold the tail's nodes: the cache gets compact
	// copies, and the tail is cleared only now that the feed has them.
	for _, n := range p.nodes {
		c := *n
		c.compact()
		t.cache.put(&c)
	}
	t.group.pending.Store(nil)
	return nil
}
