package hypercore

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/hypercore/storage"
)

// FuzzOpenStorage feeds arbitrary bytes as a feed's tree, bitfield,
// signatures and data files: opening and reading must fail cleanly, never
// panic.
func FuzzOpenStorage(f *testing.F) {
	src := storage.NewMemory()
	feed, err := OpenStorage(src, Options{})
	if err != nil {
		f.Fatal(err)
	}
	feed.Append([]byte("a"), []byte(""), []byte("ccc"))
	feed.Append([]byte("dddd"))
	key := append([]byte(nil), feed.Key()...)
	feed.Close()
	read := func(name string) []byte {
		file, _ := src.Open(name)
		n, _ := file.Size()
		b := make([]byte, n)
		file.ReadAt(b, 0)
		return b
	}
	f.Add(read("tree"), read("bitfield"), read("signatures"), read("data"))
	f.Add(read("tree")[:50], read("bitfield"), read("signatures"), read("data")[:2])
	f.Add([]byte{}, bytes.Repeat([]byte{0xff}, 3616), []byte{}, []byte{})
	// A bitfield lost or damaged: rebuilt from tree and signatures.
	f.Add(read("tree"), []byte{}, read("signatures"), read("data"))
	f.Add(read("tree"), read("bitfield")[:40], read("signatures"), read("data")[:3])
	f.Add(read("tree")[:100], []byte{}, read("signatures"), read("data"))
	f.Add(bytes.Repeat([]byte{1}, 400), read("bitfield"), []byte{5}, []byte("x"))
	f.Fuzz(func(t *testing.T, tree, bits, sigs, data []byte) {
		if len(bits) > 1<<20 {
			return
		}
		st := storage.NewMemory()
		for name, b := range map[string][]byte{"key": key, "tree": tree, "bitfield": bits, "signatures": sigs, "data": data} {
			file, _ := st.Open(name)
			file.WriteAt(b, 0)
		}
		feed, err := OpenStorage(st, Options{})
		if err != nil {
			return
		}
		defer feed.Close()
		n := min(feed.Length(), 64)
		for i := range n {
			feed.Get(ctx, i)
			feed.Proof(i, 0, false, nil)
		}
		feed.GetBatch(ctx, 0, n)
		feed.Seek(feed.ByteLength() / 2)
		feed.VerifyRange(0, n)
		feed.Audit()
		feed.Append([]byte("more"))
	})
}

// FuzzPut hands a replica arbitrary proofs: Put must never panic and must
// never accept bytes other than the writer's.
func FuzzPut(f *testing.F) {
	writer, err := OpenStorage(storage.NewMemory(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	var blocks [][]byte
	for i := range 13 {
		blocks = append(blocks, bytes.Repeat([]byte{byte('a' + i)}, i))
	}
	writer.Append(blocks[:5]...)
	writer.Append(blocks[5:]...)
	for i := range uint64(13) {
		p, _ := writer.Proof(i, 0, false, nil)
		f.Add(uint8(i), blocks[i], encodeProof(p))
		hp, _ := writer.Proof(i, 0, true, nil)
		f.Add(uint8(i), []byte(nil), encodeProof(hp))
	}
	f.Fuzz(func(t *testing.T, index uint8, data, proof []byte) {
		p, ok := decodeProof(proof)
		if !ok {
			return
		}
		replica, err := OpenStorage(storage.NewMemory(), Options{PublicKey: writer.Key(), Sparse: true})
		if err != nil {
			t.Fatal(err)
		}
		defer replica.Close()
		if data != nil && len(data) == 0 {
			data = []byte{}
		}
		if replica.Put(uint64(index), data, p, nil) != nil {
			return
		}
		if int(index) >= len(blocks) || replica.Length() != 13 {
			t.Fatalf("accepted block %d with length %d", index, replica.Length())
		}
		if data != nil && !bytes.Equal(data, blocks[index]) {
			t.Fatalf("accepted forged block %d: %q", index, data)
		}
		if data != nil {
			got, err := replica.Get(ctx, uint64(index))
			if err != nil || !bytes.Equal(got, blocks[index]) {
				t.Fatalf("stored block %d reads back %q %v", index, got, err)
			}
		}
	})
}

// encodeProof / decodeProof give the fuzzer a flat byte form of a Proof:
// a signature flag and 64 bytes, then 48-byte nodes (index, size, hash).
func encodeProof(p Proof) []byte {
	var b []byte
	if p.Signature != nil {
		b = append(b, 1)
		b = append(b, p.Signature...)
	} else {
		b = append(b, 0)
	}
	for _, n := range p.Nodes {
		b = binary.BigEndian.AppendUint64(b, n.Index)
		b = binary.BigEndian.AppendUint64(b, n.Size)
		b = append(b, n.Hash[:]...)
	}
	return b
}

func decodeProof(b []byte) (Proof, bool) {
	var p Proof
	if len(b) == 0 {
		return p, false
	}
	if b[0] == 1 {
		if len(b) < 65 {
			return p, false
		}
		p.Signature = b[1:65]
		b = b[65:]
	} else {
		b = b[1:]
	}
	for len(b) >= 48 {
		n := hcrypto.Node{Index: binary.BigEndian.Uint64(b), Size: binary.BigEndian.Uint64(b[8:])}
		copy(n.Hash[:], b[16:48])
		p.Nodes = append(p.Nodes, n)
		b = b[48:]
	}
	return p, len(b) == 0
}
