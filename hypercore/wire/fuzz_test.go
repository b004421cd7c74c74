package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/hyperfs/hyperfs/internal/vectors"
	"google.golang.org/protobuf/proto"
)

// malformedFrames are hostile inputs for the frame decoder's seed corpus.
var malformedFrames = []string{
	"",
	"\x00\x00\x00",
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
	"\x82\x80\x80\x04\x11",
	"\x01\x80\x01",
	"\x05\x10\x0a\x20",
	"\x02\x1f\x80",
	"\x01\x1f",
	"\x03\x1b\x08\x80",
}

// FuzzReadFrame feeds arbitrary bytes to the frame reader and decodes every
// frame it returns: errors are fine, panics are not.
func FuzzReadFrame(f *testing.F) {
	var all []byte
	for _, v := range loadFrames(f) {
		b := vectors.Hex(f, v.Frame)
		f.Add(b)
		all = append(all, b...)
	}
	f.Add(all)
	for _, s := range malformedFrames {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := NewFramer(nil, bytes.NewReader(in))
		for {
			fm, err := fr.ReadFrame()
			if err != nil {
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			switch {
			case fm.KeepAlive:
			case fm.Type.IsProtobuf():
				DecodeMessage(fm.Type, fm.Body)
			case fm.Type == TypeExtension:
				ParseExtension(fm.Body)
			}
		}
	})
}

// FuzzDecodeMessage decodes arbitrary bodies as each message type; whatever
// decodes must encode again and decode to an equal message.
func FuzzDecodeMessage(f *testing.F) {
	for _, v := range loadFrames(f) {
		if v.Type == nil {
			continue
		}
		fm, err := NewFramer(nil, bytes.NewReader(vectors.Hex(f, v.Frame))).ReadFrame()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(fm.Type), bytes.Clone(fm.Body))
	}
	f.Add(byte(TypeData), []byte("\x08\x01\x1a\x04\x08\x00\x18\x01"))
	f.Add(byte(TypeRequest), []byte("\x08\x01\x78\x01\x20\x03"))
	f.Add(byte(TypeHave), []byte("\x0f"))
	f.Fuzz(func(t *testing.T, typ byte, body []byte) {
		m, err := DecodeMessage(Type(typ), body)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) && !errors.Is(err, ErrNotProtobuf) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		var b Batch
		if err := b.Message(1, m); err != nil {
			t.Fatalf("re-encoding %v: %v", m, err)
		}
		fm, err := NewFramer(nil, bytes.NewReader(b.Bytes())).ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeMessage(fm.Type, fm.Body)
		if err != nil {
			t.Fatalf("decoding re-encoded %v: %v", m, err)
		}
		if !proto.Equal(m, m2) {
			t.Fatalf("round trip changed %v into %v", m, m2)
		}
	})
}

// FuzzDecodeNoisePayload: the handshake payload decoder never panics and
// accepts only 24-byte nonces.
func FuzzDecodeNoisePayload(f *testing.F) {
	v := loadTranscript(f)
	msg1 := vectors.Hex(f, v.Chunks[0].Bytes)
	f.Add(msg1[1+32:]) // message 1's clear payload
	f.Add([]byte{})
	f.Add([]byte("\x0a\x17" + string(repeat(0xaa, 23))))
	f.Add([]byte("\x0a\x18" + string(repeat(0xaa, 24)) + "\x10\x01"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := DecodeNoisePayload(in)
		if err != nil {
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(p.Nonce) != NonceSize {
			t.Fatalf("accepted a %d-byte nonce", len(p.Nonce))
		}
	})
}

// FuzzRoundTrip builds a message of every type from fuzzed field values,
// frames it, and checks the frame reads back to the same channel, type and
// message, presence included.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint64(1), byte(0), uint64(0), uint64(1048576), false, []byte("dk"), []byte(nil))
	f.Add(uint64(0), byte(9), uint64(3), uint64(0), true, []byte{}, repeat(0xdd, 64))
	f.Add(uint64(1<<40), byte(15), uint64(1<<63), uint64(7), true, []byte("hello"), []byte("x"))
	f.Add(uint64(5), byte(3), uint64(2), uint64(1), false, []byte(nil), []byte{0x02, 0xe0})
	f.Fuzz(func(t *testing.T, channel uint64, typ byte, a, b uint64, flag bool, x, y []byte) {
		channel &= maxChannel
		var m Message
		switch Type(typ % 16) {
		case TypeOpen:
			m = NewOpen(nonNil(x), y)
		case TypeOptions:
			m = NewOptions([]string{string(x), string(y)}, flag)
		case TypeStatus:
			m = NewStatus(flag, !flag)
		case TypeHave:
			if flag {
				m = NewHaveRange(a, b, y)
			} else {
				m = NewHave(a)
			}
		case TypeUnhave:
			m = NewUnhave(a)
		case TypeWant:
			m = NewWant(a, b)
		case TypeUnwant:
			m = NewUnwant(a, b)
		case TypeRequest:
			m = NewRequest(a, b, flag, a^b)
		case TypeCancel:
			m = NewCancel(a, b, flag)
		case TypeData:
			nodes := []*Data_Node{NewNode(b, nonNil(y), a)}
			if flag {
				m = NewData(a, x, nodes, y)
			} else {
				m = NewHashData(a, nodes, y)
			}
		case TypeClose:
			m = NewClose(x)
		}

		var batch Batch
		if m != nil {
			if err := batch.Message(channel, m); err != nil {
				t.Fatal(err)
			}
		} else if err := batch.Extension(channel, a, x); err != nil {
			t.Fatal(err)
		}
		fm, err := NewFramer(nil, bytes.NewReader(batch.Bytes())).ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if fm.Channel != channel {
			t.Fatalf("channel %d read back as %d", channel, fm.Channel)
		}
		if m == nil {
			id, payload, err := ParseExtension(fm.Body)
			if fm.Type != TypeExtension || err != nil || id != a || !bytes.Equal(payload, x) {
				t.Fatalf("extension %d %x read back as %v %d %x %v", a, x, fm.Type, id, payload, err)
			}
			return
		}
		got, err := DecodeMessage(fm.Type, fm.Body)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, m) {
			t.Fatalf("%v read back as %v", m, got)
		}
	})
}

// nonNil makes required bytes fields present.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
