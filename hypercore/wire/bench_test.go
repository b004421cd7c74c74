package wire

import (
	"io"
	"testing"
)

const benchBlock = 64 << 10

// BenchmarkXSalsa20 measures the transport keystream on 64 KiB writes, in
// place.
func BenchmarkXSalsa20(b *testing.B) {
	s := newXSalsa20(&[32]byte{1}, &[NonceSize]byte{2})
	buf := make([]byte, benchBlock)
	b.SetBytes(benchBlock)
	b.ReportAllocs()
	for b.Loop() {
		s.XORKeyStream(buf, buf)
	}
}

// BenchmarkConnWrite measures Conn.Write of 64 KiB (encrypt into the scratch
// buffer, write to io.Discard).
func BenchmarkConnWrite(b *testing.B) {
	c := &Conn{rw: struct {
		io.Reader
		io.Writer
	}{nil, io.Discard}}
	c.tx = newXSalsa20(&c.txKey, &[NonceSize]byte{})
	buf := make([]byte, benchBlock)
	b.SetBytes(benchBlock)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func benchData() *Data {
	nodes := []*Data_Node{NewNode(2, repeat(1, 32), benchBlock), NewNode(5, repeat(2, 32), 4*benchBlock)}
	return NewData(1, make([]byte, benchBlock), nodes, repeat(3, 64))
}

// BenchmarkEncodeData frames a Data message carrying a 64 KiB block.
func BenchmarkEncodeData(b *testing.B) {
	m := benchData()
	var batch Batch
	b.SetBytes(benchBlock)
	b.ReportAllocs()
	for b.Loop() {
		batch.Reset()
		if err := batch.Message(1, m); err != nil {
			b.Fatal(err)
		}
	}
}

// dataFrameReader returns a Framer reading the same Data frame forever.
func dataFrameReader(b *testing.B) *Framer {
	var batch Batch
	if err := batch.Message(1, benchData()); err != nil {
		b.Fatal(err)
	}
	return NewFramer(nil, &cycleReader{data: batch.Bytes()})
}

// BenchmarkDecodeData reads and decodes a Data frame with a 64 KiB block.
func BenchmarkDecodeData(b *testing.B) {
	fr := dataFrameReader(b)
	b.SetBytes(benchBlock)
	b.ReportAllocs()
	for b.Loop() {
		f, err := fr.ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeMessage(f.Type, f.Body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadFrame reads a Data frame with a 64 KiB block without
// decoding it.
func BenchmarkReadFrame(b *testing.B) {
	fr := dataFrameReader(b)
	b.SetBytes(benchBlock)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fr.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}

// cycleReader repeats data forever.
type cycleReader struct {
	data []byte
	off  int
}

func (r *cycleReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}
