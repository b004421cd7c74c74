package wire

// schema.pb.go is generated with protoc and protoc-gen-go v1.36.12
// (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12) on PATH:
//go:generate protoc -I ../.. --go_out=../.. --go_opt=paths=source_relative hypercore/wire/schema.proto

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"
)

// Type is the message type carried in the low 4 bits of a frame header.
type Type uint8

// The message types of simple-hypercore-protocol 2. Types 11–14 are unused:
// the reference ignores frames of those types, and ReadFrame returns them so a
// caller can do the same.
const (
	TypeOpen      Type = 0
	TypeOptions   Type = 1
	TypeStatus    Type = 2
	TypeHave      Type = 3
	TypeUnhave    Type = 4
	TypeWant      Type = 5
	TypeUnwant    Type = 6
	TypeRequest   Type = 7
	TypeCancel    Type = 8
	TypeData      Type = 9
	TypeClose     Type = 10
	TypeExtension Type = 15

	maxType Type = 15
)

var typeNames = [...]string{
	TypeOpen: "Open", TypeOptions: "Options", TypeStatus: "Status",
	TypeHave: "Have", TypeUnhave: "Unhave", TypeWant: "Want",
	TypeUnwant: "Unwant", TypeRequest: "Request", TypeCancel: "Cancel",
	TypeData: "Data", TypeClose: "Close", TypeExtension: "Extension",
}

func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// IsProtobuf reports whether frames of this type carry a protobuf body that
// DecodeMessage understands (types 0–10).
func (t Type) IsProtobuf() bool { return t <= TypeClose }

// Message is one of the eleven protobuf messages that travel in frames.
type Message interface {
	proto.Message
	// Type is the frame type the message is sent with.
	Type() Type
}

// Type implements Message.
func (*Open) Type() Type { return TypeOpen }

// Type implements Message.
func (*Options) Type() Type { return TypeOptions }

// Type implements Message.
func (*Status) Type() Type { return TypeStatus }

// Type implements Message.
func (*Have) Type() Type { return TypeHave }

// Type implements Message.
func (*Unhave) Type() Type { return TypeUnhave }

// Type implements Message.
func (*Want) Type() Type { return TypeWant }

// Type implements Message.
func (*Unwant) Type() Type { return TypeUnwant }

// Type implements Message.
func (*Request) Type() Type { return TypeRequest }

// Type implements Message.
func (*Cancel) Type() Type { return TypeCancel }

// Type implements Message.
func (*Data) Type() Type { return TypeData }

// Type implements Message.
func (*Close) Type() Type { return TypeClose }

// newMessage returns an empty message of a protobuf type, or nil.
func newMessage(t Type) Message {
	switch t {
	case TypeOpen:
		return new(Open)
	case TypeOptions:
		return new(Options)
	case TypeStatus:
		return new(Status)
	case TypeHave:
		return new(Have)
	case TypeUnhave:
		return new(Unhave)
	case TypeWant:
		return new(Want)
	case TypeUnwant:
		return new(Unwant)
	case TypeRequest:
		return new(Request)
	case TypeCancel:
		return new(Cancel)
	case TypeData:
		return new(Data)
	case TypeClose:
		return new(Close)
	}
	return nil
}

// DecodeMessage decodes a frame body of type t (0–10) into its message.
// Fields absent on the wire stay absent (nil pointers), so callers see
// presence; the generated getters yield the reference decoder's defaults
// (Have.length and Unhave.length 1, everything else zero/false/nil). Unknown
// field numbers are kept and skipped as the reference skips them. The result
// does not alias body.
func DecodeMessage(t Type, body []byte) (Message, error) {
	m := newMessage(t)
	if m == nil {
		return nil, fmt.Errorf("wire: decoding %v: %w", t, ErrNotProtobuf)
	}
	if err := proto.Unmarshal(body, m); err != nil {
		return nil, fmt.Errorf("wire: decoding %v: %w: %w", t, ErrBadMessage, err)
	}
	return m, nil
}

// ParseExtension splits the body of an Extension frame (type 15) into the
// extension id (an index into the sender's sorted extension names) and the
// raw payload, which aliases body.
func ParseExtension(body []byte) (id uint64, payload []byte, err error) {
	id, n := binary.Uvarint(body)
	if n <= 0 {
		return 0, nil, fmt.Errorf("wire: decoding extension id: %w", ErrBadMessage)
	}
	return id, body[n:], nil
}

// DecodeNoisePayload decodes the payload of a Noise handshake message and
// checks that it carries a 24-byte XSalsa20 nonce.
func DecodeNoisePayload(b []byte) (*NoisePayload, error) {
	p := new(NoisePayload)
	if err := proto.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("wire: decoding handshake payload: %w: %w", ErrBadPayload, err)
	}
	if len(p.Nonce) != NonceSize {
		return nil, fmt.Errorf("wire: handshake nonce is %d bytes, want %d: %w", len(p.Nonce), NonceSize, ErrBadPayload)
	}
	return p, nil
}

// Constructors that set exactly the fields the JS reference sets when it
// sends each message (it writes 0 and false explicitly, and the reference
// decoder's defaults for absent fields are not always zero), so a Go peer looks
// like a JS peer on the wire, byte for byte.

// NewOpen returns the Open that starts a channel: the feed's discovery key and
// this session's capability for the feed (see Conn.Capability).
func NewOpen(discoveryKey, capability []byte) *Open {
	return &Open{DiscoveryKey: discoveryKey, Capability: capability}
}

// NewOptions returns Options announcing extension names and whether every
// block received from us should be acknowledged. Both fields are always sent.
// Names must be sorted: extension ids index this list.
func NewOptions(extensions []string, ack bool) *Options {
	return &Options{Extensions: extensions, Ack: proto.Bool(ack)}
}

// NewStatus returns a Status with both fields set. An absent field decodes as
// false in JS, which would tell the remote we stopped uploading.
func NewStatus(uploading, downloading bool) *Status {
	return &Status{Uploading: proto.Bool(uploading), Downloading: proto.Bool(downloading)}
}

// NewHave announces a single block, as JS announces one appended block: the
// length is omitted and decodes as 1.
func NewHave(index uint64) *Have {
	return &Have{Start: proto.Uint64(index)}
}

// NewHaveRange announces length blocks from start. A non-nil bitfield (RLE
// encoded, bits MSB-first from start) makes it the answer to a Want with the
// same start and length.
func NewHaveRange(start, length uint64, bitfield []byte) *Have {
	return &Have{Start: proto.Uint64(start), Length: proto.Uint64(length), Bitfield: bitfield}
}

// NewHaveAck acknowledges a received block, as sent to a peer whose Options
// had ack set.
func NewHaveAck(index uint64) *Have {
	return &Have{Start: proto.Uint64(index), Length: proto.Uint64(1), Ack: proto.Bool(true)}
}

// NewUnhave tells the remote one block is not here (length omitted, decodes
// as 1).
func NewUnhave(index uint64) *Unhave {
	return &Unhave{Start: proto.Uint64(index)}
}

// NewWant asks for Haves in [start, start+length). JS answers only Wants whose
// start and length are multiples of 8192, and expects length 1048576.
func NewWant(start, length uint64) *Want {
	return &Want{Start: proto.Uint64(start), Length: proto.Uint64(length)}
}

// NewUnwant withdraws a Want.
func NewUnwant(start, length uint64) *Unwant {
	return &Unwant{Start: proto.Uint64(start), Length: proto.Uint64(length)}
}

// NewRequest asks for a block with all four fields present, as hypercore
// sends it: a byte offset (0 for none), whether only the hash is wanted, and
// the digest of the tree nodes the requester already has.
func NewRequest(index, bytes uint64, hash bool, nodes uint64) *Request {
	return &Request{Index: proto.Uint64(index), Bytes: proto.Uint64(bytes), Hash: proto.Bool(hash), Nodes: proto.Uint64(nodes)}
}

// NewCancel cancels a Request, all three fields present.
func NewCancel(index, bytes uint64, hash bool) *Cancel {
	return &Cancel{Index: proto.Uint64(index), Bytes: proto.Uint64(bytes), Hash: proto.Bool(hash)}
}

// NewData returns a Data carrying a block value. The value field is always
// present, even for a zero-length (or nil) block: an absent value means a
// hash-only response to JS (see NewHashData). A nil signature is omitted.
func NewData(index uint64, value []byte, nodes []*Data_Node, signature []byte) *Data {
	if value == nil {
		value = []byte{}
	}
	return &Data{Index: proto.Uint64(index), Value: value, Nodes: nodes, Signature: signature}
}

// NewHashData returns a Data answering a hash request: no value field.
func NewHashData(index uint64, nodes []*Data_Node, signature []byte) *Data {
	return &Data{Index: proto.Uint64(index), Nodes: nodes, Signature: signature}
}

// NewNode returns a merkle tree node for Data.Nodes.
func NewNode(index uint64, hash []byte, size uint64) *Data_Node {
	return &Data_Node{Index: proto.Uint64(index), Hash: hash, Size: proto.Uint64(size)}
}

// NewClose returns a Close. discoveryKey is nil when closing a channel we
// opened, and the feed's discovery key when refusing a channel we never
// opened.
func NewClose(discoveryKey []byte) *Close {
	return &Close{DiscoveryKey: discoveryKey}
}
