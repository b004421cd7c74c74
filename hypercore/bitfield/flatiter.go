package bitfield

import "github.com/hyperfs/hyperfs/hypercore/flat"

// flatIterator is flat-tree's Iterator, a cursor over the flat tree that the
// index walks with. factor is 2^(depth+1).
type flatIterator struct {
	index, offset, factor uint64
}

func (it *flatIterator) seek(index uint64) {
	it.index = index
	if index&1 == 1 {
		it.offset = flat.Offset(index)
		it.factor = 2 << flat.Depth(index)
	} else {
		it.offset = index / 2
		it.factor = 2
	}
}

func (it *flatIterator) isLeft() bool { return it.offset&1 == 0 }

func (it *flatIterator) next() uint64 {
	it.offset++
	it.index += it.factor
	return it.index
}

func (it *flatIterator) prev() uint64 {
	if it.offset == 0 {
		return it.index
	}
	it.offset--
	it.index -= it.factor
	return it.index
}

// sibling moves to the sibling, as the reference's iterator does; the index
// code relies on that move before calling parent.
func (it *flatIterator) sibling() uint64 {
	if it.isLeft() {
		return it.next()
	}
	return it.prev()
}

func (it *flatIterator) parent() uint64 {
	if it.offset&1 == 1 {
		it.index -= it.factor / 2
		it.offset = (it.offset - 1) / 2
	} else {
		it.index += it.factor / 2
		it.offset /= 2
	}
	it.factor *= 2
	return it.index
}

func (it *flatIterator) leftChild() uint64 {
	if it.factor == 2 {
		return it.index
	}
	it.factor /= 2
	it.index -= it.factor / 2
	it.offset *= 2
	return it.index
}

func (it *flatIterator) rightChild() uint64 {
	if it.factor == 2 {
		return it.index
	}
	it.factor /= 2
	it.index += it.factor / 2
	it.offset = 2*it.offset + 1
	return it.index
}

func (it *flatIterator) rightSpan() uint64 { return it.index + it.factor/2 - 1 }
