package bitfield_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore/bitfield"
	"github.com/hyperfs/hyperfs/hypercore/treeindex"
)

// lcg is the PRNG of testdata/gen-reference.js.
type lcg struct{ s uint32 }

func (r *lcg) n(n int) int {
	r.s = r.s*1664525 + 1013904223
	return int(r.s % uint32(n))
}

// replayOps runs the operation sequence of testdata/gen-reference.js and
// returns one trace line per step, formatted as the generator formats them.
func replayOps(t *testing.T, seed uint32, steps int) []string {
	r := &lcg{seed}
	var file []byte
	bf := bitfield.New()
	tree := treeindex.New(bf.Tree())
	var lines []string

	sync := func() string {
		var dirty []string
		for _, p := range bf.TakeDirty() {
			dirty = append(dirty, fmt.Sprint(p.Index))
			end := int(p.Index+1) * bitfield.PageSize
			if len(file) < end {
				file = append(file, make([]byte, end-len(file))...)
			}
			copy(file[int(p.Index)*bitfield.PageSize:], p.Bytes)
		}
		return strings.Join(dirty, ",")
	}
	short := func(b []byte) string {
		if h := hex.EncodeToString(b); len(h) <= 32 {
			return h
		}
		sum := sha256.Sum256(b)
		return "sha:" + hex.EncodeToString(sum[:])[:16]
	}
	js := func(i int64) string { return fmt.Sprint(i) }

	for range steps {
		var res string
		switch op := r.n(12); {
		case op <= 5:
			var start int
			if r.n(4) == 0 {
				start = r.n(6 * 8192)
			} else {
				start = r.n(3 * 8192)
			}
			var length int
			if r.n(2) != 0 {
				length = 1 + r.n(300)
			} else {
				length = 1 + r.n(20)
			}
			val := r.n(5) != 0
			changed := 0
			for i := range length {
				if bf.Set(uint64(start+i), val) {
					changed++
				}
			}
			res = fmt.Sprintf("set%d+%d=%v:%d", start, length, val, changed)
		case op == 6:
			i := uint64(r.n(3 * 8192))
			res = fmt.Sprintf("unset%d:%v:%v", i, bf.Set(i, false), bf.Get(i))
		case op == 7:
			a := r.n(4 * 8192)
			b := 0
			if r.n(3) != 0 {
				b = a + r.n(20000)
			}
			res = fmt.Sprintf("total%d,%d:%d", a, b, bf.Total(uint64(a), uint64(b)))
		case op == 8:
			st := r.n(3 * 8192)
			en := 0
			if r.n(3) != 0 {
				en = st + r.n(30000)
			}
			ite := bf.Iterator(uint64(st), uint64(en))
			var got []string
			for range 16 {
				got = append(got, js(ite.Next()))
			}
			got = append(got, js(ite.Peek()))
			got = append(got, js(ite.SeekTo(uint64(r.n(20000))).Next()))
			rs := r.n(8192)
			re := r.n(5 * 8192)
			ite.Range(uint64(rs), uint64(re))
			got = append(got, js(ite.SeekTo(0).Next()), js(ite.Next()))
			res = fmt.Sprintf("ite%d,%d:%s", st, en, strings.Join(got, ","))
		case op == 9:
			st := 0
			if r.n(5) != 0 {
				st = 8192 * r.n(4)
			}
			length := 0
			if !(st == 0 && r.n(2) != 0) {
				length = 8192 * r.n(3)
				if r.n(4) == 0 {
					length += r.n(100)
				}
			}
			res = fmt.Sprintf("compress%d,%d:%s", st, length, short(bf.Compress(uint64(st), uint64(length))))
		case op == 10:
			n := uint64(r.n(6 * 16384))
			res = fmt.Sprintf("tree%d:%v:%d", n, tree.Set(n), tree.Blocks())
		default:
			sync()
			var err error
			if bf, err = bitfield.Decode(file); err != nil {
				t.Fatal(err)
			}
			tree = treeindex.New(bf.Tree())
			res = fmt.Sprintf("reopen:%d:%d:%d", len(file), bf.Length(), tree.Blocks())
		}
		dirty := sync()
		sum := sha256.Sum256(file)
		lines = append(lines, fmt.Sprintf("%s|%s|%d|%d|%d|%d|%d|%s", res, dirty, bf.Length(),
			bitfield.DataLength(bf), bf.Tree().Length(), bitfield.IndexLength(bf),
			bitfield.PagerLength(bf), hex.EncodeToString(sum[:])[:16]))
	}
	return lines
}

// TestReplayMatchesReference replays random sequences of sets, unsets,
// totals, iterations, compressions, tree sets and reopens, comparing every
// step (results, dirty pages, lengths, file hash) with the reference's trace.
func TestReplayMatchesReference(t *testing.T) {
	if len(referenceRuns) == 0 {
		t.Fatal("no reference runs")
	}
	for seed, want := range referenceRuns {
		got := replayOps(t, seed, len(want))
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("seed %d step %d:\n got %s\nwant %s", seed, i, got[i], want[i])
				break
			}
		}
	}
}
