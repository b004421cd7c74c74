package wire

import "errors"

// Errors a caller can branch on with errors.Is. Every error this package
// returns from a read, a decode or the handshake wraps one of them, so a caller
// can tell a hostile or broken peer (ErrBadFrame, ErrBadMessage, ...) from an
// I/O failure of the underlying stream (which is passed through unchanged).
var (
	// ErrFrameTooLarge: a frame body (or a handshake message) exceeds the size
	// the reference accepts. Detected from the length prefix, before any
	// allocation.
	ErrFrameTooLarge = errors.New("wire: frame too large")

	// ErrBadFrame: the framing itself is broken (an overlong varint, a
	// header longer than the frame, an unknown message type to encode).
	ErrBadFrame = errors.New("wire: malformed frame")

	// ErrBadMessage: a frame body does not decode as its type's message
	// (truncated protobuf, missing required field, empty extension body).
	ErrBadMessage = errors.New("wire: malformed message")

	// ErrNotProtobuf: DecodeMessage was asked for a type whose body is not a
	// protobuf message (the unused types 11–14, and 15, see ParseExtension).
	ErrNotProtobuf = errors.New("wire: type has no protobuf body")

	// ErrHandshake: the Noise handshake failed (a message did not decrypt
	// or was out of pattern).
	ErrHandshake = errors.New("wire: noise handshake failed")

	// ErrBadPayload: the remote's handshake payload is missing, does not
	// decode, or carries a nonce that is not 24 bytes.
	ErrBadPayload = errors.New("wire: bad handshake payload")

	// ErrRejected: the HandshakeConfig.Authenticate hook refused the remote
	// static key. The hook's own error is wrapped too.
	ErrRejected = errors.New("wire: remote static key rejected")
)
