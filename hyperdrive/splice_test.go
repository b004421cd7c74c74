package hyperdrive_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// SpliceRange hands out a range of a file only once the blocks holding it
// match the tree: for a file of a few blocks, all of them at its first
// read; for a larger one, the blocks of the range. A rotten block makes it
// refuse, so the read goes down the path that reports it.
func TestSpliceRangeVerifies(t *testing.T) {
	ctx := context.Background()
	small := bytes.Repeat([]byte("small;"), 300000)                        // 4 blocks
	large := bytes.Repeat([]byte("large;"), 8*hyperdrive.WriteBlockSize/6) // 8 blocks
	for _, tc := range []struct {
		name     string
		data     []byte
		rot      int64 // byte of the file to flip
		off, n   int64 // a range away from the rotten block
		rotRange int64 // a range over it
	}{
		{"small", small, int64(len(small)) - 10, 0, 100, int64(len(small)) - 100},
		{"large", large, int64(len(large)) - 10, 0, 100, int64(len(large)) - 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := corestore.Open(dir, corestore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			d, err := hyperdrive.Open(ctx, s, hyperdrive.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.WriteFile(ctx, "/f", tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := d.Content(ctx)
			if err != nil {
				t.Fatal(err)
			}
			st, err := d.Lstat(ctx, "/f")
			if err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(c.Location(), "data")
			d.Close()
			s.Close()
			b, err := os.ReadFile(data)
			if err != nil {
				t.Fatal(err)
			}
			b[int64(st.ByteOffset)+tc.rot] ^= 0x55
			if err := os.WriteFile(data, b, 0o644); err != nil {
				t.Fatal(err)
			}

			s, err = corestore.Open(dir, corestore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			d, err = hyperdrive.Open(ctx, s, hyperdrive.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			f, err := d.OpenFile(ctx, "/f")
			if err != nil {
				t.Fatal(err)
			}
			_, _, ok := f.SpliceRange(tc.off, tc.n)
			if wantOK := tc.name == "large"; ok != wantOK {
				t.Fatalf("SpliceRange of a range away from the rotten block: %v, want %v", ok, wantOK)
			}
			if _, _, ok := f.SpliceRange(tc.rotRange, 100); ok {
				t.Fatal("SpliceRange handed out a range over a rotten block")
			}
			buf := make([]byte, 100)
			// SpliceRange cleared the block: with no peer to send it
			// again, it is not available.
			if _, err := f.ReadAt(buf, tc.rotRange); err == nil {
				t.Fatal("read over the rotten block succeeded")
			}
			if _, err := f.ReadAt(buf, tc.off); err != nil || !bytes.Equal(buf, tc.data[tc.off:tc.off+100]) {
				t.Fatalf("read away from the rotten block: %v", err)
			}
		})
	}
}
