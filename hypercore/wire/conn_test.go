package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// connPair returns two Conns over in-memory buffers whose keys and nonces
// mirror each other, as after a handshake: a's tx matches b's rx.
func connPair(w io.Writer, r io.Reader) (a, b *Conn) {
	a = &Conn{rw: struct {
		io.Reader
		io.Writer
	}{nil, w}, txKey: [32]byte{1}, rxKey: [32]byte{2}}
	b = &Conn{rw: struct {
		io.Reader
		io.Writer
	}{r, nil}, txKey: a.rxKey, rxKey: a.txKey}
	an, bn := [NonceSize]byte{3}, [NonceSize]byte{4}
	a.tx, a.rx = newXSalsa20(&a.txKey, &an), newXSalsa20(&a.rxKey, &bn)
	b.tx, b.rx = newXSalsa20(&b.txKey, &bn), newXSalsa20(&b.rxKey, &an)
	return a, b
}

// TestConnLargeWrite: a write larger than the scratch buffer goes out in
// pieces that decrypt to the original, and the caller's buffer is untouched.
func TestConnLargeWrite(t *testing.T) {
	var wire bytes.Buffer
	a, b := connPair(&wire, &wire)
	msg := make([]byte, 3*maxWriteChunk+17)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	orig := bytes.Clone(msg)
	if n, err := a.Write(msg[:5]); n != 5 || err != nil {
		t.Fatal(n, err)
	}
	if n, err := a.Write(msg[5:]); n != len(msg)-5 || err != nil {
		t.Fatal(n, err)
	}
	if !bytes.Equal(msg, orig) {
		t.Fatal("Write modified its input")
	}
	if bytes.Equal(wire.Bytes()[:64], msg[:64]) {
		t.Fatal("bytes went out in clear")
	}
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("read back %d bytes (%v), mismatch", len(got), err)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, errors.New("boom")
	}
	w.n--
	return len(p), nil
}

// TestConnWriteErrorSticky: after a failed write the keystream no longer
// matches the peer's, so later writes fail without writing.
func TestConnWriteErrorSticky(t *testing.T) {
	w := &failWriter{n: 1}
	a, _ := connPair(w, nil)
	if _, err := a.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("fails")); err == nil {
		t.Fatal("write to a failing stream succeeded")
	}
	w.n = 10
	if n, err := a.Write([]byte("after")); err == nil || n != 0 {
		t.Fatalf("write after a failure = %d, %v; want 0 and an error", n, err)
	}
}
