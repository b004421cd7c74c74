package bitfield_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore/bitfield"
	"github.com/hyperfs/hyperfs/hypercore/treeindex"
	"github.com/hyperfs/hyperfs/internal/vectors"
)

// feedSim does to a bitfield file what a writable hypercore 9 feed does:
// open (Storage#open, Feed#_open), append (Feed#_append: per block set the
// data bit, then tree.set(2*blk)) and sync (Feed#_syncBitfield: write each
// dirty page whole at 32 + 3584*page).
type feedSim struct {
	t      testing.TB
	file   []byte
	bf     *bitfield.Bitfield
	tree   *treeindex.TreeIndex
	length uint64
}

func openSim(t testing.TB, file []byte) *feedSim {
	t.Helper()
	f := &feedSim{t: t, file: slices.Clone(file)}
	// The header is rewritten on every open.
	if len(f.file) < bitfield.HeaderSize {
		f.file = append(f.file, make([]byte, bitfield.HeaderSize-len(f.file))...)
	}
	copy(f.file, bitfield.Header(bitfield.PageSize))
	bf, err := bitfield.Decode(f.file[bitfield.HeaderSize:])
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	f.bf = bf
	f.tree = treeindex.New(bf.Tree())
	f.length = f.tree.Blocks()
	return f
}

func (f *feedSim) append(n int) {
	for range n {
		f.bf.Set(f.length, true)
		f.tree.Set(2 * f.length)
		f.length++
	}
	f.sync()
}

func (f *feedSim) sync() {
	var last uint64
	for i, p := range f.bf.TakeDirty() {
		if i > 0 && p.Index <= last {
			f.t.Fatalf("dirty pages out of order: %d after %d", p.Index, last)
		}
		last = p.Index
		if len(p.Bytes) != bitfield.PageSize {
			f.t.Fatalf("dirty page %d has %d bytes", p.Index, len(p.Bytes))
		}
		off := bitfield.HeaderSize + bitfield.PageSize*int(p.Index)
		if end := off + bitfield.PageSize; end > len(f.file) {
			f.file = append(f.file, make([]byte, end-len(f.file))...)
		}
		copy(f.file[off:], p.Bytes)
	}
	if f.bf.Dirty() {
		f.t.Fatal("still dirty after TakeDirty")
	}
}

type fileRow struct {
	Blocks            int
	FileSize          int
	Sha256            string
	IndexBytesNonZero []string
}

func loadFileRows(t testing.TB) []fileRow {
	var v struct{ Rows []fileRow }
	vectors.Load(t, "storage.bitfieldFiles", &v)
	if len(v.Rows) == 0 {
		t.Fatal("no rows in vector")
	}
	return v.Rows
}

func checkFile(t *testing.T, how string, f *feedSim, r fileRow) {
	t.Helper()
	if f.length != uint64(r.Blocks) {
		t.Errorf("%s: length %d, want %d", how, f.length, r.Blocks)
	}
	if len(f.file) != r.FileSize {
		t.Errorf("%s: file size %d, want %d", how, len(f.file), r.FileSize)
	}
	sum := sha256.Sum256(f.file)
	if got := hex.EncodeToString(sum[:]); got != r.Sha256 {
		t.Errorf("%s: sha256 %s, want %s", how, got, r.Sha256)
	}
	if r.IndexBytesNonZero != nil {
		var got []string
		idx := f.file[bitfield.HeaderSize+3072 : bitfield.HeaderSize+bitfield.PageSize]
		for i, b := range idx {
			if b != 0 {
				got = append(got, fmt.Sprintf("%d:%02x", i, b))
			}
		}
		if !slices.Equal(got, r.IndexBytesNonZero) {
			t.Errorf("%s: index bytes %v, want %v", how, got, r.IndexBytesNonZero)
		}
	}
	// Reopening gives the same length and bits, and writes nothing.
	g := openSim(t, f.file)
	if g.length != f.length {
		t.Errorf("%s: reopened length %d, want %d", how, g.length, f.length)
	}
	if n := g.bf.Total(0, f.length); n != f.length {
		t.Errorf("%s: reopened total %d, want %d", how, n, f.length)
	}
}

func TestFileMatchesReference(t *testing.T) {
	for _, r := range loadFileRows(t) {
		t.Run(fmt.Sprint(r.Blocks), func(t *testing.T) {
			f := openSim(t, nil)
			f.append(r.Blocks)
			checkFile(t, "one batch", f, r)

			f = openSim(t, nil)
			for range r.Blocks {
				f.append(1)
			}
			checkFile(t, "one by one", f, r)

			// Close and reopen between batches of varying sizes, crossing
			// page boundaries at different points.
			for _, step := range []int{1, 7, 999, 8191, 8192, 8193} {
				if step > r.Blocks && step != 1 {
					continue
				}
				f = openSim(t, nil)
				for done := 0; done < r.Blocks; {
					n := min(step+done%5, r.Blocks-done)
					f.append(n)
					done += n
					if done%3 == 0 || n >= 999 || r.Blocks <= 100 {
						f = openSim(t, f.file)
					}
				}
				checkFile(t, fmt.Sprintf("reopened, step %d", step), f, r)
			}
		})
	}
}

// The three-block feed's page 0 (storage.threeBlockFeedFiles).
func TestThreeBlockPage(t *testing.T) {
	var v struct {
		Files struct {
			Bitfield struct {
				Header string
				Page0  struct {
					DataBits_first4 string
					TreeBits_first4 string
				}
			}
		}
	}
	vectors.Load(t, "storage.threeBlockFeedFiles", &v)
	f := openSim(t, nil)
	f.append(3)
	bf := v.Files.Bitfield
	if got := hex.EncodeToString(f.file[:32]); got != bf.Header {
		t.Errorf("header %s, want %s", got, bf.Header)
	}
	if got := hex.EncodeToString(f.file[32:36]); got != bf.Page0.DataBits_first4 {
		t.Errorf("data bits %s, want %s", got, bf.Page0.DataBits_first4)
	}
	if got := hex.EncodeToString(f.file[32+1024 : 32+1028]); got != bf.Page0.TreeBits_first4 {
		t.Errorf("tree bits %s, want %s", got, bf.Page0.TreeBits_first4)
	}
}

func TestHeader(t *testing.T) {
	want := append([]byte{5, 2, 0x57, 0, 0, 0x0e, 0, 0}, make([]byte, 24)...)
	if got := bitfield.Header(bitfield.PageSize); !bytes.Equal(got, want) {
		t.Fatalf("Header = %x", got)
	}
}

func FuzzDecode(f *testing.F) {
	for _, r := range loadFileRows(f) {
		if r.Blocks > 9000 {
			continue
		}
		s := openSim(f, nil)
		s.append(r.Blocks)
		body := s.file[bitfield.HeaderSize:]
		f.Add(body)
		f.Add(body[:len(body)-1])
		f.Add(body[:1500])
		f.Add(body[:bitfield.PageSize+1])
	}
	f.Add([]byte{})
	f.Add([]byte{0xff})
	f.Add(bytes.Repeat([]byte{0xff}, bitfield.PageSize))
	f.Add(append(make([]byte, bitfield.PageSize), 0x80))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 4*bitfield.PageSize {
			return
		}
		bf, err := bitfield.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		// Everything a feed does after open must not panic either.
		tree := treeindex.New(bf.Tree())
		n := tree.Blocks()
		tree.Digest(2 * n)
		tree.Proof(0, 0, true, nil)
		bf.Total(0, 0)
		bf.Compress(0, 0)
		bf.Compress(0, 1<<20)
		it := bf.Iterator(0, 0)
		for range 100 {
			if it.Next() == -1 {
				break
			}
		}
		bf.Set(n, true)
		tree.Set(2 * n)
		for _, p := range bf.TakeDirty() {
			if len(p.Bytes) != bitfield.PageSize {
				t.Fatalf("page of %d bytes", len(p.Bytes))
			}
		}
	})
}
