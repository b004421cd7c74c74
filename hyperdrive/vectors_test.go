package hyperdrive

import (
	"context"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/internal/vectors"
)

func TestStatEncodingVectors(t *testing.T) {
	var v struct {
		Cases []struct {
			Name string
			Mode uint32
			Hex  string
		}
	}
	vectors.Load(t, "hyperdrive.statEncodings", &v)
	fixed := fixedNow()
	file := func(perm uint32) *Stat { s := newStat(ModeRegular, perm, fixed); return s }
	build := map[string]*Stat{
		"file": func() *Stat { s := file(0); s.Size, s.Blocks = 11, 1; return s }(),
		"fileWithMode": func() *Stat {
			s := file(0o600)
			s.UID, s.GID, s.Size, s.Blocks, s.Offset, s.ByteOffset = 1000, 1000, 600000, 2, 5, 1234
			return s
		}(),
		"directory": newStat(ModeDir, 0, fixed),
		"symlink":   func() *Stat { s := newStat(ModeSymlink, 0, fixed); s.Linkname = "../target"; return s }(),
		"withMetadata": func() *Stat {
			s := file(0)
			s.Size, s.Blocks = 1, 1
			s.setMetadata("user.a", []byte("x"))
			s.setMetadata("user.b", []byte("yz"))
			return s
		}(),
		"mount": func() *Stat { s := newStat(ModeDir, 0, fixed); s.Mount = &MountInfo{Key: seed(0x77)}; return s }(),
	}
	for _, c := range v.Cases {
		st, ok := build[c.Name]
		if !ok {
			t.Errorf("no Go twin for case %s", c.Name)
			continue
		}
		if st.Mode != c.Mode {
			t.Errorf("%s: mode %o, want %o", c.Name, st.Mode, c.Mode)
		}
		if got := hex.EncodeToString(EncodeStat(st)); got != c.Hex {
			t.Errorf("%s:\n got %s\nwant %s", c.Name, got, c.Hex)
		}
		// Decoding and encoding again gives the same bytes.
		dec, err := DecodeStat(vectors.Hex(t, c.Hex))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if got := hex.EncodeToString(EncodeStat(dec)); got != c.Hex && c.Name != "mount" {
			t.Errorf("%s: re-encoded\n got %s\nwant %s", c.Name, got, c.Hex)
		}
		if !dec.Mtime.Equal(fixed) {
			t.Errorf("%s: mtime %v", c.Name, dec.Mtime)
		}
	}
}

func TestMountRecordVector(t *testing.T) {
	var v struct{ Hex string }
	vectors.Load(t, "hyperdrive.mountRecordEncoding", &v)
	ctx := context.Background()
	d := newDrive(t)
	must(t, d.Mount(ctx, "/mnt", seed(0x77), MountOptions{}))
	n, err := d.Trie().Get(ctx, "mounts/mnt", hiddenOpt())
	must(t, err)
	if got := hex.EncodeToString(n.Value); got != v.Hex {
		t.Errorf("mount record\n got %s\nwant %s", got, v.Hex)
	}
}

// metadataFeedOps are the operations of vectors-gen.js's drive section.
func metadataFeedOps(t *testing.T, d *Drive) {
	ctx := context.Background()
	must(t, d.WriteFile(ctx, "/hello.txt", []byte("hello world"), 0))
	must(t, d.Mkdir(ctx, "/dir", 0))
	must(t, d.Symlink(ctx, "/hello.txt", "/link"))
	must(t, d.WriteFile(ctx, "/dir/empty", nil, 0))
	must(t, d.SetMetadata(ctx, "/hello.txt", "user.color", []byte("blue")))
	must(t, d.CreateTag(ctx, "v1", 0))
	must(t, d.Unlink(ctx, "/dir/empty"))
}

func TestMetadataAndContentFeedVectors(t *testing.T) {
	var meta struct {
		VersionAtEnd uint64
		Blocks       []struct {
			Seq uint64
			Hex string
		}
	}
	var content struct{ Blocks []string }
	var keys struct {
		MetadataKey, MetadataDiscoveryKey, ContentKey, ContentDiscoveryKey string
	}
	vectors.Load(t, "hyperdrive.metadataFeed", &meta)
	vectors.Load(t, "hyperdrive.contentFeed", &content)
	vectors.Load(t, "hyperdrive.driveKeys", &keys)
	ctx := context.Background()
	d := newDrive(t)
	metadataFeedOps(t, d)

	if got := hex.EncodeToString(d.Key()); got != keys.MetadataKey {
		t.Errorf("metadata key %s, want %s", got, keys.MetadataKey)
	}
	if dk := d.DiscoveryKey(); hex.EncodeToString(dk[:]) != keys.MetadataDiscoveryKey {
		t.Errorf("metadata discovery key %x", dk)
	}
	cf, err := d.Content(ctx)
	must(t, err)
	if got := hex.EncodeToString(cf.Key()); got != keys.ContentKey {
		t.Errorf("content key %s, want %s", got, keys.ContentKey)
	}
	if dk := cf.DiscoveryKey(); hex.EncodeToString(dk[:]) != keys.ContentDiscoveryKey {
		t.Errorf("content discovery key %x", dk)
	}
	if d.Version() != meta.VersionAtEnd {
		t.Errorf("version %d, want %d", d.Version(), meta.VersionAtEnd)
	}
	compareFeed(t, "metadata", d.Metadata(), len(meta.Blocks), func(i int) string { return meta.Blocks[i].Hex })
	compareFeed(t, "content", cf, len(content.Blocks), func(i int) string { return content.Blocks[i] })

	// What the operations mean, read back.
	b, err := d.ReadFile(ctx, "/link")
	must(t, err)
	if string(b) != "hello world" {
		t.Errorf("read through link: %q", b)
	}
	if v, err := d.TaggedVersion(ctx, "v1"); err != nil || v != 6 {
		t.Errorf("tag v1 = %d, %v", v, err)
	}
}

func compareFeed(t *testing.T, name string, f *hypercore.Feed, n int, want func(int) string) {
	t.Helper()
	if f.Length() != uint64(n) {
		t.Errorf("%s feed has %d blocks, want %d", name, f.Length(), n)
	}
	for i := 0; i < n && uint64(i) < f.Length(); i++ {
		b, err := f.Get(context.Background(), uint64(i))
		must(t, err)
		if got := hex.EncodeToString(b); got != want(i) {
			t.Errorf("%s block %d\n got %s\nwant %s", name, i, got, want(i))
		}
	}
}

func TestDiskLayoutVector(t *testing.T) {
	var v struct {
		Files     []string
		NameFiles map[string]string
	}
	vectors.Load(t, "hyperdrive.diskLayout", &v)
	dir := t.TempDir()
	s, err := corestore.Open(dir, corestore.Options{MasterKey: seed(0x42)})
	must(t, err)
	d, err := Open(context.Background(), s, Options{Now: fixedNow})
	must(t, err)
	metadataFeedOps(t, d)
	must(t, d.Close())
	must(t, s.Close())
	var files []string
	must(t, filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	}))
	slices.Sort(files)
	if !slices.Equal(files, v.Files) {
		t.Errorf("files\n got %s\nwant %s", strings.Join(files, "\n     "), strings.Join(v.Files, "\n     "))
	}
	for f, want := range v.NameFiles {
		b, err := os.ReadFile(filepath.Join(dir, f))
		must(t, err)
		if hex.EncodeToString(b) != want {
			t.Errorf("%s: %x, want %s", f, b, want)
		}
	}
}

func TestMountVector(t *testing.T) {
	var v struct {
		D1Key, D2Key     string
		ReadThroughMount string
		D1Blocks         []struct{ Hex string }
		D2Blocks         []struct{ Hex string }
	}
	vectors.Load(t, "hyperdrive.mount", &v)
	ctx := context.Background()
	s := newStore(t)
	d1 := openDrive(t, s.Namespace("one"), Options{Now: fixedNow})
	d2 := openDrive(t, s.Namespace("two"), Options{Now: fixedNow})
	must(t, d2.WriteFile(ctx, "/inner.txt", []byte("inner"), 0))
	must(t, d1.Mount(ctx, "/mnt", d2.Key(), MountOptions{}))
	must(t, d1.WriteFile(ctx, "/mnt/new.txt", []byte("via mount"), 0))
	b, err := d1.ReadFile(ctx, "/mnt/inner.txt")
	must(t, err)
	if string(b) != v.ReadThroughMount {
		t.Errorf("read through mount %q, want %q", b, v.ReadThroughMount)
	}
	if hex.EncodeToString(d1.Key()) != v.D1Key || hex.EncodeToString(d2.Key()) != v.D2Key {
		t.Errorf("keys %x %x", d1.Key(), d2.Key())
	}
	compareFeed(t, "d1 metadata", d1.Metadata(), len(v.D1Blocks), func(i int) string { return v.D1Blocks[i].Hex })
	compareFeed(t, "d2 metadata", d2.Metadata(), len(v.D2Blocks), func(i int) string { return v.D2Blocks[i].Hex })
	st, err := d1.Stat(ctx, "/mnt")
	must(t, err)
	if !st.IsDir() || st.Mount == nil || !st.Mount.Key.Equal(d2.Key()) {
		t.Errorf("mountpoint stat %+v", st)
	}
}
