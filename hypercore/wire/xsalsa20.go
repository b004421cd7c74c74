package wire

import (
	"crypto/subtle"
	"encoding/binary"

	//lint:ignore SA1019 a continuous keystream needs the core function; x/crypto/salsa20 restarts it on every call
	"golang.org/x/crypto/salsa20/salsa"
)

// NonceSize is the size of each end's transport nonce, exchanged in the
// handshake payload.
const NonceSize = 24

// xsalsa20 is one continuous XSalsa20 keystream, the transport cipher of each
// direction (libsodium crypto_stream_xor_init/_update in the reference,
// simple-hypercore-protocol lib/xor.js). Successive calls continue the
// keystream where the previous one stopped, mid-block included.
//
// golang.org/x/crypto has no stateful XSalsa20: salsa20.XORKeyStream restarts
// at block 0 on every call. So this wraps the lower-level salsa package: the
// subkey is HSalsa20(key, nonce[0:16]); the Salsa20 input is nonce[16:24] ‖ a
// 64-bit little-endian block counter, advanced here between calls; the unused
// tail of the last partial block is kept for the next call.
type xsalsa20 struct {
	subkey  [32]byte
	counter [16]byte // nonce[16:24] ‖ uint64le block number
	block   [64]byte // keystream of the block before counter
	used    int      // bytes of block already consumed; 64 = none left
}

// newXSalsa20 starts a keystream at its first byte.
func newXSalsa20(key *[32]byte, nonce *[NonceSize]byte) *xsalsa20 {
	s := &xsalsa20{used: len(xsalsa20{}.block)}
	var hNonce [16]byte
	copy(hNonce[:], nonce[:16])
	salsa.HSalsa20(&s.subkey, &hNonce, key, &salsa.Sigma)
	copy(s.counter[:8], nonce[16:])
	return s
}

// XORKeyStream XORs src with the next len(src) keystream bytes into dst.
// dst and src must overlap entirely or not at all; dst must be at least as
// long as src. It does not allocate.
func (s *xsalsa20) XORKeyStream(dst, src []byte) {
	dst = dst[:len(src)]
	// The rest of the previous block.
	if s.used < len(s.block) {
		n := len(src)
		if rest := len(s.block) - s.used; n > rest {
			n = rest
		}
		subtle.XORBytes(dst[:n], src[:n], s.block[s.used:])
		s.used += n
		dst, src = dst[n:], src[n:]
	}
	// Whole blocks, straight from the assembly.
	if full := len(src) &^ (len(s.block) - 1); full > 0 {
		salsa.XORKeyStream(dst[:full], src[:full], &s.counter, &s.subkey)
		s.advance(uint64(full / len(s.block)))
		dst, src = dst[full:], src[full:]
	}
	// A partial block: keep its keystream for next time.
	if len(src) > 0 {
		clear(s.block[:])
		salsa.XORKeyStream(s.block[:], s.block[:], &s.counter, &s.subkey)
		s.advance(1)
		s.used = subtle.XORBytes(dst, src, s.block[:])
	}
}

// advance moves the block counter on by n blocks.
func (s *xsalsa20) advance(n uint64) {
	c := binary.LittleEndian.Uint64(s.counter[8:])
	binary.LittleEndian.PutUint64(s.counter[8:], c+n)
}
