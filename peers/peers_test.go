package peers

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/corestore"
)

func openStore(t *testing.T) *corestore.Store {
	t.Helper()
	s, err := corestore.Open(t.TempDir(), corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStoresReplicate: a feed opened by key in one store fetches its blocks
// from another store over a connection, and a feed the reader does not have
// open is refused, not fatal.
func TestStoresReplicate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	writerStore, readerStore := openStore(t), openStore(t)
	src, err := writerStore.Get(ctx, corestore.GetOptions{Name: "data"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	other, _ := writerStore.Get(ctx, corestore.GetOptions{Name: "not shared"})
	defer other.Close()
	other.Append([]byte("x"))
	for i := range 100 {
		src.Append([]byte(fmt.Sprint("block ", i)))
	}
	writer, reader := New(writerStore, Options{}), New(readerStore, Options{})
	defer writer.Close()
	defer reader.Close()

	a, b := net.Pipe()
	go writer.Serve(ctx, a, true)
	go reader.Serve(ctx, b, false)

	dst, err := readerStore.Get(ctx, corestore.GetOptions{Key: src.Key(), Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	for _, i := range []uint64{42, 0, 99} {
		got, err := dst.Get(ctx, i)
		if err != nil || string(got) != fmt.Sprint("block ", i) {
			t.Fatalf("block %d: %q %v", i, got, err)
		}
	}
	if dst.Downloaded(0, 100) != 3 {
		t.Fatalf("a sparse reader stored %d blocks for 3 reads", dst.Downloaded(0, 100))
	}
	// Live: a new block reaches a reader that waits for it.
	src.Append([]byte("late"))
	got, err := dst.Get(ctx, 100)
	if err != nil || string(got) != "late" {
		t.Fatalf("live block: %q %v", got, err)
	}
	if writer.Peers() != 1 || reader.Peers() != 1 {
		t.Fatalf("peers %d / %d", writer.Peers(), reader.Peers())
	}
}

// TestOpenedOnRequest: the uploader has the feed on disk but not open; the
// reader's request opens it there.
func TestOpenedOnRequest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	writerStore, readerStore := openStore(t), openStore(t)
	src, _ := writerStore.Get(ctx, corestore.GetOptions{Name: "data"})
	src.Append([]byte("on disk"))
	key := src.Key()
	src.Close() // closed: only on disk now

	writer, reader := New(writerStore, Options{}), New(readerStore, Options{})
	defer writer.Close()
	defer reader.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	addr, err := writer.Listen(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	reader.Dial(ctx, addr.String())
	dst, err := readerStore.Get(ctx, corestore.GetOptions{Key: key, Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	got, err := dst.Get(ctx, 0)
	if err != nil || string(got) != "on disk" {
		t.Fatalf("block: %q %v", got, err)
	}
}
