package bitfield

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore/flat"
	"github.com/hyperfs/hyperfs/hypercore/rle"
)

// checkIndexSafe fails if any 2-bit index entry claims 11 (all full) for a
// stretch of data bytes that are not all 0xff. JS trusts such an entry and
// would never look for the blocks under it again.
func checkIndexSafe(t *testing.T, b *Bitfield) {
	t.Helper()
	end := b.index.ByteLength()
	for x := uint64(0); x < end; x++ {
		v := b.index.GetByte(x)
		if v == 0 {
			continue
		}
		width := uint64(1) << flat.Depth(x) // data bytes per entry
		first := 2 * flat.LeftSpan(x)       // first data byte under x
		for k := uint64(0); k < 4; k++ {
			if v>>(6-2*k)&3 != 3 {
				continue
			}
			for d := first + k*width; d < first+(k+1)*width; d++ {
				if b.data.GetByte(d) != 0xff {
					t.Fatalf("index byte %d = %08b claims data bytes %d..%d full, byte %d is %02x",
						x, v, first+k*width, first+(k+1)*width-1, d, b.data.GetByte(d))
				}
			}
		}
	}
}

func TestIndexNeverOverclaims(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 60 {
		b := New()
		span := []uint64{64, 1024, 8192, 40000}[trial%4]
		for step := range 400 {
			start := r.Uint64N(span)
			n := 1 + r.Uint64N(300)
			v := r.IntN(4) != 0
			b.SetRange(start, start+n, v)
			if r.IntN(20) == 0 {
				b.Total(r.Uint64N(span), r.Uint64N(2*span))
			}
			if r.IntN(40) == 0 {
				// Reopen from what a feed would have written.
				var err error
				if b, err = Decode(b.fileBody()); err != nil {
					t.Fatal(err)
				}
			}
			if step%50 == 49 {
				checkIndexSafe(t, b)
			}
		}
		checkIndexSafe(t, b)
	}
}

// fileBody is the file body after syncing every page ever changed.
func (b *Bitfield) fileBody() []byte {
	var out []byte
	for i := uint64(0); i < b.pages.length; i++ {
		if pg := b.pages.get(i, true); pg != nil {
			out = append(out, pg.buf...)
		} else {
			out = append(out, make([]byte, PageSize)...)
		}
	}
	return out
}

// Iterating must find exactly the unset bits, whatever the index says.
func TestIteratorFindsEveryMissingBlock(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 40 {
		b := New()
		span := []uint64{100, 9000, 30000, 70000}[trial%4]
		for range 200 {
			start := r.Uint64N(span)
			b.SetRange(start, start+1+r.Uint64N(2000), r.IntN(5) != 0)
		}
		start := r.Uint64N(span / 2)
		end := start + 1 + r.Uint64N(span)
		it := b.Iterator(start, end)
		for want := start; want < end; want++ {
			if b.Get(want) {
				continue
			}
			if got := it.Next(); got != int64(want) {
				t.Fatalf("trial %d: Next = %d, want %d", trial, got, want)
			}
		}
		if got := it.Next(); got != -1 {
			t.Fatalf("trial %d: Next past the end = %d", trial, got)
		}
		if got, want := b.Total(start, end), countSet(b, start, end); got != want {
			t.Fatalf("trial %d: Total(%d, %d) = %d, want %d", trial, start, end, got, want)
		}
	}
}

func countSet(b *Bitfield, start, end uint64) uint64 {
	var n uint64
	for i := start; i < end; i++ {
		if b.Get(i) {
			n++
		}
	}
	return n
}

func TestSetGetLength(t *testing.T) {
	b := New()
	if b.Length() != 0 || b.Get(5) {
		t.Fatal("fresh bitfield not empty")
	}
	if !b.Set(5, true) || b.Set(5, true) || !b.Get(5) {
		t.Fatal("Set(5) did not change once")
	}
	if b.Length() != 8 {
		t.Fatalf("Length = %d, want 8", b.Length())
	}
	if b.Set(100000, false) {
		t.Fatal("clearing an unset bit changed it")
	}
	// The page is allocated but nothing changed: the length stays, and no
	// page is dirty beyond page 0.
	if b.Length() != 8 {
		t.Fatalf("Length = %d after clearing", b.Length())
	}
	pages := b.TakeDirty()
	if len(pages) != 1 || pages[0].Index != 0 || pages[0].Bytes[0] != 0x04 {
		t.Fatalf("dirty pages %+v", pages)
	}
	pages[0].Bytes[0] = 0xff // a copy
	if b.Get(0) {
		t.Fatal("TakeDirty returned the live page")
	}
	if b.TakeDirty() != nil {
		t.Fatal("pages still dirty")
	}
	if !b.Set(5, false) || b.Get(5) || b.Length() != 8 {
		t.Fatal("unset failed")
	}
}

func TestDecodeKeepsPageCount(t *testing.T) {
	// Two pages in the file, the second all zero: it is dropped but still
	// counts, so the data length covers both pages, as in the reference.
	body := make([]byte, 2*PageSize)
	body[0] = 0x80
	b, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if b.Length() != 2*8192 || b.Tree().Length() != 2*16384 || b.pages.get(1, true) != nil {
		t.Fatalf("lengths %d %d", b.Length(), b.Tree().Length())
	}
	// A short last page is zero-padded.
	b, err = Decode(append(make([]byte, PageSize), 0x01))
	if err != nil {
		t.Fatal(err)
	}
	if !b.Get(8192+7) || b.Length() != 2*8192 {
		t.Fatal("short page not loaded")
	}
	if b.Dirty() {
		t.Fatal("decoded pages dirty")
	}
}

func TestCompress(t *testing.T) {
	b := New()
	b.SetRange(0, 20, true)
	b.SetRange(8192+3, 8192+5, true)
	// Whole bitfield: ff ff f0, zeros, 18 at byte 1024.
	all := b.Compress(0, 0)
	if got := decodeAll(t, all); !bytes.Equal(got[:3], []byte{0xff, 0xff, 0xf0}) || got[1024] != 0x18 || len(got) != 1025 {
		t.Fatalf("Compress(0, 0) decodes to %x…", got[:4])
	}
	// Clamped to the length: page 1 only up to byte 1024+0 (length 8200).
	if got := decodeAll(t, b.Compress(8192, 1<<20)); !bytes.Equal(got, []byte{0x18}) {
		t.Fatalf("Compress(8192, 2^20) = %x", got)
	}
	// Past the end: one block, one byte.
	if got := b.Compress(1<<20, 1<<20); len(got) != 0 {
		t.Fatalf("Compress past the end = %x", got)
	}
	// A start+length overflowing uint64 is clamped, not wrapped.
	if got := decodeAll(t, b.Compress(8192, ^uint64(0)-100)); !bytes.Equal(got, []byte{0x18}) {
		t.Fatalf("overflowing Compress = %x", got)
	}
}

func decodeAll(t *testing.T, enc []byte) []byte {
	t.Helper()
	out, err := rle.Decode(enc, 1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSparse(t *testing.T) {
	s := NewSparse()
	if s.Length() != 0 || s.Get(0) {
		t.Fatal("not empty")
	}
	if !s.Set(0, true) || s.GetByte(0) != 0x80 || s.Length() != 8 {
		t.Fatalf("bit 0 is not the MSB: %02x, length %d", s.GetByte(0), s.Length())
	}
	if !s.Set(1<<40, true) || !s.Get(1<<40) || s.Length() != (1<<40)+8 {
		t.Fatalf("far bit: length %d", s.Length())
	}
	if s.Set(1<<41, false) || s.Length() != (1<<40)+8 {
		t.Fatal("clearing an unset far bit changed something")
	}
	if !s.Set(0, false) || s.Get(0) || s.Length() != (1<<40)+8 {
		t.Fatal("clearing does not shrink the length")
	}
	small := NewSparse()
	small.Set(9, true)
	if got := small.Bytes(); len(got) != 1024 || got[1] != 0x40 {
		t.Fatalf("Bytes = %x…", got[:2])
	}
}

func BenchmarkSet(b *testing.B) {
	for b.Loop() {
		bf := New()
		for i := range uint64(1_000_000) {
			bf.Set(i, true)
		}
	}
}

func BenchmarkCompress(b *testing.B) {
	bf := New()
	r := rand.New(rand.NewPCG(1, 1))
	for i := range uint64(1 << 20) {
		if r.IntN(100) != 0 {
			bf.Set(i, true)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		bf.Compress(0, 1<<20)
	}
}
