// Package treeindex is a port of hypercore 9's lib/tree-index.js: which
// merkle tree nodes a feed has, kept as one bit per flat-tree node. From those
// bits it derives the feed length on open (Blocks), the digest a requester
// sends to say which nodes it already has (Digest), and the node list an
// uploader sends with a block (Proof).
//
// Indexes are flat-tree node indexes (block b is node 2b). The reference works
// in doubles; values here must stay below 2^53 as they do there.
package treeindex

import (
	"github.com/hyperfs/hyperfs/hypercore/bitfield"
	"github.com/hyperfs/hyperfs/hypercore/flat"
)

// Bits is the bitfield a TreeIndex reads and writes: the tree view of a feed's
// bitfield (bitfield.Bitfield.Tree) or a standalone bitfield.Sparse.
type Bits interface {
	Get(i uint64) bool
	// Set sets bit i to v and reports whether it changed.
	Set(i uint64, v bool) bool
	// Length is the bit length as sparse-bitfield tracks it; Blocks and
	// Digest look no further than it.
	Length() uint64
}

var _ Bits = (*bitfield.Sparse)(nil)

// TreeIndex is a set of flat-tree nodes.
type TreeIndex struct {
	bits Bits
}

// New returns a TreeIndex over bits, or over a fresh bitfield.Sparse if bits
// is nil.
func New(bits Bits) *TreeIndex {
	if bits == nil {
		bits = bitfield.NewSparse()
	}
	return &TreeIndex{bits: bits}
}

// Bits returns the underlying bitfield.
func (t *TreeIndex) Bits() Bits { return t.bits }

// Get reports whether node n is present.
func (t *TreeIndex) Get(n uint64) bool { return t.bits.Get(n) }

// Set marks node n present and reports whether it was new. While the
// sibling of the current node is present, the parent is marked too (it can be
// computed), so every complete subtree ends up with its root marked.
func (t *TreeIndex) Set(n uint64) bool {
	if !t.bits.Set(n, true) {
		return false
	}
	for t.bits.Get(flat.Sibling(n)) {
		n = flat.Parent(n)
		if !t.bits.Set(n, true) {
			break
		}
	}
	return true
}

// MaxNode is the largest node index the walks accept: 2^60, far beyond the
// reference's 2^53 (JS numbers) and far from where flat-tree arithmetic on
// uint64 overflows.
const MaxNode = 1 << 60

// Proof returns the nodes an uploader sends with node n (block node for a
// data request) to a requester whose Request.nodes was digest: the node itself
// first if hash is set, then the uncles the requester lacks bottom-up, then,
// if the walk reached the top of the local tree, the other roots of
// fullRoots(verifiedBy) in ascending order. verifiedBy is 2 × the length
// those roots sign, or 0 when the requester already trusts an ancestor.
//
// remote holds what the requester is known to have; Proof adds to it what the
// digest reveals (as the reference does with the per-peer tree). A nil remote
// is a fresh, empty one. ok is false when n is not present locally (the
// reference returns null and the uploader destroys the stream).
func (t *TreeIndex) Proof(n, digest uint64, hash bool, remote *TreeIndex) (nodes []uint64, verifiedBy uint64, ok bool) {
	if n > MaxNode {
		return nil, 0, false
	}
	if remote == nil {
		remote = New(nil)
	}
	if !t.Get(n) {
		return nil, 0, false
	}
	nodes = []uint64{}
	if hash {
		nodes = append(nodes, n) // always sent, whatever the digest says
	}
	if digest == 1 {
		return nodes, 0, true
	}

	next := n
	hasRoot := digest&1 == 1
	digest >>= 1

	for digest != 0 {
		if digest == 1 && hasRoot {
			if t.Get(next) {
				remote.Set(next)
			}
			// Having a root implies having the roots left of it.
			if s := flat.Sibling(next); s < next {
				next = s
			}
			for _, r := range flat.FullRoots(flat.RightSpan(next) + 2) {
				if t.Get(r) {
					remote.Set(r)
				}
			}
			break
		}
		sibling := flat.Sibling(next)
		if digest&1 == 1 && t.Get(sibling) {
			remote.Set(sibling)
		}
		next = flat.Parent(next)
		digest >>= 1
	}

	next = n
	for !remote.Get(next) {
		sibling := flat.Sibling(next)
		if !t.Get(sibling) {
			// next is a local root.
			verifiedBy = t.VerifiedBy(next)
			for _, r := range flat.FullRoots(verifiedBy) {
				if r != next && !remote.Get(r) {
					nodes = append(nodes, r)
				}
			}
			return nodes, verifiedBy, true
		}
		if !remote.Get(sibling) {
			nodes = append(nodes, sibling)
		}
		next = flat.Parent(next)
	}
	return nodes, 0, true
}

// Digest encodes which nodes on the path from n to a root this index has,
// for Request.nodes: 1 if it has n itself; otherwise bit k (k ≥ 1) is set if
// it has the k-th sibling on the way up, and when it has an ancestor the bit
// above the last sibling and bit 0 are set and the walk stops (a digest whose
// bits are then all set collapses to 1).
func (t *TreeIndex) Digest(n uint64) uint64 {
	if t.Get(n) {
		return 1
	}
	if n > MaxNode {
		return 0 // no walk up from beyond any feed: flat-tree math would overflow
	}
	var digest uint64
	next := flat.Sibling(n)
	limit := max(next+2, t.bits.Length())
	bit := uint64(2)
	parent := flat.Parent(next)

	for flat.RightSpan(next) < limit || flat.LeftSpan(parent) > 0 {
		if t.Get(next) {
			digest += bit
		}
		if t.Get(parent) {
			digest += 2 * bit
			digest |= 1
			if digest+1 == 4*bit {
				return 1
			}
			return digest
		}
		next = flat.Sibling(parent)
		parent = flat.Parent(next)
		bit *= 2
	}
	return digest
}

// Blocks is the feed length the nodes describe: the contiguous prefix of
// blocks verified by the highest node present on the left spine. hypercore
// takes the length of a feed from this on open.
func (t *TreeIndex) Blocks() uint64 {
	var top, next uint64
	limit := t.bits.Length()
	for flat.RightSpan(next) < limit {
		next = flat.Parent(next)
		if t.Get(next) {
			top = next
		}
	}
	if !t.Get(top) {
		return 0
	}
	return t.VerifiedBy(top) / 2
}

// Roots returns the roots of a feed of Blocks() blocks.
func (t *TreeIndex) Roots() []uint64 { return flat.FullRoots(2 * t.Blocks()) }

// VerifiedBy returns 2 × the length of the contiguous run of blocks whose
// roots can be reached from n: climb from n while the parent and sibling are
// present, then walk right and down to the last present node; the result is
// that node + 2 (the index past its leaf). It is 0 when n is absent.
//
// For a root found by Proof it is the verifiedBy of the proof: the signed
// length is VerifiedBy/2.
func (t *TreeIndex) VerifiedBy(n uint64) uint64 {
	return t.verifiedBy(n, nil)
}

// VerifiedByNodes is VerifiedBy also returning the present nodes it met while
// walking down the right side (the reference's optional nodes argument).
func (t *TreeIndex) VerifiedByNodes(n uint64) (verifiedBy uint64, nodes []uint64) {
	nodes = []uint64{}
	verifiedBy = t.verifiedBy(n, &nodes)
	return verifiedBy, nodes
}

func (t *TreeIndex) verifiedBy(n uint64, nodes *[]uint64) uint64 {
	if !t.Get(n) {
		return 0
	}

	// Find the root of the subtree n is complete in.
	depth := flat.Depth(n)
	top := n
	parent := flat.Parent(top)
	depth++
	for t.Get(parent) && t.Get(flat.Sibling(top)) {
		top = parent
		parent = flat.Parent(top)
		depth++
	}

	// Expand right, down.
	depth--
	for depth > 0 {
		top, _ = flat.LeftChild(flat.Index(depth, flat.Offset(top)+1))
		depth--
		for !t.Get(top) && depth > 0 {
			top, _ = flat.LeftChild(top)
			depth--
		}
		if nodes != nil && t.Get(top) {
			*nodes = append(*nodes, top)
		}
	}

	if t.Get(top) {
		return top + 2
	}
	return top
}

// Truncate forgets the nodes of a feed cut to n/2 blocks (n = 2 × the new
// length, as hypercore calls it): it clears every bit in [n, 2*Blocks()) and
// the parents of each root of fullRoots(n) that lie below n.
func (t *TreeIndex) Truncate(n uint64) {
	current := 2 * t.Blocks()
	for i := n; i < current; i++ {
		t.bits.Set(i, false)
	}
	for _, root := range flat.FullRoots(n) {
		for p := flat.Parent(root); p < n; p = flat.Parent(p) {
			t.bits.Set(p, false)
		}
	}
}
