package jsref

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// sumRange returns the blocksSha256 and byte length of blocks
// start..start+count-1 of seed.
func sumRange(seed uint32, start, count uint64) (string, uint64) {
	d := NewDigest()
	for i := start; i < start+count; i++ {
		d.Add(Block(seed, i))
	}
	return d.Hex(), d.Bytes
}

// TestBlocksKnown pins the generator, so a change to it is noticed even
// without Node.js.
func TestBlocksKnown(t *testing.T) {
	b := Block(1, 0)
	if len(b) != 201 || !bytes.HasPrefix(b, []byte{0xeb, 0xc4, 0x06, 0x87, 0xfd, 0x27, 0x26, 0xfb}) {
		t.Errorf("Block(1, 0) = %d bytes %x…", len(b), b[:min(8, len(b))])
	}
	if sum, n := sumRange(1, 0, 20); sum != "f3586726c0fed52cbd54f3907b814d8e8f83651858767ecdbd8ef94b7f6d4e59" || n != 15594 {
		t.Errorf("blocks 0..19 of seed 1: %s, %d bytes", sum, n)
	}
}

func TestBlocksShape(t *testing.T) {
	const n = 10000
	var empty, small, largest int
	for _, b := range Blocks(7, n) {
		switch {
		case len(b) == 0:
			empty++
		case len(b) < 256:
			small++
		}
		largest = max(largest, len(b))
	}
	if empty < n/25 || empty > n/10 {
		t.Errorf("%d of %d blocks empty, want about 1/16", empty, n)
	}
	if empty+small < n/2 {
		t.Errorf("%d of %d blocks under 256 bytes, want most", empty+small, n)
	}
	if largest > 65536 || largest < 60000 {
		t.Errorf("largest block %d bytes, want up to 64 KiB", largest)
	}
	if !bytes.Equal(Blocks(7, 300)[299], Block(7, 299)) {
		t.Error("Blocks and Block disagree")
	}
}

func TestBlocksMatchJS(t *testing.T) {
	for _, c := range []struct {
		seed         uint32
		start, count uint64
	}{
		{1, 0, 20},
		{0, 0, 64},
		{7, 0, 3000},
		{0xffffffff, 1000, 500},
		{12345, 1 << 33, 50}, // index past 2^32: both sides use it mod 2^32
	} {
		var js struct {
			Count        uint64
			ByteLength   uint64
			BlocksSHA256 string `json:"blocksSha256"`
			Sizes        []int
		}
		RunJSON(t, &js, "blocks.js", strconv.FormatUint(c.count, 10),
			"--seed", strconv.FormatUint(uint64(c.seed), 10), "--start", strconv.FormatUint(c.start, 10))
		sum, n := sumRange(c.seed, c.start, c.count)
		if js.BlocksSHA256 != sum || js.ByteLength != n || js.Count != c.count {
			t.Errorf("seed %d blocks %d+%d: JS %s (%d bytes), Go %s (%d bytes)",
				c.seed, c.start, c.count, js.BlocksSHA256, js.ByteLength, sum, n)
		}
		for i, size := range js.Sizes {
			if got := len(Block(c.seed, c.start+uint64(i))); got != size {
				t.Errorf("seed %d block %d: JS %d bytes, Go %d", c.seed, c.start+uint64(i), size, got)
			}
		}
	}
}

func TestFillMatchesJS(t *testing.T) {
	// fill(state) is mulberry32 from state, the stream Block uses after
	// its size draws; block 0 of seed 5 draws r, then a size unless r == 0.
	b := Block(5, 0)
	a := mulberry32(5)
	r := a.next() % 16
	skip := 1
	if r != 0 {
		skip = 2
	}
	buf := make([]byte, 4*skip+len(b))
	Fill(buf, 5)
	if !bytes.Equal(buf[4*skip:], b) {
		t.Error("Fill and Block disagree on the mulberry32 stream")
	}
}

// TestFeedScripts drives feed-write, feed-read and feed-append and checks
// their feeds against the Go generator, down to the data file.
func TestFeedScripts(t *testing.T) {
	const seed, first, more = 7, 500, 300
	dir := filepath.Join(t.TempDir(), "feed")

	w := WriteFeed(t, dir, first, seed, true)
	wantSum, wantBytes := sumRange(seed, 0, first)
	if w.Length != first || w.ByteLength != wantBytes || w.BlocksSHA256 != wantSum || !w.Reopened || len(w.Key) != 64 {
		t.Fatalf("feed-write = %+v, want %d blocks, %d bytes, %s", w, first, wantBytes, wantSum)
	}

	r := ReadFeed(t, dir)
	want := FeedSummary{Key: w.Key, Length: first, ByteLength: wantBytes, Writable: true,
		Audit: Audit{Valid: first}, BlocksSHA256: wantSum}
	if r != want {
		t.Errorf("feed-read = %+v, want %+v", r, want)
	}

	a := AppendFeed(t, dir, more, seed)
	wantSum, wantBytes = sumRange(seed, 0, first+more)
	want = FeedSummary{Key: w.Key, Length: first + more, ByteLength: wantBytes, Writable: true,
		Audit: Audit{Valid: first + more}, BlocksSHA256: wantSum}
	if a != want {
		t.Errorf("feed-append = %+v, want %+v", a, want)
	}

	// The data file is every block concatenated (PROTOCOL-MAP §3.1) and
	// the tree file holds 2n-1 nodes of 40 bytes after its header.
	data, err := os.ReadFile(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, bytes.Join(Blocks(seed, first+more), nil)) {
		t.Error("data file differs from the concatenated Go blocks")
	}
	if fi, err := os.Stat(filepath.Join(dir, "tree")); err != nil || fi.Size() != 32+40*(2*(first+more)-1) {
		t.Errorf("tree file: %v, %v; want %d bytes", fi.Size(), err, 32+40*(2*(first+more)-1))
	}
}

func TestFeedBenchSmoke(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		dir, benchCase string
		ops            int
		wantOps        uint64
		wantBytes      uint64
	}{
		{"single", BenchAppend1KSingle, 100, 100, 100 << 10},
		{"single", BenchReadSeq, 0, 100, 100 << 10},
		{"single", BenchGetRandom, 50, 50, 50 << 10},
		{"batch", BenchAppend1KBatch, 2500, 2500, 2500 << 10},
		{"large", BenchAppend64K, 40, 40, 40 << 16},
		{"large", BenchReadSeq, 0, 40, 40 << 16},
	} {
		r := Bench(t, filepath.Join(dir, c.dir), c.benchCase, c.ops)
		if r.Case != c.benchCase || r.Ops != c.wantOps || r.Bytes != c.wantBytes || r.Seconds <= 0 || r.PeakRSSBytes < 1<<20 {
			t.Errorf("feed-bench %s %s = %+v, want %d ops, %d bytes", c.dir, c.benchCase, r, c.wantOps, c.wantBytes)
		}
	}
}
