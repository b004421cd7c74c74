package hypercore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyperfs/hyperfs/cache"
	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
)

func newCache(t *testing.T) *cache.Cache {
	t.Helper()
	c, err := cache.New(cache.Options{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// recordNode reads node n's record straight from the tree file.
func recordNode(t *testing.T, f *Feed, n uint64) (hcrypto.Node, error) {
	t.Helper()
	var rec [nodeRecordSize]byte
	if err := f.readRecord(n, rec[:]); err != nil {
		return hcrypto.Node{}, err
	}
	return decodeNode(n, rec[:])
}

// checkNodes compares every node below 2*length+8 read through the cached
// pages with its record read alone: the same node, or both absent.
func checkNodes(t *testing.T, f *Feed, c *cache.Cache, round int) {
	t.Helper()
	for n := range 2*f.Length() + 8 {
		got, err := f.getNode(n)
		want, werr := recordNode(t, f, n)
		if errors.Is(werr, errNoNode) {
			if !errors.Is(err, errNoNode) {
				t.Fatalf("round %d: node %d is absent, read through a page as %v, %v", round, n, got, err)
			}
			continue
		}
		if werr != nil || err != nil || got != want {
			t.Fatalf("round %d: node %d through a page %+v, %v; alone %+v, %v", round, n, got, err, want, werr)
		}
	}
	c.Wait() // the pages read are cached before the next round
}

// Nodes read a page at a time are the nodes read one at a time, while
// appends fill records of pages already cached (parents written as blanks
// first and later for real) and open new pages.
func TestTreePagesMatchSingleRecords(t *testing.T) {
	c := newCache(t)
	f := mustOpen(t, t.TempDir(), Options{Cache: c})
	var want []string
	for round := range 40 {
		var batch [][]byte
		for k := range 1 + round%7 {
			want = append(want, fmt.Sprint("block ", round, k))
			batch = append(batch, []byte(want[len(want)-1]))
		}
		mustAppend(t, f, batch...)
		checkNodes(t, f, c, round)
		for i := range f.Length() {
			if b, err := f.Get(ctx, i); err != nil || string(b) != want[i] {
				t.Fatalf("round %d block %d: %q %v, want %q", round, i, b, err, want[i])
			}
		}
	}
	if 2*f.Length() < 3*treePageNodes {
		t.Fatalf("only %d nodes: the test should span several pages", 2*f.Length())
	}
}

// A replica's nodes arrive with proofs, out of order: a page read while
// some of its records were blank is not served once they are written.
func TestTreePagesOnReplica(t *testing.T) {
	src := mustOpen(t, t.TempDir(), Options{})
	for i := range 300 {
		mustAppend(t, src, []byte(fmt.Sprint("block ", i)))
	}
	c := newCache(t)
	dst := mustOpen(t, t.TempDir(), Options{PublicKey: src.Key(), Sparse: true, Cache: c})
	order := shuffled(seq(0, 300))
	for k := 0; k < len(order); k += 37 {
		replicate(t, src, dst, order[k:min(k+37, len(order))])
		checkNodes(t, dst, c, k)
	}
	for i := range uint64(300) {
		if b, err := dst.Get(ctx, i); err != nil || string(b) != fmt.Sprint("block ", i) {
			t.Fatalf("block %d: %q %v", i, b, err)
		}
	}
}

// A damaged record in a page that is already cached, read for a
// neighbour, is still found when its own node is read, and named.
func TestCorruptNodeInCachedPage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(rec []byte)
		want   string
	}{
		{"flipped hash", func(rec []byte) { rec[5] ^= 0x55 }, "does not hash to its parent"},
		{"huge size", func(rec []byte) { binary.BigEndian.PutUint64(rec[hcrypto.HashSize:], MaxBlockSize+1) }, "claims"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := writerFeed(t, 16)
			tree := filepath.Join(dir, "tree")
			b, err := os.ReadFile(tree)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(b[nodeOffset(10):][:nodeRecordSize]) // leaf of block 5
			if err := os.WriteFile(tree, b, 0o644); err != nil {
				t.Fatal(err)
			}
			c := newCache(t)
			f := mustOpen(t, dir, Options{Cache: c})
			// Blocks 4 and 6 read the page that holds block 5's leaf.
			for _, i := range []uint64{4, 6} {
				if _, err := f.Get(ctx, i); err != nil {
					t.Fatalf("block %d: %v", i, err)
				}
			}
			c.Wait()
			if _, _, ok := c.ReadPage(f.cacheID, 0, 0, make([]byte, nodeRecordSize)); !ok {
				t.Fatal("the page was not cached")
			}
			_, err = f.Get(ctx, 5)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tree) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("read over a damaged leaf in a cached page: %v, want ErrCorrupt naming %s (%q)", err, tree, tc.want)
			}
			if !strings.Contains(err.Error(), "node 10") {
				t.Fatalf("error %q does not name node 10", err)
			}
			checkBlocksExcept(t, f, 16, 5)
		})
	}
}

// A block's offset from its group's start and the roots in its page is
// the sum of all the roots left of it, with and without a cache, for
// blocks of many sizes.
func TestOffsetInGroupMatchesRoots(t *testing.T) {
	for _, c := range []*cache.Cache{nil, newCache(t)} {
		f := mustOpen(t, t.TempDir(), Options{Cache: c})
		var want []uint64
		var at uint64
		for i := range 300 {
			b := make([]byte, (i*37)%200)
			want = append(want, at)
			at += uint64(len(b))
			mustAppend(t, f, b)
		}
		for _, i := range append(shuffled(seq(0, 300)), seq(0, 300)...) {
			var page treePage
			if err := f.loadPage(&page, 2*i, false); err != nil {
				t.Fatal(err)
			}
			got, err := f.offsetIn(&page, i)
			if err != nil || got != want[i] {
				t.Fatalf("cache %v: offset of block %d: %d, %v; want %d", c != nil, i, got, err, want[i])
			}
		}
	}
}
