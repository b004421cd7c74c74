package integration

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/corestore"
	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/internal/syncbuf"
	"github.com/hyperfs/hyperfs/peers"
)

// Bit rot in a writer's content feed: a read through the mount never gets
// the wrong bytes, and the open mount heals from a peer that holds the
// blocks (a Go replica).
func TestMountHealsBitRotFromPeer(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	want := bytes.Repeat([]byte("0123456789abcdef"), 3*8192) // several blocks

	dir := t.TempDir()
	s, err := corestore.Open(dir, corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := hyperdrive.Open(ctx, s, hyperdrive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile(ctx, "/file", want, 0o644); err != nil {
		t.Fatal(err)
	}
	key := d.Key()
	c, err := d.Content(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(c.Location(), "data")

	// A replica downloads the whole file.
	rs, err := corestore.Open(t.TempDir(), corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	rset := peers.New(rs, peers.Options{})
	defer rset.Close()
	wset := peers.New(s, peers.Options{})
	ca, cb := net.Pipe()
	go wset.Serve(ctx, ca, true)
	go rset.Serve(ctx, cb, false)
	rd, err := hyperdrive.Open(ctx, rs, hyperdrive.Options{Key: key, Sparse: true, Update: rset.Update})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if b, err := rd.ReadFile(ctx, "/file"); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("replica read: %v", err)
	}
	wset.Close()
	d.Close()
	s.Close()

	b, _ := os.ReadFile(data)
	b[len(b)-1000] ^= 0x10
	os.WriteFile(data, b, 0o644)

	var logged syncbuf.Buffer
	s, err = corestore.Open(dir, corestore.Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wset = peers.New(s, peers.Options{})
	defer wset.Close()
	ca, cb = net.Pipe()
	go wset.Serve(ctx, ca, true)
	go rset.Serve(ctx, cb, false)
	d, err = hyperdrive.Open(ctx, s, hyperdrive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	mnt := t.TempDir()
	server, err := hfs.Mount(mnt, hfs.NewDrive(d, dir), hfs.Options{StagingDir: t.TempDir(), ReadTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		server.Unmount()
		server.Wait()
	}()
	healed := false
	for try := 0; try < 5 && !healed; try++ {
		got, err := os.ReadFile(filepath.Join(mnt, "file"))
		switch {
		case err == nil && !bytes.Equal(got, want):
			t.Fatalf("read %d: wrong bytes with no error", try)
		case err == nil:
			healed = true
		default:
			t.Logf("read %d: %v", try, err)
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !healed {
		t.Fatal("the mount did not heal from the peer")
	}
	if !strings.Contains(logged.String(), "corrupt") {
		t.Fatalf("the rotten block was not noticed: %s", logged.String())
	}
	dc, _ := d.Content(ctx)
	if rep, err := dc.Audit(); err != nil || rep.Invalid != 0 {
		t.Fatalf("audit after healing: %+v %v", rep, err)
	}
}
