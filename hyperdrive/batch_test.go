package hyperdrive

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/hypercore"
)

// Small files written while the content feed is busy share one append
// (one signature) once it is free, and each reads back as written.
func TestSmallFilesShareAnAppend(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, newStore(t), Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	content, err := d.Content(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.contentOf(ctx, d.trie)
	if err != nil {
		t.Fatal(err)
	}
	var appends atomic.Int32
	defer content.Subscribe(func(e hypercore.Event) {
		if e.Kind == hypercore.EventAppend {
			appends.Add(1)
		}
	})()

	// A large file being streamed holds the content feed.
	big, err := d.Create(ctx, "/big", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := big.Write(bytes.Repeat([]byte("x"), WriteBlockSize)); err != nil {
		t.Fatal(err)
	}
	const n = 10
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := fmt.Sprintf("/small/%d", i)
			var err error
			if i%2 == 0 {
				err = d.WriteFile(ctx, p, []byte(p), 0o644)
			} else {
				var w *Writer
				if w, err = d.Create(ctx, p, 0); err == nil {
					w.Write([]byte(p))
					err = w.Close()
				}
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	for {
		c.mu.Lock()
		waiting := 0
		if c.batch != nil {
			waiting = len(c.batch.blocks)
		}
		c.mu.Unlock()
		if waiting == n {
			break
		}
		time.Sleep(time.Millisecond)
	}
	before := appends.Load()
	if err := big.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if got := appends.Load() - before; got != 1 {
		t.Fatalf("%d appends for %d small files written while the feed was busy, want 1", got, n)
	}
	for i := range n {
		p := fmt.Sprintf("/small/%d", i)
		if b, err := d.ReadFile(ctx, p); err != nil || string(b) != p {
			t.Fatalf("%s: read %q, %v", p, b, err)
		}
	}
	if b, err := d.ReadFile(ctx, "/big"); err != nil || len(b) != WriteBlockSize {
		t.Fatalf("/big: %d bytes, %v", len(b), err)
	}
}

// A writer that gives up while its batch waits leaves it; the others are
// appended without its block.
func TestSharedAppendWithdraws(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, newStore(t), Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := d.contentOf(ctx, d.trie)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, _, err := c.appendShared(gone, []byte("withdrawn")); errc <- err }()
	type res struct {
		off uint64
		err error
	}
	kept := make(chan res, 1)
	for {
		c.mu.Lock()
		n := 0
		if c.batch != nil {
			n = len(c.batch.blocks)
		}
		c.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	go func() { off, _, err := c.appendShared(ctx, []byte("kept")); kept <- res{off, err} }()
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("withdrawn writer: %v", err)
	}
	start := c.feed.Length()
	c.release()
	r := <-kept
	if r.err != nil || r.off != start {
		t.Fatalf("kept block at %d (%v), want %d", r.off, r.err, start)
	}
	if l := c.feed.Length(); l != start+1 {
		t.Fatalf("feed grew to %d, want %d: the withdrawn block was appended", l, start+1)
	}
	if b, err := c.feed.Get(ctx, start); err != nil || string(b) != "kept" {
		t.Fatalf("block %d: %q %v", start, b, err)
	}
}
