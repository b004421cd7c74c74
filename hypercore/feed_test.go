package hypercore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/hypercore/storage"
	"github.com/hyperfs/hyperfs/hypercore/treeindex"
	"github.com/hyperfs/hyperfs/internal/vectors"
)

var ctx = context.Background()

func seedKeys(t *testing.T) hcrypto.KeyPair {
	t.Helper()
	var kp struct{ Seed string }
	vectors.Load(t, "crypto.signKeyPair", &kp)
	keys, err := hcrypto.KeyPairFromSeed(vectors.Hex(t, kp.Seed))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func mustOpen(t *testing.T, dir string, opts Options) *Feed {
	t.Helper()
	f, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func mustAppend(t *testing.T, f *Feed, blocks ...[]byte) {
	t.Helper()
	if _, err := f.Append(blocks...); err != nil {
		t.Fatal(err)
	}
}

// TestFilesMatchReference checks every file of a three-block feed against
// the bytes the JavaScript reference wrote.
func TestFilesMatchReference(t *testing.T) {
	type file struct {
		Size   int
		Sha256 string
		Hex    string
	}
	var v struct{ Files map[string]file }
	vectors.Load(t, "storage.threeBlockFeedFiles", &v)
	keys := seedKeys(t)
	dir := t.TempDir()
	f := mustOpen(t, dir, Options{SecretKey: keys.SecretKey})
	mustAppend(t, f, []byte("a"), []byte("b"), []byte("c"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"key", "secret_key", "data", "tree", "signatures", "bitfield"} {
		want, ok := v.Files[name]
		if !ok {
			t.Fatalf("vector lacks %s", name)
		}
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(got)
		if len(got) != want.Size || hex.EncodeToString(sum[:]) != want.Sha256 {
			t.Errorf("%s: %d bytes sha256 %x, want %d bytes %s\n got %x\nwant %s", name, len(got), sum, want.Size, want.Sha256, got, want.Hex)
		}
	}
}

func TestAppendGetReopen(t *testing.T) {
	dir := t.TempDir()
	f := mustOpen(t, dir, Options{})
	var want [][]byte
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		n := r.IntN(3000)
		if i%17 == 0 {
			n = 0
		}
		b := make([]byte, n)
		for k := range b {
			b[k] = byte(r.Uint32())
		}
		want = append(want, b)
	}
	mustAppend(t, f, want[:100]...)
	for _, b := range want[100:200] {
		mustAppend(t, f, b)
	}
	key := f.Key()
	f.Close()

	f = mustOpen(t, dir, Options{})
	if !bytes.Equal(f.Key(), key) || !f.Writable() {
		t.Fatal("reopen lost the key pair")
	}
	if f.Length() != 200 {
		t.Fatalf("length after reopen %d", f.Length())
	}
	mustAppend(t, f, want[200:]...)
	var total uint64
	for i, b := range want {
		got, err := f.Get(ctx, uint64(i))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("block %d: %v (%d bytes, want %d)", i, err, len(got), len(b))
		}
		total += uint64(len(b))
	}
	if f.ByteLength() != total || f.Length() != uint64(len(want)) {
		t.Fatalf("length %d byteLength %d, want %d %d", f.Length(), f.ByteLength(), len(want), total)
	}
	batch, err := f.GetBatch(ctx, 50, 150)
	if err != nil {
		t.Fatal(err)
	}
	for k, b := range batch {
		if !bytes.Equal(b, want[50+k]) {
			t.Fatalf("batch block %d differs", 50+k)
		}
	}
	head, err := f.Head(ctx)
	if err != nil || !bytes.Equal(head, want[len(want)-1]) {
		t.Fatalf("head: %v", err)
	}
	// Seek: every byte offset maps to its block.
	var off uint64
	for i, b := range want {
		if len(b) == 0 {
			continue
		}
		for _, d := range []uint64{0, uint64(len(b)) - 1} {
			idx, rel, err := f.Seek(off + d)
			if err != nil || idx != uint64(i) || rel != d {
				t.Fatalf("seek %d: got %d+%d %v, want %d+%d", off+d, idx, rel, err, i, d)
			}
		}
		off += uint64(len(b))
	}
	if idx, rel, err := f.Seek(total); err != nil || idx != f.Length() || rel != 0 {
		t.Fatalf("seek to end: %d %d %v", idx, rel, err)
	}
	if _, _, err := f.Seek(total + 1); !errors.Is(err, ErrOutOfBounds) {
		t.Fatalf("seek past end: %v", err)
	}
	if _, err := f.Get(ctx, 10000); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("get past end: %v", err)
	}
	// Signatures exist only for the last block of each batch.
	si, sig, err := f.Signature(0)
	if err != nil || si != 99 {
		t.Fatalf("signature(0) = slot %d, %v", si, err)
	}
	if err := f.Verify(si, sig); err != nil {
		t.Fatal(err)
	}
	if err := f.Verify(si+1, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("verify at wrong index: %v", err)
	}
	if !f.HasRange(0, f.Length()) || f.Downloaded(0, f.Length()) != f.Length() {
		t.Fatal("writer lacks blocks")
	}
}

func TestBlockLimitAndReadOnly(t *testing.T) {
	f := mustOpen(t, t.TempDir(), Options{})
	if _, err := f.Append(make([]byte, MaxBlockSize+1)); !errors.Is(err, ErrBlockTooLarge) {
		t.Fatalf("oversize block: %v", err)
	}
	mustAppend(t, f, make([]byte, MaxBlockSize))
	ro := mustOpen(t, t.TempDir(), Options{PublicKey: f.Key()})
	if ro.Writable() {
		t.Fatal("feed opened with a public key is writable")
	}
	if _, err := ro.Append([]byte("x")); !errors.Is(err, ErrNotWritable) {
		t.Fatalf("append to replica: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "nothing")
	if _, err := Open(empty, Options{MustExist: true}); !errors.Is(err, ErrNoFeed) {
		t.Fatalf("MustExist on empty dir: %v", err)
	}
	if _, err := os.Stat(empty); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("MustExist created %s", empty)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	f := mustOpen(t, dir, Options{})
	mustAppend(t, f, []byte("hello"))
	if _, err := Open(dir, Options{}); !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	f.Close()
	other, _ := hcrypto.NewKeyPair()
	if _, err := Open(dir, Options{PublicKey: other.PublicKey}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("open with another key: %v", err)
	}
	// A feed opened without its secret key can still be read.
	noSecret := t.TempDir()
	g := mustOpen(t, noSecret, Options{DontStoreSecretKey: true})
	mustAppend(t, g, []byte("x"))
	g.Close()
	g = mustOpen(t, noSecret, Options{})
	if g.Writable() {
		t.Fatal("secret key was stored")
	}
	if b, err := g.Get(ctx, 0); err != nil || string(b) != "x" {
		t.Fatalf("read back %q %v", b, err)
	}
}

// TestCorruptFilesNameTheFile damages each file and checks the error names
// it and nothing panics.
func TestCorruptFilesNameTheFile(t *testing.T) {
	build := func(t *testing.T) string {
		dir := t.TempDir()
		f := mustOpen(t, dir, Options{})
		for i := range 20 {
			mustAppend(t, f, bytes.Repeat([]byte{byte(i)}, 100))
		}
		f.Close()
		return dir
	}
	t.Run("truncated data", func(t *testing.T) {
		dir := build(t)
		os.Truncate(filepath.Join(dir, "data"), 1050)
		f := mustOpen(t, dir, Options{})
		_, err := f.Get(ctx, 15)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "data")) {
			t.Fatalf("got %v, want an error naming the data file", err)
		}
	})
	t.Run("flipped data byte", func(t *testing.T) {
		dir := build(t)
		flipByte(t, filepath.Join(dir, "data"), 550)
		f := mustOpen(t, dir, Options{NoVerifyReads: true})
		rep, err := f.Audit()
		if err != nil || rep.Invalid != 1 || rep.Valid != 19 || rep.Bad[0] != 5 {
			t.Fatalf("audit %+v %v", rep, err)
		}
		if f.Has(5) {
			t.Fatal("audit left the bad block marked present")
		}
		f.Close()
		f = mustOpen(t, dir, Options{})
		if f.Has(5) || !f.Has(4) || f.Length() != 20 {
			t.Fatal("audit result not persisted")
		}
		f.Close()

		// Reads find the same block by default, and clear it too.
		dir = build(t)
		flipByte(t, filepath.Join(dir, "data"), 550)
		f = mustOpen(t, dir, Options{})
		_, err = f.Get(ctx, 5)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Join(dir, "data")) {
			t.Fatalf("got %v, want ErrCorrupt naming data", err)
		}
		if f.Has(5) || !f.Has(4) {
			t.Fatal("a block that failed verification is still marked present")
		}
		f.Close()
		f = mustOpen(t, dir, Options{})
		if f.Has(5) || !f.Has(4) || f.Length() != 20 {
			t.Fatal("clearing the corrupt block was not persisted")
		}
	})
	t.Run("truncated tree", func(t *testing.T) {
		dir := build(t)
		os.Truncate(filepath.Join(dir, "tree"), 32+40*10+7)
		// The feed opens at the longest length the tree still proves, and
		// refuses to sign over the blocks it lost.
		f, err := Open(dir, Options{})
		if err == nil {
			defer f.Close()
			if f.Length() != 8 {
				t.Fatalf("length %d, want 8", f.Length())
			}
			_, err = f.Append([]byte("x"))
		}
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "tree")) {
			t.Fatalf("got %v, want an error naming the tree file", err)
		}
	})
	t.Run("truncated key", func(t *testing.T) {
		dir := build(t)
		os.Truncate(filepath.Join(dir, "key"), 20)
		_, err := Open(dir, Options{})
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "key")) {
			t.Fatalf("got %v, want an error naming the key file", err)
		}
	})
	t.Run("garbage bitfield", func(t *testing.T) {
		dir := build(t)
		os.WriteFile(filepath.Join(dir, "bitfield"), bytes.Repeat([]byte{0xff}, 5000), 0o644)
		// Rebuilt from the tree and signatures.
		f := mustOpen(t, dir, Options{})
		if f.Length() != 20 || !f.HasRange(0, 20) {
			t.Fatalf("length %d, want 20 blocks stored", f.Length())
		}
	})
}

// diskBytes is the disk space a file takes (its allocated blocks).
func diskBytes(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x55
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestClearFreesAndForgets(t *testing.T) {
	dir := t.TempDir()
	f := mustOpen(t, dir, Options{})
	for i := range 64 {
		mustAppend(t, f, bytes.Repeat([]byte{byte(i)}, 64<<10))
	}
	before := diskBytes(t, filepath.Join(dir, "data"))
	if err := f.Clear(8, 56); err != nil {
		t.Fatal(err)
	}
	if after := diskBytes(t, filepath.Join(dir, "data")); after > before-40*64<<10 {
		t.Errorf("clearing 3 MiB freed only %d bytes of disk", before-after)
	}
	if f.Has(8) || f.Has(55) || !f.Has(7) || !f.Has(56) {
		t.Fatal("clear touched the wrong blocks")
	}
	if _, err := f.Get(ctx, 10); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("get cleared block: %v", err)
	}
	if b, err := f.Get(ctx, 56); err != nil || b[0] != 56 {
		t.Fatalf("block after the cleared range: %v", err)
	}
	// The proof for a cleared block still exists (nodes are kept).
	if _, err := f.Proof(10, 0, true, nil); err != nil {
		t.Fatalf("hash proof of cleared block: %v", err)
	}
}

// replicate copies blocks from src into dst through Proof and Put, as the
// wire protocol would.
func replicate(t *testing.T, src, dst *Feed, blocks []uint64) {
	t.Helper()
	remote := treeindex.New(nil)
	for _, i := range blocks {
		p, err := src.Proof(i, dst.Digest(i), false, remote)
		if err != nil {
			t.Fatalf("proof %d: %v", i, err)
		}
		data, err := src.Get(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if err := dst.Put(i, data, p, "peer"); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
}

func TestReplicateThroughProofs(t *testing.T) {
	src := mustOpen(t, t.TempDir(), Options{})
	var want [][]byte
	for i := range 200 {
		b := []byte(fmt.Sprintf("block %d %s", i, strings.Repeat("x", i%37)))
		if i%50 == 0 {
			b = nil
		}
		want = append(want, b)
	}
	mustAppend(t, src, want[:120]...)
	for _, b := range want[120:] {
		mustAppend(t, src, b)
	}
	for name, order := range map[string][]uint64{
		"sequential": seq(0, 200),
		"reverse":    reverse(seq(0, 200)),
		"random":     shuffled(seq(0, 200)),
		"sparse":     {7, 150, 3, 199},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			dst := mustOpen(t, dir, Options{PublicKey: src.Key(), Sparse: true})
			var appends int
			dst.Subscribe(func(e Event) {
				if e.Kind == EventAppend {
					appends++
				}
			})
			replicate(t, src, dst, order)
			if dst.Length() != 200 || dst.ByteLength() != src.ByteLength() {
				t.Fatalf("length %d bytes %d", dst.Length(), dst.ByteLength())
			}
			if appends == 0 {
				t.Fatal("no append event")
			}
			for _, i := range order {
				got, err := dst.Get(ctx, i)
				if err != nil || !bytes.Equal(got, want[i]) {
					t.Fatalf("block %d: %v", i, err)
				}
			}
			if uint64(len(order)) != dst.Downloaded(0, 200) {
				t.Fatalf("downloaded %d, want %d", dst.Downloaded(0, 200), len(order))
			}
			dst.Close()
			dst = mustOpen(t, dir, Options{PublicKey: src.Key()})
			if dst.Length() != 200 {
				t.Fatalf("replica length after reopen %d", dst.Length())
			}
			rep, err := dst.Audit()
			if err != nil || rep.Invalid != 0 || rep.Valid != uint64(len(order)) {
				t.Fatalf("audit %+v %v", rep, err)
			}
		})
	}
}

func TestHashOnlyReply(t *testing.T) {
	src := mustOpen(t, t.TempDir(), Options{})
	mustAppend(t, src, []byte("a"), []byte("b"), []byte("c"))
	dst := mustOpen(t, t.TempDir(), Options{PublicKey: src.Key(), Sparse: true})
	p, err := src.Proof(2, 0, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := indexes(p.Nodes); fmt.Sprint(got) != "[4 1]" || p.Signature == nil {
		t.Fatalf("hash proof nodes %v sig %v", got, p.Signature != nil)
	}
	if err := dst.Put(2, nil, p, nil); err != nil {
		t.Fatal(err)
	}
	if dst.Length() != 3 || dst.Has(2) || !dst.HasNode(4) {
		t.Fatalf("after hash reply: length %d has %v", dst.Length(), dst.Has(2))
	}
}

// TestHostileProofs: every tampered proof is rejected and nothing is stored.
func TestHostileProofs(t *testing.T) {
	src := mustOpen(t, t.TempDir(), Options{})
	for i := range 16 {
		mustAppend(t, src, []byte(fmt.Sprint("block ", i)))
	}
	good, err := src.Proof(5, 0, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := src.Get(ctx, 5)
	other := mustOpen(t, t.TempDir(), Options{})
	for i := range 16 {
		mustAppend(t, other, []byte(fmt.Sprint("block ", i)))
	}
	forged, _ := other.Proof(5, 0, false, nil)

	cases := map[string]func() ([]byte, Proof){
		"changed data": func() ([]byte, Proof) { return []byte("evil"), good },
		"changed node": func() ([]byte, Proof) {
			p := clone(good)
			p.Nodes[1].Hash[0] ^= 1
			return data, p
		},
		"changed size": func() ([]byte, Proof) {
			p := clone(good)
			p.Nodes[0].Size++
			return data, p
		},
		"bad signature": func() ([]byte, Proof) {
			p := clone(good)
			p.Signature[10] ^= 1
			return data, p
		},
		"no signature":     func() ([]byte, Proof) { p := clone(good); p.Signature = nil; return data, p },
		"missing roots":    func() ([]byte, Proof) { p := clone(good); p.Nodes = p.Nodes[:1]; return data, p },
		"other key's tree": func() ([]byte, Proof) { return data, forged },
		"empty proof":      func() ([]byte, Proof) { return data, Proof{} },
		"hash reply without node": func() ([]byte, Proof) {
			return nil, Proof{Signature: good.Signature}
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			dst := mustOpen(t, dir, Options{PublicKey: src.Key(), Sparse: true})
			d, p := mk()
			err := dst.Put(5, d, p, nil)
			if !errors.Is(err, ErrBadProof) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("got %v, want a proof or signature error", err)
			}
			if dst.Length() != 0 || dst.Has(5) {
				t.Fatal("rejected block changed the feed")
			}
			if n, _ := dst.dataFile.Size(); n != 0 {
				t.Fatalf("%d data bytes written for a rejected block", n)
			}
			if n, _ := dst.sigFile.Size(); n > headerSize {
				t.Fatal("signature written for a rejected block")
			}
			// The real block still goes in afterwards.
			if err := dst.Put(5, data, good, nil); err != nil {
				t.Fatalf("good proof after a bad one: %v", err)
			}
		})
	}
}

func TestProofsMatchReference(t *testing.T) {
	var v struct {
		W3rows []struct {
			Block     uint64
			DataProof struct {
				Nodes      []uint64
				VerifiedBy uint64
			}
			HashProof struct {
				Nodes      []uint64
				VerifiedBy uint64
			}
		}
	}
	vectors.Load(t, "replication.proofs", &v)
	src := mustOpen(t, t.TempDir(), Options{SecretKey: seedKeys(t).SecretKey})
	mustAppend(t, src, []byte("a"), []byte("b"), []byte("c"))
	for _, r := range v.W3rows {
		p, err := src.Proof(r.Block, 0, false, nil)
		if err != nil || fmt.Sprint(indexes(p.Nodes)) != fmt.Sprint(r.DataProof.Nodes) {
			t.Errorf("data proof %d = %v %v, want %v", r.Block, indexes(p.Nodes), err, r.DataProof.Nodes)
		}
		p, err = src.Proof(r.Block, 0, true, nil)
		if err != nil || fmt.Sprint(indexes(p.Nodes)) != fmt.Sprint(r.HashProof.Nodes) {
			t.Errorf("hash proof %d = %v %v, want %v", r.Block, indexes(p.Nodes), err, r.HashProof.Nodes)
		}
	}
}

func clone(p Proof) Proof {
	return Proof{Nodes: append([]hcrypto.Node(nil), p.Nodes...), Signature: bytes.Clone(p.Signature)}
}

func indexes(ns []hcrypto.Node) []uint64 {
	out := make([]uint64, len(ns))
	for i, n := range ns {
		out[i] = n.Index
	}
	return out
}

func seq(a, b uint64) []uint64 {
	var s []uint64
	for i := a; i < b; i++ {
		s = append(s, i)
	}
	return s
}

func reverse(s []uint64) []uint64 {
	out := make([]uint64, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func shuffled(s []uint64) []uint64 {
	r := rand.New(rand.NewPCG(3, 4))
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}
