package wire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/hyperfs/hyperfs/internal/vectors"
	"google.golang.org/protobuf/proto"
)

// goldenDK is the discovery key in the wire.frames vector.
var goldenDK = mustHex("c1feb82a2b3ba065ffed9f6addcf19ac250793bcab748986a1b4272c62da20e6")

// goldenMessages maps each wire.frames vector (by name) to the message the
// reference encoded, built with the constructors a Go peer would use.
// Extension and keep-alive frames have no message.
var goldenMessages = map[string]Message{
	"Open":    NewOpen(goldenDK, repeat(0xcc, 32)),
	"Options": NewOptions([]string{"alpha", "hypertrie"}, false),
	"Status":  NewStatus(true, false),
	"Have (head announce, length omitted = 1)": NewHave(2),
	"Have (reply to Want with RLE bitfield)":   NewHaveRange(0, 1048576, []byte{0x02, 0xe0}),
	"Have (ack)":                               NewHaveAck(5),
	"Unhave":                                   NewUnhave(7),
	"Want":                                     NewWant(0, 1048576),
	"Unwant":                                   NewUnwant(0, 1048576),
	"Request (as hypercore sends it: all four fields present)": NewRequest(1, 0, false, 0),
	"Request (hash only, with digest)":                         NewRequest(2, 0, true, 5),
	"Cancel":                                                   NewCancel(1, 0, false),
	"Data": NewData(1, []byte("b"), []*Data_Node{
		NewNode(0, repeat(0xaa, 32), 1),
		NewNode(4, repeat(0xbb, 32), 1),
	}, repeat(0xdd, 64)),
	"Data (hash-only response: no value field)":         NewHashData(2, []*Data_Node{NewNode(4, repeat(0xbb, 32), 1)}, nil),
	"Data (zero-length block: value present but empty)": NewData(3, nil, nil, nil),
	"Close": NewClose(nil),
	"Close (for a channel never opened locally)": NewClose(goldenDK),
}

// TestGoldenFrames encodes every frame of the wire.frames vector and compares
// the exact bytes, then reads each back and compares the decoded message,
// field presence included.
func TestGoldenFrames(t *testing.T) {
	for _, v := range loadFrames(t) {
		t.Run(v.Name, func(t *testing.T) {
			want := vectors.Hex(t, v.Frame)

			var b Batch
			var m Message
			switch {
			case v.Type == nil:
				b.KeepAlive()
			case Type(*v.Type) == TypeExtension:
				if err := b.Extension(*v.Channel, 1, []byte("hello")); err != nil {
					t.Fatal(err)
				}
			default:
				var ok bool
				if m, ok = goldenMessages[v.Name]; !ok {
					t.Fatalf("no expected message for vector %q", v.Name)
				}
				if m.Type() != Type(*v.Type) {
					t.Fatalf("message type %v, vector type %d", m.Type(), *v.Type)
				}
				if err := b.Message(*v.Channel, m); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Fatalf("encoded\n got %x\nwant %x", b.Bytes(), want)
			}

			fr := NewFramer(nil, bytes.NewReader(want))
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fr.ReadFrame(); err != io.EOF {
				t.Fatalf("after the frame: %v, want io.EOF", err)
			}
			if v.Type == nil {
				if !f.KeepAlive {
					t.Fatalf("got %+v, want a keep-alive", f)
				}
				return
			}
			if f.KeepAlive || f.Channel != *v.Channel || f.Type != Type(*v.Type) {
				t.Fatalf("got channel %d type %v keep-alive %v, want channel %d type %d", f.Channel, f.Type, f.KeepAlive, *v.Channel, *v.Type)
			}
			if f.Type == TypeExtension {
				id, payload, err := ParseExtension(f.Body)
				if err != nil || id != 1 || string(payload) != "hello" {
					t.Fatalf("ParseExtension = %d, %q, %v", id, payload, err)
				}
				return
			}
			got, err := DecodeMessage(f.Type, f.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, m) {
				t.Fatalf("decoded %v, want %v", got, m)
			}
		})
	}
}

// TestDecodeDefaults checks the getters give the reference decoder's
// defaults for absent fields, and that presence survives decoding.
func TestDecodeDefaults(t *testing.T) {
	decode := func(typ Type, hexBody string) Message {
		t.Helper()
		m, err := DecodeMessage(typ, vectors.Hex(t, hexBody))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if h := decode(TypeHave, "0802").(*Have); h.GetLength() != 1 || h.Length != nil {
		t.Errorf("Have without length: GetLength %d, Length %v; want 1, absent", h.GetLength(), h.Length)
	}
	if u := decode(TypeUnhave, "0807").(*Unhave); u.GetLength() != 1 {
		t.Errorf("Unhave without length: GetLength %d, want 1", u.GetLength())
	}
	if s := decode(TypeStatus, "").(*Status); s.GetUploading() || s.GetDownloading() || s.Uploading != nil {
		t.Errorf("empty Status: %v, want both absent and false", s)
	}
	if d := decode(TypeData, "0802").(*Data); d.Value != nil {
		t.Errorf("Data without value: Value %x, want nil (hash-only)", d.Value)
	}
	if d := decode(TypeData, "08031200").(*Data); d.Value == nil || len(d.Value) != 0 {
		t.Errorf("Data with empty value: Value %#v, want present and empty", d.Value)
	}
	if w := decode(TypeWant, "0800").(*Want); w.GetLength() != 0 {
		t.Errorf("Want without length: %d, want 0", w.GetLength())
	}
	// Unknown field numbers are skipped, as protocol-buffers-encodings does.
	if r := decode(TypeRequest, "0801"+"7801"+"2003").(*Request); r.GetIndex() != 1 || r.GetNodes() != 3 {
		t.Errorf("Request with an unknown field: %v", r)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  Type
		body string
		want error
	}{
		{"Open without discoveryKey", TypeOpen, "", ErrBadMessage},
		{"Have without start", TypeHave, "1001", ErrBadMessage},
		{"Data node without hash", TypeData, "08011a0408001801", ErrBadMessage},
		{"truncated bytes", TypeOpen, "0a20c1fe", ErrBadMessage},
		{"truncated varint", TypeWant, "0880", ErrBadMessage},
		{"bad wire type", TypeWant, "0f", ErrBadMessage},
		{"unused type", Type(12), "", ErrNotProtobuf},
		{"extension", TypeExtension, "0168", ErrNotProtobuf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeMessage(tc.typ, vectors.Hex(t, tc.body))
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeMessage = %v, %v; want %v", m, err, tc.want)
			}
		})
	}
	if _, _, err := ParseExtension(nil); !errors.Is(err, ErrBadMessage) {
		t.Errorf("ParseExtension(empty) = %v, want ErrBadMessage", err)
	}
}

func TestReadFrameErrors(t *testing.T) {
	huge := vectors.Hex(t, "ffffffffffffffff7f") // a length far past the limit
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"empty stream", "", io.EOF},
		{"length too large", string(huge), ErrFrameTooLarge},
		// L = 8 MiB + 2 with a 1-byte header: body one byte over the limit.
		{"body one byte too large", "\x82\x80\x80\x04\x11", ErrFrameTooLarge},
		{"varint overflow", strings.Repeat("\xff", 10) + "\x01", ErrBadFrame},
		{"header longer than frame", "\x01\x80\x01", ErrBadFrame},
		{"truncated length", "\x80", io.ErrUnexpectedEOF},
		{"truncated header", "\x02\x80", io.ErrUnexpectedEOF},
		{"truncated body", "\x05\x10\x0a\x20", io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewFramer(nil, strings.NewReader(tc.in)).ReadFrame()
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadFrame = %+v, %v; want %v", f, err, tc.want)
			}
		})
	}
}

// TestReadFrameLimit: a frame whose body is exactly MaxFrameSize is read.
func TestReadFrameLimit(t *testing.T) {
	var b Batch
	if err := b.Frame(3, TypeData, make([]byte, MaxFrameSize)); err != nil {
		t.Fatal(err)
	}
	f, err := NewFramer(nil, bytes.NewReader(b.Bytes())).ReadFrame()
	if err != nil || len(f.Body) != MaxFrameSize || f.Channel != 3 {
		t.Fatalf("ReadFrame: channel %d, %d bytes, %v", f.Channel, len(f.Body), err)
	}
	if err := b.Frame(3, TypeData, make([]byte, MaxFrameSize+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("encoding an oversized frame: %v, want ErrFrameTooLarge", err)
	}
}

// TestUnusedTypes: frames of types 11–14 come back to the caller, and the
// stream continues after them.
func TestUnusedTypes(t *testing.T) {
	var b Batch
	for typ := Type(11); typ <= 14; typ++ {
		if err := b.Frame(uint64(typ), typ, []byte{byte(typ)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Message(1, NewWant(0, 8192)); err != nil {
		t.Fatal(err)
	}
	fr := NewFramer(nil, bytes.NewReader(b.Bytes()))
	for typ := Type(11); typ <= 14; typ++ {
		f, err := fr.ReadFrame()
		if err != nil || f.Type != typ || f.Channel != uint64(typ) || !bytes.Equal(f.Body, []byte{byte(typ)}) {
			t.Fatalf("frame of type %v: %+v, %v", typ, f, err)
		}
		if _, err := DecodeMessage(f.Type, f.Body); !errors.Is(err, ErrNotProtobuf) {
			t.Fatalf("DecodeMessage(%v) = %v, want ErrNotProtobuf", typ, err)
		}
	}
	if f, err := fr.ReadFrame(); err != nil || f.Type != TypeWant {
		t.Fatalf("frame after the unused types: %+v, %v", f, err)
	}
}

// TestWriteBatch: a batch goes out in one Write and reads back frame by frame;
// single-frame writers use one Write each.
func TestWriteBatch(t *testing.T) {
	var w writeRecorder
	fr := NewFramer(&w, nil)
	var b Batch
	b.Message(1, NewOpen(goldenDK, repeat(0xcc, 32)))
	b.Message(1, NewWant(0, 1048576))
	b.KeepAlive()
	b.Extension(0, 2, []byte("x"))
	if err := b.Frame(1, Type(16), nil); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("type 16: %v, want ErrBadFrame", err)
	}
	if err := b.Message(1, &Have{}); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("Have without start: %v, want ErrBadMessage", err)
	}
	if err := fr.WriteBatch(&b); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 0 {
		t.Fatalf("batch not reset: %d bytes", b.Len())
	}
	if err := fr.WriteMessage(2, NewStatus(false, false)); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteKeepAlive(); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteExtension(2, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteFrame(2, Type(13), []byte{1}); err != nil {
		t.Fatal(err)
	}
	if len(w.writes) != 5 {
		t.Fatalf("%d writes, want 5", len(w.writes))
	}

	rd := NewFramer(nil, bytes.NewReader(w.all()))
	var got []string
	for {
		f, err := rd.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.KeepAlive {
			got = append(got, "keep-alive")
			continue
		}
		got = append(got, f.Type.String())
	}
	want := "Open Want keep-alive Extension Status keep-alive Extension Type(13)"
	if strings.Join(got, " ") != want {
		t.Fatalf("read %v, want %s", got, want)
	}
}

// TestBodyBufferReuse: reading frames of similar size does not allocate
// once the body buffer has grown.
func TestBodyBufferReuse(t *testing.T) {
	var b Batch
	for i := range 20 { // 10 for the warm-up run, 10 measured
		b.Message(1, NewData(uint64(i), bytes.Repeat([]byte{byte(i)}, 1000), nil, nil))
	}
	fr := NewFramer(nil, bytes.NewReader(b.Bytes()))
	allocs := testing.AllocsPerRun(1, func() {
		for range 10 {
			if _, err := fr.ReadFrame(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations reading 10 frames, want 0", allocs)
	}
}
