package peers

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/corestore"
)

// TestConcurrentAndCancelledGets: readers that give up on blocks (as
// read-ahead does) must not leave those blocks unfetchable for others.
func TestConcurrentAndCancelledGets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, rs := openStore(t), openStore(t)
	src, _ := ws.Get(ctx, corestore.GetOptions{Name: "big"})
	defer src.Close()
	block := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 256<<10) }
	var batch [][]byte
	for i := range 96 {
		batch = append(batch, block(i))
	}
	src.Append(batch...)
	w, r := New(ws, Options{}), New(rs, Options{})
	defer w.Close()
	defer r.Close()
	a, b := net.Pipe()
	go w.Serve(ctx, a, true)
	go r.Serve(ctx, b, false)
	dst, err := rs.Get(ctx, corestore.GetOptions{Key: src.Key(), Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 40 + g; i < 80; i += 2 {
				short, c := context.WithTimeout(ctx, time.Duration(g+1)*time.Millisecond)
				dst.Get(short, uint64(i))
				c()
			}
		})
	}
	wg.Wait()
	for i := 40; i < 90; i++ {
		one, c := context.WithTimeout(ctx, 10*time.Second)
		got, err := dst.Get(one, uint64(i))
		c()
		if err != nil || !bytes.Equal(got, block(i)) {
			t.Fatalf("block %d after cancelled gets: %v", i, err)
		}
	}
}
