// Package flat implements flat-tree indexing, the numbering of a binary
// merkle tree laid out in one array that hypercore uses for its tree file,
// its proofs and its bitfields.
//
// Leaves (blocks) have even indexes, block b being node 2b; parents have odd
// indexes. The functions mirror the reference flat-tree 1.13 module.
package flat

import "math/bits"

// Depth is the number of trailing one bits of n: 0 for leaves.
func Depth(n uint64) uint64 { return uint64(bits.TrailingZeros64(^n)) }

// Offset is the position of n among the nodes of its depth.
func Offset(n uint64) uint64 {
	if n&1 == 0 {
		return n / 2
	}
	return n >> (Depth(n) + 1)
}

// Index returns the node at the given depth and offset.
func Index(depth, offset uint64) uint64 {
	return (1+2*offset)<<depth - 1
}

// Parent returns the parent of n.
func Parent(n uint64) uint64 {
	d := Depth(n)
	return Index(d+1, Offset(n)>>1)
}

// Sibling returns the other child of n's parent.
func Sibling(n uint64) uint64 {
	d := Depth(n)
	return Index(d, Offset(n)^1)
}

// Uncle returns the sibling of n's parent.
func Uncle(n uint64) uint64 { return Sibling(Parent(n)) }

// Children returns the left and right child of n; ok is false for leaves.
func Children(n uint64) (left, right uint64, ok bool) {
	if n&1 == 0 {
		return 0, 0, false
	}
	d := Depth(n)
	o := Offset(n) * 2
	return Index(d-1, o), Index(d-1, o+1), true
}

// LeftChild returns the left child of n; ok is false for leaves.
func LeftChild(n uint64) (uint64, bool) {
	l, _, ok := Children(n)
	return l, ok
}

// RightChild returns the right child of n; ok is false for leaves.
func RightChild(n uint64) (uint64, bool) {
	_, r, ok := Children(n)
	return r, ok
}

// LeftSpan is the leftmost leaf below n (n itself for a leaf).
func LeftSpan(n uint64) uint64 {
	d := Depth(n)
	if d == 0 {
		return n
	}
	return Offset(n) * (2 << d)
}

// RightSpan is the rightmost leaf below n (n itself for a leaf).
func RightSpan(n uint64) uint64 {
	d := Depth(n)
	if d == 0 {
		return n
	}
	return (Offset(n)+1)*(2<<d) - 2
}

// Spans returns LeftSpan and RightSpan of n.
func Spans(n uint64) (left, right uint64) { return LeftSpan(n), RightSpan(n) }

// Count is the number of nodes in the subtree rooted at n.
func Count(n uint64) uint64 { return 2<<Depth(n) - 1 }

// FullRoots returns the roots of the tree that covers the leaves below node
// index end, left to right. For a feed of length blocks call FullRoots(2*length).
// The reference throws on an odd argument; here an odd end is rounded down.
func FullRoots(end uint64) []uint64 {
	return AppendFullRoots(nil, end)
}

// AppendFullRoots appends the roots of FullRoots(end) to dst, allocating
// nothing when dst has room.
func AppendFullRoots(dst []uint64, end uint64) []uint64 {
	remaining := end / 2
	var offset uint64
	for remaining > 0 {
		factor := uint64(1) << (63 - bits.LeadingZeros64(remaining))
		dst = append(dst, offset+factor-1)
		offset += 2 * factor
		remaining -= factor
	}
	return dst
}
