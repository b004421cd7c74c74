package wire

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/hyperfs/hyperfs/internal/vectors"
	"golang.org/x/crypto/salsa20"
)

// TestXSalsa20Vector: two successive calls continue one keystream, as
// libsodium's crypto_stream_xor_update does (vector crypto.xsalsa20Stream).
func TestXSalsa20Vector(t *testing.T) {
	var v struct{ Key, Nonce, Out1, Out2 string }
	vectors.Load(t, "crypto.xsalsa20Stream", &v)
	key := (*[32]byte)(vectors.Hex(t, v.Key))
	nonce := (*[NonceSize]byte)(vectors.Hex(t, v.Nonce))
	s := newXSalsa20(key, nonce)
	for i, want := range [][]byte{vectors.Hex(t, v.Out1), vectors.Hex(t, v.Out2)} {
		buf := make([]byte, len(want))
		s.XORKeyStream(buf, buf)
		if !bytes.Equal(buf, want) {
			t.Fatalf("call %d\n got %x\nwant %x", i+1, buf, want)
		}
	}
}

// TestXSalsa20Split: any split of the input into calls gives the same bytes
// as one call of x/crypto's XSalsa20 over the whole input.
func TestXSalsa20Split(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var key [32]byte
	var nonce [NonceSize]byte
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	for i := range nonce {
		nonce[i] = byte(rng.Uint32())
	}
	plain := make([]byte, 10000)
	for i := range plain {
		plain[i] = byte(rng.Uint32())
	}
	want := make([]byte, len(plain))
	salsa20.XORKeyStream(want, plain, nonce[:], &key)

	for round := range 50 {
		s := newXSalsa20(&key, &nonce)
		got := bytes.Clone(plain)
		for off := 0; off < len(got); {
			n := min(len(got)-off, rng.IntN(300))
			if round%2 == 0 {
				s.XORKeyStream(got[off:off+n], got[off:off+n]) // in place
			} else {
				out := make([]byte, n)
				s.XORKeyStream(out, got[off:off+n])
				copy(got[off:], out)
			}
			off += n
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: split stream differs from one-shot XSalsa20", round)
		}
	}
}

// TestXSalsa20NoAlloc: the keystream does not allocate.
func TestXSalsa20NoAlloc(t *testing.T) {
	s := newXSalsa20(&[32]byte{}, &[NonceSize]byte{})
	buf := make([]byte, 1000)
	if n := testing.AllocsPerRun(100, func() { s.XORKeyStream(buf[:77], buf[:77]); s.XORKeyStream(buf, buf) }); n != 0 {
		t.Fatalf("%v allocations per call, want 0", n)
	}
}
