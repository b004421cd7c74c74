// Package rle implements bitfield-rle 2.2.1, the run-length encoding of
// bitfields that hypercore puts in Have messages to answer a Want.
//
// The encoding is a sequence of varints (unsigned LEB128). A varint v with
// v&1 == 1 is a run of v>>2 bytes, all 0xff if v&2 is set and all 0x00
// otherwise; a varint v with v&1 == 0 is followed by v>>1 literal bytes.
// Encode is a port of the reference encoder, so its output is byte-identical
// to what JS peers send: trailing zero bytes are dropped and a run is used only
// where it is shorter than literals.
package rle

import (
	"errors"
	"fmt"
)

// HypercoreAlign is the alignment hypercore decodes Have bitfields with
// (bitfield-rle's align(4)).
const HypercoreAlign = 4

// Errors returned by Decode. Callers treating a peer's input as hostile can
// branch on them; both mean the encoding must be rejected.
var (
	// ErrInvalid reports a truncated varint, a varint above 2^64, or a
	// literal run reaching past the end of the input.
	ErrInvalid = errors.New("rle: invalid bitfield encoding")
	// ErrTooLarge reports an encoding that decodes to more than the
	// caller's maximum.
	ErrTooLarge = errors.New("rle: decoded bitfield too large")
)

// Encode returns the encoding of bits.
func Encode(bits []byte) []byte {
	return AppendEncode(nil, bits)
}

// AppendEncode appends the encoding of bits to dst.
func AppendEncode(dst, bits []byte) []byte {
	e := encoder{in: bits, n: len(bits), out: dst}
	e.rle()
	return e.out
}

// encoder is the reference's State: in[off:n] is the not yet emitted input.
type encoder struct {
	in  []byte
	n   int // input length with trailing zero bytes trimmed
	off int // first input byte not yet emitted
	out []byte
}

func (e *encoder) rle() {
	for e.n > 0 && e.in[e.n-1] == 0 {
		e.n--
	}
	// As in the reference, a literal byte resets len to 0 but keeps bits,
	// so a later byte equal to the old run value starts a run of its own.
	var run int
	var bits byte
	for i := 0; i < e.n; i++ {
		if e.in[i] == bits {
			run++
			continue
		}
		if run > 0 {
			e.update(i, run, bits)
		}
		if e.in[i] == 0 || e.in[i] == 0xff {
			bits = e.in[i]
			run = 1
		} else {
			run = 0
		}
	}
	if run > 0 {
		e.update(e.n, run, bits)
	}
	if e.n > e.off {
		e.head(e.n)
		e.off = e.n
	}
}

// update emits the literals before a run of run bytes ending at i, and the
// run itself, but only when that is strictly cheaper than leaving the whole
// stretch as literals.
func (e *encoder) update(i, run int, bits byte) {
	headLength := i - run - e.off
	headCost := 0
	if headLength > 0 {
		headCost = varintLen(uint64(2*headLength)) + headLength
	}
	enc := uint64(4*run) + 1
	if bits != 0 {
		enc += 2
	}
	encCost := headCost + varintLen(enc)
	baseCost := varintLen(uint64(2*(i-e.off))) + i - e.off
	if encCost >= baseCost {
		return
	}
	if headLength > 0 {
		e.head(i - run)
	}
	e.out = appendVarint(e.out, enc)
	e.off = i
}

// head emits in[off:end] as one literal stretch (off is left to the caller).
func (e *encoder) head(end int) {
	e.out = appendVarint(e.out, uint64(2*(end-e.off)))
	e.out = append(e.out, e.in[e.off:end]...)
}

// DecodedLength returns the length Decode would return (including alignment
// padding) without allocating, or an error for a malformed encoding.
func DecodedLength(enc []byte, align int) (uint64, error) {
	if align <= 1 {
		align = 1
	} else if align&(align-1) != 0 {
		return 0, fmt.Errorf("rle: alignment %d is not a power of two", align)
	}
	var total uint64
	for off := 0; off < len(enc); {
		v, n := readVarint(enc[off:])
		if n == 0 {
			return 0, ErrInvalid
		}
		off += n
		length := v >> 1
		if v&1 == 1 {
			length = v >> 2
		} else {
			if length > uint64(len(enc)-off) {
				return 0, ErrInvalid
			}
			off += int(length)
		}
		if total+length < total {
			return 0, ErrTooLarge
		}
		total += length
	}
	a := uint64(align)
	if r := total & (a - 1); r != 0 {
		if total+a-r < total {
			return 0, ErrTooLarge
		}
		total += a - r
	}
	return total, nil
}

// Decode decodes enc, zero-padding the result to a multiple of align bytes
// (a power of two; hypercore uses HypercoreAlign). An encoding that would
// decode to more than max bytes is rejected with ErrTooLarge before anything
// is allocated, so a hostile peer cannot make us allocate more than max.
//
// The reference returns an empty buffer for an empty encoding and ignores a
// zero-length run; so does Decode. Where the reference throws (a literal
// running past the end) or misbehaves (a truncated varint), Decode returns
// ErrInvalid.
func Decode(enc []byte, align int, max int) ([]byte, error) {
	total, err := DecodedLength(enc, align)
	if err != nil {
		return nil, err
	}
	if max < 0 || total > uint64(max) {
		return nil, ErrTooLarge
	}
	out := make([]byte, total)
	ptr := 0
	for off := 0; off < len(enc); {
		v, n := readVarint(enc[off:])
		off += n
		if v&1 == 1 {
			length := int(v >> 2)
			if v&2 != 0 {
				fill(out[ptr:ptr+length], 0xff)
			}
			ptr += length
		} else {
			length := int(v >> 1)
			copy(out[ptr:], enc[off:off+length])
			off += length
			ptr += length
		}
	}
	return out, nil
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

// readVarint reads an unsigned LEB128 value; n is 0 when the input ends
// inside the varint or the value does not fit in 64 bits. Non-minimal
// encodings are accepted, as the reference's varint module accepts them.
func readVarint(b []byte) (v uint64, n int) {
	var shift uint
	for i, c := range b {
		if shift == 63 && c > 1 {
			return 0, 0
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, i + 1
		}
		shift += 7
		if shift > 63 {
			return 0, 0
		}
	}
	return 0, 0
}

func appendVarint(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
