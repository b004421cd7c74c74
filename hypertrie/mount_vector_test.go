package hypertrie

import (
	"bytes"
	"context"
	"encoding/hex"
	"testing"

	"github.com/hyperfs/hyperfs/internal/vectors"
)

func TestMountRecordVector(t *testing.T) {
	var v struct{ Hex string }
	vectors.Load(t, "hyperdrive.mountRecordEncoding", &v)
	got := EncodeMount(&MountRecord{Key: bytes.Repeat([]byte{0x77}, 32), LocalPath: "mnt"})
	if hex.EncodeToString(got) != v.Hex {
		t.Errorf("mount record %x, want %s", got, v.Hex)
	}
}

// TestMountVector replays hyperdrive.mount's first drive: a hyperdrive
// header, then a mount of the second drive at /mnt whose visible key holds
// a Stat (taken from the vector).
func TestMountVector(t *testing.T) {
	var v struct {
		D2Key    string
		D1Blocks []struct {
			Seq uint64
			Hex string
		}
	}
	vectors.Load(t, "hyperdrive.mount", &v)
	header, err := DecodeHeader(vectors.Hex(t, v.D1Blocks[0].Hex))
	if err != nil {
		t.Fatal(err)
	}
	stat, err := decodeNode(vectors.Hex(t, v.D1Blocks[2].Hex), 2)
	if err != nil {
		t.Fatal(err)
	}
	tr, feed := newMemTrie(t, Options{Subtype: header.Subtype, Metadata: header.Metadata})
	if err := tr.Mount(context.Background(), "/mnt", vectors.Hex(t, v.D2Key), MountOptions{Value: stat.value}); err != nil {
		t.Fatal(err)
	}
	for _, blk := range v.D1Blocks {
		b, err := feed.Get(context.Background(), blk.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if want := vectors.Hex(t, blk.Hex); !bytes.Equal(b, want) {
			t.Errorf("block %d\n got %x\nwant %x", blk.Seq, b, want)
		}
	}
}
