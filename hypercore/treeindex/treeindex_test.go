package treeindex

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hyperfs/hyperfs/internal/vectors"
)

type proofVec struct {
	Nodes      []uint64
	VerifiedBy uint64
}

func checkProof(t *testing.T, what string, nodes []uint64, verifiedBy uint64, ok bool, want proofVec) {
	t.Helper()
	if !ok || !slices.Equal(nodes, want.Nodes) && !(len(nodes) == 0 && len(want.Nodes) == 0) || verifiedBy != want.VerifiedBy {
		t.Errorf("%s: proof %v/%d ok=%v, want %v/%d", what, nodes, verifiedBy, ok, want.Nodes, want.VerifiedBy)
	}
}

func TestProofsMatchReference(t *testing.T) {
	var v struct {
		FirstProof  proofVec
		ReaderNodes []uint64
		Rows        []struct {
			Block  uint64
			Digest uint64
			Proof  proofVec
		}
		W3rows []struct {
			Block     uint64
			DataProof proofVec
			HashProof proofVec
		}
	}
	vectors.Load(t, "replication.proofs", &v)
	if len(v.Rows) == 0 || len(v.W3rows) == 0 {
		t.Fatal("no rows in vector")
	}

	// The generator's scenario: a 16-block writer, a reader that fetched
	// block 5 with digest 0 and stored the proof's nodes.
	w := New(nil)
	for i := range uint64(16) {
		w.Set(2 * i)
	}
	r := New(nil)
	r.Set(10)
	nodes, vb, ok := w.Proof(10, 0, false, New(nil))
	checkProof(t, "first proof", nodes, vb, ok, v.FirstProof)
	for _, n := range nodes {
		r.Set(n)
	}
	var have []uint64
	for i := range uint64(32) {
		if r.Get(i) {
			have = append(have, i)
		}
	}
	if !slices.Equal(have, v.ReaderNodes) {
		t.Errorf("reader nodes %v, want %v", have, v.ReaderNodes)
	}
	for _, row := range v.Rows {
		d := r.Digest(2 * row.Block)
		if d != row.Digest {
			t.Errorf("block %d: digest %d (%b), want %d", row.Block, d, d, row.Digest)
		}
		nodes, vb, ok := w.Proof(2*row.Block, row.Digest, false, New(nil))
		checkProof(t, fmt.Sprintf("block %d", row.Block), nodes, vb, ok, row.Proof)
	}

	w3 := New(nil)
	for i := range uint64(3) {
		w3.Set(2 * i)
	}
	for _, row := range v.W3rows {
		nodes, vb, ok := w3.Proof(2*row.Block, 0, false, nil)
		checkProof(t, fmt.Sprintf("w3 block %d data", row.Block), nodes, vb, ok, row.DataProof)
		nodes, vb, ok = w3.Proof(2*row.Block, 0, true, nil)
		checkProof(t, fmt.Sprintf("w3 block %d hash", row.Block), nodes, vb, ok, row.HashProof)
	}
}

// Values from lib/tree-index.js over sparse-bitfield for small trees.
func TestSmallTrees(t *testing.T) {
	ti := New(nil)
	if ti.Blocks() != 0 || ti.Digest(0) != 0 || ti.VerifiedBy(0) != 0 {
		t.Fatal("empty index not empty")
	}
	if _, _, ok := ti.Proof(0, 0, false, nil); ok {
		t.Fatal("proof of a missing node")
	}
	if !ti.Set(0) || ti.Set(0) {
		t.Fatal("Set(0) not new exactly once")
	}
	ti.Set(2) // completes node 1
	if !ti.Get(1) || ti.Get(3) {
		t.Fatal("parent not propagated")
	}
	ti.Set(4)
	if ti.Blocks() != 3 || !slices.Equal(ti.Roots(), []uint64{1, 4}) {
		t.Fatalf("blocks %d roots %v", ti.Blocks(), ti.Roots())
	}
	if vb, nodes := ti.VerifiedByNodes(0); vb != 6 || !slices.Equal(nodes, []uint64{4}) {
		t.Fatalf("VerifiedByNodes(0) = %d %v", vb, nodes)
	}
	ti.Truncate(2)
	if ti.Blocks() != 1 || ti.Get(1) || ti.Get(2) || ti.Get(4) || !ti.Get(0) {
		t.Fatalf("after Truncate(2): blocks %d", ti.Blocks())
	}
}

// lcg is the PRNG of testdata/gen-reference.js.
type lcg struct{ s uint32 }

func (r *lcg) n(n uint64) uint64 {
	r.s = r.s*1664525 + 1013904223
	return uint64(r.s % uint32(n))
}

func fmtProof(nodes []uint64, verifiedBy uint64, ok bool) string {
	if !ok {
		return "null"
	}
	s := make([]string, len(nodes))
	for i, n := range nodes {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",") + "/" + fmt.Sprint(verifiedBy)
}

func join(ns []uint64) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

// replayOps runs the operation sequence of testdata/gen-reference.js.
func replayOps(seed uint32, steps int) []string {
	r := &lcg{seed}
	var w, rd, remote *TreeIndex
	var length uint64
	fresh := func() string {
		w, rd, remote = New(nil), New(nil), New(nil)
		length = 1 + r.n([]uint64{4, 40, 300, 5000}[r.n(4)])
		full := r.n(3) != 0
		for i := range length {
			if full || r.n(4) != 0 {
				w.Set(2 * i)
			}
		}
		for range r.n(8) {
			w.Set(r.n(4 * length))
		}
		for range r.n(12) {
			if r.n(2) != 0 {
				rd.Set(2 * r.n(length))
			} else {
				rd.Set(r.n(2 * length))
			}
		}
		return fmt.Sprintf("fresh%d:%v:%d:%d:%d:%d", length, full, w.Blocks(), rd.Blocks(),
			w.Bits().Length(), rd.Bits().Length())
	}

	lines := []string{fresh()}
	for range steps {
		var res string
		switch op := r.n(10); {
		case op == 0:
			res = fresh()
		case op <= 3:
			n := 2 * r.n(length+2)
			digest := rd.Digest(n)
			hash := r.n(3) == 0
			keep := r.n(2) == 0
			tree := New(nil)
			if keep {
				tree = remote
			}
			nodes, vb, ok := w.Proof(n, digest, hash, tree)
			res = fmt.Sprintf("proof%d,%d,%v,%v:%s", n, digest, hash, keep, fmtProof(nodes, vb, ok))
			if ok && r.n(2) != 0 {
				for _, x := range nodes {
					rd.Set(x)
				}
			}
		case op == 4:
			n := r.n(2*length + 4)
			var digest uint64
			if r.n(2) != 0 {
				digest = r.n(64)
			} else {
				digest = r.n(1 << 20)
			}
			nodes, vb, ok := w.Proof(n, digest, r.n(2) == 0, New(nil))
			res = fmt.Sprintf("rproof%d,%d:%s", n, digest, fmtProof(nodes, vb, ok))
		case op == 5:
			n := r.n(4*length + 4)
			res = fmt.Sprintf("digest%d:%d,%d", n, w.Digest(n), rd.Digest(n))
		case op == 6:
			n := r.n(4*length + 4)
			vb, nodes := w.VerifiedByNodes(n)
			res = fmt.Sprintf("verifiedBy%d:%d/%s:%d", n, vb, join(nodes), rd.VerifiedBy(n))
		case op == 7:
			n := r.n(4*length + 4)
			a := w.Set(n)
			b := rd.Set(n)
			res = fmt.Sprintf("set%d:%v,%v:%d,%d", n, a, b, w.Blocks(), rd.Blocks())
		case op == 8:
			n := 2 * r.n(length+1)
			w.Truncate(n)
			res = fmt.Sprintf("truncate%d:%d:%s:%d", n, w.Blocks(), join(w.Roots()), w.Bits().Length())
		default:
			res = fmt.Sprintf("blocks:%d,%d:%s:%d", w.Blocks(), rd.Blocks(), join(w.Roots()), remote.Blocks())
		}
		lines = append(lines, res)
	}
	return lines
}

// TestReplayMatchesReference replays random writers, readers and peers'
// trees through proofs, digests, verifiedBy, sets and truncations, comparing
// every step with the reference's trace.
func TestReplayMatchesReference(t *testing.T) {
	if len(referenceRuns) == 0 {
		t.Fatal("no reference runs")
	}
	for seed, want := range referenceRuns {
		got := replayOps(seed, len(want)-1)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("seed %d step %d:\n got %s\nwant %s", seed, i, got[i], want[i])
				break
			}
		}
	}
}

func BenchmarkProof(b *testing.B) {
	w := New(nil)
	for i := range uint64(1 << 16) {
		w.Set(2 * i)
	}
	for b.Loop() {
		w.Proof(2*12345, 0, false, nil)
	}
}

// FuzzProof feeds hostile Request fields (index, nodes digest, hash) to the
// uploader side: it must neither panic nor hang, and must refuse blocks it
// does not have.
func FuzzProof(f *testing.F) {
	f.Add(uint64(10), uint64(0), false)
	f.Add(uint64(8), uint64(17), true)
	f.Add(uint64(2), uint64(1), false)
	f.Add(uint64(4), ^uint64(0), true)
	f.Add(^uint64(0)-1, uint64(5), false)
	w := New(nil)
	for i := range uint64(1000) {
		if i%37 != 5 {
			w.Set(2 * i)
		}
	}
	f.Fuzz(func(t *testing.T, n, digest uint64, hash bool) {
		nodes, vb, ok := w.Proof(n, digest, hash, nil)
		if ok != w.Get(n) {
			t.Fatalf("Proof(%d) ok=%v but Get=%v", n, ok, w.Get(n))
		}
		if len(nodes) > 200 || vb > 2*1000 {
			t.Fatalf("Proof(%d, %d): %d nodes, verifiedBy %d", n, digest, len(nodes), vb)
		}
		w.Digest(n)
	})
}
