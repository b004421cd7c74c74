package wire

import (
	"crypto/subtle"
	"fmt"
	"io"
	"sync"

	"golang.org/x/crypto/blake2b"
)

// maxWriteChunk bounds the encryption buffer a Conn keeps; larger writes
// go out in pieces of this size.
const maxWriteChunk = 256 << 10

// Conn is the encrypted stream after a successful Handshake: every byte
// written is XORed with this end's XSalsa20 keystream (own split tx key, own
// nonce) and every byte read with the remote's (own split rx key, remote
// nonce), each one continuous for the whole session. There is no MAC: a
// corrupted or desynchronised stream shows up as malformed frames.
//
// Read and Write may be called concurrently with each other; concurrent
// Writes are serialised, each kept contiguous on the wire.
type Conn struct {
	rw           io.ReadWriter
	initiator    bool
	remoteStatic []byte
	hash         []byte
	txKey, rxKey [32]byte // the Noise split keys

	rmu      sync.Mutex
	leftover []byte    // transport bytes read during the handshake; guarded by rmu
	rx       *xsalsa20 // guarded by rmu

	wmu  sync.Mutex
	tx   *xsalsa20 // guarded by wmu
	wbuf []byte    // ciphertext scratch; guarded by wmu
	werr error     // sticky write error; guarded by wmu
}

// Read reads and decrypts up to len(p) bytes.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	var (
		n   int
		err error
	)
	if len(c.leftover) > 0 {
		n = copy(p, c.leftover)
		c.leftover = c.leftover[n:]
	} else {
		n, err = c.rw.Read(p)
	}
	c.rx.XORKeyStream(p[:n], p[:n])
	return n, err
}

// Write encrypts p and writes it; p itself is not modified. After a failed
// write the keystream is ahead of what the remote received, so every later
// Write fails too.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	if need := min(len(p), maxWriteChunk); cap(c.wbuf) < need {
		c.wbuf = make([]byte, need)
	}
	written := 0
	for written < len(p) {
		chunk := p[written:min(len(p), written+cap(c.wbuf))]
		buf := c.wbuf[:len(chunk)]
		c.tx.XORKeyStream(buf, chunk)
		n, err := c.rw.Write(buf)
		written += n
		if err == nil && n < len(buf) {
			err = io.ErrShortWrite
		}
		if err != nil {
			c.werr = fmt.Errorf("wire: encrypted stream broken: %w", err)
			return written, err
		}
	}
	return written, nil
}

// Close closes the underlying stream if it is an io.Closer.
func (c *Conn) Close() error {
	if cl, ok := c.rw.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// Initiator reports whether this end started the handshake.
func (c *Conn) Initiator() bool { return c.initiator }

// RemoteStaticKey returns the remote's static X25519 public key.
func (c *Conn) RemoteStaticKey() []byte { return c.remoteStatic }

// HandshakeHash returns the 64-byte Noise handshake hash (channel binding).
// hypercore 9 does not use it.
func (c *Conn) HandshakeHash() []byte { return c.hash }

// Capability returns the proof that this end knows feedKey, for the Open we
// send on the feed's channel: BLAKE2b-256 keyed with our split rx key over
// "hypercore capability" ‖ our split tx key ‖ feedKey.
func (c *Conn) Capability(feedKey []byte) []byte {
	return capability(&c.rxKey, &c.txKey, feedKey)
}

// RemoteCapability returns the capability the remote must send in its Open
// for feedKey: the same with tx and rx swapped.
func (c *Conn) RemoteCapability(feedKey []byte) []byte {
	return capability(&c.txKey, &c.rxKey, feedKey)
}

// VerifyRemoteCapability reports, in constant time, whether an Open's
// capability proves the remote knows feedKey. The reference destroys the
// whole stream when a channel it opened first fails this check.
func (c *Conn) VerifyRemoteCapability(feedKey, capability []byte) bool {
	return subtle.ConstantTimeCompare(c.RemoteCapability(feedKey), capability) == 1
}

var capabilityPrefix = []byte("hypercore capability")

// capability is hypercore-crypto's capability(key, split): no type byte, only
// the 32-byte keys (noise-protocol's 40-byte split buffers carry 8 extra zero
// nonce bytes, which are not used).
func capability(hashKey, msgKey *[32]byte, feedKey []byte) []byte {
	h, err := blake2b.New256(hashKey[:])
	if err != nil {
		panic("wire: 32-byte blake2b key rejected")
	}
	h.Write(capabilityPrefix)
	h.Write(msgKey[:])
	h.Write(feedKey)
	return h.Sum(nil)
}
