package hypertrie

import (
	"context"
	"fmt"
	"testing"
)

// TestListingReadsEachNodeOnce checks that listing a folder of a big trie
// from a cold reader reads each block at most once, and about as many
// blocks as the folder holds entries: the walk is linear in the folder,
// whatever else the trie holds.
func TestListingReadsEachNodeOnce(t *testing.T) {
	ctx := context.Background()
	f := &sliceFeed{writable: true}
	w, err := New(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const folders, perFolder = 4, 3000
	var ops []Op
	for i := range folders * perFolder {
		ops = append(ops, Op{Type: OpPut, Key: fmt.Sprintf("dir%d/file%d", i%folders, i), Value: []byte("v")})
		if len(ops) == 500 {
			if _, err := w.Batch(ctx, ops); err != nil {
				t.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	for _, recursive := range []bool{false, true} {
		r, err := New(&lazyFeed{f}, Options{}) // a cold reader: no cache
		if err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		f.reads = nil
		f.mu.Unlock()
		it := r.Iterate("dir2", ListOptions{Recursive: recursive})
		names := map[string]int{}
		for {
			n, err := it.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == nil {
				break
			}
			names[n.Key]++
		}
		if len(names) != perFolder {
			t.Errorf("recursive %v: listed %d keys, want %d", recursive, len(names), perFolder)
		}
		for k, c := range names {
			if c != 1 {
				t.Errorf("recursive %v: %s listed %d times", recursive, k, c)
			}
		}
		f.mu.Lock()
		for seq, c := range f.reads {
			if c > 1 {
				t.Errorf("recursive %v: block %d read %d times", recursive, seq, c)
			}
		}
		blocks := len(f.reads)
		f.mu.Unlock()
		if blocks > perFolder+perFolder/10 || it.loads > perFolder+perFolder/10 {
			t.Errorf("recursive %v: listing %d keys read %d blocks, %d loads", recursive, perFolder, blocks, it.loads)
		}
		t.Logf("recursive %v: %d keys, %d blocks read, %d loads", recursive, perFolder, blocks, it.loads)
	}
}

// TestListingSkipsNodesOffTheirBranch builds a trie whose node points to a
// node of another branch, as only a malformed trie does: the listing
// leaves it out instead of listing a key outside the prefix.
func TestListingSkipsNodesOffTheirBranch(t *testing.T) {
	ctx := context.Background()
	f := &sliceFeed{writable: true}
	w, err := New(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"other/x", "dir/a", "dir/b", "dir/c"} {
		if _, err := w.Put(ctx, k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	other, err := w.Get(ctx, "other/x")
	if err != nil {
		t.Fatal(err)
	}
	// Point every empty slot of the head's buckets inside "dir" at
	// other/x.
	head := uint64(len(f.blocks) - 1)
	n, err := decodeNode(f.blocks[head], head)
	if err != nil {
		t.Fatal(err)
	}
	trie := n.sparse.dense()
	for len(trie) < n.length() {
		trie = append(trie, nil)
	}
	for i := 34; i < n.length(); i++ {
		b := make([]uint64, 5)
		copy(b, trie[i])
		for v := range 4 {
			if b[v] == 0 && v != n.path(i) {
				b[v] = other.Seq
			}
		}
		trie[i] = b
	}
	n.sparse, n.trie = sparseTrie{}, trie
	b, err := n.encodeBlock()
	if err != nil {
		t.Fatal(err)
	}
	f.blocks[head] = b
	r, err := New(&lazyFeed{f}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.List(ctx, "dir", ListOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, n := range got {
		keys[n.Key] = true
	}
	if len(got) != 3 || !keys["dir/a"] || !keys["dir/b"] || !keys["dir/c"] {
		t.Errorf("listed %v, want dir/a, dir/b, dir/c", keys)
	}
}
