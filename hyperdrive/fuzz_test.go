package hyperdrive

import (
	"bytes"
	"context"
	"errors"
	"path"
	"reflect"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/internal/vectors"
)

// FuzzDecodeStat checks that any bytes decode to a Stat or an ErrCorrupt,
// and that a decoded Stat encodes to bytes that decode to the same Stat.
// Seeds: every Stat of the reference vectors.
func FuzzDecodeStat(f *testing.F) {
	var enc struct{ Cases []struct{ Hex string } }
	vectors.Load(f, "hyperdrive.statEncodings", &enc)
	for _, c := range enc.Cases {
		f.Add(vectors.Hex(f, c.Hex))
	}
	f.Add([]byte{})
	f.Add([]byte{0x08})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := DecodeStat(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := DecodeStat(EncodeStat(st))
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		e1, e2 := EncodeStat(st), EncodeStat(again)
		if !bytes.Equal(e1, e2) {
			t.Fatalf("round trip changed\n%x\n%x", e1, e2)
		}
	})
}

// TestBadEntries puts values a writer could have stored into a drive's
// trie and checks every read fails cleanly, naming the path.
func TestBadEntries(t *testing.T) {
	ctx := context.Background()
	d := newDrive(t)
	must(t, d.WriteFile(ctx, "/ok", []byte("fine"), 0))
	put := func(k string, v []byte) {
		t.Helper()
		if _, err := d.Trie().Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	put("garbage", []byte{0xff, 0xff, 0xff})
	put("nomode", []byte{0x10, 0x01}) // uid only: mode is required
	huge := newStat(ModeRegular, 0, fixedNow())
	huge.Size, huge.Blocks, huge.Offset = 1<<60, 1<<40, 0
	put("huge", EncodeStat(huge))
	past := newStat(ModeRegular, 0, fixedNow())
	past.Size, past.Blocks, past.Offset, past.ByteOffset = 1, 1, 99, 4
	put("past", EncodeStat(past))
	short := newStat(ModeRegular, 0, fixedNow())
	short.Size, short.Blocks, short.Offset, short.ByteOffset = 4, 0, 0, 0
	put("short", EncodeStat(short))
	for _, p := range []string{"/garbage", "/nomode"} {
		_, err := d.Stat(ctx, p)
		wantErr(t, err, ErrCorrupt, p)
	}
	for _, p := range []string{"/huge", "/past", "/short"} {
		_, err := d.ReadFile(ctx, p)
		wantErr(t, err, ErrCorrupt, p)
		if f, err := d.OpenFile(ctx, p); err == nil {
			_, err = f.ReadAt(make([]byte, 4), 0)
			wantErr(t, err, ErrCorrupt, p)
		}
	}
	_, err := d.Readdir(ctx, "/")
	wantErr(t, err, ErrCorrupt, "readdir /")
	// A bad mount record: a key of the wrong size.
	must(t, d.Trie().Mount(ctx, "badmount", bytes.Repeat([]byte{1}, 32), mountOpts(EncodeStat(newStat(ModeDir, 0, fixedNow())))))
	n, _ := d.Trie().Get(ctx, "mounts/badmount", hiddenOpt())
	rec := append([]byte(nil), n.Value...)
	rec[1] = 31 // claim a 31-byte key
	if _, err := d.Trie().Put(ctx, "mounts/badmount", rec, hiddenOpt(), flagsOpt(1)); err != nil {
		t.Fatal(err)
	}
	_, err = d.ReadFile(ctx, "/badmount/x")
	if err == nil {
		t.Fatal("read through a malformed mount record")
	}
	// Paths never leave the drive.
	for _, p := range []string{"../../ok", "/../ok", "a/../../ok", "\\ok", "./ok"} {
		if b, err := d.ReadFile(ctx, p); err != nil || string(b) != "fine" {
			t.Errorf("%q: %q %v", p, b, err)
		}
	}
}

// FuzzDecodePlainStat holds the decoder of plain Stats to proto.Unmarshal's:
// whatever it decodes, decodeStat decodes the same.
func FuzzDecodePlainStat(f *testing.F) {
	var enc struct{ Cases []struct{ Hex string } }
	vectors.Load(f, "hyperdrive.statEncodings", &enc)
	for _, c := range enc.Cases {
		f.Add(vectors.Hex(f, c.Hex))
	}
	f.Add([]byte{0x08, 0xa4, 0x83, 0x02, 0x40, 0x00, 0x10, 0xe8, 0x07})
	f.Add([]byte{0x08, 0x01, 0x08, 0xff, 0xff, 0xff, 0xff, 0x1f}) // the last mode wins, cut to 32 bits
	f.Add([]byte{0x08, 0x01, 0x52, 0x02, 0xff, 0xfe})             // a linkname that is not UTF-8
	f.Add([]byte{0x0d, 1, 2, 3, 4})                               // mode as fixed32
	f.Fuzz(func(t *testing.T, b []byte) {
		now := time.UnixMilli(1600000000000)
		got, ok := decodePlainStat(b, now)
		if !ok {
			return
		}
		want, err := decodeStat(b, now)
		if err != nil {
			t.Fatalf("%x: decoded as a plain Stat %+v, proto.Unmarshal fails: %v", b, got, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%x: decoded %+v, proto.Unmarshal %+v", b, got, want)
		}
	})
}

// FuzzCleanPath checks cleanPath's fast path for absolute paths against
// the full unixify rules.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "//", "/a//b/", "/a/./b/../c", "/..", "a\\b", "/a\\b", "C:/x", "./a", "/x:", "///a///", "/a/b/.", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := cleanPath(p)
		if err != nil {
			return
		}
		if want := path.Clean("/" + unixify(p)); got != want {
			t.Fatalf("cleanPath(%q) = %q, want %q", p, got, want)
		}
	})
}
