package jsref

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// The block generator, the Go twin of integration/js/scripts/lib/blocks.js
// (TestBlocksMatchJS checks that both give the same bytes).
//
// PRNG: mulberry32 over a uint32 state a; each call, all mod 2^32:
//
//	a = a + 0x6D2B79F5
//	t = (a ^ a>>15) * (a | 1)
//	t = (t + (t ^ t>>7)*(t | 61)) ^ t
//	return t ^ t>>14
//
// Block i (i = 0, 1, ...) of seed s has its own generator, so any block can
// be made without the ones before it:
//
//	a0   = s ^ uint32(i)*0x9E3779B9
//	r    = next() % 16
//	size = 0                 if r == 0      (about 1 block in 16 is empty)
//	       next() % 256      if 1 <= r <= 9
//	       next() % 4096     if 10 <= r <= 13
//	       next() % 16384    if r == 14
//	       next() % 65537    if r == 15     (so at most 64 KiB)
//	bytes: each further next() gives 4 bytes, least significant first; the
//	       last word is cut to size.
//
// The scripts append blocks in chunks of 1, 3, 1, 1, 10, 1, 50, 2, 1, 100
// (repeating, cut at the end and at feed-write.js's reopen point), chunks of
// 1 as a single buffer and longer ones as an array.

// mulberry32 is the PRNG above.
type mulberry32 uint32

func (a *mulberry32) next() uint32 {
	*a += 0x6D2B79F5
	s := uint32(*a)
	t := (s ^ s>>15) * (s | 1)
	t = (t + (t^t>>7)*(t|61)) ^ t
	return t ^ t>>14
}

func (a *mulberry32) fill(dst []byte) {
	j := 0
	for ; j+4 <= len(dst); j += 4 {
		binary.LittleEndian.PutUint32(dst[j:], a.next())
	}
	if j < len(dst) {
		w := a.next()
		for ; j < len(dst); j++ {
			dst[j] = byte(w)
			w >>= 8
		}
	}
}

// Block returns block index of seed, as the scripts append it.
func Block(seed uint32, index uint64) []byte {
	a := mulberry32(seed ^ uint32(index)*0x9E3779B9)
	var size uint32
	switch r := a.next() % 16; {
	case r == 0:
		size = 0
	case r <= 9:
		size = a.next() % 256
	case r <= 13:
		size = a.next() % 4096
	case r == 14:
		size = a.next() % 16384
	default:
		size = a.next() % 65537
	}
	b := make([]byte, size)
	a.fill(b)
	return b
}

// Blocks returns blocks 0 to count-1 of seed.
func Blocks(seed uint32, count int) [][]byte {
	out := make([][]byte, count)
	for i := range out {
		out[i] = Block(seed, uint64(i))
	}
	return out
}

// Fill fills dst with the mulberry32 byte stream starting at state, as
// lib/blocks.js fill does; feed-bench.js makes its blocks this way.
func Fill(dst []byte, state uint32) {
	a := mulberry32(state)
	a.fill(dst)
}

// Digest accumulates the blocksSha256 the scripts print: SHA-256 over
// uint32be(len(block)) ‖ block for every block in order.
type Digest struct {
	h     hash.Hash
	Count uint64 // blocks added
	Bytes uint64 // their total length
}

// NewDigest returns an empty Digest.
func NewDigest() *Digest { return &Digest{h: sha256.New()} }

// Add adds the next block.
func (d *Digest) Add(block []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(block)))
	d.h.Write(n[:])
	d.h.Write(block)
	d.Count++
	d.Bytes += uint64(len(block))
}

// Hex returns the digest in hex, as the scripts print it.
func (d *Digest) Hex() string { return hex.EncodeToString(d.h.Sum(nil)) }

// SumBlocks returns the blocksSha256 of blocks.
func SumBlocks(blocks [][]byte) string {
	d := NewDigest()
	for _, b := range blocks {
		d.Add(b)
	}
	return d.Hex()
}

// Schedule is the append schedule of lib/blocks.js: chunk sizes, repeating.
var Schedule = []int{1, 3, 1, 1, 10, 1, 50, 2, 1, 100}

// Chunks splits [start, end) by Schedule as lib/blocks.js chunks() does;
// cuts are extra indexes where a chunk must end (the reopen point).
func Chunks(start, end int, cuts ...int) [][2]int {
	var out [][2]int
	for i, c := start, 0; i < end; c++ {
		n := min(Schedule[c%len(Schedule)], end-i)
		for _, cut := range cuts {
			if cut > i && cut < i+n {
				n = cut - i
			}
		}
		out = append(out, [2]int{i, i + n})
		i += n
	}
	return out
}

// Rand returns the mulberry32 sequence from seed, as lib/blocks.js
// mulberry32(seed) gives it (feed-bench.js picks random indexes with it).
func Rand(seed uint32) func() uint32 {
	a := mulberry32(seed)
	return a.next
}
