package hyperdrive

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/peers"
)

func tempStore(t *testing.T) *corestore.Store {
	t.Helper()
	s, err := corestore.Open(t.TempDir(), corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// remoteDrive writes a drive with a few files in one store and returns a
// second store connected to it, and the drive's key.
func remoteDrive(t *testing.T, ctx context.Context) (*corestore.Store, *peers.Set, []byte) {
	t.Helper()
	ws, rs := tempStore(t), tempStore(t)
	w, err := Open(ctx, ws, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	for _, name := range []string{"/a.txt", "/b.txt", "/c.txt"} {
		if err := w.WriteFile(ctx, name, []byte("contents of "+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writer, reader := peers.New(ws, peers.Options{}), peers.New(rs, peers.Options{})
	t.Cleanup(func() { reader.Close(); writer.Close() })
	a, b := net.Pipe()
	go writer.Serve(ctx, a, true)
	go reader.Serve(ctx, b, false)
	return rs, reader, w.Key()
}

// Opening someone else's drive starts what its first read needs: the
// trie's root (its newest block) comes with the header, and the content
// feed is opened and brought up to date while the first lookup runs, so a
// cold first read waits for the lookup and one block only.
func TestRemoteOpenStartsRootAndContent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, reader, key := remoteDrive(t, ctx)
	d, err := Open(ctx, rs, Options{Key: key, Sparse: true, Update: reader.Update})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	meta := d.Metadata()
	id := hex.EncodeToString(key)
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.tree.mu.Lock()
		c := d.tree.contents[id]
		d.tree.mu.Unlock()
		root := meta.Has(meta.Length() - 1)
		if c != nil && c.feed.Length() > 0 && root {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Open: root fetched %v, content feed opened %v", root, c != nil)
		}
		time.Sleep(5 * time.Millisecond)
	}
	got, err := d.ReadFile(ctx, "/b.txt")
	if err != nil || !bytes.Equal(got, []byte("contents of /b.txt")) {
		t.Fatalf("ReadFile: %q %v", got, err)
	}
}

// Close ends what Open started and waits for it, even while no peer
// answers.
func TestRemoteOpenCloseWhileStarting(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, reader, key := remoteDrive(t, ctx)
	d, err := Open(ctx, rs, Options{Key: key, Sparse: true, Update: reader.Update})
	if err != nil {
		t.Fatal(err)
	}
	reader.Close() // nobody answers from now on
	done := make(chan error, 1)
	go func() { done <- d.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the background open")
	}
	if _, err := d.Content(ctx); err == nil {
		t.Fatal("content feed of a closed drive")
	}
}

// A closed drive hands out no content feed, even one it had opened
// before Close: its feeds are closed.
func TestContentAfterClose(t *testing.T) {
	d := newDrive(t)
	ctx := context.Background()
	if _, err := d.Content(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Content(ctx); !errors.Is(err, hypercore.ErrClosed) {
		t.Fatalf("Content after Close: %v, want ErrClosed", err)
	}
}
