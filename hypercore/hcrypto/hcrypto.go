// Package hcrypto holds the cryptography of hypercore 9: Ed25519 key pairs,
// discovery keys, and the BLAKE2b merkle hashes and signable bytes that
// hypercore-crypto 2 defines.
package hcrypto

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"

	"golang.org/x/crypto/blake2b"
)

// Sizes of keys, hashes and signatures.
const (
	PublicKeySize = ed25519.PublicKeySize // 32
	SecretKeySize = ed25519.PrivateKeySize
	SeedSize      = ed25519.SeedSize
	HashSize      = 32
	SignatureSize = ed25519.SignatureSize // 64
	SignableSize  = HashSize + 8
)

// Domain-separation bytes prefixed to every merkle hash input.
const (
	leafType   = 0x00
	parentType = 0x01
	rootType   = 0x02
)

// KeyPair is an Ed25519 signing key pair. SecretKey is seed ‖ public key, the
// same 64-byte layout libsodium and the reference use.
type KeyPair struct {
	PublicKey ed25519.PublicKey
	SecretKey ed25519.PrivateKey
}

// NewKeyPair returns a random key pair.
func NewKeyPair() (KeyPair, error) {
	pub, sec, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{pub, sec}, nil
}

// KeyPairFromSeed returns the key pair libsodium's crypto_sign_seed_keypair
// derives from a 32-byte seed.
func KeyPairFromSeed(seed []byte) (KeyPair, error) {
	if len(seed) != SeedSize {
		return KeyPair{}, errors.New("hcrypto: seed must be 32 bytes")
	}
	sec := ed25519.NewKeyFromSeed(seed)
	return KeyPair{sec.Public().(ed25519.PublicKey), sec}, nil
}

// DiscoveryKey returns BLAKE2b-256 keyed with the public key over "hypercore":
// the name a feed goes by on the wire, which does not reveal the key.
func DiscoveryKey(publicKey []byte) [32]byte {
	h, err := blake2b.New256(publicKey)
	if err != nil {
		panic("hcrypto: public key longer than 64 bytes")
	}
	h.Write([]byte("hypercore"))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Node is a merkle tree node: its flat-tree index, the number of block bytes
// below it, and its hash.
type Node struct {
	Index uint64
	Size  uint64
	Hash  [HashSize]byte
}

// LeafHash hashes a block: BLAKE2b-256(0x00 ‖ uint64be(len) ‖ data).
func LeafHash(data []byte) [HashSize]byte {
	if len(data) <= smallLeaf {
		// One buffer on the stack: no hasher to allocate, which costs
		// as much as hashing a small block.
		var buf [9 + smallLeaf]byte
		buf[0] = leafType
		binary.BigEndian.PutUint64(buf[1:], uint64(len(data)))
		n := 9 + copy(buf[9:], data)
		return blake2b.Sum256(buf[:n])
	}
	var hdr [9]byte
	hdr[0] = leafType
	binary.BigEndian.PutUint64(hdr[1:], uint64(len(data)))
	h, _ := blake2b.New256(nil)
	h.Write(hdr[:])
	h.Write(data)
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

// smallLeaf is the largest block LeafHash hashes from one stack buffer.
const smallLeaf = 2048

// Leaf returns the tree node of block data at flat index 2*block.
func Leaf(index uint64, data []byte) Node {
	return Node{Index: index, Size: uint64(len(data)), Hash: LeafHash(data)}
}

// ParentHash hashes two sibling nodes, lower index first.
func ParentHash(a, b Node) [HashSize]byte {
	if a.Index > b.Index {
		a, b = b, a
	}
	var buf [1 + 8 + 2*HashSize]byte
	buf[0] = parentType
	binary.BigEndian.PutUint64(buf[1:], a.Size+b.Size)
	copy(buf[9:], a.Hash[:])
	copy(buf[9+HashSize:], b.Hash[:])
	return blake2b.Sum256(buf[:])
}

// Parent returns the parent node of two siblings.
func Parent(a, b Node, parentIndex uint64) Node {
	return Node{Index: parentIndex, Size: a.Size + b.Size, Hash: ParentHash(a, b)}
}

// TreeHash hashes the full roots of a tree, given in ascending index order.
func TreeHash(roots []Node) [HashSize]byte {
	h, _ := blake2b.New256(nil)
	h.Write([]byte{rootType})
	var buf [HashSize + 16]byte
	for _, r := range roots {
		copy(buf[:], r.Hash[:])
		binary.BigEndian.PutUint64(buf[HashSize:], r.Index)
		binary.BigEndian.PutUint64(buf[HashSize+8:], r.Size)
		h.Write(buf[:])
	}
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

// Signable returns the 40 bytes a feed signs for a given length:
// TreeHash(roots) ‖ uint64be(length).
func Signable(roots []Node, length uint64) [SignableSize]byte {
	var out [SignableSize]byte
	th := TreeHash(roots)
	copy(out[:], th[:])
	binary.BigEndian.PutUint64(out[HashSize:], length)
	return out
}

// Sign signs the roots of a feed of the given length.
func Sign(secretKey ed25519.PrivateKey, roots []Node, length uint64) []byte {
	s := Signable(roots, length)
	return ed25519.Sign(secretKey, s[:])
}

// Verify checks a signature over the roots of a feed of the given length. Like
// the reference it also accepts the legacy form, a signature over the bare
// 32-byte tree hash.
func Verify(publicKey ed25519.PublicKey, roots []Node, length uint64, sig []byte) bool {
	if len(publicKey) != PublicKeySize || len(sig) != SignatureSize {
		return false
	}
	s := Signable(roots, length)
	if ed25519.Verify(publicKey, s[:], sig) {
		return true
	}
	return ed25519.Verify(publicKey, s[:HashSize], sig)
}
