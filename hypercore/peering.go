package hypercore

import "fmt"

// What the replication layer (hypercore/replication) needs from a feed beyond
// reading and verify-and-store: the local data bits, as bytes and as the RLE
// Have bitfield the reference sends in answer to a Want.

// CompressBitfield returns the RLE-encoded data bits of blocks [start,
// start+length), the bitfield of a Have answering a Want with that start and
// length (the reference's bitfield.compress: clamped to the local bit length,
// trailing zero bytes dropped).
func (f *Feed) CompressBitfield(start, length uint64) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bits.Compress(start, length)
}

// AppendDataBytes appends n bytes of the local data bits to dst, starting at
// byte first (blocks 8·first … 8·first+7 in the first byte, MSB first), and
// returns the extended slice. Bytes past the local bitfield are zero.
func (f *Feed) AppendDataBytes(dst []byte, first, n uint64) []byte {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for i := uint64(0); i < n; i++ {
		dst = append(dst, f.bits.DataByte(first+i))
	}
	return dst
}

// FirstMissing returns the first block of [start, end) not stored locally,
// or false if every one is.
func (f *Feed) FirstMissing(start, end uint64) (uint64, bool) {
	if end <= start {
		return 0, false
	}
	f.mu.Lock() // the iterator may grow index bytes, as the reference's
	defer f.mu.Unlock()
	i := f.bits.Iterator(start, end).Next()
	if i < 0 {
		return 0, false
	}
	return uint64(i), true
}

// GetLocal returns block i if it is stored locally, without waiting or
// asking peers (ErrNotAvailable otherwise): what an uploader serves.
func (f *Feed) GetLocal(i uint64) ([]byte, error) {
	f.mu.RLock()
	has, closed := f.bits.Get(i), f.closed
	f.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if !has {
		return nil, fmt.Errorf("block %d of %s: %w", i, f.store.Location(), ErrNotAvailable)
	}
	data, _, err := f.readBlock(i, true)
	return data, err
}
