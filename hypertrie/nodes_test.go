package hypertrie

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/storage"
)

// TestNodesLiveInTheFeedCache checks that decoded nodes are kept in the
// feed's cache, under its budget, and that walks read them from there.
func TestNodesLiveInTheFeedCache(t *testing.T) {
	ctx := context.Background()
	tr, feed := newMemTrie(t, Options{})
	for i := range 500 {
		if _, err := tr.Put(ctx, fmt.Sprintf("d/f%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	c, id := feed.Cache()
	c.Wait()
	for seq := uint64(1); seq < feed.Length(); seq++ {
		v, ok := c.GetDecoded(id, seq)
		if !ok {
			continue // the cache may decline an entry
		}
		n := v.(*node)
		if n.seq != seq || n.trie != nil || n.encoded != nil {
			t.Fatalf("cached node %d: seq %d, built trie %v, encoding kept %v", seq, n.seq, n.trie != nil, n.encoded != nil)
		}
	}
	// A fresh trie over the same feed (no front table) finds every node
	// in the cache: no block is decoded again.
	before := c.Metrics()
	cold, err := New(feed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if _, err := cold.Get(ctx, fmt.Sprintf("d/f%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	after := c.Metrics()
	if after.Hits == before.Hits {
		t.Error("no node came from the feed's cache")
	}
	// A node decoded from its block leaves the decoded form in the cache,
	// not the raw block as well.
	uncached, err := hypercore.OpenStorage(storage.NewMemory(), hypercore.Options{Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	defer uncached.Close()
	for i := range feed.Length() {
		b, err := feed.Get(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := uncached.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	reader, err := New(uncached, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if _, err := reader.Get(ctx, fmt.Sprintf("d/f%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	c.Wait()
	_, uid := uncached.Cache()
	decoded := 0
	for seq := uint64(1); seq < uncached.Length(); seq++ {
		if _, ok := c.GetBlock(uid, seq); ok {
			t.Fatalf("raw block %d cached next to its decoded node", seq)
		}
		if _, ok := c.GetDecoded(uid, seq); ok {
			decoded++
		}
	}
	if decoded == 0 {
		t.Error("no decoded node cached")
	}
}

// TestSparseTrie checks the compact form against the dense one, bucket by
// bucket, and that decoding a trie written out of position order keeps
// the last bucket given for a position, as the reference does.
func TestSparseTrie(t *testing.T) {
	dense := [][]uint64{nil, {0, 3}, nil, nil, {1, 0, 0, 0, 0, 2}, nil, {7}}
	s := compactTrie(dense)
	for i := range len(dense) + 3 {
		var want []uint64
		if i < len(dense) {
			want = dense[i]
		}
		if got := s.bucket(i); !slices.Equal(got, want) || (got == nil) != (want == nil) {
			t.Errorf("bucket %d = %v, want %v", i, got, want)
		}
	}
	if got := s.dense(); len(got) != len(dense) {
		t.Errorf("dense has %d positions, want %d", len(got), len(dense))
	}
	buf := encodeTrie(dense)
	d, err := decodeTrie(buf, 100, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.idx, s.idx) || !slices.Equal(d.seqs, s.seqs) {
		t.Errorf("decoded %+v, compacted %+v", d, s)
	}
	// Positions 4 then 1 then 4 again: the second bucket at 4 wins.
	buf = []byte{7, 4, 1, 5, 1, 1, 6, 4, 2, 8}
	d, err = decodeTrie(buf, 100, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.bucket(4); !slices.Equal(got, []uint64{0, 8}) {
		t.Errorf("bucket 4 = %v, want [0 8]", got)
	}
	if got := d.bucket(1); !slices.Equal(got, []uint64{6}) {
		t.Errorf("bucket 1 = %v, want [6]", got)
	}
}
