package flat

import (
	"slices"
	"testing"

	"github.com/hyperfs/hyperfs/internal/vectors"
)

func TestNodesMatchReference(t *testing.T) {
	var v struct {
		Rows []struct {
			Index, Depth, Offset, Parent, Sibling, LeftSpan, RightSpan uint64
			LeftChild, RightChild                                      int64
		}
	}
	vectors.Load(t, "flatTree.nodes", &v)
	if len(v.Rows) == 0 {
		t.Fatal("no rows in vector")
	}
	for _, r := range v.Rows {
		n := r.Index
		if Depth(n) != r.Depth || Offset(n) != r.Offset || Parent(n) != r.Parent ||
			Sibling(n) != r.Sibling || LeftSpan(n) != r.LeftSpan || RightSpan(n) != r.RightSpan {
			t.Errorf("node %d: got depth %d offset %d parent %d sibling %d spans %d-%d, want %+v",
				n, Depth(n), Offset(n), Parent(n), Sibling(n), LeftSpan(n), RightSpan(n), r)
		}
		l, ok := LeftChild(n)
		if (!ok && r.LeftChild != -1) || (ok && int64(l) != r.LeftChild) {
			t.Errorf("node %d: left child %d,%v want %d", n, l, ok, r.LeftChild)
		}
		rc, ok := RightChild(n)
		if (!ok && r.RightChild != -1) || (ok && int64(rc) != r.RightChild) {
			t.Errorf("node %d: right child %d,%v want %d", n, rc, ok, r.RightChild)
		}
		if Index(Depth(n), Offset(n)) != n {
			t.Errorf("Index(Depth, Offset) of %d = %d", n, Index(Depth(n), Offset(n)))
		}
	}
}

func TestFullRootsMatchReference(t *testing.T) {
	var v struct {
		Rows []struct {
			Length    uint64
			FullRoots []uint64
		}
	}
	vectors.Load(t, "flatTree.fullRoots", &v)
	if len(v.Rows) == 0 {
		t.Fatal("no rows in vector")
	}
	for _, r := range v.Rows {
		got := FullRoots(2 * r.Length)
		if !slices.Equal(got, r.FullRoots) && !(len(got) == 0 && len(r.FullRoots) == 0) {
			t.Errorf("FullRoots(2*%d) = %v, want %v", r.Length, got, r.FullRoots)
		}
	}
}

func TestLargeIndexes(t *testing.T) {
	// Blocks beyond 2^31 must not overflow (JS uses twoPow for this reason).
	n := uint64(1)<<40 - 1 // root of 2^40 blocks
	if LeftSpan(n) != 0 || RightSpan(n) != 1<<41-2 {
		t.Fatalf("spans of %d: %d %d", n, LeftSpan(n), RightSpan(n))
	}
	if Parent(n) != 1<<41-1 {
		t.Fatalf("parent of %d = %d", n, Parent(n))
	}
	if got := FullRoots(2 * (1<<40 + 1)); !slices.Equal(got, []uint64{n, 1 << 41}) {
		t.Fatalf("FullRoots = %v", got)
	}
}
