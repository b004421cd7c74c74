package fs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/corestore"
	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/replication"
	"github.com/hyperfs/hyperfs/hypercore/storage"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/peers"
)

// TestMountServesThroughPeerChurn mounts a remote drive and reads it through
// the folder while hundreds of peers connect to both the seeder and the
// mounting process, request random blocks and drop at random moments, many
// of them together (as an idle timeout drops a crowd at once). Neither
// process may crash, and every byte read through the mount must be right.
func TestMountServesThroughPeerChurn(t *testing.T) {
	churners := 200
	if testing.Short() {
		churners = 50
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The seeder: a drive with one 4 MiB file and a few small ones.
	seedStore, err := corestore.Open(t.TempDir(), corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer seedStore.Close()
	seed, err := hyperdrive.Open(ctx, seedStore, hyperdrive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer seed.Close()
	big := make([]byte, 4<<20)
	rand.Read(big)
	if err := seed.WriteFile(ctx, "/big", big, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"/a.txt", "/b.txt", "/c.txt"} {
		if err := seed.WriteFile(ctx, name, []byte("small file "+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	content, err := seed.Content(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seedSet := peers.New(seedStore, peers.Options{})
	defer seedSet.Close()
	seedAddr, err := seedSet.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	// The reader: the drive mounted from a fresh store, dialling the
	// seeder and accepting peers of its own.
	readDir := t.TempDir()
	readStore, err := corestore.Open(readDir, corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer readStore.Close()
	readSet := peers.New(readStore, peers.Options{})
	defer readSet.Close()
	readAddr, err := readSet.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	readSet.Dial(ctx, seedAddr.String())
	d, err := hyperdrive.Open(ctx, readStore, hyperdrive.Options{Key: seed.Key(), Sparse: true, Update: readSet.Update})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)
	server, err := hfs.Mount(mnt, hfs.NewDrive(d, readDir), hfs.Options{StagingDir: readDir, ReadTimeout: time.Minute})
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	defer func() {
		server.Unmount()
		server.Wait()
	}()

	var wg sync.WaitGroup
	for i := range churners {
		addr := seedAddr.String()
		if i%2 == 1 {
			addr = readAddr.String()
		}
		wg.Go(func() { churnPeer(ctx, t, addr, content.Key(), i%4 == 0) })
	}
	// Programs read through the mount meanwhile.
	for range 3 {
		wg.Go(func() {
			for _, name := range []string{"big", "a.txt", "b.txt", "c.txt"} {
				got, err := os.ReadFile(filepath.Join(mnt, name))
				if err != nil {
					t.Errorf("read %s through the mount: %v", name, err)
					return
				}
				want := big
				if name != "big" {
					want = []byte("small file /" + name)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: wrong bytes through the mount (%d bytes)", name, len(got))
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("timed out")
	}
}

// churnPeer connects to addr, asks for random blocks of the feed with key,
// and drops the connection at a random moment: at once after the
// handshake, or (together, when crowd is set) at one shared moment.
func churnPeer(ctx context.Context, t *testing.T, addr string, key []byte, crowd bool) {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Errorf("churn peer: %v", err)
		return
	}
	s, err := replication.NewStream(ctx, conn, replication.Config{Initiator: true, Live: true})
	if err != nil {
		conn.Close() // refused while too many were in their handshake: fine
		return
	}
	defer s.Close()
	f, err := hypercore.OpenStorage(storage.NewMemory(), hypercore.Options{PublicKey: key, Sparse: true})
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	r := replication.NewReplicator(f, replication.Options{})
	defer r.Close()
	if _, err := s.Replicate(r, replication.PeerOptions{}); err != nil {
		return
	}
	stop := time.Now().Add(time.Duration(mrand.IntN(500)) * time.Millisecond)
	if crowd {
		stop = time.Now().Truncate(time.Second).Add(time.Second)
	}
	for time.Now().Before(stop) {
		gctx, c := context.WithTimeout(ctx, 20*time.Millisecond)
		f.Get(gctx, uint64(mrand.IntN(64)))
		c()
	}
}
