package rle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/hyperfs/hyperfs/internal/vectors"
)

type rleCase struct {
	input   []byte
	encoded []byte
}

// loadCases reads wire.bitfieldRle. Inputs longer than 64 bytes are stored
// as {repeatOf, length, sha256}; they are rebuilt from the generator's
// recipe (vectors-gen.js) and checked against the digest.
func loadCases(t testing.TB) []rleCase {
	t.Helper()
	var v struct {
		Cases []struct {
			Input   json.RawMessage
			Encoded string
		}
	}
	vectors.Load(t, "wire.bitfieldRle", &v)
	if len(v.Cases) == 0 {
		t.Fatal("no cases in vector")
	}
	recipes := map[int][]byte{
		2500: bytes.Repeat([]byte{0xff}, 2500),
		106:  append(append(bytes.Repeat([]byte{0xff}, 3), 1, 2, 3), bytes.Repeat([]byte{0xff}, 100)...),
	}
	var out []rleCase
	for _, c := range v.Cases {
		var in []byte
		var s string
		if err := json.Unmarshal(c.Input, &s); err == nil {
			in = vectors.Hex(t, s)
		} else {
			var big struct {
				Length int
				Sha256 string
			}
			if err := json.Unmarshal(c.Input, &big); err != nil {
				t.Fatalf("input %s: %v", c.Input, err)
			}
			in = recipes[big.Length]
			sum := sha256.Sum256(in)
			if hex.EncodeToString(sum[:]) != big.Sha256 {
				t.Fatalf("no recipe matches input of length %d", big.Length)
			}
		}
		out = append(out, rleCase{in, vectors.Hex(t, c.Encoded)})
	}
	return out
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

func TestEncodeMatchesReference(t *testing.T) {
	for _, c := range loadCases(t) {
		if got := Encode(c.input); !bytes.Equal(got, c.encoded) {
			t.Errorf("Encode(%x) = %x, want %x", c.input, got, c.encoded)
		}
	}
}

func TestDecodeMatchesReference(t *testing.T) {
	for _, c := range loadCases(t) {
		want := trimZeros(c.input)
		got, err := Decode(c.encoded, 1, 1<<20)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Decode(%x) = %x, %v; want %x", c.encoded, got, err, want)
		}
		got4, err := Decode(c.encoded, HypercoreAlign, 1<<20)
		if err != nil || len(got4)%4 != 0 || !bytes.Equal(trimZeros(got4), want) || len(got4)-len(want) >= 4 {
			t.Errorf("Decode(%x, align 4) = %x, %v", c.encoded, got4, err)
		}
	}
}

// Expected encodings computed by bitfield-rle 2.2.1
// (require('bitfield-rle').encode(Buffer.from(hex, 'hex'))).
func TestEncodeTable(t *testing.T) {
	for _, c := range []struct{ in, enc string }{
		{"", ""},
		{"00", ""},
		{"ff", "07"},
		{"ffff", "0b"},
		{"ffffff", "0f"},
		{"ffffffff", "13"},
		{"00000000ff", "1107"},
		{"0000ff", "0907"},
		{"ff12ff", "070412ff"},
		{"ffffffff12ffffffff", "13021213"},
		{"12ff00ffffffff00000000000001", "0612ff0013190201"},
	} {
		in, _ := hex.DecodeString(c.in)
		if got := hex.EncodeToString(Encode(in)); got != c.enc {
			t.Errorf("Encode(%s) = %s, want %s", c.in, got, c.enc)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 2000; n++ {
		in := make([]byte, r.IntN(300))
		for i := range in {
			// Mostly runs, some literals: the interesting shape for the encoder.
			switch r.IntN(4) {
			case 0:
				in[i] = byte(r.IntN(256))
			case 1:
				in[i] = 0
			default:
				if i > 0 {
					in[i] = in[i-1]
				} else {
					in[i] = 0xff
				}
			}
		}
		enc := Encode(in)
		got, err := Decode(enc, 1, len(in))
		if err != nil || !bytes.Equal(got, trimZeros(in)) {
			t.Fatalf("round trip of %x: %x, %v (encoded %x)", in, got, err, enc)
		}
		if len(enc) > len(in)+varintLen(uint64(2*len(in))) {
			t.Fatalf("encoding of %x longer than literals: %x", in, enc)
		}
		if l, _ := DecodedLength(enc, 4); l%4 != 0 || l < uint64(len(got)) {
			t.Fatalf("DecodedLength(align 4) = %d for %d bytes", l, len(got))
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, c := range []struct {
		enc string
		max int
		err error
	}{
		{"80", 100, ErrInvalid},                     // truncated varint
		{"02", 100, ErrInvalid},                     // literal of 1 byte, none follow
		{"0480", 100, ErrInvalid},                   // literal of 2 bytes, 1 follows
		{"0a01", 100, ErrInvalid},                   // literal of 5 bytes, 1 follows
		{"8080808080808080808001", 100, ErrInvalid}, // 2^70
		{"ffffffffffffffffff01", 100, ErrTooLarge},  // run of 2^62 bytes
		{"0f", 2, ErrTooLarge},                      // 3 bytes, aligned to 4
		{"8f80808001", 1 << 20, ErrTooLarge},        // run of 2^28 bytes
	} {
		enc, _ := hex.DecodeString(c.enc)
		if got, err := Decode(enc, 4, c.max); !errors.Is(err, c.err) {
			t.Errorf("Decode(%s) = %x, %v; want %v", c.enc, got, err, c.err)
		}
	}
	if _, err := Decode(nil, 3, 10); err == nil {
		t.Error("alignment 3 accepted")
	}
}

// Malformed-but-accepted shapes, as the reference accepts them.
func TestDecodeLenient(t *testing.T) {
	for _, c := range []struct{ enc, want string }{
		{"", ""},
		{"01", ""},         // empty zero run
		{"03", ""},         // empty 0xff run
		{"05", "00000000"}, // one zero byte, aligned
		{"8000", ""},       // non-minimal varint 0 = empty literal
		{"0b", "ffff0000"},
	} {
		enc, _ := hex.DecodeString(c.enc)
		got, err := Decode(enc, 4, 100)
		if err != nil || hex.EncodeToString(got) != c.want {
			t.Errorf("Decode(%s) = %x, %v; want %s", c.enc, got, err, c.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, c := range loadCases(f) {
		f.Add(c.encoded)
	}
	for _, s := range []string{"", "80", "02", "0480", "0a01", "05", "01", "03",
		"8080808080808080808001", "ffffffffffffffffff01", "8f80808001", "0612ff0013110201"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	const max = 1 << 16
	f.Fuzz(func(t *testing.T, enc []byte) {
		got, err := Decode(enc, HypercoreAlign, max)
		if err != nil {
			return
		}
		if len(got) > max || len(got)%4 != 0 {
			t.Fatalf("decoded %d bytes", len(got))
		}
		// Re-encoding is canonical: decoding it gives the same bits.
		again, err := Decode(Encode(got), HypercoreAlign, max)
		if err != nil || !bytes.Equal(trimZeros(again), trimZeros(got)) {
			t.Fatalf("re-encode of %x: %x, %v", got, again, err)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	in := make([]byte, 1<<17)
	for i := range in[:100000] {
		in[i] = 0xff
	}
	in[50000] = 0x7f
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		Encode(in)
	}
}
