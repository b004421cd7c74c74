package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/app"
	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/peers"
)

// A drive whose keys are restored into a new storage must not fork: before
// it writes, it learns from a peer that holds more versions how long it
// is, and its next version comes after them; without a peer it refuses to
// write unless forced.
func TestRestoredKeyDoesNotFork(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The original storage: a drive with many versions.
	orig := t.TempDir()
	so, err := corestore.Open(orig, corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	do, err := hyperdrive.Open(ctx, so, hyperdrive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := do.WriteFile(ctx, fmt.Sprintf("/f%02d", i), []byte(fmt.Sprint("version ", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	versions := do.Version()
	keyFile, _, err := app.ExportKeys(orig)
	if err != nil {
		t.Fatal(err)
	}

	restore := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "restored")
		if _, err := app.ImportKeys(dir, keyFile, "keys.json"); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	t.Run("no peer", func(t *testing.T) {
		dir := restore(t)
		s, err := corestore.Open(dir, corestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
		defer stop()
		set := peers.New(s, peers.Options{})
		defer set.Close()
		for _, opts := range []hyperdrive.Options{{LearnLength: set.LearnLength}, {}} {
			d, err := hyperdrive.Open(short, s, opts)
			if err != nil {
				t.Fatalf("open without peers: %v", err)
			}
			if err := d.WriteFile(ctx, "/x", []byte("fork"), 0o644); !errors.Is(err, hyperdrive.ErrMayFork) {
				t.Fatalf("write without peers: %v, want ErrMayFork", err)
			}
			if d.Metadata().Length() != 0 {
				t.Fatal("a refused drive signed a block")
			}
			d.Close()
		}
		d, err := hyperdrive.Open(ctx, s, hyperdrive.Options{Force: true})
		if err != nil {
			t.Fatalf("forced open: %v", err)
		}
		if err := d.WriteFile(ctx, "/x", []byte("forced"), 0o644); err != nil {
			t.Fatalf("forced write: %v", err)
		}
		d.Close()
	})

	t.Run("peer with more versions", func(t *testing.T) {
		dir := restore(t)
		s, err := corestore.Open(dir, corestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		local := peers.New(s, peers.Options{})
		defer local.Close()
		remote := peers.New(so, peers.Options{})
		defer remote.Close()
		ca, cb := net.Pipe()
		go remote.Serve(ctx, ca, true)
		go local.Serve(ctx, cb, false)

		d, err := hyperdrive.Open(ctx, s, hyperdrive.Options{LearnLength: local.LearnLength, Update: local.Update})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if d.Version() != versions {
			t.Fatalf("restored drive at version %d, peer has %d", d.Version(), versions)
		}
		if err := d.WriteFile(ctx, "/new", []byte("after the restore"), 0o644); err != nil {
			t.Fatal(err)
		}
		if d.Version() != versions+1 {
			t.Fatalf("write made version %d, want %d", d.Version(), versions+1)
		}
		// The older history reads back, fetched from the peer.
		for _, i := range []int{0, 17, 29} {
			b, err := d.ReadFile(ctx, fmt.Sprintf("/f%02d", i))
			if err != nil || string(b) != fmt.Sprint("version ", i) {
				t.Fatalf("f%02d: %q %v", i, b, err)
			}
		}
	})
	do.Close()
	so.Close()
}
