package hypercore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore/storage"
	"github.com/hyperfs/hyperfs/hypercore/treeindex"
)

func repairBlock(i int) []byte { return bytes.Repeat([]byte{byte(i), 'x'}, 50+i) }

// writerFeed makes a writer of n blocks appended in batches of 3.
func writerFeed(t *testing.T, n int) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	f := mustOpen(t, dir, Options{})
	for i := 0; i < n; i += 3 {
		var batch [][]byte
		for k := i; k < min(i+3, n); k++ {
			batch = append(batch, repairBlock(k))
		}
		mustAppend(t, f, batch...)
	}
	key := append([]byte(nil), f.Key()...)
	f.Close()
	return dir, key
}

func checkBlocks(t *testing.T, f *Feed, n int) {
	t.Helper()
	if f.Length() != uint64(n) {
		t.Fatalf("length %d, want %d", f.Length(), n)
	}
	for i := range n {
		b, err := f.Get(ctx, uint64(i))
		if err != nil || !bytes.Equal(b, repairBlock(i)) {
			t.Fatalf("block %d: %v (%d bytes)", i, err, len(b))
		}
	}
}

// A damaged bitfield makes the feed look shorter than what it signed: it
// must be rebuilt, so that no block hides and the next append goes after
// every signed block instead of over them.
func TestDamagedBitfieldIsRebuilt(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(p string)
	}{
		{"truncated", func(p string) { os.Truncate(p, 40) }},
		{"emptied", func(p string) { os.Truncate(p, 0) }},
		{"deleted", func(p string) { os.Remove(p) }},
		{"zeroed", func(p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, make([]byte, len(b)), 0o644)
		}},
		{"header page size", func(p string) { flipByte(t, p, 5) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			const n = 40
			dir, _ := writerFeed(t, n)
			before, _ := os.ReadFile(filepath.Join(dir, "bitfield"))
			c.damage(filepath.Join(dir, "bitfield"))
			f := mustOpen(t, dir, Options{})
			checkBlocks(t, f, n)
			mustAppend(t, f, repairBlock(n))
			checkBlocks(t, f, n+1)
			f.Close()
			f = mustOpen(t, dir, Options{})
			defer f.Close()
			checkBlocks(t, f, n+1)
			if rep, err := f.Audit(); err != nil || rep.Invalid != 0 {
				t.Fatalf("audit %+v %v", rep, err)
			}
			_ = before
		})
	}
}

// A replica's bitfield is rebuilt too: blocks stored come back, blocks
// never downloaded stay missing.
func TestDamagedReplicaBitfieldIsRebuilt(t *testing.T) {
	srcDir, key := writerFeed(t, 30)
	src := mustOpen(t, srcDir, Options{})
	defer src.Close()
	dir := t.TempDir()
	dst := mustOpen(t, dir, Options{PublicKey: key, Sparse: true})
	p := &peerFetcher{src: src, dst: dst, remote: treeindex.New(nil), calls: make(chan uint64, 10)}
	go p.serve(t)
	dst.SetFetcher(p)
	for _, i := range []uint64{29, 3, 4, 17} {
		if _, err := dst.Get(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	close(p.calls)
	dst.Close()
	os.Truncate(filepath.Join(dir, "bitfield"), 0)
	dst = mustOpen(t, dir, Options{PublicKey: key})
	defer dst.Close()
	if dst.Length() != 30 {
		t.Fatalf("length %d", dst.Length())
	}
	for i := range uint64(30) {
		want := i == 29 || i == 3 || i == 4 || i == 17
		if dst.Has(i) != want {
			t.Fatalf("block %d stored %v, want %v", i, dst.Has(i), want)
		}
		if want {
			if b, err := dst.Get(ctx, i); err != nil || !bytes.Equal(b, repairBlock(int(i))) {
				t.Fatalf("block %d: %v", i, err)
			}
		}
	}
}

// A writer whose signatures go beyond what its tree proves (the tree was
// truncated) must not append: it would sign other blocks at indexes peers
// already have.
func TestWriterRefusesToForkDamagedFeed(t *testing.T) {
	dir, _ := writerFeed(t, 30)
	os.Truncate(filepath.Join(dir, "tree"), headerSize+nodeRecordSize*20)
	os.Truncate(filepath.Join(dir, "bitfield"), 0)
	f, err := Open(dir, Options{})
	if err != nil {
		if !strings.Contains(err.Error(), filepath.Join(dir, "tree")) {
			t.Fatalf("open: %v, want an error naming the tree file", err)
		}
		return
	}
	defer f.Close()
	if _, err := f.Append([]byte("fork")); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Join(dir, "signatures")) {
		t.Fatalf("append: %v, want a refusal naming the signatures file", err)
	}
	for i := range f.Length() {
		if b, err := f.Get(ctx, i); err == nil && !bytes.Equal(b, repairBlock(int(i))) {
			t.Fatalf("block %d: wrong bytes", i)
		}
	}
}

// A flipped byte in the tree's head roots: the head signature no longer
// verifies, so the writer must not sign the damaged tree.
func TestWriterRefusesToSignDamagedTree(t *testing.T) {
	dir, _ := writerFeed(t, 32)
	// Node 31 is the root of 32 blocks.
	flipByte(t, filepath.Join(dir, "tree"), headerSize+nodeRecordSize*31+3)
	f := mustOpen(t, dir, Options{})
	defer f.Close()
	if _, err := f.Append([]byte("x")); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Join(dir, "tree")) {
		t.Fatalf("append: %v, want a refusal naming the tree file", err)
	}
}

func TestMissingKeyFile(t *testing.T) {
	dir, key := writerFeed(t, 10)
	os.Remove(filepath.Join(dir, "key"))
	os.Remove(filepath.Join(dir, "secret_key"))
	// Without a key, the data is not thrown away.
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Join(dir, "key")) {
		t.Fatalf("open without key: %v, want an error naming the key file", err)
	}
	// Another key does not verify the stored feed.
	other, _ := writerFeed(t, 1)
	otherKey, _ := os.ReadFile(filepath.Join(other, "key"))
	if _, err := Open(dir, Options{PublicKey: otherKey}); !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), filepath.Join(dir, "key")) {
		t.Fatalf("open with another key: %v", err)
	}
	// The right key opens it and restores the file.
	f := mustOpen(t, dir, Options{PublicKey: key})
	checkBlocks(t, f, 10)
	f.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "key")); !bytes.Equal(b, key) {
		t.Fatal("key file not restored")
	}
}

// Reading a truncated data file fails naming the file; the lost blocks are
// cleared (a peer can send them again) and an append does not hide them.
func TestTruncatedDataFile(t *testing.T) {
	dir, _ := writerFeed(t, 20)
	st, _ := os.Stat(filepath.Join(dir, "data"))
	os.Truncate(filepath.Join(dir, "data"), st.Size()/2)
	f := mustOpen(t, dir, Options{NoVerifyReads: true})
	defer f.Close()
	bad := 0
	for i := range uint64(20) {
		b, err := f.Get(ctx, i)
		if err != nil {
			bad++
			if !strings.Contains(err.Error(), filepath.Join(dir, "data")) && !errors.Is(err, ErrNotAvailable) {
				t.Fatalf("block %d: %v, want an error naming the data file", i, err)
			}
			continue
		}
		if !bytes.Equal(b, repairBlock(int(i))) {
			t.Fatalf("block %d: wrong bytes", i)
		}
	}
	if bad == 0 {
		t.Fatal("no read failed")
	}
	var buf [200]byte
	if err := f.ReadLocal(18, 19, mustOffset(t, f, 18), buf[:len(repairBlock(18))]); err == nil {
		t.Fatal("ReadLocal of a block past the end of the data file succeeded")
	}
	mustAppend(t, f, repairBlock(20))
	if f.Length() != 21 {
		t.Fatalf("length %d", f.Length())
	}
	if b, err := f.Get(ctx, 20); err != nil || !bytes.Equal(b, repairBlock(20)) {
		t.Fatalf("appended block: %v", err)
	}
	if b, err := f.Get(ctx, 0); err != nil || !bytes.Equal(b, repairBlock(0)) {
		t.Fatalf("block 0: %v", err)
	}
}

func mustOffset(t *testing.T, f *Feed, i uint64) uint64 {
	t.Helper()
	off, err := f.ByteOffset(i)
	if err != nil {
		t.Fatal(err)
	}
	return off
}

// Verification is once per block: a second read does not hash again, and
// VerifyRange (the splice path) catches rot before bytes are handed out.
func TestVerifyOnceAndVerifyRange(t *testing.T) {
	dir, _ := writerFeed(t, 20)
	f := mustOpen(t, dir, Options{})
	if f.verified.all(0, 20) {
		t.Fatal("blocks of a freshly opened feed count as verified")
	}
	if err := f.VerifyRange(0, 10); err != nil {
		t.Fatal(err)
	}
	if !f.verified.all(0, 10) || f.verified.has(10) {
		t.Fatal("VerifyRange did not record exactly what it checked")
	}
	f.Close()
	off := headerlessOffset(t, dir, 12)
	flipByte(t, filepath.Join(dir, "data"), int64(off)+3)
	f = mustOpen(t, dir, Options{})
	defer f.Close()
	if err := f.VerifyRange(10, 20); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("VerifyRange over a flipped byte: %v", err)
	}
	if f.Has(12) || !f.Has(11) || !f.Has(13) {
		t.Fatal("only the rotten block must be cleared")
	}
	if err := f.VerifyRange(13, 20); err != nil {
		t.Fatal(err)
	}
	// Appended blocks were hashed when written.
	mustAppend(t, f, []byte("fresh"))
	if !f.verified.has(20) {
		t.Fatal("appended block not marked verified")
	}
}

func headerlessOffset(t *testing.T, dir string, i uint64) uint64 {
	f := mustOpen(t, dir, Options{})
	defer f.Close()
	return mustOffset(t, f, i)
}

// countingStorage counts Sync calls per file name.
type countingStorage struct {
	storage.Storage
	syncs map[string]*atomic.Int32
}

type countingFile struct {
	storage.File
	n *atomic.Int32
}

func (c countingFile) Sync() error { c.n.Add(1); return c.File.Sync() }

func (c *countingStorage) Open(name string) (storage.File, error) {
	f, err := c.Storage.Open(name)
	if err != nil {
		return nil, err
	}
	if c.syncs[name] == nil {
		c.syncs[name] = new(atomic.Int32)
	}
	return countingFile{f, c.syncs[name]}, nil
}

func TestSyncReachesEveryFile(t *testing.T) {
	st := &countingStorage{Storage: storage.NewDir(t.TempDir()), syncs: map[string]*atomic.Int32{}}
	f, err := OpenStorage(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mustAppend(t, f, []byte("a"), []byte("b"))
	for _, name := range []string{"data", "tree", "signatures", "bitfield"} {
		if n := st.syncs[name].Load(); n != 0 {
			t.Fatalf("%s synced %d times before Sync", name, n)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"data", "tree", "signatures", "bitfield"} {
		if n := st.syncs[name].Load(); n != 1 {
			t.Fatalf("%s synced %d times, want 1", name, n)
		}
	}
}

// A block that rotted on disk is served again once a peer sends it.
func TestCorruptBlockHealsFromPeer(t *testing.T) {
	dir, key := writerFeed(t, 20)
	// The peer is a full replica.
	peerDir := t.TempDir()
	src := mustOpen(t, dir, Options{})
	peer := mustOpen(t, peerDir, Options{PublicKey: key})
	p := &peerFetcher{src: src, dst: peer, remote: treeindex.New(nil), calls: make(chan uint64, 32)}
	go p.serve(t)
	peer.SetFetcher(p)
	for i := range uint64(20) {
		if _, err := peer.Get(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	close(p.calls)
	src.Close()
	flipByte(t, filepath.Join(dir, "data"), int64(headerlessOffset(t, dir, 7))+1)

	f := mustOpen(t, dir, Options{})
	defer f.Close()
	defer peer.Close()
	if _, err := f.Get(ctx, 7); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("rotten block: %v", err)
	}
	back := &peerFetcher{src: peer, dst: f, remote: treeindex.New(nil), calls: make(chan uint64, 32)}
	go back.serve(t)
	defer close(back.calls)
	f.SetFetcher(back)
	b, err := f.Get(ctx, 7)
	if err != nil || !bytes.Equal(b, repairBlock(7)) {
		t.Fatalf("healed block: %v %q", err, b)
	}
	if rep, err := f.Audit(); err != nil || rep.Invalid != 0 {
		t.Fatalf("audit after healing: %+v %v", rep, err)
	}
	if _, err := f.Append([]byte("more")); err != nil {
		t.Fatal(err)
	}
}

// A flipped byte in a leaf of the tree fails the read naming the tree file,
// and leaves the (good) block stored.
func TestFlippedLeafNamesTree(t *testing.T) {
	dir, _ := writerFeed(t, 16)
	flipByte(t, filepath.Join(dir, "tree"), headerSize+nodeRecordSize*10+5) // leaf of block 5
	f := mustOpen(t, dir, Options{})
	defer f.Close()
	if _, err := f.Get(ctx, 5); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Join(dir, "tree")) {
		t.Fatalf("read over a flipped leaf: %v, want ErrCorrupt naming the tree file", err)
	}
	if !f.Has(5) {
		t.Fatal("a good block was cleared for a damaged tree")
	}
	checkBlocksExcept(t, f, 16, 5)
}

func checkBlocksExcept(t *testing.T, f *Feed, n int, skip int) {
	t.Helper()
	for i := range n {
		if i == skip {
			continue
		}
		b, err := f.Get(ctx, uint64(i))
		if err != nil || !bytes.Equal(b, repairBlock(i)) {
			t.Fatalf("block %d: %v", i, err)
		}
	}
}

// VerifyRange over a run large enough to be hashed on several cores finds
// a rotten block among good ones and names it, verifies the others, and
// blames a data file cut short on the first block it does not hold.
func TestVerifyRangeLargeRun(t *testing.T) {
	dir := t.TempDir()
	f := mustOpen(t, dir, Options{})
	big := func(i int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8), 'v'}, 30000+i) }
	for i := 0; i < 40; i += 8 {
		var batch [][]byte
		for k := i; k < i+8; k++ {
			batch = append(batch, big(k))
		}
		mustAppend(t, f, batch...)
	}
	off := mustOffset(t, f, 21)
	f.Close()
	data := filepath.Join(dir, "data")
	flipByte(t, data, int64(off)+1000)
	f = mustOpen(t, dir, Options{})
	err := f.VerifyRange(0, 40)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), data) || !strings.Contains(err.Error(), "block 21 ") {
		t.Fatalf("VerifyRange over a rotten block 21: %v, want ErrCorrupt naming %s and the block", err, data)
	}
	if f.Has(21) || !f.Verified(0, 21) || !f.Verified(22, 32) {
		t.Fatal("the blocks around the rotten one must be verified and kept, it alone cleared")
	}
	for _, i := range []uint64{0, 20, 22, 39} {
		if b, err := f.Get(ctx, i); err != nil || !bytes.Equal(b, big(int(i))) {
			t.Fatalf("block %d: %v", i, err)
		}
	}
	cut := mustOffset(t, f, 35) + 10
	f.Close()
	if err := os.Truncate(data, int64(cut)); err != nil {
		t.Fatal(err)
	}
	f = mustOpen(t, dir, Options{})
	defer f.Close()
	err = f.VerifyRange(32, 40)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "block 35 ") || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("VerifyRange over a data file cut in block 35: %v", err)
	}
	if !f.Verified(32, 35) || f.Has(35) {
		t.Fatal("blocks before the cut must verify, the cut one be cleared")
	}
}
