package wire

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/flynn/noise"
	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/curve25519"
	"google.golang.org/protobuf/proto"
)

// cipherSuite is Noise_XX_25519_ChaChaPoly_BLAKE2b, as noise-protocol 3 runs
// it for simple-hypercore-protocol (with an empty prologue).
var cipherSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2b)

// NoiseKeyPair is an X25519 key pair, the static identity of one end of a
// Noise session (not a feed's Ed25519 signing key pair).
type NoiseKeyPair struct {
	PublicKey [32]byte
	SecretKey [32]byte
}

// NewNoiseKeyPair returns a random key pair read from rng (crypto/rand if
// nil), like libsodium's crypto_kx_keypair.
func NewNoiseKeyPair(rng io.Reader) (NoiseKeyPair, error) {
	if rng == nil {
		rng = rand.Reader
	}
	var kp NoiseKeyPair
	if _, err := io.ReadFull(rng, kp.SecretKey[:]); err != nil {
		return NoiseKeyPair{}, fmt.Errorf("wire: generating noise key pair: %w", err)
	}
	return kp, kp.derivePublic()
}

// NoiseKeyPairFromSeed derives the key pair libsodium's
// crypto_kx_seed_keypair derives from a 32-byte seed (the reference's
// keyPair(seed)): the secret key is BLAKE2b-256(seed), the public key
// X25519(secret key, base point).
func NoiseKeyPairFromSeed(seed []byte) (NoiseKeyPair, error) {
	if len(seed) != 32 {
		return NoiseKeyPair{}, fmt.Errorf("wire: noise seed is %d bytes, want 32", len(seed))
	}
	kp := NoiseKeyPair{SecretKey: blake2b.Sum256(seed)}
	return kp, kp.derivePublic()
}

func (kp *NoiseKeyPair) derivePublic() error {
	pub, err := curve25519.X25519(kp.SecretKey[:], curve25519.Basepoint)
	if err != nil {
		return fmt.Errorf("wire: deriving noise public key: %w", err)
	}
	copy(kp.PublicKey[:], pub)
	return nil
}

// HandshakeConfig configures one end of the handshake.
type HandshakeConfig struct {
	// Initiator is true on the end that sends the first message. The two
	// ends must differ.
	Initiator bool

	// StaticKeyPair is this end's static identity. If nil a random one is
	// made (JS makes a fresh one per stream unless given one).
	StaticKeyPair *NoiseKeyPair

	// Authenticate, if set, is called with the remote's static public key as
	// soon as it arrives (the reference's onauthenticate). Returning an error
	// aborts the handshake; Handshake then returns an error wrapping both
	// ErrRejected and the returned error.
	Authenticate func(remoteStaticKey []byte) error

	// Nonce is this end's 24-byte transport nonce, sent to the remote in the
	// handshake payload. If nil a random one is made. Only tests should set it.
	Nonce []byte

	// Rand is the randomness source, crypto/rand if nil. It is read, in this
	// order, for the static key pair (if StaticKeyPair is nil), the nonce (if
	// Nonce is nil) and the Noise ephemeral secret key. Only tests should set
	// it.
	Rand io.Reader
}

// maxHandshakeMessage is the largest Noise message (the Noise spec's limit).
const maxHandshakeMessage = noise.MaxMsgLen

// aLongTimeAgo is a deadline in the past, to unblock I/O on cancellation.
var aLongTimeAgo = time.Unix(1, 0)

// Handshake runs the Noise XX handshake of hypercore-protocol 8 over rw and
// returns the encrypted connection. It is the first thing on a new stream;
// nothing else may read or write rw until it returns, and only the returned
// Conn may use rw afterwards (it owns any bytes read past the handshake).
//
// Each of the three Noise messages is framed as varint(len) ‖ message and
// carries a NoisePayload with this end's transport nonce. The handshake
// fails with ErrHandshake if a message does not decrypt, ErrBadPayload if the
// remote sends no usable nonce, ErrRejected if cfg.Authenticate refuses the
// remote key, or the underlying I/O error.
//
// If rw has a SetDeadline method (a net.Conn does), ctx's deadline and
// cancellation interrupt blocked I/O, and the deadline is cleared on return.
// Otherwise ctx is only checked between messages.
func Handshake(ctx context.Context, rw io.ReadWriter, cfg HandshakeConfig) (_ *Conn, err error) {
	if d, ok := rw.(interface{ SetDeadline(time.Time) error }); ok {
		defer watchContext(ctx, d)()
		defer func() {
			// I/O cut short by watchContext fails with a timeout; say why.
			if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
				err = fmt.Errorf("%w: %w", ctx.Err(), err)
			}
		}()
	}

	rng := cfg.Rand
	if rng == nil {
		rng = rand.Reader
	}
	static := cfg.StaticKeyPair
	if static == nil {
		kp, err := NewNoiseKeyPair(rng)
		if err != nil {
			return nil, err
		}
		static = &kp
	}
	var nonce [NonceSize]byte
	switch {
	case cfg.Nonce == nil:
		if _, err := io.ReadFull(rng, nonce[:]); err != nil {
			return nil, fmt.Errorf("wire: generating nonce: %w", err)
		}
	case len(cfg.Nonce) != NonceSize:
		return nil, fmt.Errorf("wire: nonce is %d bytes, want %d", len(cfg.Nonce), NonceSize)
	default:
		copy(nonce[:], cfg.Nonce)
	}
	payload, err := proto.Marshal(&NoisePayload{Nonce: nonce[:]})
	if err != nil {
		return nil, fmt.Errorf("wire: encoding handshake payload: %w", err)
	}

	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   cipherSuite,
		Random:        rng,
		Pattern:       noise.HandshakeXX,
		Initiator:     cfg.Initiator,
		StaticKeypair: noise.DHKey{Private: static.SecretKey[:], Public: static.PublicKey[:]},
	})
	if err != nil {
		return nil, fmt.Errorf("wire: starting handshake: %w", err)
	}

	br := bufio.NewReader(rw)
	var (
		remotePayload []byte
		cs1, cs2      *noise.CipherState
	)
	// XX has three messages, the initiator writing the even ones. The
	// remote static key arrives in message 1 (for the initiator) or 2.
	for i := 0; i < 3; i++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("wire: handshake: %w", err)
		}
		if (i%2 == 0) == cfg.Initiator {
			var msg []byte
			msg, cs1, cs2, err = hs.WriteMessage(nil, payload)
			if err != nil {
				return nil, fmt.Errorf("wire: writing handshake message %d: %w: %w", i+1, ErrHandshake, err)
			}
			if err := writeHandshakeMessage(rw, msg); err != nil {
				return nil, fmt.Errorf("wire: writing handshake message %d: %w", i+1, err)
			}
			continue
		}
		msg, err := readHandshakeMessage(br)
		if err != nil {
			return nil, fmt.Errorf("wire: reading handshake message %d: %w", i+1, err)
		}
		var pl []byte
		pl, cs1, cs2, err = hs.ReadMessage(nil, msg)
		if err != nil {
			return nil, fmt.Errorf("wire: reading handshake message %d: %w: %w", i+1, ErrHandshake, err)
		}
		if len(pl) > 0 { // the reference keeps the last non-empty payload
			remotePayload = pl
		}
		if i >= 1 && cfg.Authenticate != nil {
			if err := cfg.Authenticate(hs.PeerStatic()); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrRejected, err)
			}
		}
	}

	if remotePayload == nil {
		return nil, fmt.Errorf("wire: remote did not include a handshake payload: %w", ErrBadPayload)
	}
	rp, err := DecodeNoisePayload(remotePayload)
	if err != nil {
		return nil, err
	}
	tx, rx := cs1, cs2 // cs1 carries initiator → responder
	if !cfg.Initiator {
		tx, rx = cs2, cs1
	}
	c := &Conn{
		rw:           rw,
		initiator:    cfg.Initiator,
		remoteStatic: bytes.Clone(hs.PeerStatic()),
		hash:         hs.ChannelBinding(),
		txKey:        tx.UnsafeKey(),
		rxKey:        rx.UnsafeKey(),
	}
	// Bytes already read past message 3 are the start of the transport
	// stream (the reference's "overflow").
	if n := br.Buffered(); n > 0 {
		c.leftover, _ = br.Peek(n)
	}
	c.tx = newXSalsa20(&c.txKey, &nonce)
	c.rx = newXSalsa20(&c.rxKey, (*[NonceSize]byte)(rp.Nonce))
	return c, nil
}

// writeHandshakeMessage writes varint(len(msg)) ‖ msg in one Write.
func writeHandshakeMessage(w io.Writer, msg []byte) error {
	buf := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(msg)), uint64(len(msg)))
	_, err := w.Write(append(buf, msg...))
	return err
}

// readHandshakeMessage reads one varint-length-prefixed handshake message.
func readHandshakeMessage(r *bufio.Reader) ([]byte, error) {
	n, err := readUvarint(r, false)
	if err != nil {
		return nil, err
	}
	if n > maxHandshakeMessage {
		return nil, fmt.Errorf("message of %d bytes: %w", n, ErrFrameTooLarge)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, noEOF(err)
	}
	return msg, nil
}

// watchContext interrupts d's blocked I/O once ctx is done (cancelled or
// past its deadline) by setting a deadline in the past. The returned func
// stops watching and clears the deadline; it must be called before d is used
// again.
func watchContext(ctx context.Context, d interface{ SetDeadline(time.Time) error }) func() {
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		d.SetDeadline(aLongTimeAgo)
		close(fired)
	})
	return func() {
		if !stop() {
			<-fired
		}
		d.SetDeadline(time.Time{})
	}
}
