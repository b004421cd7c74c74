package replication

import (
	"math/bits"
	"slices"
)

// pageBits is the number of bits in one bitset page (8 KiB of bits, the
// granularity of a Want window's bitfield pages).
const pageBits = 1 << 16

type page [pageBits / 64]uint64

// bitset is a sparse, growable set of block numbers: the blocks a remote has
// and we lack. Pages are allocated only where bits are set, so a peer
// announcing blocks far out costs one page, not the span up to them.
type bitset struct {
	pages map[uint64]*page
	keys  []uint64 // sorted page numbers of pages
}

func newBitset() *bitset { return &bitset{pages: map[uint64]*page{}} }

func (b *bitset) page(p uint64, alloc bool) *page {
	pg := b.pages[p]
	if pg == nil && alloc {
		pg = new(page)
		b.pages[p] = pg
		i, _ := slices.BinarySearch(b.keys, p)
		b.keys = slices.Insert(b.keys, i, p)
	}
	return pg
}

func (b *bitset) get(i uint64) bool {
	pg := b.pages[i/pageBits]
	if pg == nil {
		return false
	}
	o := i % pageBits
	return pg[o/64]&(1<<(o%64)) != 0
}

func (b *bitset) set(i uint64, v bool) {
	pg := b.page(i/pageBits, v)
	if pg == nil {
		return
	}
	o := i % pageBits
	if v {
		pg[o/64] |= 1 << (o % 64)
	} else {
		pg[o/64] &^= 1 << (o % 64)
	}
}

// setByte overwrites bits 8k … 8k+7 with v, MSB first (the wire order).
func (b *bitset) setByte(k uint64, v byte) {
	pg := b.page(8*k/pageBits, v != 0)
	if pg == nil {
		return
	}
	o := (8 * k) % pageBits
	w := &pg[o/64]
	shift := o % 64
	*w = *w&^(0xff<<shift) | uint64(bits.Reverse8(v))<<shift
}

// next returns the first set bit at or after i.
func (b *bitset) next(i uint64) (uint64, bool) {
	k, _ := slices.BinarySearch(b.keys, i/pageBits)
	for ; k < len(b.keys); k++ {
		p := b.keys[k]
		pg := b.pages[p]
		o := uint64(0)
		if p == i/pageBits {
			o = i % pageBits
		}
		for w := o / 64; w < uint64(len(pg)); w++ {
			x := pg[w]
			if w == o/64 {
				x &^= (1 << (o % 64)) - 1
			}
			if x != 0 {
				return p*pageBits + w*64 + uint64(bits.TrailingZeros64(x)), true
			}
		}
	}
	return 0, false
}

// last returns the highest set bit.
func (b *bitset) last() (uint64, bool) {
	for k := len(b.keys) - 1; k >= 0; k-- {
		p := b.keys[k]
		pg := b.pages[p]
		for w := len(pg) - 1; w >= 0; w-- {
			if pg[w] != 0 {
				return p*pageBits + uint64(w)*64 + 63 - uint64(bits.LeadingZeros64(pg[w])), true
			}
		}
	}
	return 0, false
}
