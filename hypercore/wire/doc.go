// Package wire is the hypercore-protocol 8 wire format (simple-hypercore-protocol
// 2, as spoken by JS hypercore 9); it knows nothing of feeds or peers.
//
// A session has three layers, each its own piece here:
//
//   - Handshake runs the Noise XX handshake (Noise_XX_25519_ChaChaPoly_BLAKE2b,
//     empty prologue) on a fresh byte stream and returns a Conn.
//   - Conn encrypts and decrypts everything after the handshake with one
//     continuous XSalsa20 keystream per direction, and computes the channel
//     capabilities that prove knowledge of a feed key.
//   - Framer reads and writes frames varint(L) ‖ varint(channel<<4|type) ‖ body
//     over any io.Reader/io.Writer (a Conn, or a plain stream in tests).
//
// Frame bodies are decoded separately: DecodeMessage for the protobuf
// messages of types 0–10 (generated from schema.proto into schema.pb.go) and
// ParseExtension for type 15. The New… constructors build messages with the
// exact field presence the JS reference sends, which matters because the
// reference's decoder defaults are not all zero (see each constructor).
//
// Typical use:
//
//	conn, err := wire.Handshake(ctx, netConn, wire.HandshakeConfig{Initiator: true})
//	fr := wire.NewFramer(conn, conn)
//	dk := hcrypto.DiscoveryKey(feedKey)
//	err = fr.WriteMessage(1, wire.NewOpen(dk[:], conn.Capability(feedKey)))
//	f, err := fr.ReadFrame()
//	m, err := wire.DecodeMessage(f.Type, f.Body)
//
// Errors wrap the sentinels in errors.go (ErrFrameTooLarge, ErrBadFrame,
// ErrBadMessage, ErrHandshake, ...) so callers can branch with errors.Is.
package wire
