package hypertrie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/hypercore"
)

// groupOps is a mix of every kind of write.
func groupOps(t *testing.T, tr *Trie) {
	t.Helper()
	ctx := context.Background()
	for i := range 40 {
		if _, err := tr.Put(ctx, fmt.Sprintf("d%d/f%d", i%4, i), []byte(fmt.Sprint("v", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if err := tr.Del(ctx, fmt.Sprintf("d%d/f%d", i%4, i*3)); err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	}
	if _, err := tr.Put(ctx, "d1/f1", []byte("again"), IfNotExists()); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Batch(ctx, []Op{{Type: OpPut, Key: "b/1", Value: []byte("1")}, {Type: OpDel, Key: "d2/f2"}, {Type: OpPut, Key: "h", Hidden: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Put(ctx, "last", nil, WithFlags(3)); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitWritesTheSameFeed checks that writes kept pending and
// appended together leave the feed byte for byte as writes appended one by
// one, and that reads before the flush see them.
func TestGroupCommitWritesTheSameFeed(t *testing.T) {
	ctx := context.Background()
	one := &sliceFeed{writable: true}
	a, err := New(one, Options{})
	if err != nil {
		t.Fatal(err)
	}
	groupOps(t, a)

	grouped := &sliceFeed{writable: true}
	b, err := New(grouped, Options{GroupCommit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	groupOps(t, b)
	if grouped.Length() != 1 {
		t.Fatalf("feed has %d blocks before the flush, want the header only", grouped.Length())
	}
	if a.Version() != b.Version() {
		t.Fatalf("pending version %d, appended version %d", b.Version(), a.Version())
	}
	// Reads see the pending writes, through checkouts too.
	for _, tr := range []*Trie{b, b.Checkout(b.Version()), b.Snapshot()} {
		for _, k := range []string{"d1/f1", "b/1", "last", "d3/f39"} {
			want, err := a.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tr.Get(ctx, k)
			if err != nil || got.Seq != want.Seq || !bytes.Equal(got.Value, want.Value) {
				t.Fatalf("pending get %q = %+v %v, want %+v", k, got, err, want)
			}
		}
		if _, err := tr.Get(ctx, "d2/f2"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("pending delete not seen: %v", err)
		}
		la, _ := a.List(ctx, "", ListOptions{Recursive: true})
		lb, err := tr.List(ctx, "", ListOptions{Recursive: true})
		if err != nil || len(la) != len(lb) {
			t.Fatalf("pending list has %d nodes (%v), want %d", len(lb), err, len(la))
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if grouped.Length() != one.Length() {
		t.Fatalf("flushed feed has %d blocks, want %d", grouped.Length(), one.Length())
	}
	for i := range one.blocks {
		if !bytes.Equal(one.blocks[i], grouped.blocks[i]) {
			t.Fatalf("block %d differs:\n%x\n%x", i, one.blocks[i], grouped.blocks[i])
		}
	}
	if err := b.Flush(); err != nil || grouped.Length() != one.Length() {
		t.Fatalf("second flush: %v, %d blocks", err, grouped.Length())
	}
	// A reader of the feed alone (another process) reads what was written.
	r, err := New(&lazyFeed{grouped}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.Get(ctx, "last"); err != nil || n.Flags != 3 {
		t.Fatalf("reader of the flushed feed: %+v %v", n, err)
	}
}

// TestGroupCommitTimer checks that pending writes are appended by
// themselves once the delay passes, in one append.
func TestGroupCommitTimer(t *testing.T) {
	ctx := context.Background()
	// Long enough that the 20 puts are pending together on a busy machine.
	tr, feed := newMemTrie(t, Options{GroupCommit: 300 * time.Millisecond})
	appends := 0
	var mu sync.Mutex
	defer feed.Subscribe(func(ev hypercore.Event) {
		mu.Lock()
		appends++
		mu.Unlock()
	})()
	for i := range 20 {
		if _, err := tr.Put(ctx, fmt.Sprint("k", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	// A feed tells its listeners after the append, so the length can be
	// seen before the event is: wait for both.
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return appends
	}
	for deadline := time.Now().Add(5 * time.Second); feed.Length() != 21 || count() == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("feed has %d blocks after the delay (%d appends), want 21", feed.Length(), count())
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if appends != 1 {
		t.Errorf("%d appends for 20 grouped puts, want 1", appends)
	}
}

// TestGroupCommitConcurrentReads runs readers while writes are added to the
// tail and flushed (for the race detector).
func TestGroupCommitConcurrentReads(t *testing.T) {
	ctx := context.Background()
	tr, _ := newMemTrie(t, Options{GroupCommit: time.Millisecond})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tr.Get(ctx, "k7")
				tr.List(ctx, "", ListOptions{Recursive: true})
			}
		}()
	}
	for i := range 300 {
		if _, err := tr.Put(ctx, fmt.Sprint("k", i%50), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if i%37 == 0 {
			if err := tr.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if err := tr.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, err := tr.Get(ctx, "k49"); err != nil || string(n.Value) != "299" {
		t.Fatalf("k49 = %+v %v", n, err)
	}
}

// failingFeed refuses appends while fail is set.
type failingFeed struct {
	*sliceFeed
	mu   sync.Mutex
	fail bool
}

func (f *failingFeed) Append(blocks ...[]byte) (uint64, error) {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return 0, errors.New("disk full")
	}
	return f.sliceFeed.Append(blocks...)
}

// TestGroupCommitFailedFlush checks that a flush that fails reports it and
// keeps the writes pending for the next one, and that a write that cannot
// be flushed at the pending limit fails without leaving its node behind.
func TestGroupCommitFailedFlush(t *testing.T) {
	ctx := context.Background()
	feed := &failingFeed{sliceFeed: &sliceFeed{writable: true}}
	tr, err := New(feed, Options{GroupCommit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	feed.mu.Lock()
	feed.fail = true
	feed.mu.Unlock()
	if err := tr.Flush(); err == nil {
		t.Fatal("flush to a failing feed succeeded")
	}
	if n, err := tr.Get(ctx, "a"); err != nil || string(n.Value) != "1" {
		t.Fatalf("write lost by a failed flush: %+v %v", n, err)
	}
	for i := 1; i < maxPending-1; i++ {
		if _, err := tr.Put(ctx, fmt.Sprint("k", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	version := tr.Version()
	if _, err := tr.Put(ctx, "over", nil); err == nil {
		t.Fatal("a write past the pending limit succeeded with the feed failing")
	}
	if tr.Version() != version {
		t.Fatalf("failed write left version %d, want %d", tr.Version(), version)
	}
	if _, err := tr.Get(ctx, "over"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed write is visible: %v", err)
	}
	feed.mu.Lock()
	feed.fail = false
	feed.mu.Unlock()
	if err := tr.Flush(); err != nil {
		t.Fatal(err)
	}
	if feed.Length() != version {
		t.Fatalf("feed has %d blocks after the flush, want %d", feed.Length(), version)
	}
}
