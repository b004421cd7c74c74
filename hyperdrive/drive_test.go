package hyperdrive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func randomBytes(n int, s uint64) []byte {
	r := rand.New(rand.NewPCG(s, s))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func names(es []DirEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	slices.Sort(out)
	return out
}

func TestFilesReadAndWrite(t *testing.T) {
	ctx := context.Background()
	d := newDrive(t)
	big := randomBytes(3*WriteBlockSize+1234, 1)
	must(t, d.WriteFile(ctx, "/a/big.bin", big, 0o600))
	must(t, d.WriteFile(ctx, "small", []byte("x"), 0))
	st, err := d.Stat(ctx, "/a/big.bin")
	must(t, err)
	if st.Size != uint64(len(big)) || st.Blocks != 4 || st.Mode != ModeRegular|0o600 || !st.IsFile() {
		t.Fatalf("stat %+v", st)
	}
	got, err := d.ReadFile(ctx, "/a/big.bin")
	must(t, err)
	if !bytes.Equal(got, big) {
		t.Fatal("ReadFile differs")
	}
	f, err := d.OpenFile(ctx, "/a/big.bin")
	must(t, err)
	defer f.Close()
	// Random ReadAt across block edges.
	r := rand.New(rand.NewPCG(2, 2))
	for range 200 {
		off := r.IntN(len(big))
		n := r.IntN(2*WriteBlockSize) + 1
		buf := make([]byte, n)
		k, err := f.ReadAt(buf, int64(off))
		want := big[off:min(off+n, len(big))]
		if k != len(want) || !bytes.Equal(buf[:k], want) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v", off, n, k, err)
		}
		if k < n && err != io.EOF {
			t.Fatalf("short ReadAt without EOF: %v", err)
		}
	}
	// Sequential small reads and Seek.
	if _, err := f.Seek(int64(WriteBlockSize-10), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(f)
	must(t, err)
	if !bytes.Equal(rest, big[WriteBlockSize-10:]) {
		t.Fatal("ReadAll after Seek differs")
	}
	if f.Size() != int64(len(big)) {
		t.Fatal("size")
	}
	// Overwrite appends new content; the old version stays in a checkout.
	v := d.Version()
	must(t, d.WriteFile(ctx, "/a/big.bin", []byte("new"), 0))
	if b, _ := d.ReadFile(ctx, "/a/big.bin"); string(b) != "new" {
		t.Fatalf("after overwrite %q", b)
	}
	if st, _ := d.Stat(ctx, "/a/big.bin"); st.Mode != ModeRegular|0o600 {
		t.Fatalf("mode not kept on overwrite: %o", st.Mode)
	}
	old, err := d.Checkout(v)
	must(t, err)
	if b, _ := old.ReadFile(ctx, "/a/big.bin"); !bytes.Equal(b, big) {
		t.Fatal("checkout lost the old version")
	}
	wantErr(t, old.WriteFile(ctx, "/x", nil, 0), ErrReadOnly, "/x")
	if old.Writable() || !d.Writable() {
		t.Fatal("writable")
	}
	// Empty file: one empty block.
	must(t, d.WriteFile(ctx, "/empty", nil, 0))
	st, _ = d.Stat(ctx, "/empty")
	if st.Size != 0 || st.Blocks != 1 {
		t.Fatalf("empty %+v", st)
	}
	if b, err := d.ReadFile(ctx, "/empty"); err != nil || len(b) != 0 {
		t.Fatal(b, err)
	}
}

func TestStreamingWriter(t *testing.T) {
	ctx := context.Background()
	d := newDrive(t)
	data := randomBytes(2*WriteBlockSize+77, 3)
	w, err := d.Create(ctx, "/s.bin", 0)
	must(t, err)
	for p := data; len(p) > 0; {
		n := min(len(p), 4096+len(p)%999)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	// Another writer waits for the first one's blocks to end.
	w2, err := d.Create(ctx, "/t.bin", 0)
	must(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := w2.Write(make([]byte, WriteBlockSize))
		if err == nil {
			err = w2.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("second writer did not wait: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	must(t, w.Close())
	must(t, <-done)
	got, err := d.ReadFile(ctx, "/s.bin")
	must(t, err)
	if !bytes.Equal(got, data) {
		t.Fatal("streamed file differs")
	}
	st, _ := d.Stat(ctx, "/s.bin")
	if st.Blocks != 3 {
		t.Fatalf("blocks %d, want 3", st.Blocks)
	}
	// Abort leaves no entry.
	w3, err := d.Create(ctx, "/aborted", 0)
	must(t, err)
	w3.Write([]byte("x"))
	w3.Abort()
	_, err = d.Stat(ctx, "/aborted")
	wantErr(t, err, ErrNotFound, "/aborted")
	if _, err := w3.Write([]byte("y")); err == nil {
		t.Fatal("write after abort")
	}
	// Create with a cancelled context fails while another writer holds the
	// feed.
	w4, _ := d.Create(ctx, "/held", 0)
	w4.Write(make([]byte, WriteBlockSize))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	w5, err := d.Create(cctx, "/waiting", 0)
	must(t, err)
	if _, err := w5.Write(make([]byte, WriteBlockSize)); !errors.Is(err, context.Canceled) {
		t.Fatalf("write with cancelled context: %v", err)
	}
	must(t, w4.Close())
}

func TestDirectories(t *testing.T) {
	ctx := context.Background()
	d := newDrive(t)
	must(t, d.Mkdir(ctx, "/d", 0o700))
	must(t, d.WriteFile(ctx, "/d/f", []byte("1"), 0))
	must(t, d.WriteFile(ctx, "/d/sub/deep/g", []byte("2"), 0))
	must(t, d.WriteFile(ctx, "/top", []byte("3"), 0))
	st, err := d.Stat(ctx, "/d")
	must(t, err)
	if st.Mode != ModeDir|0o700 {
		t.Fatalf("mode %o", st.Mode)
	}
	// Implicit directory.
	st, err = d.Lstat(ctx, "/d/sub")
	must(t, err)
	if !st.IsDir() {
		t.Fatal("implicit dir is not a dir")
	}
	es, err := d.Readdir(ctx, "/d")
	must(t, err)
	if got := names(es); !slices.Equal(got, []string{"f", "sub"}) {
		t.Fatalf("readdir /d = %q", got)
	}
	for _, e := range es {
		if (e.Name == "sub") != e.Stat.IsDir() {
			t.Fatalf("entry %s stat %o", e.Name, e.Stat.Mode)
		}
	}
	es, err = d.Readdir(ctx, "/")
	must(t, err)
	if got := names(es); !slices.Equal(got, []string{"d", "top"}) {
		t.Fatalf("readdir / = %q", got)
	}
	// Errors, each naming its path.
	wantErr(t, d.Mkdir(ctx, "/d", 0), ErrExist, "/d")
	wantErr(t, d.Mkdir(ctx, "/", 0), ErrExist, "/")
	wantErr(t, d.Mkdir(ctx, "/top/x", 0), ErrNotDir, "/top/x")
	wantErr(t, d.WriteFile(ctx, "/top/x", nil, 0), ErrNotDir, "/top/x")
	wantErr(t, d.WriteFile(ctx, "/d", nil, 0), ErrIsDir, "/d")
	wantErr(t, d.Rmdir(ctx, "/d"), ErrNotEmpty, "/d")
	wantErr(t, d.Rmdir(ctx, "/top"), ErrNotDir, "/top")
	wantErr(t, d.Rmdir(ctx, "/nope"), ErrNotFound, "/nope")
	wantErr(t, d.Unlink(ctx, "/d"), ErrIsDir, "/d")
	wantErr(t, d.Unlink(ctx, "/nope"), ErrNotFound, "/nope")
	_, err = d.Readdir(ctx, "/top")
	wantErr(t, err, ErrNotDir, "/top")
	_, err = d.Readdir(ctx, "/nope")
	wantErr(t, err, ErrNotFound, "/nope")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("ErrNotFound is not fs.ErrNotExist")
	}
	_, err = d.ReadFile(ctx, "/d")
	wantErr(t, err, ErrIsDir, "/d")
	// Emptying and removing.
	must(t, d.Unlink(ctx, "/d/f"))
	must(t, d.Unlink(ctx, "/d/sub/deep/g"))
	_, err = d.Stat(ctx, "/d/sub")
	wantErr(t, err, ErrNotFound, "/d/sub")
	es, _ = d.Readdir(ctx, "/d")
	if len(es) != 0 {
		t.Fatalf("emptied dir lists %q", names(es))
	}
	must(t, d.Rmdir(ctx, "/d"))
	_, err = d.Stat(ctx, "/d")
	wantErr(t, err, ErrNotFound, "/d")
	// The root.
	st, err = d.Stat(ctx, "/")
	must(t, err)
	if !st.IsDir() {
		t.Fatal("root is not a dir")
	}
	wantErr(t, d.Unlink(ctx, "/"), ErrInvalidPath, "")
	wantErr(t, d.WriteFile(ctx, "/a\x00b", nil, 0), ErrInvalidPath, "")
}

func TestSymlinks(t *testing.T) {
	ctx := context.Background()
	d := newDrive(t)
	must(t, d.WriteFile(ctx, "/dir/file", []byte("content"), 0))
	must(t, d.Symlink(ctx, "file", "/dir/rel"))
	must(t, d.Symlink(ctx, "/dir/file", "/abs"))
	must(t, d.Symlink(ctx, "../../../../dir/file", "/dir/escape"))
	must(t, d.Symlink(ctx, "/../../dir", "/dirlink"))
	must(t, d.Symlink(ctx, "loop2", "/loop1"))
	must(t, d.Symlink(ctx, "loop1", "/loop2"))
	for _, p := range []string{"/dir/rel", "/abs", "/dir/escape", "/dirlink/file"} {
		if p == "/dirlink/file" {
			continue // parents are not followed, as in the reference
		}
		b, err := d.ReadFile(ctx, p)
		if err != nil || string(b) != "content" {
			t.Errorf("read %s: %q %v", p, b, err)
		}
	}
	es, err := d.Readdir(ctx, "/dirlink")
	must(t, err)
	if got := names(es); !slices.Contains(got, "file") {
		t.Fatalf("readdir through link %q", got)
	}
	st, err := d.Lstat(ctx, "/abs")
	must(t, err)
	if !st.IsSymlink() || st.Linkname != "/dir/file" || st.Mode != ModeSymlink|0o644 {
		t.Fatalf("lstat %+v", st)
	}
	if l, err := d.Readlink(ctx, "/dir/rel"); err != nil || l != "file" {
		t.Fatal(l, err)
	}
	_, err = d.Readlink(ctx, "/dir/file")
	wantErr(t, err, ErrNotLink, "/dir/file")
	_, err = d.Stat(ctx, "/loop1")
	wantErr(t, err, ErrLoop, "/loop1")
	wantErr(t, d.Symlink(ctx, "x", "/abs"), ErrExist, "/abs")
	wantErr(t, d.Symlink(ctx, "x", "/dir"), ErrExist, "/dir")
	must(t, d.Unlink(ctx, "/abs"))
}

func TestRename(t *testing.T) {
	ctx := context.Background()
	d := newDrive(t)
	must(t, d.WriteFile(ctx, "/a", []byte("A"), 0))
	must(t, d.SetMetadata(ctx, "/a", "user.x", []byte("1")))
	must(t, d.Rename(ctx, "/a", "/b"))
	if _, err := d.Stat(ctx, "/a"); !errors.Is(err, ErrNotFound) {
		t.Fatal("source still there")
	}
	b, err := d.ReadFile(ctx, "/b")
	must(t, err)
	st, _ := d.Stat(ctx, "/b")
	if v, ok := st.Get("user.x"); string(b) != "A" || !ok || string(v) != "1" {
		t.Fatal("renamed file lost content or metadata")
	}
	// A whole tree, with a mount inside.
	other := openDrive(t, d.store.Namespace("other"), Options{Now: fixedNow})
	must(t, other.WriteFile(ctx, "/o", []byte("O"), 0))
	must(t, d.Mkdir(ctx, "/t", 0))
	must(t, d.WriteFile(ctx, "/t/1", []byte("1"), 0))
	must(t, d.WriteFile(ctx, "/t/s/2", []byte("2"), 0))
	must(t, d.Mount(ctx, "/t/m", other.Key(), MountOptions{}))
	v := d.Version()
	must(t, d.Rename(ctx, "/t", "/u"))
	if d.Version() != v+10 { // 5 keys put + 5 deleted, in one append
		t.Logf("rename appended %d blocks", d.Version()-v)
	}
	for p, want := range map[string]string{"/u/1": "1", "/u/s/2": "2", "/u/m/o": "O"} {
		if b, err := d.ReadFile(ctx, p); err != nil || string(b) != want {
			t.Errorf("%s: %q %v", p, b, err)
		}
	}
	for _, p := range []string{"/t", "/t/1", "/t/m/o"} {
		if _, err := d.Stat(ctx, p); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
	ms, err := d.Mounts(ctx, "/")
	must(t, err)
	if len(ms) != 1 || ms[0].Path != "/u/m" {
		t.Fatalf("mounts %+v", ms)
	}
	// Mountpoint alone.
	must(t, d.Rename(ctx, "/u/m", "/m2"))
	if b, err := d.ReadFile(ctx, "/m2/o"); err != nil || string(b) != "O" {
		t.Fatal(b, err)
	}
	// Rules.
	must(t, d.WriteFile(ctx, "/f1", []byte("1"), 0))
	must(t, d.WriteFile(ctx, "/f2", []byte("2"), 0))
	must(t, d.Rename(ctx, "/f1", "/f2"))
	if b, _ := d.ReadFile(ctx, "/f2"); string(b) != "1" {
		t.Fatal("file not replaced")
	}
	must(t, d.Mkdir(ctx, "/e", 0))
	wantErr(t, d.Rename(ctx, "/f2", "/u"), ErrIsDir, "/f2")
	wantErr(t, d.Rename(ctx, "/u", "/f2"), ErrNotDir, "/u")
	must(t, d.Mkdir(ctx, "/full", 0))
	must(t, d.WriteFile(ctx, "/full/x", nil, 0))
	wantErr(t, d.Rename(ctx, "/e", "/full"), ErrNotEmpty, "/e")
	must(t, d.Rename(ctx, "/u", "/e"))
	wantErr(t, d.Rename(ctx, "/e", "/e/in"), ErrInvalidPath, "/e")
	wantErr(t, d.Rename(ctx, "/nope", "/x"), ErrNotFound, "/nope")
	wantErr(t, d.Rename(ctx, "/f2", "/m2/f2"), ErrCrossDrive, "/f2")
}

func TestTruncateAndAttributes(t *testing.T) {
	ctx := context.Background()
	d := newDrive(t)
	data := randomBytes(WriteBlockSize+100, 4)
	must(t, d.WriteFile(ctx, "/f", data, 0))
	must(t, d.WriteFile(ctx, "/later", []byte("l"), 0))
	must(t, d.Truncate(ctx, "/f", 10))
	st, _ := d.Stat(ctx, "/f")
	if b, _ := d.ReadFile(ctx, "/f"); !bytes.Equal(b, data[:10]) || st.Blocks != 1 {
		t.Fatalf("shrunk: %d bytes, %d blocks", len(b), st.Blocks)
	}
	must(t, d.Truncate(ctx, "/f", 20)) // not last in the feed: copied
	if b, _ := d.ReadFile(ctx, "/f"); !bytes.Equal(b, append(append([]byte(nil), data[:10]...), make([]byte, 10)...)) {
		t.Fatalf("grown: %x", b)
	}
	must(t, d.Truncate(ctx, "/f", 30)) // last in the feed: zeros appended
	if b, _ := d.ReadFile(ctx, "/f"); len(b) != 30 || !bytes.Equal(b[10:], make([]byte, 20)) {
		t.Fatalf("grown again: %x", b)
	}
	must(t, d.Truncate(ctx, "/f", 0))
	if b, _ := d.ReadFile(ctx, "/f"); len(b) != 0 {
		t.Fatal("truncate to 0")
	}
	wantErr(t, d.Truncate(ctx, "/", 0), ErrIsDir, "/")
	wantErr(t, d.Truncate(ctx, "/nope", 0), ErrNotFound, "/nope")

	mode, uid, gid := uint32(0o640), uint32(1000), uint32(1001)
	mt := time.UnixMilli(1234567890123)
	must(t, d.SetAttr(ctx, "/later", Attr{Mode: &mode, UID: &uid, GID: &gid, Mtime: &mt}))
	st, _ = d.Stat(ctx, "/later")
	if st.Mode != ModeRegular|0o640 || st.UID != 1000 || st.GID != 1001 || !st.Mtime.Equal(mt) {
		t.Fatalf("attrs %+v", st)
	}
	// Metadata: JS key order, removal keeps the key without a value.
	must(t, d.SetMetadata(ctx, "/later", "b", []byte("1")))
	must(t, d.SetMetadata(ctx, "/later", "a", []byte("2")))
	must(t, d.SetMetadata(ctx, "/later", "7", []byte("3")))
	must(t, d.SetMetadata(ctx, "/later", "b", []byte("4")))
	must(t, d.RemoveMetadata(ctx, "/later", "a"))
	st, _ = d.Stat(ctx, "/later")
	want := []MetadataEntry{{"7", []byte("3")}, {"b", []byte("4")}, {"a", nil}}
	if len(st.Metadata) != 3 {
		t.Fatalf("metadata %q", st.Metadata)
	}
	for i, e := range want {
		if st.Metadata[i].Key != e.Key || !bytes.Equal(st.Metadata[i].Value, e.Value) || (e.Value == nil) != (st.Metadata[i].Value == nil) {
			t.Fatalf("metadata %d = %q, want %q", i, st.Metadata[i], e)
		}
	}
	// An implicit directory gets an entry.
	must(t, d.WriteFile(ctx, "/imp/x", nil, 0))
	must(t, d.SetAttr(ctx, "/imp", Attr{Mode: &mode}))
	st, _ = d.Stat(ctx, "/imp")
	if st.Mode != ModeDir|0o640 {
		t.Fatalf("implicit dir attrs %o", st.Mode)
	}
	wantErr(t, d.SetAttr(ctx, "/nope", Attr{}), ErrNotFound, "/nope")
}

func TestMountsAndCycles(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := openDrive(t, s.Namespace("a"), Options{})
	b := openDrive(t, s.Namespace("b"), Options{})
	must(t, b.WriteFile(ctx, "/in-b", []byte("b"), 0))
	must(t, a.Mount(ctx, "/b", b.Key(), MountOptions{}))
	must(t, a.WriteFile(ctx, "/b/from-a", []byte("a"), 0)) // lands in b
	if got, err := b.ReadFile(ctx, "/from-a"); err != nil || string(got) != "a" {
		t.Fatal(got, err)
	}
	es, err := a.Readdir(ctx, "/")
	must(t, err)
	if len(es) != 1 || es[0].Name != "b" || es[0].Stat.Mount == nil {
		t.Fatalf("root of a: %+v", es)
	}
	es, err = a.Readdir(ctx, "/b")
	must(t, err)
	if got := names(es); !slices.Equal(got, []string{"from-a", "in-b"}) {
		t.Fatalf("readdir /b %q", got)
	}
	wantErr(t, a.Mount(ctx, "/b", b.Key(), MountOptions{}), ErrExist, "/b")
	wantErr(t, a.Mount(ctx, "/self", a.Key(), MountOptions{}), ErrMountCycle, "/self")
	wantErr(t, a.Rmdir(ctx, "/b"), ErrIsMount, "/b")
	wantErr(t, a.Unmount(ctx, "/b/in-b"), ErrNotMount, "/b/in-b")

	// b mounts a: a cycle through two drives is an error, not a hang.
	must(t, b.Mount(ctx, "/a", a.Key(), MountOptions{}))
	_, err = a.Readdir(ctx, "/b/a")
	wantErr(t, err, ErrMountCycle, "/b/a")
	_, err = a.Mounts(ctx, "/")
	wantErr(t, err, ErrMountCycle, "")
	if st, err := a.Lstat(ctx, "/b/a"); err != nil || st.Mount == nil {
		t.Fatalf("the cyclic mountpoint itself: %v %v", st, err)
	}

	// A pinned version is read-only and frozen.
	v := b.Version()
	must(t, a.Mount(ctx, "/old", b.Key(), MountOptions{Version: v}))
	must(t, b.WriteFile(ctx, "/newer", nil, 0))
	if _, err := a.Stat(ctx, "/old/newer"); !errors.Is(err, ErrNotFound) {
		t.Fatal("pinned mount sees a later write")
	}
	wantErr(t, a.WriteFile(ctx, "/old/x", nil, 0), ErrReadOnly, "/old/x")

	must(t, a.Unmount(ctx, "/b"))
	if _, err := a.Stat(ctx, "/b/in-b"); !errors.Is(err, ErrNotFound) {
		t.Fatal("unmounted drive still reachable")
	}
}

func TestDownloadWatchUsage(t *testing.T) {
	ctx := context.Background()
	d := newDrive(t)
	changed := make(chan struct{}, 10)
	stop := d.Watch("/w", func() { changed <- struct{}{} })
	defer stop()
	must(t, d.WriteFile(ctx, "/other", []byte("o"), 0))
	must(t, d.WriteFile(ctx, "/w/f", randomBytes(WriteBlockSize+5, 5), 0))
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no watch call")
	}
	var last [2]uint64
	must(t, d.Download(ctx, "/", func(done, total uint64) { last = [2]uint64{done, total} }))
	if last[0] != last[1] || last[1] != WriteBlockSize+6 {
		t.Fatalf("progress %v", last)
	}
	u := d.Usage()
	if u.ContentBlocks != 3 || u.ContentBytes != WriteBlockSize+6 || u.MetadataBlocks != 3 {
		t.Fatalf("usage %+v", u)
	}
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStoreAt(t, dir)
	d, err := Open(ctx, s, Options{})
	must(t, err)
	must(t, d.WriteFile(ctx, "/f", []byte("kept"), 0))
	key := d.Key()
	must(t, d.Close())
	must(t, s.Close())

	s = openStoreAt(t, dir)
	d = openDrive(t, s, Options{})
	if !d.Key().Equal(key) || !d.Writable() {
		t.Fatal("default drive changed")
	}
	must(t, d.WriteFile(ctx, "/g", []byte("more"), 0)) // content secret key re-derived
	if b, _ := d.ReadFile(ctx, "/f"); string(b) != "kept" {
		t.Fatal(b)
	}
	// Opening by key, and at a version.
	byKey := openDrive(t, s, Options{Key: key, Version: 2})
	if _, err := byKey.Stat(ctx, "/g"); !errors.Is(err, ErrNotFound) || byKey.Writable() {
		t.Fatal("version 2 sees /g")
	}
}

func TestWatchThroughMountsAndSmallWriters(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := openDrive(t, s.Namespace("wa"), Options{})
	b := openDrive(t, s.Namespace("wb"), Options{})
	must(t, a.Mount(ctx, "/m", b.Key(), MountOptions{}))
	changed := make(chan struct{}, 10)
	stop := a.Watch("/", func() { changed <- struct{}{} })
	defer stop()
	must(t, b.WriteFile(ctx, "/x", []byte("x"), 0)) // a change in the mounted drive
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no watch call for a write in a mounted drive")
	}
	// Writers of small files do not take the content feed until Close.
	ws := make([]*Writer, 5)
	for i := range ws {
		w, err := a.Create(ctx, "/small"+string(rune('0'+i)), 0)
		must(t, err)
		w.Write([]byte{byte(i)})
		ws[i] = w
	}
	for i := len(ws) - 1; i >= 0; i-- {
		must(t, ws[i].Close())
	}
	for i := range ws {
		if b, err := a.ReadFile(ctx, "/small"+string(rune('0'+i))); err != nil || len(b) != 1 || b[0] != byte(i) {
			t.Fatalf("small%d: %v %v", i, b, err)
		}
	}
}
