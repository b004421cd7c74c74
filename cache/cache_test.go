package cache

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
)

func newTest(t testing.TB, maxBytes int64) *Cache {
	t.Helper()
	c, err := New(Options{MaxBytes: maxBytes, MaxBlockSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// blockFor is the content the tests cache for a block: its key spelled
// out, repeated to n bytes, so a wrong entry is easy to see.
func blockFor(feed, index uint64, n int) []byte {
	var seed [16]byte
	binary.BigEndian.PutUint64(seed[:8], feed)
	binary.BigEndian.PutUint64(seed[8:], index)
	b := make([]byte, n)
	for i := range b {
		b[i] = seed[i%16] ^ byte(i/16)
	}
	return b
}

func nodeFor(feed, index uint64) ([HashSize]byte, uint64) {
	var h [HashSize]byte
	binary.BigEndian.PutUint64(h[:], feed)
	binary.BigEndian.PutUint64(h[8:], index)
	h[31] = 0xaa
	return h, feed*1000 + index
}

func TestNew(t *testing.T) {
	c := newTest(t, 0)
	if m := c.Metrics(); m.MaxCost != DefaultMaxBytes || m.Cost != 0 {
		t.Errorf("default cache metrics %+v", m)
	}
	if _, err := New(Options{MaxBytes: -1}); err == nil {
		t.Error("New accepted a negative budget")
	}
	if c := newTest(t, 1); c.Metrics().MaxCost != 1 {
		t.Error("tiny budget not kept")
	}
}

func TestBlockRoundTrip(t *testing.T) {
	c := newTest(t, 1<<20)
	f := c.NewFeedID()
	for i, n := range []int{0, 1, 100, 4096, 65536} {
		c.SetBlock(f, uint64(i), blockFor(f, uint64(i), n))
	}
	c.Wait()
	for i, n := range []int{0, 1, 100, 4096, 65536} {
		got, ok := c.GetBlock(f, uint64(i))
		if !ok || got == nil || !bytes.Equal(got, blockFor(f, uint64(i), n)) {
			t.Errorf("block %d: got %d bytes, ok %v, want %d bytes", i, len(got), ok, n)
		}
		buf := []byte("prefix")
		got, ok = c.AppendBlock(buf, f, uint64(i))
		if !ok || !bytes.Equal(got, append([]byte("prefix"), blockFor(f, uint64(i), n)...)) {
			t.Errorf("AppendBlock %d: %d bytes, ok %v", i, len(got), ok)
		}
	}
	if _, ok := c.GetBlock(f, 99); ok {
		t.Error("hit on a block never set")
	}
	if got, ok := c.AppendBlock([]byte("x"), f, 99); ok || string(got) != "x" {
		t.Errorf("AppendBlock miss = %q, %v", got, ok)
	}
	if _, ok := c.GetBlock(f+1, 1); ok {
		t.Error("hit on another feed's block")
	}
	if _, _, ok := c.GetNode(f, 1); ok {
		t.Error("block entry returned as a node")
	}
	m := c.Metrics()
	if m.Hits != 10 || m.Misses != 4 || m.Conflicts != 0 {
		t.Errorf("metrics %+v, want 10 hits and 4 misses", m)
	}
	if want := int64(4096+65536+100+1) + 5*EntryOverhead; m.Cost != want {
		t.Errorf("cost %d, want %d", m.Cost, want)
	}
}

func TestNoAliasing(t *testing.T) {
	c := newTest(t, 1<<20)
	f := c.NewFeedID()
	data := blockFor(f, 0, 64)
	c.SetBlock(f, 0, data)
	c.Wait()
	data[0] ^= 0xff
	got, _ := c.GetBlock(f, 0)
	if !bytes.Equal(got, blockFor(f, 0, 64)) {
		t.Fatal("changing the slice given to SetBlock changed the cached block")
	}
	got[1] ^= 0xff
	again, _ := c.GetBlock(f, 0)
	if !bytes.Equal(again, blockFor(f, 0, 64)) {
		t.Fatal("changing the slice GetBlock returned changed the cached block")
	}
	buf := make([]byte, 0, 128)
	app, _ := c.AppendBlock(buf, f, 0)
	app[2] ^= 0xff
	again, _ = c.GetBlock(f, 0)
	if !bytes.Equal(again, blockFor(f, 0, 64)) {
		t.Fatal("changing the slice AppendBlock returned changed the cached block")
	}
}

func TestNodes(t *testing.T) {
	c := newTest(t, 1<<20)
	f := c.NewFeedID()
	for i := uint64(0); i < 100; i++ {
		h, s := nodeFor(f, i)
		c.SetNode(f, i, h, s)
	}
	c.Wait()
	for i := uint64(0); i < 100; i++ {
		h, s, ok := c.GetNode(f, i)
		wh, ws := nodeFor(f, i)
		if !ok || h != wh || s != ws {
			t.Errorf("node %d: %x %d %v", i, h, s, ok)
		}
	}
	if _, ok := c.GetBlock(f, 3); ok {
		t.Error("node entry returned as a block")
	}
	if m := c.Metrics(); m.Cost != 100*EntryOverhead {
		t.Errorf("cost of 100 nodes %d, want %d", m.Cost, 100*EntryOverhead)
	}
	// A node replaced under the same key keeps the latest value.
	h, _ := nodeFor(f, 1000)
	c.SetNode(f, 5, h, 77)
	c.Wait()
	if got, s, ok := c.GetNode(f, 5); !ok || got != h || s != 77 {
		t.Errorf("updated node = %x %d %v", got, s, ok)
	}
}

func TestDecoded(t *testing.T) {
	c := newTest(t, 1<<20)
	f := c.NewFeedID()
	type val struct{ n uint64 }
	for i := uint64(0); i < 10; i++ {
		c.SetDecoded(f, i, &val{n: i}, 100)
	}
	c.Wait()
	for i := uint64(0); i < 10; i++ {
		v, ok := c.GetDecoded(f, i)
		if !ok || v.(*val).n != i {
			t.Errorf("decoded %d: %v %v", i, v, ok)
		}
	}
	// Kinds do not mix: the decoded form of block 3 is not block 3.
	if _, ok := c.GetBlock(f, 3); ok {
		t.Error("decoded entry returned as a block")
	}
	if _, _, ok := c.GetNode(f, 3); ok {
		t.Error("decoded entry returned as a node")
	}
	c.SetBlock(f, 3, []byte("raw"))
	c.Wait()
	if v, ok := c.GetDecoded(f, 3); !ok || v.(*val).n != 3 {
		t.Errorf("block 3 replaced its decoded form: %v %v", v, ok)
	}
	if m := c.Metrics(); m.Cost != 10*(100+EntryOverhead)+3+EntryOverhead {
		t.Errorf("cost %d, want %d", m.Cost, 10*(100+EntryOverhead)+3+EntryOverhead)
	}
	// The budget bounds decoded values by their declared cost.
	small := newTest(t, 64*(1000+EntryOverhead))
	for i := uint64(0); i < 1000; i++ {
		small.SetDecoded(f, i, &val{n: i}, 1000)
		small.Wait()
	}
	if m := small.Metrics(); m.Cost > m.MaxCost {
		t.Errorf("cost %d over budget %d", m.Cost, m.MaxCost)
	}
	var nilCache *Cache
	nilCache.SetDecoded(1, 1, &val{}, 1)
	if _, ok := nilCache.GetDecoded(1, 1); ok {
		t.Error("nil cache returned a value")
	}
}

func TestDel(t *testing.T) {
	c := newTest(t, 1<<20)
	f := c.NewFeedID()
	c.SetBlock(f, 1, []byte("one"))
	c.SetBlock(f, 2, []byte("two"))
	h, s := nodeFor(f, 2)
	c.SetNode(f, 2, h, s)
	c.Wait()
	c.DelBlock(f, 1)
	if _, ok := c.GetBlock(f, 1); ok {
		t.Error("block 1 still cached after DelBlock")
	}
	if b, ok := c.GetBlock(f, 2); !ok || string(b) != "two" {
		t.Error("DelBlock of block 1 dropped block 2")
	}
	if _, _, ok := c.GetNode(f, 2); !ok {
		t.Error("node 2 missing")
	}
	c.DelNode(f, 2)
	if _, _, ok := c.GetNode(f, 2); ok {
		t.Error("node 2 still cached after DelNode")
	}
	if b, ok := c.GetBlock(f, 2); !ok || string(b) != "two" {
		t.Error("DelNode of node 2 dropped block 2")
	}
	// A Set followed by a Del without Wait in between stays deleted.
	c.SetBlock(f, 3, []byte("three"))
	c.DelBlock(f, 3)
	c.Wait()
	if _, ok := c.GetBlock(f, 3); ok {
		t.Error("block set then deleted is cached")
	}
}

// TestConflict forces every key onto one hash: a Get must never return
// another key's entry.
func TestConflict(t *testing.T) {
	c := newTest(t, 1<<20)
	c.hash = func(key) uint64 { return 42 }
	f1, f2 := c.NewFeedID(), c.NewFeedID()
	c.SetBlock(f1, 7, []byte("feed one"))
	c.Wait()
	c.SetBlock(f2, 7, []byte("feed two"))
	c.Wait()
	if b, ok := c.GetBlock(f1, 7); ok {
		t.Errorf("feed 1 block 7 = %q, want a miss (its slot holds feed 2's)", b)
	}
	if b, ok := c.GetBlock(f2, 7); !ok || string(b) != "feed two" {
		t.Errorf("feed 2 block 7 = %q, %v", b, ok)
	}
	if _, _, ok := c.GetNode(f2, 7); ok {
		t.Error("block entry returned for a node under a colliding hash")
	}
	m := c.Metrics()
	if m.Conflicts != 2 || m.Hits != 1 || m.Misses != 2 {
		t.Errorf("metrics %+v, want 2 conflicts, 1 hit, 2 misses", m)
	}
}

func TestHashKey(t *testing.T) {
	seen := map[uint64]key{}
	for feed := uint64(0); feed < 50; feed++ {
		for _, k := range []kind{kindNode, kindBlock} {
			for i := uint64(0); i < 2000; i++ {
				kk := key{feed: feed, index: i, kind: k}
				h := hashKey(kk)
				if prev, dup := seen[h]; dup {
					t.Fatalf("%+v and %+v share hash %x", prev, kk, h)
				}
				seen[h] = kk
			}
		}
	}
}

func TestFeedIDs(t *testing.T) {
	c := newTest(t, 1<<20)
	var mu sync.Mutex
	ids := map[uint64]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				id := c.NewFeedID()
				mu.Lock()
				if id == 0 || ids[id] {
					t.Errorf("id %d handed out twice or zero", id)
				}
				ids[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestBudget inserts ten times the budget and checks that the cost held
// never exceeds it while the cache keeps working.
func TestBudget(t *testing.T) {
	const budget = 1 << 20
	c := newTest(t, budget)
	f := c.NewFeedID()
	const blockSize = 4096
	n := 10 * budget / blockSize
	for i := range n {
		c.SetBlock(f, uint64(i), blockFor(f, uint64(i), blockSize))
		h, s := nodeFor(f, uint64(i))
		c.SetNode(f, uint64(i), h, s)
		if i%64 == 0 {
			c.Wait()
			if m := c.Metrics(); m.Cost > budget {
				t.Fatalf("after %d blocks: cost %d over budget %d", i, m.Cost, budget)
			}
		}
	}
	c.Wait()
	m := c.Metrics()
	if m.Cost > budget || m.Cost < budget/2 {
		t.Errorf("cost %d after inserting %d bytes, want at most and near %d", m.Cost, n*blockSize, budget)
	}
	if m.Evicted == 0 {
		t.Errorf("nothing evicted: %+v", m)
	}
	held := 0
	for i := range n {
		if b, ok := c.GetBlock(f, uint64(i)); ok {
			held++
			if !bytes.Equal(b, blockFor(f, uint64(i), blockSize)) {
				t.Fatalf("block %d corrupt", i)
			}
		}
	}
	if held == 0 || held*(blockSize+EntryOverhead) > budget {
		t.Errorf("%d blocks held of %d bytes each with a %d budget", held, blockSize, budget)
	}
	// A block larger than the whole budget is never admitted.
	c.SetBlock(f, 1<<40, make([]byte, 2*budget))
	c.Wait()
	if _, ok := c.GetBlock(f, 1<<40); ok {
		t.Error("block over the budget admitted")
	}
	if m := c.Metrics(); m.Cost > budget {
		t.Errorf("cost %d over budget after an oversized set", m.Cost)
	}
}

// TestConcurrent hammers one cache from many goroutines; every hit must
// hold the right bytes. Run with -race.
func TestConcurrent(t *testing.T) {
	c := newTest(t, 1<<20)
	var wg sync.WaitGroup
	for g := range 8 {
		f := c.NewFeedID()
		wg.Go(func() {
			for i := range 5000 {
				// Each index gets two sets, a delete (of another
				// index) and reads in turn.
				idx := uint64(i/5) % 300
				// Feed f's blocks, and reads of a neighbour's, whose hits
				// must hold the neighbour's bytes.
				other := uint64(g%4) + 1
				switch i % 5 {
				case 0, 1:
					c.SetBlock(f, idx, blockFor(f, idx, 100+int(idx)))
					h, s := nodeFor(f, idx)
					c.SetNode(f, idx, h, s)
				case 2:
					c.DelBlock(f, idx/2)
				default:
					for _, feed := range []uint64{f, other} {
						if b, ok := c.GetBlock(feed, idx); ok && !bytes.Equal(b, blockFor(feed, idx, 100+int(idx))) {
							t.Errorf("feed %d block %d: wrong bytes", feed, idx)
							return
						}
						if h, s, ok := c.GetNode(feed, idx); ok {
							if wh, ws := nodeFor(feed, idx); h != wh || s != ws {
								t.Errorf("feed %d node %d: wrong node", feed, idx)
								return
							}
						}
					}
				}
			}
		})
	}
	wg.Wait()
	c.Wait()
	if m := c.Metrics(); m.Cost > m.MaxCost || m.Hits == 0 || m.Misses == 0 {
		t.Errorf("metrics after concurrent use: %+v", m)
	}
}

func TestNilAndClosed(t *testing.T) {
	var nc *Cache
	nc.SetBlock(1, 1, []byte("x"))
	nc.SetNode(1, 1, [HashSize]byte{}, 1)
	nc.DelBlock(1, 1)
	nc.DelNode(1, 1)
	nc.Wait()
	nc.Close()
	if _, ok := nc.GetBlock(1, 1); ok {
		t.Error("nil cache hit")
	}
	if _, _, ok := nc.GetNode(1, 1); ok {
		t.Error("nil cache node hit")
	}
	if nc.NewFeedID() != 0 || nc.Metrics() != (Metrics{}) {
		t.Error("nil cache has ids or metrics")
	}

	c, err := New(Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c.SetBlock(1, 1, []byte("x"))
	c.Wait()
	c.Close()
	c.Close()
	c.SetBlock(1, 2, []byte("y"))
	c.Wait()
	if _, ok := c.GetBlock(1, 1); ok {
		t.Error("closed cache hit")
	}
}

func benchCache(b *testing.B, n int, blockSize int) (*Cache, uint64) {
	c := newTest(b, 256<<20)
	f := c.NewFeedID()
	data := blockFor(f, 0, blockSize)
	for i := range n {
		c.SetBlock(f, uint64(i), data)
		h, s := nodeFor(f, uint64(i))
		c.SetNode(f, uint64(i), h, s)
		if i%256 == 0 {
			c.Wait()
		}
	}
	c.Wait()
	return c, f
}

func BenchmarkGetBlock(b *testing.B) {
	for _, size := range []int{1024, 65536} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			const n = 1024
			c, f := benchCache(b, n, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, ok := c.GetBlock(f, uint64(i%n)); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}

func BenchmarkAppendBlock(b *testing.B) {
	const n, size = 1024, 65536
	c, f := benchCache(b, n, size)
	buf := make([]byte, 0, size)
	b.SetBytes(size)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var ok bool
		if buf, ok = c.AppendBlock(buf[:0], f, uint64(i%n)); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkGetBlockParallel(b *testing.B) {
	const n = 1024
	c, f := benchCache(b, n, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.GetBlock(f, uint64(i%n))
			i++
		}
	})
}

func BenchmarkSetBlock(b *testing.B) {
	c := newTest(b, 64<<20)
	f := c.NewFeedID()
	data := blockFor(f, 0, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.SetBlock(f, uint64(i), data)
	}
}

func BenchmarkGetNode(b *testing.B) {
	const n = 1024
	c, f := benchCache(b, n, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, ok := c.GetNode(f, uint64(i%n)); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkSetNode(b *testing.B) {
	c := newTest(b, 64<<20)
	f := c.NewFeedID()
	h, s := nodeFor(f, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.SetNode(f, uint64(i), h, s)
	}
}

func TestMaxBlockSize(t *testing.T) {
	c, err := New(Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := c.NewFeedID()
	c.SetBlock(f, 0, make([]byte, DefaultMaxBlockSize))
	c.SetBlock(f, 1, make([]byte, DefaultMaxBlockSize+1))
	c.Wait()
	if _, ok := c.GetBlock(f, 0); !ok {
		t.Error("block at the size limit was not cached")
	}
	if _, ok := c.GetBlock(f, 1); ok {
		t.Error("block over the size limit was cached")
	}
}

// Pages are read back from any offset with their stamp, are another kind
// than the block of the same index, and go with DelPage.
func TestPages(t *testing.T) {
	c := newTest(t, 1<<20)
	f := c.NewFeedID()
	c.SetPage(f, 3, []byte("0123456789"), 42)
	c.SetBlock(f, 3, []byte("block"))
	c.Wait()
	buf := make([]byte, 4)
	if n, stamp, ok := c.ReadPage(f, 3, 2, buf); !ok || n != 4 || stamp != 42 || string(buf) != "2345" {
		t.Fatalf("ReadPage at 2: %d %d %v %q", n, stamp, ok, buf)
	}
	if n, _, ok := c.ReadPage(f, 3, 8, buf); !ok || n != 2 || string(buf[:n]) != "89" {
		t.Fatalf("ReadPage at the page's end: %d %v %q", n, ok, buf[:n])
	}
	if n, _, ok := c.ReadPage(f, 3, 12, buf); !ok || n != 0 {
		t.Fatalf("ReadPage past the page's end: %d %v", n, ok)
	}
	if _, _, ok := c.ReadPage(f, 4, 0, buf); ok {
		t.Fatal("ReadPage of a page never set hit")
	}
	if v, stamp, ok := c.ViewPage(f, 3); !ok || stamp != 42 || string(v) != "0123456789" {
		t.Fatalf("ViewPage: %q %d %v", v, stamp, ok)
	}
	if _, _, ok := c.ViewPage(f, 4); ok {
		t.Fatal("ViewPage of a page never set hit")
	}
	if b, ok := c.GetBlock(f, 3); !ok || string(b) != "block" {
		t.Fatalf("block 3 next to page 3: %q %v", b, ok)
	}
	c.DelPage(f, 3)
	if _, _, ok := c.ReadPage(f, 3, 0, buf); ok {
		t.Fatal("page 3 still cached after DelPage")
	}
	var nc *Cache
	nc.SetPage(f, 1, []byte("x"), 1)
	nc.DelPage(f, 1)
	if _, _, ok := nc.ReadPage(f, 1, 0, buf); ok {
		t.Fatal("nil cache returned a page")
	}
}

// TestReserve checks that memory reserved outside the cache shrinks what
// the cache keeps, down to a quarter of its budget, and comes back when
// returned.
func TestReserve(t *testing.T) {
	c, err := New(Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.MaxBytes() != 1<<20 {
		t.Errorf("MaxBytes = %d", c.MaxBytes())
	}
	c.Reserve(256 << 10)
	if m := c.Metrics().MaxCost; m != 768<<10 {
		t.Errorf("budget with 256 KiB reserved: %d", m)
	}
	c.Reserve(1 << 20)
	if m := c.Metrics().MaxCost; m != 256<<10 {
		t.Errorf("budget with more than three quarters reserved: %d", m)
	}
	c.Reserve(-(1<<20 + 256<<10))
	if m := c.Metrics().MaxCost; m != 1<<20 {
		t.Errorf("budget with nothing reserved: %d", m)
	}
}
