// Package bitfield is a port of hypercore 9's lib/bitfield.js with the
// sparse-bitfield 3.0.3 and memory-pager 1.5.0 semantics it relies on: the
// in-memory form of a feed's bitfield file, which records which blocks are
// present (data bits), which merkle tree nodes are stored (tree bits, read
// through a TreeIndex) and a 2-bit-per-byte summary of the data bits (the
// index) that lets the block iterator skip full regions.
//
// Everything that reaches the file is ported line by line, including quirks,
// so the pages a Go writer persists are byte-identical to the reference's:
// JS opens our files (it takes the feed length from the tree bits) and we
// open its files. Pages are PageSize bytes:
//
//	bytes    0..1023  data bits, blocks 8192p .. 8192p+8191
//	bytes 1024..3071  tree bits, nodes 16384p .. 16384p+16383
//	bytes 3072..3583  index bytes 512p .. 512p+511
//
// A Bitfield is not safe for concurrent use.
package bitfield

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"

	"github.com/hyperfs/hyperfs/hypercore/flat"
	"github.com/hyperfs/hyperfs/hypercore/rle"
)

// Layout of the bitfield file.
const (
	// PageSize is the size of one page: data, tree and index bytes.
	PageSize = dataPageSize + treePageSize + indexPageSize
	// HeaderSize is the size of the header before the first page.
	HeaderSize = 32

	dataPageSize  = 1024
	treePageSize  = 2048
	indexPageSize = 512

	// maxBlocks keeps bit positions where the reference's doubles are exact.
	maxBlocks = 1 << 53
)

// ErrTooLarge reports bitfield pages that would describe blocks past 2^53.
var ErrTooLarge = errors.New("bitfield: file too large")

// Header returns the 32-byte bitfield file header (lib/storage.js
// header(0, pageSize, null)): magic 05 02 57, type 0, version 0, the page size
// as uint16 big-endian and an empty algorithm name.
func Header(pageSize int) []byte {
	h := make([]byte, HeaderSize)
	h[0], h[1], h[2] = 0x05, 0x02, 0x57
	binary.BigEndian.PutUint16(h[5:7], uint16(pageSize))
	return h
}

// Page is one whole page of the file, to be written at
// HeaderSize + PageSize*Index.
type Page struct {
	Index uint64
	Bytes []byte
}

// Bitfield is hypercore's Bitfield: three Sparse views sharing one pager.
type Bitfield struct {
	pages *pager
	data  *Sparse
	tree  *Sparse
	index *Sparse
	// length mirrors the reference's this.length: the data view's length
	// as of the last data change (it can only differ from data.Length()
	// in the reference if data were written behind its back).
	length uint64
	ite    flatIterator // shared scratch cursor, as this._iterator
}

// New returns an empty bitfield.
func New() *Bitfield { return newBitfield(newPager(PageSize)) }

func newBitfield(p *pager) *Bitfield {
	b := &Bitfield{
		pages: p,
		data:  newView(p, 0, dataPageSize, true),
		tree:  newView(p, dataPageSize, treePageSize, true),
		index: newView(p, dataPageSize+treePageSize, indexPageSize, true),
	}
	b.length = b.data.Length()
	return b
}

// Decode loads a bitfield from the bytes of its file after the header, as
// hypercore does on open: the bytes are split into pages, a short last page
// is zero-padded and all-zero pages are left out, but every page counts
// towards the lengths of the views (which decide, among other things, the
// feed length TreeIndex.Blocks reports). Decode never panics; it fails only
// on input describing blocks beyond 2^53.
func Decode(pages []byte) (*Bitfield, error) {
	n := (uint64(len(pages)) + PageSize - 1) / PageSize
	if n > maxBlocks/(8*dataPageSize) {
		return nil, ErrTooLarge
	}
	p := newPager(PageSize)
	for i := uint64(0); i < n; i++ {
		chunk := pages[i*PageSize:]
		if len(chunk) > PageSize {
			chunk = chunk[:PageSize]
		}
		p.set(i, chunk)
	}
	return newBitfield(p), nil
}

// Get reports whether block i is present.
func (b *Bitfield) Get(i uint64) bool { return b.data.Get(i) }

// DataByte returns byte i of the data bits (blocks 8i..8i+7, MSB first).
func (b *Bitfield) DataByte(i uint64) byte { return b.data.GetByte(i) }

// Length is the data bit length as the reference tracks it (its
// bitfield.length): the larger of 8192 × the pages Decode loaded and 8 × one
// past the highest data byte a Set changed. It is not the feed length;
// TreeIndex.Blocks is.
func (b *Bitfield) Length() uint64 { return b.length }

// Tree returns the tree bits, the view a TreeIndex works on. It shares pages
// with the data, so writes through it are persisted by TakeDirty.
func (b *Bitfield) Tree() *Sparse { return b.tree }

// Set sets block i's bit to v, updating the index, and reports whether the
// bit changed.
func (b *Bitfield) Set(i uint64, v bool) bool {
	o := i & 7
	i >>= 3
	old := b.data.GetByte(i)
	var nb byte
	if v {
		nb = old | 0x80>>o
	} else {
		nb = old & dataUpdateMask[o]
	}
	if !b.data.SetByte(i, nb) {
		return false
	}
	b.length = b.data.Length()
	b.setIndex(i, nb)
	return true
}

// SetRange sets blocks [start, end) to v, one block at a time as the
// reference's callers do, so the index evolves identically.
func (b *Bitfield) SetRange(start, end uint64, v bool) {
	for i := start; i < end; i++ {
		b.Set(i, v)
	}
}

// setIndex records data byte i's new value in its index leaf and carries
// the change up the index tree while stored bytes change, but never past
// the pages that exist (_setIndex).
func (b *Bitfield) setIndex(i uint64, value byte) {
	o := i & 3
	i >>= 2
	idx := b.index
	ite := &b.ite
	start := 2 * i
	v := idx.GetByte(start)&indexUpdateMask[o] | indexValue(value)>>(2*o)
	oldLength := idx.Length()
	maxLength := b.pages.length * indexPageSize

	ite.seek(start)
	for ite.index < maxLength && idx.SetByte(ite.index, v) {
		if ite.isLeft() {
			v = mapParentLeft[v] | mapParentRight[idx.GetByte(ite.sibling())]
		} else {
			v = mapParentRight[v] | mapParentLeft[idx.GetByte(ite.sibling())]
		}
		ite.parent()
	}
	if oldLength != idx.Length() {
		b.expand(oldLength)
	}
}

// expand recomputes the parents above the full roots of 2*n, as far as the
// index's current length allows (_expand). The reference calls it with the
// old index bit length from setIndex but with a data bit position from
// Total and Iterator.Range; both are kept, units and all, because the bytes
// it writes reach the file.
func (b *Bitfield) expand(n uint64) {
	idx := b.index
	ite := &b.ite
	var buf [64]uint64
	for _, root := range flat.AppendFullRoots(buf[:0], 2*n) {
		ite.seek(root)
		v := idx.GetByte(ite.index)
		for {
			if ite.isLeft() {
				v = mapParentLeft[v] | mapParentRight[idx.GetByte(ite.sibling())]
			} else {
				v = mapParentRight[v] | mapParentLeft[idx.GetByte(ite.sibling())]
			}
			p := ite.parent()
			if 8*p >= idx.Length() || !idx.SetByte(p, v) {
				break
			}
		}
	}
}

// Total counts the present blocks in [start, end); end 0 means Length().
// Like the reference it may update index bytes (when end > Length()), so
// call TakeDirty afterwards as the feed would sync.
func (b *Bitfield) Total(start, end uint64) uint64 {
	if end == 0 {
		end = b.data.Length()
	}
	if end < start {
		return 0
	}
	if end > b.data.Length() {
		b.expand(end)
	}
	o, e := start&7, end&7
	pos, last := start>>3, end>>3
	leftMask := byte(255)
	if o > 0 {
		leftMask = 255 - dataIterateMask[o-1]
	}
	var rightMask byte
	if e > 0 {
		rightMask = dataIterateMask[e-1]
	}
	first := b.data.GetByte(pos)
	if pos == last {
		return uint64(bits.OnesCount8(first & leftMask & rightMask))
	}
	total := uint64(bits.OnesCount8(first & leftMask))
	for i := pos + 1; i < last; i++ {
		total += uint64(bits.OnesCount8(b.data.GetByte(i)))
	}
	return total + uint64(bits.OnesCount8(b.data.GetByte(last)&rightMask))
}

// Compress returns the RLE encoding of the data bits of [start,
// start+length) as a Have bitfield (compress). The range is clamped to
// Length() (to at least one block); start 0 and length 0 encode all data
// bits. Bytes are copied page-wise from the page holding start, exactly as
// the reference does, which is only the range asked for when start is a
// multiple of 8192 – as every Want start hypercore answers is.
func (b *Bitfield) Compress(start, length uint64) []byte {
	if start == 0 && length == 0 {
		return rle.Encode(b.data.Bytes())
	}
	if start > b.length || length > b.length-start { // start+length > Length()
		length = 1
		if b.length > start+1 {
			length = b.length - start
		}
	}
	buf := make([]byte, (length+7)/8)
	first := start / (8 * dataPageSize)
	for k := uint64(0); k*dataPageSize < uint64(len(buf)); k++ {
		pg := b.pages.get(first+k, true)
		if pg == nil {
			continue
		}
		copy(buf[k*dataPageSize:], pg.buf[:dataPageSize])
	}
	return rle.Encode(buf)
}

// TakeDirty returns copies of the pages changed since the last call, in
// ascending order, and marks them clean: what Feed#_syncBitfield writes.
func (b *Bitfield) TakeDirty() []Page {
	ups := b.pages.updates
	if len(ups) == 0 {
		return nil
	}
	out := make([]Page, len(ups))
	for i, pg := range ups {
		out[i] = Page{Index: pg.index, Bytes: slices.Clone(pg.buf)}
		pg.updated = false
	}
	clear(ups)
	b.pages.updates = ups[:0]
	slices.SortFunc(out, func(x, y Page) int {
		switch {
		case x.Index < y.Index:
			return -1
		case x.Index > y.Index:
			return 1
		}
		return 0
	})
	return out
}

// Dirty reports whether TakeDirty has pages to return.
func (b *Bitfield) Dirty() bool { return len(b.pages.updates) > 0 }
