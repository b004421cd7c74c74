package bitfield

// Sparse is sparse-bitfield 3.0.3: a growable bitfield stored in pages that
// exist only where something was written, bits MSB-first in each byte (bit i
// is byte i/8, mask 0x80>>(i%8)).
//
// A Sparse is either standalone (NewSparse, 1024-byte pages, as the
// replication code uses for a peer's tree) or one of the three views of a
// Bitfield, each owning a byte range of the shared 3584-byte pages. Its
// Length follows the reference exactly: 8 × (bytes covered by the pages that
// existed when it was created, or one past the highest byte whose value a
// write changed, whichever is larger). hypercore derives a feed's length from
// that number (TreeIndex.Blocks), so it is part of the file format.
type Sparse struct {
	pages      *pager
	pageOffset int    // where this view starts inside each page
	pageSize   uint64 // bytes of this view per page, a power of two
	pageShift  uint
	byteLength uint64
	track      bool // report changed pages to the pager (trackUpdates)
}

// NewSparse returns an empty standalone bitfield.
func NewSparse() *Sparse { return newView(newPager(1024), 0, 1024, false) }

func newView(p *pager, offset int, size uint64, track bool) *Sparse {
	shift := uint(0)
	for 1<<shift < size {
		shift++
	}
	return &Sparse{
		pages:      p,
		pageOffset: offset,
		pageSize:   size,
		pageShift:  shift,
		byteLength: p.length * size,
		track:      track,
	}
}

// Get reports whether bit i is set.
func (s *Sparse) Get(i uint64) bool {
	return s.GetByte(i>>3)&(0x80>>(i&7)) != 0
}

// Set sets bit i to v and reports whether that changed it.
func (s *Sparse) Set(i uint64, v bool) bool {
	j := i >> 3
	b := s.GetByte(j)
	if v {
		b |= 0x80 >> (i & 7)
	} else {
		b &^= 0x80 >> (i & 7)
	}
	return s.SetByte(j, b)
}

// GetByte returns byte i, 0 where no page exists.
func (s *Sparse) GetByte(i uint64) byte {
	pg := s.pages.get(i>>s.pageShift, true)
	if pg == nil {
		return 0
	}
	return pg.buf[s.pageOffset+int(i&(s.pageSize-1))]
}

// SetByte stores b at byte i and reports whether that changed it. Like the
// reference it allocates the page even when nothing changes.
func (s *Sparse) SetByte(i uint64, b byte) bool {
	pg := s.pages.get(i>>s.pageShift, false)
	o := s.pageOffset + int(i&(s.pageSize-1))
	if pg.buf[o] == b {
		return false
	}
	pg.buf[o] = b
	if i >= s.byteLength {
		s.byteLength = i + 1
	}
	if s.track {
		s.pages.updated(pg)
	}
	return true
}

// Length is the bit length as the reference tracks it (see Sparse).
func (s *Sparse) Length() uint64 { return 8 * s.byteLength }

// ByteLength is Length/8.
func (s *Sparse) ByteLength() uint64 { return s.byteLength }

// Bytes returns this view's bytes of every page up to the pager's length
// (sparse-bitfield toBuffer), zeros where no page exists.
func (s *Sparse) Bytes() []byte {
	all := make([]byte, s.pages.length*s.pageSize)
	for i := uint64(0); i < s.pages.length; i++ {
		if pg := s.pages.get(i, true); pg != nil {
			copy(all[i*s.pageSize:], pg.buf[s.pageOffset:s.pageOffset+int(s.pageSize)])
		}
	}
	return all
}
