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

// decodeTrie decodes a trie buffer for a node of the given path length.
// Buckets at positions the node does not have are dropped (no walk reads
// them); pointers must be below the node's own seq.
func decodeTrie(buf []byte, length int, seq uint64) ([][]uint64, int, error) {
	if len(buf) == 0 {
		return nil, 0, nil
	}
	next := func() (uint64, error) {
		v, n := binary.Uvarint(buf)
		if n <= 0 {
			return 0, errVarint
		}
		buf = buf[n:]
		return v, nil
	}
	declared, err := next()
	if err != nil {
		return nil, 0, err
	}
	var trie [][]uint64
	for len(buf) > 0 {
		pos, err := next()
		if err != nil {
			return nil, 0, err
		}
		mask, err := next()
		if err != nil {
			return nil, 0, err
		}
		if mask>>maxSlots != 0 {
			return nil, 0, fmt.Errorf("trie bucket %d has slots beyond %d", pos, maxSlots)
		}
		var bucket []uint64
		keep := pos < uint64(length)
		if keep {
			bucket = make([]uint64, 64-bits.LeadingZeros64(mask))
		}
		for j := 0; mask != 0; j, mask = j+1, mask>>1 {
			if mask&1 == 0 {
				continue
			}
			ptr, err := next()
			if err != nil {
				return nil, 0, err
			}
			if ptr >= seq { // 0 is an empty slot, as the reference reads it
				return nil, 0, fmt.Errorf("trie bucket %d points to block %d", pos, ptr)
			}
			if keep {
				bucket[j] = ptr
			}
		}
		if keep {
			for uint64(len(trie)) <= pos {
				trie = append(trie, nil)
			}
			trie[pos] = bucket
		}
	}
	return trie, int(min(declared, 1<<30)), nil
}
