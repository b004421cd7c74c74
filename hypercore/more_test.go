package hypercore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/cache"
	"github.com/hyperfs/hyperfs/hypercore/storage"
	"github.com/hyperfs/hyperfs/hypercore/treeindex"
)

// TestReadsThroughCache: reads served from the cache equal the stored blocks,
// and a cleared block is not served from it.
func TestReadsThroughCache(t *testing.T) {
	c, err := cache.New(cache.Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := mustOpen(t, t.TempDir(), Options{Cache: c})
	for i := range 50 {
		mustAppend(t, f, []byte(fmt.Sprint("block ", i)))
	}
	for round := range 3 {
		for i := range uint64(50) {
			b, err := f.Get(ctx, i)
			if err != nil || string(b) != fmt.Sprint("block ", i) {
				t.Fatalf("round %d block %d: %q %v", round, i, b, err)
			}
			b[0] = 'X' // callers may scribble on what they get
		}
		c.Wait()
	}
	if m := c.Metrics(); m.Hits == 0 {
		t.Fatalf("no cache hits: %+v", m)
	}
	if err := f.Clear(10, 11); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get(ctx, 10); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("cleared block served: %v", err)
	}
}

func TestOverwrite(t *testing.T) {
	dir := t.TempDir()
	f := mustOpen(t, dir, Options{})
	mustAppend(t, f, []byte("old"))
	old := f.Key()
	f.Close()
	f = mustOpen(t, dir, Options{Overwrite: true})
	if bytes.Equal(f.Key(), old) || f.Length() != 0 {
		t.Fatalf("overwrite kept key %v / length %d", bytes.Equal(f.Key(), old), f.Length())
	}
	mustAppend(t, f, []byte("new"))
	f.Close()
	f = mustOpen(t, dir, Options{})
	if b, err := f.Get(ctx, 0); err != nil || string(b) != "new" || f.Length() != 1 {
		t.Fatalf("after overwrite: %q %v length %d", b, err, f.Length())
	}
}

// peerFetcher serves Fetch calls from a source feed on another goroutine,
// the way replication will.
type peerFetcher struct {
	src, dst *Feed
	remote   *treeindex.TreeIndex
	calls    chan uint64
}

func (p *peerFetcher) Fetch(i uint64) { p.calls <- i }
func (p *peerFetcher) Cancel(uint64)  {}

func (p *peerFetcher) serve(t *testing.T) {
	for i := range p.calls {
		proof, err := p.src.Proof(i, p.dst.Digest(i), false, p.remote)
		if err != nil {
			t.Error(err)
			return
		}
		data, _ := p.src.Get(ctx, i)
		if err := p.dst.Put(i, data, proof, p); err != nil {
			t.Error(err)
		}
	}
}

func TestGetWaitsForFetcher(t *testing.T) {
	src := mustOpen(t, t.TempDir(), Options{})
	for i := range 20 {
		mustAppend(t, src, []byte(fmt.Sprint("block ", i)))
	}
	dst, err := OpenStorage(storage.NewMemory(), Options{PublicKey: src.Key(), Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	p := &peerFetcher{src: src, dst: dst, remote: treeindex.New(nil), calls: make(chan uint64, 10)}
	go p.serve(t)
	defer close(p.calls)
	dst.SetFetcher(p)
	var downloads atomic.Int32 // events come on the fetcher's goroutine
	dst.Subscribe(func(e Event) {
		if e.Kind == EventDownload && e.From == p {
			downloads.Add(1)
		}
	})
	for _, i := range []uint64{13, 2, 19} {
		b, err := dst.Get(ctx, i)
		if err != nil || string(b) != fmt.Sprint("block ", i) {
			t.Fatalf("block %d: %q %v", i, b, err)
		}
	}
	// A reader is woken before the event goes out: wait for the last one.
	for deadline := time.Now().Add(5 * time.Second); downloads.Load() < 3 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if downloads.Load() != 3 || dst.Downloaded(0, 20) != 3 {
		t.Fatalf("downloads %d, stored %d", downloads.Load(), dst.Downloaded(0, 20))
	}
	// A reader that gives up is released, and a closed feed releases all.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	dst.SetFetcher(stallFetcher{})
	if _, err := dst.Get(short, 5); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled get: %v", err)
	}
	done := make(chan error)
	go func() { _, err := dst.Get(ctx, 6); done <- err }()
	for len(dst.Waiting()) == 0 {
		time.Sleep(time.Millisecond)
	}
	dst.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("get on closed feed: %v", err)
	}
}

type stallFetcher struct{}

func (stallFetcher) Fetch(uint64)  {}
func (stallFetcher) Cancel(uint64) {}

func TestSeekOnSparseReplica(t *testing.T) {
	src := mustOpen(t, t.TempDir(), Options{})
	for i := range 16 {
		mustAppend(t, src, bytes.Repeat([]byte{byte(i)}, 100))
	}
	dst := mustOpen(t, t.TempDir(), Options{PublicKey: src.Key(), Sparse: true})
	replicate(t, src, dst, []uint64{9})
	if i, off, err := dst.Seek(950); err != nil || i != 9 || off != 50 {
		t.Fatalf("seek into a fetched block: %d %d %v", i, off, err)
	}
	if _, _, err := dst.Seek(150); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("seek without nodes: %v", err)
	}
}
