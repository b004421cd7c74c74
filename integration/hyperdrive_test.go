package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"path"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/replication"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/integration/jsref"
)

// The sample drive of integration/js/scripts/lib/drive.js.
const (
	sampleBigSize = 64 << 20
	sampleSmall   = 1000
)

// driveEntry is one path of a walk report (lib/drive.js walk): stats of
// files and symlinks, names of directories, digests of file contents.
type driveEntry struct {
	Mode       uint32      `json:"mode"`
	Mount      string      `json:"mount,omitempty"`
	Names      []string    `json:"names,omitempty"`
	UID        uint32      `json:"uid"`
	GID        uint32      `json:"gid"`
	Size       uint64      `json:"size"`
	Blocks     uint64      `json:"blocks"`
	Offset     uint64      `json:"offset"`
	ByteOffset uint64      `json:"byteOffset"`
	Mtime      int64       `json:"mtime"`
	Ctime      int64       `json:"ctime"`
	Metadata   [][]*string `json:"metadata,omitempty"`
	Linkname   string      `json:"linkname,omitempty"`
	SHA256     string      `json:"sha256,omitempty"`
}

type driveReport struct {
	Key      string                `json:"key"`
	InnerKey string                `json:"innerKey"`
	Version  uint64                `json:"version"`
	Entries  map[string]driveEntry `json:"entries"`
	After    map[string]driveEntry `json:"after"`
}

// bigFile is lib/drive.js bigFile.
func bigFile(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(uint32(i)*31 + uint32(i)>>9)
	}
	return b
}

// walkDrive is the Go twin of lib/drive.js walk.
func walkDrive(t *testing.T, d *hyperdrive.Drive) map[string]driveEntry {
	t.Helper()
	ctx := context.Background()
	out := map[string]driveEntry{}
	var visit func(p string)
	visit = func(p string) {
		st, err := d.Lstat(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		e := driveEntry{Mode: st.Mode}
		if st.Mount != nil {
			e.Mount = hex.EncodeToString(st.Mount.Key)
		}
		if st.IsDir() {
			es, err := d.Readdir(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, de := range es {
				e.Names = append(e.Names, de.Name)
			}
			sort.Strings(e.Names)
			out[p] = e
			for _, n := range e.Names {
				visit(path.Join(p, n))
			}
			return
		}
		e.UID, e.GID, e.Size, e.Blocks, e.Offset, e.ByteOffset = st.UID, st.GID, st.Size, st.Blocks, st.Offset, st.ByteOffset
		e.Mtime, e.Ctime = st.Mtime.UnixMilli(), st.Ctime.UnixMilli()
		for _, m := range st.Metadata {
			k := m.Key
			var v *string
			if m.Value != nil {
				h := hex.EncodeToString(m.Value)
				v = &h
			}
			e.Metadata = append(e.Metadata, []*string{&k, v})
		}
		if st.IsSymlink() {
			e.Linkname = st.Linkname
		} else {
			b, err := d.ReadFile(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			e.SHA256 = hex.EncodeToString(sum[:])
		}
		out[p] = e
	}
	visit("/")
	return out
}

// compareWalks reports every path whose entry differs.
func compareWalks(t *testing.T, what string, got, want map[string]driveEntry) {
	t.Helper()
	var bad []string
	for p, w := range want {
		g, ok := got[p]
		g, w = normalized(g), normalized(w)
		if !ok {
			bad = append(bad, fmt.Sprintf("%s: missing", p))
		} else if !reflect.DeepEqual(g, w) {
			bad = append(bad, fmt.Sprintf("%s:\n  got  %s\n  want %s", p, show(g), show(w)))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			bad = append(bad, fmt.Sprintf("%s: unexpected", p))
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		if len(bad) > 20 {
			bad = append(bad[:20], fmt.Sprintf("... %d more", len(bad)-20))
		}
		t.Fatalf("%s: %d paths differ:\n%s", what, len(bad), strings.Join(bad, "\n"))
	}
}

// normalized makes empty lists nil, as JSON decoding and Go appends differ.
func normalized(e driveEntry) driveEntry {
	if len(e.Names) == 0 {
		e.Names = nil
	}
	if len(e.Metadata) == 0 {
		e.Metadata = nil
	}
	return e
}

func show(e driveEntry) string {
	var md []string
	for _, kv := range e.Metadata {
		v := "<nil>"
		if kv[1] != nil {
			v = *kv[1]
		}
		md = append(md, *kv[0]+"="+v)
	}
	e.Metadata = nil
	return fmt.Sprintf("%+v metadata=%v", e, md)
}

func openDriveStore(t *testing.T, dir string) (*corestore.Store, *hyperdrive.Drive) {
	t.Helper()
	return openDriveStoreWith(t, dir, hyperdrive.Options{})
}

func openDriveStoreWith(t *testing.T, dir string, opts hyperdrive.Options) (*corestore.Store, *hyperdrive.Drive) {
	t.Helper()
	s, err := corestore.Open(dir, corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := hyperdrive.Open(context.Background(), s, opts)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s, d
}

func closeDriveStore(t *testing.T, s *corestore.Store, d *hyperdrive.Drive) {
	t.Helper()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeSampleGo writes lib/drive.js's sample drive with the Go library.
func writeSampleGo(t *testing.T, s *corestore.Store, d *hyperdrive.Drive) {
	t.Helper()
	writeSampleGoGrouped(t, s, d, 0)
}

// writeSampleGoGrouped is writeSampleGo with the inner drive opened with
// the given group commit.
func writeSampleGoGrouped(t *testing.T, s *corestore.Store, d *hyperdrive.Drive, groupCommit time.Duration) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(d.WriteFile(ctx, "/a/b/c/file.txt", []byte("nested file"), 0))
	must(d.Mkdir(ctx, "/a/b", 0))
	must(d.WriteFile(ctx, "/big.bin", bigFile(sampleBigSize), 0))
	for i := range sampleSmall {
		must(d.WriteFile(ctx, fmt.Sprintf("/small/f%04d", i), fmt.Appendf(nil, "small file %d", i), 0))
	}
	must(d.Symlink(ctx, "/a/b/c/file.txt", "/link"))
	must(d.SetMetadata(ctx, "/a/b/c/file.txt", "user.tag", []byte("hello")))
	must(d.Mkdir(ctx, "/emptydir", 0))
	must(d.WriteFile(ctx, "/empty.txt", nil, 0))
	inner, err := hyperdrive.Open(ctx, s.Namespace("inner"), hyperdrive.Options{GroupCommit: groupCommit})
	must(err)
	must(inner.WriteFile(ctx, "/inner.txt", []byte("inside the mount"), 0))
	must(inner.WriteFile(ctx, "/deep/x.txt", []byte("deep in the mount"), 0))
	must(d.Mount(ctx, "/mnt", inner.Key(), hyperdrive.MountOptions{}))
	must(inner.Close())
}

// TestDriveJSToGo reads a drive written by JS hyperdrive 10 from its
// storage folder: every stat, listing and file the same.
func TestDriveJSToGo(t *testing.T) {
	jsref.Require(t)
	dir := t.TempDir()
	var js driveReport
	jsref.RunJSON(t, &js, "drive-write", dir)
	s, d := openDriveStore(t, dir)
	defer closeDriveStore(t, s, d)
	if hex.EncodeToString(d.Key()) != js.Key || d.Version() != js.Version {
		t.Fatalf("drive %x version %d, JS wrote %s version %d", d.Key(), d.Version(), js.Key, js.Version)
	}
	if len(js.Entries) < sampleSmall+10 {
		t.Fatalf("JS report has %d entries", len(js.Entries))
	}
	compareWalks(t, "Go reading the JS drive", walkDrive(t, d), js.Entries)
	ctx := context.Background()
	b, err := d.ReadFile(ctx, "/big.bin")
	if err != nil || len(b) != sampleBigSize {
		t.Fatal(len(b), err)
	}
	if b, err := d.ReadFile(ctx, "/link"); err != nil || string(b) != "nested file" {
		t.Fatalf("through the symlink: %q %v", b, err)
	}
}

// TestDriveGoToJS has JS hyperdrive 10 read a drive the Go library wrote.
func TestDriveGoToJS(t *testing.T) {
	jsref.Require(t)
	dir := t.TempDir()
	s, d := openDriveStore(t, dir)
	writeSampleGo(t, s, d)
	want := walkDrive(t, d)
	key, version := hex.EncodeToString(d.Key()), d.Version()
	closeDriveStore(t, s, d)
	var js driveReport
	jsref.RunJSON(t, &js, "drive-read", dir)
	if js.Key != key || js.Version != version {
		t.Fatalf("JS opened %s version %d, Go wrote %s version %d", js.Key, js.Version, key, version)
	}
	compareWalks(t, "JS reading the Go drive", want, js.Entries)
}

// TestDriveGoToJSGroupCommit has JS hyperdrive 10 read a drive the Go
// library wrote with group commit: every write of the sample held back and
// appended in a few appends, one signature each.
func TestDriveGoToJSGroupCommit(t *testing.T) {
	jsref.Require(t)
	dir := t.TempDir()
	s, d := openDriveStoreWith(t, dir, hyperdrive.Options{GroupCommit: time.Hour})
	writeSampleGoGrouped(t, s, d, time.Hour)
	want := walkDrive(t, d)
	key, version := hex.EncodeToString(d.Key()), d.Version()
	if n := d.Metadata().Length(); n >= version {
		t.Fatalf("metadata feed has %d blocks of version %d before the flush: writes were not held back", n, version)
	}
	closeDriveStore(t, s, d)
	var js driveReport
	jsref.RunJSON(t, &js, "drive-read", dir)
	if js.Key != key || js.Version != version {
		t.Fatalf("JS opened %s version %d, Go wrote %s version %d", js.Key, js.Version, key, version)
	}
	compareWalks(t, "JS reading the grouped Go drive", want, js.Entries)
}

// TestDriveGoToJSSharedAppends has JS read a drive whose small files Go
// wrote from many goroutines at once, so their content blocks went into
// the content feed in shared appends (one signature for several files).
func TestDriveGoToJSSharedAppends(t *testing.T) {
	jsref.Require(t)
	ctx := context.Background()
	dir := t.TempDir()
	s, d := openDriveStoreWith(t, dir, hyperdrive.Options{GroupCommit: hyperdrive.DefaultGroupCommit})
	content, err := d.Content(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := content.Length()
	var appends atomic.Int32
	stop := content.Subscribe(func(e hypercore.Event) {
		if e.Kind == hypercore.EventAppend {
			appends.Add(1)
		}
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				p := fmt.Sprintf("/g%d/f%02d", g, i)
				if err := d.WriteFile(ctx, p, []byte(strings.Repeat(p, i)), 0o644); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	stop()
	t.Logf("%d files in %d content appends", content.Length()-start, appends.Load())
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	want := walkDrive(t, d)
	key, version := hex.EncodeToString(d.Key()), d.Version()
	closeDriveStore(t, s, d)
	var js driveReport
	jsref.RunJSON(t, &js, "drive-read", dir)
	if js.Key != key || js.Version != version {
		t.Fatalf("JS opened %s version %d, Go wrote %s version %d", js.Key, js.Version, key, version)
	}
	compareWalks(t, "JS reading small files Go wrote in parallel", want, js.Entries)
}

// TestDriveTakingTurns has JS and Go write the same storage folder in turn,
// each reading everything the other wrote.
func TestDriveTakingTurns(t *testing.T) {
	jsref.Require(t)
	ctx := context.Background()
	dir := t.TempDir()
	var first driveReport
	jsref.RunJSON(t, &first, "drive-write", dir, "--big-size", "3000000", "--small", "50")

	s, d := openDriveStore(t, dir)
	compareWalks(t, "Go reading JS's writes", walkDrive(t, d), first.Entries)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(d.WriteFile(ctx, "/go/new.txt", []byte("written by go"), 0o600))
	must(d.SetMetadata(ctx, "/go/new.txt", "user.by", []byte("go")))
	must(d.Rename(ctx, "/small/f0001", "/small/renamed"))
	must(d.Rename(ctx, "/a", "/moved"))
	must(d.Mkdir(ctx, "/go/dir", 0o700))
	must(d.WriteFile(ctx, "/mnt/from-go.txt", []byte("go through the mount"), 0))
	must(d.Unlink(ctx, "/small/f0002"))
	must(d.Truncate(ctx, "/moved/b/c/file.txt", 6))
	must(d.Symlink(ctx, "../moved/b/c/file.txt", "/go/rel-link"))
	must(d.RemoveMetadata(ctx, "/moved/b/c/file.txt", "user.tag"))
	goWalk := walkDrive(t, d)
	closeDriveStore(t, s, d)

	var second driveReport
	jsref.RunJSON(t, &second, "drive-read", dir, "--write")
	compareWalks(t, "JS reading Go's writes", goWalk, second.Entries)

	s, d = openDriveStore(t, dir)
	defer closeDriveStore(t, s, d)
	compareWalks(t, "Go reading JS's second writes", walkDrive(t, d), second.After)
	if b, err := d.ReadFile(ctx, "/mnt/from-js.txt"); err != nil || string(b) != "js through the mount" {
		t.Fatalf("%q %v", b, err)
	}
	must(d.WriteFile(ctx, "/last", []byte("still writable"), 0))
}

// TestDriveOverReplication reads a JS drive (and the drive mounted in it)
// over a replication connection to JS hyperdrive 10: the Go store starts
// empty, every feed the drive opens is replicated on the one stream, and
// only what is read is fetched.
func TestDriveOverReplication(t *testing.T) {
	jsref.Require(t)
	dir := t.TempDir()
	var js driveReport
	jsref.RunJSON(t, &js, "drive-write", dir, "--big-size", "3000000", "--small", "100")
	serve := jsref.Start(t, "drive-serve.js", dir)
	var listening struct {
		Port int
		Key  string
	}
	serve.Next(&listening)
	defer serve.Stdin().Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(listening.Port))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := replication.NewStream(ctx, conn, replication.Config{Initiator: true, Live: true,
		OnDiscoveryKey: func(*replication.Stream, [32]byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()

	store, err := corestore.Open(t.TempDir(), corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var mu sync.Mutex
	reps := map[*hypercore.Feed]*replication.Replicator{}
	stop := store.OnFeed(func(f *hypercore.Feed) {
		r := replication.NewReplicator(f, replication.Options{})
		mu.Lock()
		reps[f] = r
		mu.Unlock()
		if _, err := stream.Replicate(r, replication.PeerOptions{}); err != nil {
			t.Errorf("replicating %x: %v", f.Key(), err)
		}
	})
	defer stop()
	update := func(ctx context.Context, f *hypercore.Feed) error {
		mu.Lock()
		r := reps[f]
		mu.Unlock()
		// Every feed of the sample has a block: wait for the first, which
		// brings the remote's signed length.
		return r.Update(ctx, replication.UpdateOptions{MinLength: 1})
	}
	key, _ := hex.DecodeString(listening.Key)
	d, err := hyperdrive.Open(ctx, store, hyperdrive.Options{Key: key, Sparse: true, Update: update})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Writable() || d.Version() != js.Version {
		t.Fatalf("remote drive: writable %v, version %d, want %d", d.Writable(), d.Version(), js.Version)
	}
	// One file and the mount first: only their blocks come over.
	if b, err := d.ReadFile(ctx, "/mnt/deep/x.txt"); err != nil || string(b) != "deep in the mount" {
		t.Fatalf("through the mount: %q %v", b, err)
	}
	cf, err := d.Content(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := cf.Downloaded(0, cf.Length()); n != 0 {
		t.Errorf("reading a mounted file fetched %d blocks of the outer content feed", n)
	}
	compareWalks(t, "Go reading the JS drive over replication", walkDrive(t, d), js.Entries)
	if err := d.Download(ctx, "/", nil); err != nil {
		t.Fatal(err)
	}
	if n := cf.Downloaded(0, cf.Length()); n != cf.Length() {
		t.Errorf("after Download %d of %d content blocks are local", n, cf.Length())
	}
}
