package integration

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/integration/jsref"
)

const interopBlocks = 20000

// writeGoFeed appends blocks [0, count) of seed with the same append schedule
// (and reopen point) feed-write.js uses.
func writeGoFeed(t *testing.T, dir string, seed uint32, count int, reopen bool) []byte {
	t.Helper()
	f, err := hypercore.Open(dir, hypercore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key := f.Key()
	var cuts []int
	if reopen {
		cuts = []int{count / 2}
	}
	for _, c := range jsref.Chunks(0, count, cuts...) {
		if reopen && c[0] == count/2 {
			f.Close()
			if f, err = hypercore.Open(dir, hypercore.Options{MustExist: true}); err != nil {
				t.Fatal(err)
			}
		}
		var batch [][]byte
		for i := c[0]; i < c[1]; i++ {
			batch = append(batch, jsref.Block(seed, uint64(i)))
		}
		if _, err := f.Append(batch...); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return key
}

// checkGoReads opens dir in Go and checks every block against the generator.
func checkGoReads(t *testing.T, dir string, seed uint32, count int, wantKey string) {
	t.Helper()
	f, err := hypercore.Open(dir, hypercore.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if hex.EncodeToString(f.Key()) != wantKey {
		t.Fatalf("key %x, want %s", f.Key(), wantKey)
	}
	if f.Length() != uint64(count) {
		t.Fatalf("length %d, want %d", f.Length(), count)
	}
	rep, err := f.Audit()
	if err != nil || rep.Valid != uint64(count) || rep.Invalid != 0 {
		t.Fatalf("audit %d valid %d invalid, %v", rep.Valid, rep.Invalid, err)
	}
	var total uint64
	for i := range count {
		b, err := f.Get(context.Background(), uint64(i))
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if want := jsref.Block(seed, uint64(i)); !bytes.Equal(b, want) {
			t.Fatalf("block %d: %d bytes differ from the %d written", i, len(b), len(want))
		}
		total += uint64(len(b))
	}
	if f.ByteLength() != total {
		t.Fatalf("byte length %d, want %d", f.ByteLength(), total)
	}
	// Every signature on disk verifies for the length it signs.
	for i := uint64(0); i < f.Length(); {
		at, sig, err := f.Signature(i)
		if err != nil {
			t.Fatalf("signature from %d: %v", i, err)
		}
		if err := f.Verify(at, sig); err != nil {
			t.Fatalf("signature %d: %v", at, err)
		}
		i = at + 1
	}
}

// TestJSWrittenFeedReadsInGo: a 20,000-block feed written by hypercore 9
// (batches and single appends, across a reopen) verifies and reads in Go, and
// Go's files for the same appends are byte-identical except for the keys and
// signatures.
func TestJSWrittenFeedReadsInGo(t *testing.T) {
	jsref.Require(t)
	const seed = 7
	jsDir := filepath.Join(t.TempDir(), "js")
	res := jsref.WriteFeed(t, jsDir, interopBlocks, seed, true)
	if res.Length != interopBlocks || res.BlocksSHA256 != jsref.SumBlocks(jsref.Blocks(seed, interopBlocks)) {
		t.Fatalf("JS wrote %+v", res)
	}
	checkGoReads(t, jsDir, seed, interopBlocks, res.Key)

	goDir := filepath.Join(t.TempDir(), "go")
	writeGoFeed(t, goDir, seed, interopBlocks, true)
	for _, name := range []string{"data", "tree", "bitfield"} {
		a, _ := os.ReadFile(filepath.Join(jsDir, name))
		b, _ := os.ReadFile(filepath.Join(goDir, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: JS wrote %d bytes, Go %d bytes, and they differ", name, len(a), len(b))
		}
	}
}

// TestGoWrittenFeedReadsInJS: JS audits and reads a Go-written feed.
func TestGoWrittenFeedReadsInJS(t *testing.T) {
	jsref.Require(t)
	const seed = 11
	dir := t.TempDir()
	key := writeGoFeed(t, dir, seed, interopBlocks, true)
	sum := jsref.ReadFeed(t, dir)
	if sum.Key != hex.EncodeToString(key) || sum.Length != interopBlocks || !sum.Writable {
		t.Fatalf("JS sees %+v", sum)
	}
	if sum.Audit.Valid != interopBlocks || sum.Audit.Invalid != 0 {
		t.Fatalf("JS audit %+v", sum.Audit)
	}
	if want := jsref.SumBlocks(jsref.Blocks(seed, interopBlocks)); sum.BlocksSHA256 != want {
		t.Fatalf("JS read blocks %s, want %s", sum.BlocksSHA256, want)
	}
}

// TestTakingTurns: JS and Go append to the same directory in turn and each
// reads everything the other wrote.
func TestTakingTurns(t *testing.T) {
	jsref.Require(t)
	const seed = 3
	for _, goFirst := range []bool{true, false} {
		name := "js-first"
		if goFirst {
			name = "go-first"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var key string
			if goFirst {
				key = hex.EncodeToString(writeGoFeed(t, dir, seed, 500, false))
			} else {
				key = jsref.WriteFeed(t, dir, 500, seed, false).Key
			}
			// JS appends 300 more, Go checks all 800.
			if sum := jsref.AppendFeed(t, dir, 300, seed); sum.Length != 800 {
				t.Fatalf("JS append: %+v", sum)
			}
			checkGoReads(t, dir, seed, 800, key)
			// Go appends 300 more, JS checks all 1100.
			f, err := hypercore.Open(dir, hypercore.Options{MustExist: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range jsref.Chunks(800, 1100) {
				var batch [][]byte
				for i := c[0]; i < c[1]; i++ {
					batch = append(batch, jsref.Block(seed, uint64(i)))
				}
				if _, err := f.Append(batch...); err != nil {
					t.Fatal(err)
				}
			}
			f.Close()
			sum := jsref.ReadFeed(t, dir)
			if sum.Length != 1100 || sum.Audit.Invalid != 0 || sum.Audit.Valid != 1100 ||
				sum.BlocksSHA256 != jsref.SumBlocks(jsref.Blocks(seed, 1100)) {
				t.Fatalf("JS after Go's append: %+v", sum)
			}
		})
	}
}

// TestLockSharedWithJS: while Go holds a feed, the reference cannot open it.
func TestLockSharedWithJS(t *testing.T) {
	jsref.Require(t)
	dir := t.TempDir()
	f, err := hypercore.Open(dir, hypercore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Append([]byte("held"))
	out, err := jsref.Command(context.Background(), "feed-read.js", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "LOCK") {
		t.Fatalf("JS opened a feed Go holds: %v %s", err, out)
	}
}
