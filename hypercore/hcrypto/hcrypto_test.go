package hcrypto

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"golang.org/x/crypto/blake2b"

	"github.com/hyperfs/hyperfs/internal/vectors"
)

func TestKeyPairAndDiscoveryKey(t *testing.T) {
	var kp struct{ Seed, PublicKey, SecretKey string }
	vectors.Load(t, "crypto.signKeyPair", &kp)
	got, err := KeyPairFromSeed(vectors.Hex(t, kp.Seed))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got.PublicKey) != kp.PublicKey || hex.EncodeToString(got.SecretKey) != kp.SecretKey {
		t.Fatalf("key pair = %x / %x", got.PublicKey, got.SecretKey)
	}
	var dk struct{ PublicKey, DiscoveryKey string }
	vectors.Load(t, "crypto.discoveryKey", &dk)
	d := DiscoveryKey(vectors.Hex(t, dk.PublicKey))
	if hex.EncodeToString(d[:]) != dk.DiscoveryKey {
		t.Fatalf("discovery key = %x, want %s", d, dk.DiscoveryKey)
	}
}

func TestLeafAndParentHash(t *testing.T) {
	var lv struct{ Cases []struct{ Data, Hash string } }
	vectors.Load(t, "crypto.leafHash", &lv)
	if len(lv.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range lv.Cases {
		h := LeafHash(vectors.Hex(t, c.Data))
		if hex.EncodeToString(h[:]) != c.Hash {
			t.Errorf("leaf(%s) = %x, want %s", c.Data, h, c.Hash)
		}
	}
	type node struct {
		Index, Size uint64
		Hash        string
	}
	var pv struct{ Left, Right, Parent node }
	vectors.Load(t, "crypto.parentHash", &pv)
	toNode := func(n node) Node {
		out := Node{Index: n.Index, Size: n.Size}
		copy(out.Hash[:], vectors.Hex(t, n.Hash))
		return out
	}
	l, r := toNode(pv.Left), toNode(pv.Right)
	for _, p := range []Node{Parent(l, r, pv.Parent.Index), Parent(r, l, pv.Parent.Index)} {
		if hex.EncodeToString(p.Hash[:]) != pv.Parent.Hash || p.Size != pv.Parent.Size {
			t.Errorf("parent = %x size %d, want %s size %d", p.Hash, p.Size, pv.Parent.Hash, pv.Parent.Size)
		}
	}
}

func TestTreeHashSignable(t *testing.T) {
	var v struct {
		Roots []struct {
			Index, Size uint64
			Hash        string
		}
		TreeHash, Signable, Signature string
		SignatureIndex                uint64
	}
	vectors.Load(t, "crypto.treeHashAndSignature", &v)
	var kp struct{ Seed string }
	vectors.Load(t, "crypto.signKeyPair", &kp)
	keys, _ := KeyPairFromSeed(vectors.Hex(t, kp.Seed))
	var roots []Node
	for _, r := range v.Roots {
		n := Node{Index: r.Index, Size: r.Size}
		copy(n.Hash[:], vectors.Hex(t, r.Hash))
		roots = append(roots, n)
	}
	th := TreeHash(roots)
	if hex.EncodeToString(th[:]) != v.TreeHash {
		t.Fatalf("tree hash %x, want %s", th, v.TreeHash)
	}
	length := v.SignatureIndex + 1
	s := Signable(roots, length)
	if hex.EncodeToString(s[:]) != v.Signable {
		t.Fatalf("signable %x, want %s", s, v.Signable)
	}
	sig := Sign(keys.SecretKey, roots, length)
	if hex.EncodeToString(sig) != v.Signature {
		t.Fatalf("signature %x, want %s", sig, v.Signature)
	}
	if !Verify(keys.PublicKey, roots, length, sig) {
		t.Fatal("own signature does not verify")
	}
	if Verify(keys.PublicKey, roots, length+1, sig) {
		t.Fatal("signature verified for the wrong length")
	}
	legacy := ed25519Sign(keys, th[:]) // old hypercore signed the bare tree hash
	if !Verify(keys.PublicKey, roots, length, legacy) {
		t.Fatal("legacy 32-byte signature rejected")
	}
	bad := bytes.Clone(sig)
	bad[3] ^= 1
	if Verify(keys.PublicKey, roots, length, bad) {
		t.Fatal("corrupt signature verified")
	}
}

// Blocks hashed from one stack buffer and blocks hashed as a stream get
// the same hash, on both sides of the size that picks the way.
func TestLeafHashSizes(t *testing.T) {
	for _, n := range []int{0, 1, 100, smallLeaf - 1, smallLeaf, smallLeaf + 1, 3 * smallLeaf} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		h, _ := blake2b.New256(nil)
		var hdr [9]byte
		binary.BigEndian.PutUint64(hdr[1:], uint64(n))
		h.Write(hdr[:])
		h.Write(data)
		if got := LeafHash(data); !bytes.Equal(got[:], h.Sum(nil)) {
			t.Errorf("%d bytes: %x, want %x", n, got, h.Sum(nil))
		}
	}
}
