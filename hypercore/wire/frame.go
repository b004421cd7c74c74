package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"google.golang.org/protobuf/proto"
)

// MaxFrameSize is the largest frame body the reference accepts
// (simple-message-channels maxSize, 8 MiB); it destroys the stream on a larger
// one. The body is the frame minus its length prefix and header varint.
const MaxFrameSize = 8 << 20

// retainBufSize bounds the read buffer a Framer keeps between frames; a
// larger body gets a buffer of its own that is not retained.
const retainBufSize = 1 << 20

// maxChannel is the largest channel id that fits a 64-bit header.
const maxChannel = 1<<60 - 1

// Frame is one frame read from the stream.
//
// The wire form is varint(L) ‖ varint(Channel<<4 | Type) ‖ Body with
// L = len(header varint) + len(Body). L = 0 is a keep-alive: it has no header
// and no body.
type Frame struct {
	KeepAlive bool
	Channel   uint64
	Type      Type
	// Body is the raw message bytes: protobuf for types 0–10 (see
	// DecodeMessage), varint(id) ‖ payload for TypeExtension (see
	// ParseExtension). It is valid only until the next ReadFrame.
	Body []byte
}

// Framer reads and writes frames. It knows nothing of channels' meaning,
// feeds or peers, and it does not decode bodies.
//
// One goroutine may read while another writes; neither side is safe for
// concurrent use by several goroutines.
type Framer struct {
	r    *bufio.Reader
	rbuf []byte // reused body buffer, at most retainBufSize

	w     io.Writer
	batch Batch // scratch for the single-frame writers
}

// NewFramer returns a Framer writing to w and reading from r (either may be
// nil if that direction is unused). The Framer buffers reads, so r must not
// be read by anything else afterwards.
func NewFramer(w io.Writer, r io.Reader) *Framer {
	f := &Framer{w: w}
	if r != nil {
		f.r = bufio.NewReader(r)
	}
	return f
}

// ReadFrame reads the next frame. Frames of any type 0–15 are returned,
// including the unused types 11–14 (a caller should ignore them, as the
// reference does) and keep-alives. A malformed or oversized frame yields an
// error wrapping ErrBadFrame or ErrFrameTooLarge; after any error the stream
// position is undefined and the connection should be dropped. A clean end of
// stream between frames is io.EOF; inside a frame it is io.ErrUnexpectedEOF.
func (f *Framer) ReadFrame() (Frame, error) {
	l, err := readUvarint(f.r, true)
	if err == io.EOF {
		return Frame{}, io.EOF
	}
	if err != nil {
		return Frame{}, fmt.Errorf("wire: reading frame length: %w", err)
	}
	if l == 0 {
		return Frame{KeepAlive: true}, nil
	}
	if l > MaxFrameSize+binary.MaxVarintLen64 {
		return Frame{}, fmt.Errorf("wire: frame of %d bytes: %w", l, ErrFrameTooLarge)
	}
	hdr, err := readUvarint(f.r, false)
	if err != nil {
		return Frame{}, fmt.Errorf("wire: reading frame header: %w", err)
	}
	hlen := uint64(uvarintLen(hdr))
	if hlen > l {
		return Frame{}, fmt.Errorf("wire: header of %d bytes in a frame of %d: %w", hlen, l, ErrBadFrame)
	}
	n := l - hlen
	if n > MaxFrameSize {
		return Frame{}, fmt.Errorf("wire: frame body of %d bytes: %w", n, ErrFrameTooLarge)
	}
	body := f.bodyBuf(int(n))
	if _, err := io.ReadFull(f.r, body); err != nil {
		return Frame{}, fmt.Errorf("wire: reading frame body: %w", noEOF(err))
	}
	return Frame{Channel: hdr >> 4, Type: Type(hdr & 0xf), Body: body}, nil
}

// bodyBuf returns an n-byte buffer, reusing the retained one when it fits.
func (f *Framer) bodyBuf(n int) []byte {
	if n <= cap(f.rbuf) {
		return f.rbuf[:n]
	}
	b := make([]byte, n)
	if n <= retainBufSize {
		f.rbuf = b
	}
	return b
}

// WriteFrame writes one frame with a raw body in a single Write.
func (f *Framer) WriteFrame(channel uint64, t Type, body []byte) error {
	if err := f.batch.Frame(channel, t, body); err != nil {
		return err
	}
	return f.WriteBatch(&f.batch)
}

// WriteMessage encodes m and writes it as one frame in a single Write.
func (f *Framer) WriteMessage(channel uint64, m Message) error {
	if err := f.batch.Message(channel, m); err != nil {
		return err
	}
	return f.WriteBatch(&f.batch)
}

// WriteExtension writes an Extension frame: varint(id) ‖ payload, where id
// indexes our own sorted extension names as announced in Options.
func (f *Framer) WriteExtension(channel, id uint64, payload []byte) error {
	if err := f.batch.Extension(channel, id, payload); err != nil {
		return err
	}
	return f.WriteBatch(&f.batch)
}

// WriteKeepAlive writes a keep-alive: the single byte 00.
func (f *Framer) WriteKeepAlive() error {
	f.batch.KeepAlive()
	return f.WriteBatch(&f.batch)
}

// WriteBatch writes every frame collected in b with a single Write, then
// resets b. An empty batch writes nothing.
func (f *Framer) WriteBatch(b *Batch) error {
	defer b.Reset()
	if len(b.buf) == 0 {
		return nil
	}
	if _, err := f.w.Write(b.buf); err != nil {
		return fmt.Errorf("wire: writing frames: %w", err)
	}
	return nil
}

// Batch collects encoded frames so several can go out in one Write (see
// Framer.WriteBatch). The zero value is ready to use; its buffer is reused
// after Reset. A frame that fails to encode leaves the batch unchanged.
type Batch struct {
	buf []byte
}

// Frame appends a frame with a raw body.
func (b *Batch) Frame(channel uint64, t Type, body []byte) error {
	if err := b.header(channel, t, len(body)); err != nil {
		return err
	}
	b.buf = append(b.buf, body...)
	return nil
}

// Message appends a frame carrying m.
func (b *Batch) Message(channel uint64, m Message) error {
	mark := len(b.buf)
	if err := b.header(channel, m.Type(), proto.Size(m)); err != nil {
		return err
	}
	out, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b.buf, m)
	if err != nil {
		b.buf = b.buf[:mark]
		return fmt.Errorf("wire: encoding %v: %w: %w", m.Type(), ErrBadMessage, err)
	}
	b.buf = out
	return nil
}

// Extension appends an Extension frame: varint(id) ‖ payload.
func (b *Batch) Extension(channel, id uint64, payload []byte) error {
	if err := b.header(channel, TypeExtension, uvarintLen(id)+len(payload)); err != nil {
		return err
	}
	b.buf = binary.AppendUvarint(b.buf, id)
	b.buf = append(b.buf, payload...)
	return nil
}

// KeepAlive appends a keep-alive (a zero length prefix).
func (b *Batch) KeepAlive() { b.buf = append(b.buf, 0) }

// Bytes returns the encoded frames; valid until the next change to b.
func (b *Batch) Bytes() []byte { return b.buf }

// Len returns the number of encoded bytes in b.
func (b *Batch) Len() int { return len(b.buf) }

// Reset empties b, keeping its buffer.
func (b *Batch) Reset() { b.buf = b.buf[:0] }

// header appends varint(L) ‖ varint(header) for a body of bodyLen bytes
// and makes room for the body; on error it appends nothing.
func (b *Batch) header(channel uint64, t Type, bodyLen int) error {
	if t > maxType || channel > maxChannel {
		return fmt.Errorf("wire: encoding frame of type %d on channel %d: %w", t, channel, ErrBadFrame)
	}
	if bodyLen > MaxFrameSize {
		return fmt.Errorf("wire: encoding %v body of %d bytes: %w", t, bodyLen, ErrFrameTooLarge)
	}
	hdr := channel<<4 | uint64(t)
	l := uint64(uvarintLen(hdr) + bodyLen)
	b.buf = slices.Grow(b.buf, uvarintLen(l)+int(l))
	b.buf = binary.AppendUvarint(b.buf, l)
	b.buf = binary.AppendUvarint(b.buf, hdr)
	return nil
}

// readUvarint reads a protobuf varint. atStart says whether a clean io.EOF
// before the first byte is passed through as io.EOF.
func readUvarint(r io.ByteReader, atStart bool) (uint64, error) {
	var x uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if i > 0 || !atStart {
				err = noEOF(err)
			}
			return 0, err
		}
		if i == binary.MaxVarintLen64-1 && c > 1 {
			break
		}
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return x, nil
		}
	}
	return 0, fmt.Errorf("varint overflows 64 bits: %w", ErrBadFrame)
}

// uvarintLen returns the encoded size of x as a varint.
func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
