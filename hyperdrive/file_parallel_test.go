package hyperdrive

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/storage"
	"github.com/hyperfs/hyperfs/hypercore/treeindex"
)

// gateFetcher serves a replica from its source, but holds each block back
// until the test opens that block's gate, and counts the asks per block.
type gateFetcher struct {
	t        *testing.T
	src, dst *hypercore.Feed

	mu    sync.Mutex
	asks  map[uint64]int
	gates map[uint64]chan struct{}
}

func (g *gateFetcher) gate(i uint64) chan struct{} {
	if g.gates[i] == nil {
		g.gates[i] = make(chan struct{})
	}
	return g.gates[i]
}

func (g *gateFetcher) open(i uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.gate(i))
}

func (g *gateFetcher) asked(i uint64) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.asks[i]
}

func (g *gateFetcher) Fetch(i uint64) {
	g.mu.Lock()
	g.asks[i]++
	gate := g.gate(i)
	g.mu.Unlock()
	go func() {
		<-gate
		proof, err := g.src.Proof(i, g.dst.Digest(i), false, treeindex.New(nil))
		if err != nil {
			g.t.Error(err)
			return
		}
		data, _ := g.src.Get(context.Background(), i)
		if err := g.dst.Put(i, data, proof, g); err != nil && g.dst.Has(i) == false {
			g.t.Error(err)
		}
	}()
}

func (g *gateFetcher) Cancel(uint64) {}

// replicaOf returns a sparse replica of src that holds only src's last
// block, so it knows the feed's length, as a replica that has seen the
// remote's length does.
func replicaOf(t *testing.T, src *hypercore.Feed) *hypercore.Feed {
	t.Helper()
	dst, err := hypercore.OpenStorage(storage.NewMemory(), hypercore.Options{PublicKey: src.Key(), Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dst.Close() })
	last := src.Length() - 1
	proof, err := src.Proof(last, 0, false, treeindex.New(nil))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := src.Get(context.Background(), last)
	if err := dst.Put(last, data, proof, nil); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestFileReadsInParallel checks that a read waiting for one block does not
// hold up a read of another block of the same file, and that readers of a
// block being fetched wait for that fetch instead of asking again.
func TestFileReadsInParallel(t *testing.T) {
	src, err := hypercore.OpenStorage(storage.NewMemory(), hypercore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	blocks := [][]byte{bytes.Repeat([]byte("a"), 10), bytes.Repeat([]byte("b"), 10), bytes.Repeat([]byte("c"), 10)}
	if _, err := src.Append(blocks...); err != nil {
		t.Fatal(err)
	}
	dst := replicaOf(t, src)
	g := &gateFetcher{t: t, src: src, dst: dst, asks: map[uint64]int{}, gates: map[uint64]chan struct{}{}}
	dst.SetFetcher(g)
	f := &File{path: "/f", stat: &Stat{Size: 30, Blocks: 3}, feed: dst}

	// Four readers of block 0, which stays held back.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 10)
			if n, err := f.ReadAtContext(context.Background(), p, 0); n != 10 || err != nil || !bytes.Equal(p, blocks[0]) {
				t.Errorf("read of block 0: %d %v %q", n, err, p)
			}
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); g.asked(0) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("block 0 never asked for")
		}
		time.Sleep(time.Millisecond)
	}
	// A read of block 1 goes ahead meanwhile.
	g.open(1)
	read1 := make(chan error, 1)
	go func() {
		p := make([]byte, 10)
		n, err := f.ReadAtContext(context.Background(), p, 10)
		if err == nil && (n != 10 || !bytes.Equal(p, blocks[1])) {
			t.Errorf("read of block 1: %d %q", n, p)
		}
		read1 <- err
	}()
	select {
	case err := <-read1:
		if err != nil {
			t.Fatalf("read of block 1 while block 0 is in flight: %v", err)
		}
	case <-time.After(5 * time.Second):
		g.open(0)
		t.Fatal("read of block 1 waited for the fetch of block 0")
	}
	time.Sleep(20 * time.Millisecond) // let the other readers of block 0 pile up
	g.open(0)
	wg.Wait()
	if n := g.asked(0); n != 1 {
		t.Errorf("block 0 asked for %d times by 4 readers, want once", n)
	}
}

// TestFileReaderGivesUp checks that when the reader fetching a block gives
// up, another reader waiting for the same block fetches it itself.
func TestFileReaderGivesUp(t *testing.T) {
	src, err := hypercore.OpenStorage(storage.NewMemory(), hypercore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Append([]byte("0123456789"), []byte("last")); err != nil {
		t.Fatal(err)
	}
	dst := replicaOf(t, src)
	g := &gateFetcher{t: t, src: src, dst: dst, asks: map[uint64]int{}, gates: map[uint64]chan struct{}{}}
	dst.SetFetcher(g)
	f := &File{path: "/f", stat: &Stat{Size: 10, Blocks: 1}, feed: dst}
	short, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := f.ReadAtContext(short, make([]byte, 10), 0)
		first <- err
	}()
	for g.asked(0) == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() {
		p := make([]byte, 10)
		_, err := f.ReadAtContext(context.Background(), p, 0)
		if err == nil && string(p) != "0123456789" {
			t.Errorf("read %q", p)
		}
		second <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-first; err == nil {
		t.Error("cancelled read succeeded")
	}
	g.open(0)
	select {
	case err := <-second:
		if err != nil {
			t.Errorf("second reader: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second reader stuck after the first gave up")
	}
}
