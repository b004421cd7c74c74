package dht

import (
	"bytes"
	"math/bits"
	"slices"
	"time"
)

// K is the bucket size and the number of closest nodes a query keeps, as
// in k-bucket 5 and dht-rpc 4.
const K = 20

// entry is a node in the routing table.
type entry struct {
	NodeInfo
	token []byte    // last roundtrip token it gave us
	seen  time.Time // last message from it
}

// table is a k-bucket routing table: bucket i holds the nodes whose id
// first differs from self at bit i, at most K each, least recently seen
// first. It is not safe for concurrent use; Node guards it.
type table struct {
	self    [IDLen]byte
	buckets [IDLen*8 + 1][]*entry
	n       int
}

func distance(a, b [IDLen]byte) (d [IDLen]byte) {
	for i := range a {
		d[i] = a[i] ^ b[i]
	}
	return d
}

// bucketOf returns the index of id's bucket: its common prefix length
// with self.
func (t *table) bucketOf(id [IDLen]byte) int {
	for i := range id {
		if x := id[i] ^ t.self[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return IDLen * 8
}

func (t *table) get(id [IDLen]byte) *entry {
	for _, e := range t.buckets[t.bucketOf(id)] {
		if e.ID == id {
			return e
		}
	}
	return nil
}

// add adds or refreshes a node, moving it to the tail of its bucket. If the
// bucket is full it returns false and the bucket's least recently seen
// nodes, up to three (k-bucket's numberOfNodesToPing), for the caller to
// ping before making room.
func (t *table) add(e *entry) (bool, []*entry) {
	if e.ID == t.self {
		return false, nil
	}
	i := t.bucketOf(e.ID)
	b := t.buckets[i]
	for j, old := range b {
		if old.ID == e.ID {
			t.buckets[i] = append(slices.Delete(b, j, j+1), e)
			return true, nil
		}
	}
	if len(b) >= K {
		return false, slices.Clone(b[:3])
	}
	t.buckets[i] = append(b, e)
	t.n++
	return true, nil
}

func (t *table) remove(id [IDLen]byte) {
	i := t.bucketOf(id)
	for j, e := range t.buckets[i] {
		if e.ID == id {
			t.buckets[i] = slices.Delete(t.buckets[i], j, j+1)
			t.n--
			return
		}
	}
}

// closest returns up to k nodes closest to target by XOR distance.
func (t *table) closest(target [IDLen]byte, k int) []*entry {
	all := t.all()
	slices.SortFunc(all, func(a, b *entry) int {
		da, db := distance(a.ID, target), distance(b.ID, target)
		return bytes.Compare(da[:], db[:])
	})
	return all[:min(k, len(all))]
}

func (t *table) all() []*entry {
	out := make([]*entry, 0, t.n)
	for _, b := range t.buckets {
		out = append(out, b...)
	}
	return out
}

// oldest returns up to n nodes least recently seen.
func (t *table) oldest(n int) []*entry {
	all := t.all()
	slices.SortFunc(all, func(a, b *entry) int { return a.seen.Compare(b.seen) })
	return all[:min(n, len(all))]
}

// seenNode is a copy of an entry, safe to read without the node's lock
// (addNode updates entries in place).
type seenNode struct {
	NodeInfo
	seen time.Time
}

func snapshot(es []*entry) []seenNode {
	out := make([]seenNode, len(es))
	for i, e := range es {
		out[i] = seenNode{e.NodeInfo, e.seen}
	}
	return out
}

func nodeInfos(es []*entry) []NodeInfo {
	out := make([]NodeInfo, len(es))
	for i, e := range es {
		out[i] = e.NodeInfo
	}
	return out
}
