package hypertrie

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// A node's trie is a list of buckets indexed by path position; bucket[v]
// holds the seq of the newest node that agrees with this one before the
// position and has value v there, and slots v+5, v+10, … hold nodes whose
// hashes collide with it (trap 22).
//
// Encoding (hypertrie lib/trie.js): varint(positions), then for every
// bucket in increasing position: varint(position), varint(bitmask of
// occupied slots), varint(seq) per occupied slot in slot order.

// maxSlots bounds the slots of one bucket: the reference builds the
// bitmask with 32-bit operations, so more can never be written.
const maxSlots = 32

func encodeTrie(trie [][]uint64) []byte {
	buf := binary.AppendUvarint(nil, uint64(len(trie)))
	for i, bucket := range trie {
		if bucket == nil {
			continue
		}
		var mask uint64
		for j, seq := range bucket {
			if seq != 0 {
				mask |= 1 << j
			}
		}
		buf = binary.AppendUvarint(buf, uint64(i))
		buf = binary.AppendUvarint(buf, mask)
		for _, seq := range bucket {
			if seq != 0 {
				buf = binary.AppendUvarint(buf, seq)
			}
		}
	}
	return buf
}

var errVarint = errors.New("truncated or overlong varint in trie")

// sparseTrie is the trie of a node that is read, not built: only the
// positions that have a bucket, so a cached node costs memory for its
// pointers and not for every position of its path. A trie of a key two
// components deep has 66 positions and typically a dozen buckets.
type sparseTrie struct {
	idx  []uint32 // pairs (position, end of its slots in seqs), by position
	seqs []uint64 // every bucket's slots back to back
}

// bucket returns the slots at position i, nil if none.
func (s *sparseTrie) bucket(i int) []uint64 {
	lo, hi := 0, len(s.idx)/2
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int(s.idx[2*m]) < i {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(s.idx)/2 || int(s.idx[2*lo]) != i {
		return nil
	}
	start := uint32(0)
	if lo > 0 {
		start = s.idx[2*lo-1]
	}
	return s.seqs[start:s.idx[2*lo+1]:s.idx[2*lo+1]]
}

// dense returns the trie as a bucket per position.
func (s *sparseTrie) dense() [][]uint64 {
	if len(s.idx) == 0 {
		return nil
	}
	trie := make([][]uint64, s.idx[len(s.idx)-2]+1)
	start := uint32(0)
	for k := 0; k < len(s.idx); k += 2 {
		trie[s.idx[k]] = s.seqs[start:s.idx[k+1]:s.idx[k+1]]
		start = s.idx[k+1]
	}
	return trie
}

func (s *sparseTrie) heapBytes() int {
	return 4*cap(s.idx) + 8*cap(s.seqs)
}

// compactTrie returns the sparse form of trie.
func compactTrie(trie [][]uint64) sparseTrie {
	var s sparseTrie
	n, total := 0, 0
	for _, b := range trie {
		if b != nil {
			n++
			total += len(b)
		}
	}
	if n == 0 {
		return s
	}
	s.idx = make([]uint32, 0, 2*n)
	s.seqs = make([]uint64, 0, total)
	for i, b := range trie {
		if b != nil {
			s.seqs = append(s.seqs, b...)
			s.idx = append(s.idx, uint32(i), uint32(len(s.seqs)))
		}
	}
	return s
}

// countTrie returns the lengths decodeTrie's idx and seqs reach for the
// buckets of buf (after its first varint) that a node of the given length
// keeps; where buf is malformed it stops, and decodeTrie reports it.
func countTrie(buf []byte, length int) (nIdx, nSeqs int) {
	for len(buf) > 0 {
		pos, n := binary.Uvarint(buf)
		if n <= 0 {
			return
		}
		buf = buf[n:]
		mask, n := binary.Uvarint(buf)
		if n <= 0 || mask>>maxSlots != 0 {
			return
		}
		buf = buf[n:]
		if pos < uint64(length) {
			nIdx += 2
			nSeqs += 64 - bits.LeadingZeros64(mask)
		}
		for m := mask; m != 0; m &= m - 1 {
			_, n := binary.Uvarint(buf)
			if n <= 0 {
				return
			}
			buf = buf[n:]
		}
	}
	return
}

// decodeTrie decodes a trie buffer for a node of the given path length.
// Buckets at positions the node does not have are dropped (no walk reads
// them); pointers must be below the node's own seq. A bucket given twice
// keeps the last, as in the reference.
func decodeTrie(buf []byte, length int, seq uint64) (sparseTrie, error) {
	var s sparseTrie
	if len(buf) == 0 {
		return s, nil
	}
	next := func() (uint64, error) {
		v, n := binary.Uvarint(buf)
		if n <= 0 {
			return 0, errVarint
		}
		buf = buf[n:]
		return v, nil
	}
	if _, err := next(); err != nil { // the positions declared: not needed
		return s, err
	}
	// Sized first, so the slices are allocated once at their length.
	if nIdx, nSeqs := countTrie(buf, length); nIdx > 0 {
		s.idx, s.seqs = make([]uint32, 0, nIdx), make([]uint64, 0, nSeqs)
	}
	ordered := true
	for len(buf) > 0 {
		pos, err := next()
		if err != nil {
			return s, err
		}
		mask, err := next()
		if err != nil {
			return s, err
		}
		if mask>>maxSlots != 0 {
			return s, fmt.Errorf("trie bucket %d has slots beyond %d", pos, maxSlots)
		}
		keep := pos < uint64(length)
		start := len(s.seqs)
		if keep {
			for range 64 - bits.LeadingZeros64(mask) {
				s.seqs = append(s.seqs, 0)
			}
		}
		for j := 0; mask != 0; j, mask = j+1, mask>>1 {
			if mask&1 == 0 {
				continue
			}
			ptr, err := next()
			if err != nil {
				return s, err
			}
			if ptr >= seq { // 0 is an empty slot, as the reference reads it
				return s, fmt.Errorf("trie bucket %d points to block %d", pos, ptr)
			}
			if keep {
				s.seqs[start+j] = ptr
			}
		}
		if keep {
			if n := len(s.idx); n > 0 && uint64(s.idx[n-2]) >= pos {
				ordered = false
			}
			s.idx = append(s.idx, uint32(pos), uint32(len(s.seqs)))
		}
	}
	if !ordered {
		// Positions out of order (never written so): rebuild, later
		// buckets replacing earlier ones at the same position.
		var trie [][]uint64
		start := uint32(0)
		for k := 0; k < len(s.idx); k += 2 {
			pos := s.idx[k]
			for uint32(len(trie)) <= pos {
				trie = append(trie, nil)
			}
			trie[pos] = s.seqs[start:s.idx[k+1]:s.idx[k+1]]
			start = s.idx[k+1]
		}
		s = compactTrie(trie)
	}
	return s, nil
}
