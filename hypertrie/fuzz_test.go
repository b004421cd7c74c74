package hypertrie

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/hyperfs/hyperfs/hypertrie/internal/schema"
)

// vectorFeed returns the blocks of the hypertrie.feedBlocks operations.
func vectorFeed(t testing.TB) [][]byte {
	f := &sliceFeed{writable: true}
	tr, err := New(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustPut(t, tr, "a", "1")
	mustPut(t, tr, "b", "2")
	mustPut(t, tr, "a/b", "3")
	mustPut(t, tr, "/c/d/", "4")
	mustPut(t, tr, "a", "5")
	tr.Del(ctx, "b")
	mustPut(t, tr, "h", "hid", Hidden())
	mustPut(t, tr, "f", "flagged", WithFlags(3))
	tr.Mount(ctx, "m", make([]byte, 32), MountOptions{})
	return f.blocks
}

func FuzzDecodeNode(f *testing.F) {
	for _, b := range vectorFeed(f)[1:] {
		f.Add(b, uint64(20))
	}
	f.Fuzz(func(t *testing.T, b []byte, seq uint64) {
		n, err := decodeNode(b, seq)
		if err != nil {
			return
		}
		for i := 0; i < n.length()+3; i++ {
			n.path(i)
			n.bucket(i)
			n.collides(n, i)
		}
		// What decodes re-encodes to something that decodes the same.
		again := &node{key: n.key, value: n.value, seq: n.seq, flags: n.flags, trie: n.sparse.dense()}
		b2, err := again.encode()
		if err != nil {
			t.Fatal(err)
		}
		n2, err := decodeNode(b2, seq)
		if err != nil {
			t.Fatalf("re-encoded node does not decode: %v", err)
		}
		// Decoding strips one leading "/" from the stored key, as the
		// reference's Node does, so a stored "//k" comes back as "k".
		if n2.key != normalizeKey(n.key) || !bytes.Equal(n2.value, n.value) || (n2.value == nil) != (n.value == nil) || n2.flags != n.flags {
			t.Fatalf("round trip changed the node: %+v → %+v", n, n2)
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(EncodeHeader(&Header{Type: "hypertrie"}))
	f.Add(EncodeHeader(&Header{Type: "hypertrie", Subtype: "hyperdrive", Metadata: make([]byte, 32)}))
	f.Add(EncodeHeader(&Header{Type: "hyperbee"}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			return
		}
		if h.Type != HeaderType {
			t.Fatalf("accepted type %q", h.Type)
		}
		if _, err := DecodeHeader(EncodeHeader(h)); err != nil {
			t.Fatal(err)
		}
	})
}

// splitBlocks turns fuzz input into feed blocks: varint length, bytes.
func splitBlocks(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 && len(out) < 200 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			out = append(out, b)
			break
		}
		out = append(out, b[k:k+int(n)])
		b = b[k+int(n):]
	}
	return out
}

func joinBlocks(blocks [][]byte) []byte {
	var out []byte
	for _, b := range blocks {
		out = binary.AppendUvarint(out, uint64(len(b)))
		out = append(out, b...)
	}
	return out
}

// FuzzTrieWalk runs every walk over arbitrary feed contents behind a valid
// header: none may panic or run without bound.
func FuzzTrieWalk(f *testing.F) {
	blocks := vectorFeed(f)
	f.Add(joinBlocks(blocks[1:]))
	f.Add(joinBlocks(blocks[3:6]))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		feed := &sliceFeed{writable: true, blocks: append([][]byte{EncodeHeader(&Header{Type: HeaderType})}, splitBlocks(data)...)}
		tr, err := New(feed, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"a", "a/b", "c/d", "h", "zz/y/x"} {
			tr.Get(ctx, k)
			tr.Get(ctx, k, Hidden(), Closest())
			tr.Get(ctx, k, PrefixMatch())
		}
		tr.List(ctx, "", ListOptions{Recursive: true})
		tr.List(ctx, "a", ListOptions{Hidden: true})
		tr.Diff(ctx, tr.Checkout(tr.Version()/2), "")
		tr.MountAt(ctx, "m/x")
		if _, err := tr.Put(ctx, "a/new", []byte("v")); err == nil {
			tr.Del(ctx, "a")
			tr.Batch(ctx, []Op{{Type: OpPut, Key: "b"}, {Type: OpDel, Key: "a/new"}})
		}
	})
}

// The hand-written Node decoder agrees with proto.Unmarshal on every
// input: both fail, or both give the same fields.
func FuzzDecodeNodeFields(f *testing.F) {
	for _, b := range vectorFeed(f)[1:] {
		f.Add(b)
	}
	for _, b := range [][]byte{
		{}, {0x0a, 0x00}, {0x0a, 0x01, 'k', 0x12, 0x00}, // empty value
		{0x0a, 0x01, 'k', 0x0a, 0x01, 'j'}, // the last key wins
		{0x0a, 0x01, 'k', 0x20, 0x01, 0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		{0x0a, 0x01, 'k', 0x25, 1, 2, 3, 4},                   // seq with the fixed32 wire type: unknown
		{0x08, 0x01},                                          // key with the varint wire type, so no key
		{0x0a, 0x01, 'k', 0x33, 0x08, 0x01, 0x34},             // a group
		{0x0a, 0x01, 'k', 0xfa, 0xff, 0xff, 0xff, 0x0f, 0x00}, // field number 2^29+...
		{0x0a, 0x02, 0xff, 0xfe},                              // a key that is not UTF-8
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeNodeFields(b)
		var want schema.Node
		werr := proto.Unmarshal(b, &want)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%x: decoder error %v, proto.Unmarshal error %v", b, err, werr)
		}
		if err != nil {
			return
		}
		if got.key != want.GetKey() || !bytes.Equal(got.value, want.ValueBuffer) || (got.value == nil) != (want.ValueBuffer == nil) ||
			!bytes.Equal(got.trie, want.TrieBuffer) || got.seq != want.GetSeq() || got.flags != want.GetFlags() {
			t.Fatalf("%x: decoded %+v, proto.Unmarshal %v", b, got, &want)
		}
	})
}
