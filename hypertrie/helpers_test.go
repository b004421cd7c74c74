package hypertrie

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"github.com/hyperfs/hyperfs/cache"
	"sync"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/storage"
)

// newMemTrie returns a trie over a fresh in-memory hypercore.
func newMemTrie(t testing.TB, opts Options) (*Trie, *hypercore.Feed) {
	t.Helper()
	c, err := cache.New(cache.Options{MaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	feed, err := hypercore.OpenStorage(storage.NewMemory(), hypercore.Options{Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { feed.Close(); c.Close() })
	tr, err := New(feed, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tr, feed
}

// sliceFeed is a feed of arbitrary blocks with no hypercore underneath, for
// fuzzing and for reads of blocks a test wrote by hand. Reads are counted.
type sliceFeed struct {
	mu       sync.Mutex
	blocks   [][]byte
	writable bool
	reads    map[uint64]int
	subs     []func(hypercore.Event)
}

func (f *sliceFeed) Get(_ context.Context, i uint64) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reads == nil {
		f.reads = map[uint64]int{}
	}
	f.reads[i]++
	if i >= uint64(len(f.blocks)) {
		return nil, fmt.Errorf("block %d: %w", i, hypercore.ErrNotAvailable)
	}
	return f.blocks[i], nil
}

func (f *sliceFeed) Append(blocks ...[]byte) (uint64, error) {
	f.mu.Lock()
	start := uint64(len(f.blocks))
	f.blocks = append(f.blocks, blocks...)
	subs := append([]func(hypercore.Event){}, f.subs...)
	f.mu.Unlock()
	for _, fn := range subs {
		fn(hypercore.Event{Kind: hypercore.EventAppend, Start: start, Length: uint64(len(blocks))})
	}
	return start, nil
}

func (f *sliceFeed) Length() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return uint64(len(f.blocks))
}

func (f *sliceFeed) Has(i uint64) bool      { return i < f.Length() }
func (f *sliceFeed) Writable() bool         { return f.writable }
func (f *sliceFeed) Key() ed25519.PublicKey { return make(ed25519.PublicKey, 32) }

func (f *sliceFeed) Subscribe(fn func(hypercore.Event)) func() {
	f.mu.Lock()
	f.subs = append(f.subs, fn)
	f.mu.Unlock()
	return func() {}
}

func mustPut(t testing.TB, tr *Trie, key, value string, opts ...Option) *Node {
	t.Helper()
	n, err := tr.Put(context.Background(), key, []byte(value), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func keys(nodes []*Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Key
	}
	return out
}
