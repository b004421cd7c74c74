package bitfield

import "math/rand/v2"

// Iterator finds missing blocks (unset data bits) in a range, skipping full
// regions with the index: lib/bitfield.js's Iterator, which replication uses
// to pick blocks to download. Results are absolute block numbers, -1 meaning
// none is left.
type Iterator struct {
	start, end uint64
	indexEnd   uint64 // index leaf position past the range
	pos        int64  // current data byte, -1 when exhausted
	cur        byte   // data byte at pos with already visited bits set
	bf         *Bitfield
}

// Iterator returns an iterator over blocks [start, end), positioned at
// start; end 0 means Length(). Like the reference, ranges past Length()
// update index bytes.
func (b *Bitfield) Iterator(start, end uint64) *Iterator {
	if end == 0 {
		end = b.length
	}
	it := &Iterator{bf: b}
	return it.Range(start, end).SeekTo(0)
}

// Range changes the range to [start, end); call SeekTo before Next.
func (it *Iterator) Range(start, end uint64) *Iterator {
	it.start = start
	it.end = end
	it.indexEnd = 2 * ((end + 31) / 32)
	if end > it.bf.length {
		it.bf.expand(end)
	}
	return it
}

// SeekTo positions the iterator at block start+offset (seek).
func (it *Iterator) SeekTo(offset uint64) *Iterator {
	if it.start >= it.end || offset >= it.end-it.start {
		it.pos = -1
		return it
	}
	offset += it.start
	o := offset & 7
	it.pos = int64(offset >> 3)
	it.cur = it.bf.data.GetByte(offset >> 3)
	if o > 0 {
		it.cur |= dataIterateMask[o-1]
	}
	return it
}

// Next returns the next missing block at or after the position and moves
// past it, or -1 when none is left before the end of the range.
func (it *Iterator) Next() int64 {
	if it.pos == -1 {
		return -1
	}
	data := it.bf.data
	free := nextData0Bit[it.cur]
	for free == -1 {
		it.pos++
		it.cur = data.GetByte(uint64(it.pos))
		free = nextData0Bit[it.cur]
		if free == -1 {
			it.pos = it.skipAhead(uint64(it.pos))
			if it.pos == -1 {
				return -1
			}
			it.cur = data.GetByte(uint64(it.pos))
			free = nextData0Bit[it.cur]
		}
	}
	it.cur |= dataIterateMask[free]
	n := 8*uint64(it.pos) + uint64(free)
	if n < it.end {
		return int64(n)
	}
	return -1
}

// Peek returns the first unvisited missing block of the current data byte
// without moving. As in the reference, when every bit of that byte has been
// visited it returns 8*pos-1, which is not a missing block.
func (it *Iterator) Peek() int64 {
	if it.pos == -1 {
		return -1
	}
	n := 8*it.pos + int64(nextData0Bit[it.cur])
	if n < 0 || uint64(n) < it.end {
		return n
	}
	return -1
}

// Random returns a missing block found from a random position in the
// range, wrapping to the start if none follows it (random).
func (it *Iterator) Random(r *rand.Rand) int64 {
	var off uint64
	if it.end > it.start {
		off = r.Uint64N(it.end - it.start)
	}
	if i := it.SeekTo(off).Next(); i != -1 {
		return i
	}
	return it.SeekTo(0).Next()
}

// skipAhead uses the index to find the first data byte after start that is
// not full, or -1 if every byte up to the end of the range is full.
func (it *Iterator) skipAhead(start uint64) int64 {
	idx := it.bf.index
	treeEnd := it.indexEnd
	ite := &it.bf.ite
	o := start & 3

	ite.seek(2 * (start >> 2))
	treeByte := idx.GetByte(ite.index) | indexIterateMask[o]

	for nextIndex0Bit[treeByte] == -1 {
		if ite.isLeft() {
			ite.next()
		} else {
			ite.next()
			ite.parent()
		}
		if ite.rightSpan() >= treeEnd {
			for ite.rightSpan() >= treeEnd && ite.index&1 == 1 {
				ite.leftChild()
			}
			if ite.rightSpan() >= treeEnd {
				return -1
			}
		}
		treeByte = idx.GetByte(ite.index)
	}

	for ite.factor > 2 {
		if nextIndex0Bit[treeByte] < 2 {
			ite.leftChild()
		} else {
			ite.rightChild()
		}
		treeByte = idx.GetByte(ite.index)
	}

	free := int64(nextIndex0Bit[treeByte])
	if free == -1 {
		free = 4
	}
	next := int64(ite.index)*2 + free
	if next <= int64(start) {
		return int64(start) + 1
	}
	return next
}
