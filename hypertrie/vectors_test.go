package hypertrie

import (
	"bytes"
	"context"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/hyperfs/hyperfs/internal/vectors"
)

func TestKeyHashVector(t *testing.T) {
	var v struct {
		Key, StoredKey, Hash, Path string
		Components                 []string
		Length                     int
	}
	vectors.Load(t, "hypertrie.keyHash", &v)
	n := newNode(v.Key, nil, 0)
	if n.key != v.StoredKey || !slices.Equal(n.split, v.Components) {
		t.Errorf("key %q split %q, want %q %q", n.key, n.split, v.StoredKey, v.Components)
	}
	if got := hex.EncodeToString(KeyHash(v.Key)); got != v.Hash {
		t.Errorf("hash %s, want %s", got, v.Hash)
	}
	if n.length() != v.Length {
		t.Errorf("length %d, want %d", n.length(), v.Length)
	}
	var path []byte
	for i := range n.length() {
		path = append(path, byte('0'+n.path(i)))
	}
	if string(path) != v.Path {
		t.Errorf("path\n %s, want\n %s", path, v.Path)
	}
}

func TestHeaderVector(t *testing.T) {
	var v struct{ Hex string }
	vectors.Load(t, "hypertrie.header", &v)
	tr, feed := newMemTrie(t, Options{})
	b, err := feed.Get(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(b) != v.Hex {
		t.Errorf("header %x, want %s", b, v.Hex)
	}
	h, err := tr.Header(context.Background())
	if err != nil || h.Type != "hypertrie" || h.Subtype != "" || h.Metadata != nil {
		t.Errorf("header %+v, %v", h, err)
	}
}

func TestFeedBlocksVector(t *testing.T) {
	var v struct {
		Blocks []struct {
			Seq uint64
			Hex string
		}
		ListOrder []string
	}
	vectors.Load(t, "hypertrie.feedBlocks", &v)
	ctx := context.Background()
	tr, feed := newMemTrie(t, Options{})
	mustPut(t, tr, "a", "1")
	mustPut(t, tr, "b", "2")
	mustPut(t, tr, "a/b", "3")
	mustPut(t, tr, "/c/d/", "4")
	mustPut(t, tr, "a", "5")
	if err := tr.Del(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, tr, "h", "hid", Hidden())
	mustPut(t, tr, "f", "flagged", WithFlags(3))

	if feed.Length() != uint64(len(v.Blocks)) {
		t.Fatalf("feed length %d, want %d", feed.Length(), len(v.Blocks))
	}
	for _, blk := range v.Blocks {
		b, err := feed.Get(ctx, blk.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if want := vectors.Hex(t, blk.Hex); !bytes.Equal(b, want) {
			t.Errorf("block %d\n got %x\nwant %x", blk.Seq, b, want)
		}
	}
	list, err := tr.List(ctx, "", ListOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(list); !slices.Equal(got, v.ListOrder) {
		t.Errorf("list %q, want %q", got, v.ListOrder)
	}
	// Reading the blocks back through a fresh trie decodes the same nodes.
	for _, c := range []struct {
		key, value string
		flags      uint64
		hidden     bool
	}{{"a", "5", 0, false}, {"a/b", "3", 0, false}, {"c/d/", "4", 0, false}, {"f", "flagged", 3, false}, {"h", "hid", 0, true}} {
		var opts []Option
		if c.hidden {
			opts = append(opts, Hidden())
		}
		n, err := tr.Get(ctx, c.key, opts...)
		if err != nil {
			t.Errorf("get %q: %v", c.key, err)
			continue
		}
		if string(n.Value) != c.value || n.Flags != c.flags || n.Hidden != c.hidden {
			t.Errorf("get %q = %+v", c.key, n)
		}
	}
	if _, err := tr.Get(ctx, "b"); err == nil {
		t.Error("deleted key b still found")
	}
	if _, err := tr.Get(ctx, "h"); err == nil {
		t.Error("hidden key h found without Hidden")
	}
}
