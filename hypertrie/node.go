package hypertrie

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/dchest/siphash"
	"google.golang.org/protobuf/proto"

	"github.com/hyperfs/hyperfs/hypertrie/internal/schema"
)

// flagHidden is the low bit of a node's stored flags; user flags sit above
// it, shifted by 8 (trap 22).
const flagHidden = 1

// Node is one key of the trie as a reader sees it.
type Node struct {
	// Key is the stored key: the caller's key without one leading "/".
	Key string
	// Value is the stored value; nil when the node has none (an empty value
	// is a non-nil empty slice).
	Value []byte
	// Seq is the feed block the node is stored in.
	Seq uint64
	// Flags are the caller's flags (the stored flags shifted right by 8).
	Flags uint64
	// Hidden marks a node of the hidden key space.
	Hidden bool
	// Collided is set by an Iterator on a node it reached on a branch
	// shared with other nodes (a hash collision): only such nodes can
	// stand for a name another node of the listing stands for too.
	Collided bool
}

// node is a decoded block: the stored fields plus what the walk needs.
type node struct {
	key     string
	value   []byte // nil when absent
	seq     uint64
	flags   uint64 // as stored: userFlags<<8 | hidden
	split   []string
	hash    []byte     // 8 bytes per component
	trie    [][]uint64 // while built: trie[i][slot] = seq, 0 = empty
	sparse  sparseTrie // once read or written: the trie, compactly
	encoded []byte     // while built: the block, once encoded
}

// bucket returns n's bucket at position i (nil if none).
func (n *node) bucket(i int) []uint64 {
	if n.trie != nil {
		if i < len(n.trie) {
			return n.trie[i]
		}
		return nil
	}
	return n.sparse.bucket(i)
}

// compact moves a written node's trie to its sparse form and drops its
// encoding, before the node is cached.
func (n *node) compact() {
	if n.trie != nil {
		n.sparse = compactTrie(n.trie)
		n.trie = nil
	}
	n.encoded = nil
}

// public returns the caller's view of n.
func (n *node) public() *Node {
	return &Node{Key: n.key, Value: n.value, Seq: n.seq, Flags: n.flags >> 8, Hidden: n.flags&flagHidden != 0}
}

func (n *node) hidden() bool { return n.flags&flagHidden != 0 }

// length is the number of path positions: the hidden flag, 32 per
// component, and the end marker.
func (n *node) length() int { return len(n.hash)*4 + 2 }

// path returns the 2-bit value at position i (trap 21): 0/1 for the hidden
// flag at 0, the hash bits LSB-first within each byte, 4 at the end.
func (n *node) path(i int) int {
	if i == 0 {
		if n.hidden() {
			return 1
		}
		return 0
	}
	i--
	j := i >> 2
	if j >= len(n.hash) {
		return 4
	}
	return int(n.hash[j]>>(2*(i&3))) & 3
}

// collides reports whether other differs from n at terminator position i
// although their hashes agree up to it: whole keys at the end, else the
// component that ends at i.
func (n *node) collides(other *node, i int) bool {
	if i == 0 {
		return false
	}
	if i == n.length()-1 {
		return n.key != other.key
	}
	j := (i - 1) / 32
	return component(n.split, j) != component(other.split, j) || (j >= len(n.split)) != (j >= len(other.split))
}

func component(split []string, j int) string {
	if j < len(split) {
		return split[j]
	}
	return ""
}

// terminator reports whether position i ends a component, where a hash
// collision has to be ruled out by comparing strings.
func terminator(i int) bool { return i > 0 && i&31 == 0 }

// normalizeKey strips one leading "/".
func normalizeKey(key string) string { return strings.TrimPrefix(key, "/") }

// splitKey splits a normalized key into components, dropping an empty
// first and last part ("c/d/" → c, d).
func splitKey(key string) []string {
	parts := strings.Split(key, "/")
	if len(parts) > 0 && parts[0] == "" {
		parts = parts[1:]
	}
	if len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// hashKey is SipHash-2-4 with an all-zero key of each component, 8 bytes
// little-endian each, as libsodium's crypto_shorthash writes it.
func hashKey(split []string) []byte {
	out := make([]byte, 8*len(split))
	for i, c := range split {
		binary.LittleEndian.PutUint64(out[8*i:], siphash.Hash(0, 0, []byte(c)))
	}
	return out
}

// KeyHash returns the hash a key's components are indexed by, for tests and
// tools: SipHash-2-4 of every component, concatenated.
func KeyHash(key string) []byte { return hashKey(splitKey(normalizeKey(key))) }

// newNode prepares a node for key (stored flags already combined).
func newNode(key string, value []byte, flags uint64) *node {
	key = normalizeKey(key)
	split := splitKey(key)
	return &node{key: key, value: value, flags: flags, split: split, hash: hashKey(split)}
}

// encode returns the block bytes, and keeps them in n (which must not be
// shared yet).
func (n *node) encode() ([]byte, error) {
	if n.encoded != nil {
		return n.encoded, nil
	}
	b, err := n.encodeBlock()
	if err != nil {
		return nil, err
	}
	n.encoded = b
	return b, nil
}

// encodeBlock returns the block bytes: every field but the value always
// present, field order 1..5, as the reference's Node#encode writes them.
// It does not modify n, which readers may share.
func (n *node) encodeBlock() ([]byte, error) {
	if n.encoded != nil {
		return n.encoded, nil
	}
	seq, flags := n.seq, n.flags
	trie := n.trie
	if trie == nil {
		trie = n.sparse.dense()
	}
	msg := &schema.Node{Key: &n.key, TrieBuffer: encodeTrie(trie), Seq: &seq, Flags: &flags}
	if n.value != nil {
		msg.ValueBuffer = n.value
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encoding node %q: %w", n.key, err)
	}
	return b, nil
}

// agrees reports whether n and o have the same path at every position
// before i.
func (n *node) agrees(o *node, i int) bool {
	if i <= 0 {
		return true
	}
	if n.hidden() != o.hidden() {
		return false
	}
	m := i - 1 // hash positions 0..m-1 (path positions 1..i-1)
	full, rem := m>>2, m&3
	need := full
	if rem > 0 {
		need++
	}
	if len(n.hash) < need || len(o.hash) < need {
		for j := 1; j < i; j++ {
			if n.path(j) != o.path(j) {
				return false
			}
		}
		return true
	}
	if string(n.hash[:full]) != string(o.hash[:full]) {
		return false
	}
	return rem == 0 || (n.hash[full]^o.hash[full])&byte(1<<(2*rem)-1) == 0
}
