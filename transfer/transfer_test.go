package transfer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/hypertrie"
	"golang.org/x/sys/unix"
)

func newDrive(t *testing.T) *hyperdrive.Drive {
	t.Helper()
	s, err := corestore.Open(t.TempDir(), corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d, err := hyperdrive.Open(context.Background(), s, hyperdrive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// rawPut stores st under a trie key as it is, bypassing the drive's path
// cleaning: what a hostile writer can do.
func rawPut(t *testing.T, d *hyperdrive.Drive, key string, st *hyperdrive.Stat) {
	t.Helper()
	if _, err := d.Trie().Put(context.Background(), key, hyperdrive.EncodeStat(st)); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
}

// listAll returns every path below root.
func listAll(t *testing.T, root string) []string {
	var out []string
	filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if p != root {
			out = append(out, strings.TrimPrefix(p, root))
		}
		return nil
	})
	return out
}

// export runs Export with a deadline: a hostile drive must not make it hang.
func export(t *testing.T, d *hyperdrive.Drive, out string) (Report, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type res struct {
		r   Report
		err error
	}
	ch := make(chan res, 1)
	go func() {
		r, err := Export(ctx, d, "/", out, Options{})
		ch <- res{r, err}
	}()
	select {
	case r := <-ch:
		return r.r, r.err
	case <-time.After(40 * time.Second):
		t.Fatal("export hung")
	}
	return Report{}, nil
}

func TestExportHostileDriveStaysInTarget(t *testing.T) {
	ctx := context.Background()
	d := newDrive(t)
	if err := d.WriteFile(ctx, "/ok.txt", []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile(ctx, "/d/f.txt", []byte("f"), 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := d.Lstat(ctx, "/ok.txt")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, k := range []string{"../escape.txt", "a/../../escape2.txt", "dir/./x.txt", "..", "sub/..", "sub/../../escape3.txt", "n\x00ul", `back\slash`, "../../../../../../tmp/escape4.txt"} {
		rawPut(t, d, k, file)
	}
	if err := d.Symlink(ctx, root, "/abs"); err != nil {
		t.Fatal(err)
	}
	if err := d.Symlink(ctx, "../../..", "/rel"); err != nil {
		t.Fatal(err)
	}
	rawPut(t, d, "rel/through.txt", file) // a file "below" a symlink
	rawPut(t, d, "abs/through.txt", file)
	// A mount of the drive in itself, which the drive's own Mount refuses.
	if err := d.Trie().Mount(ctx, "self", d.Key(), hypertrie.MountOptions{}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "a", "b", "c", "out")
	rep, err := export(t, d, out)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range listAll(t, root) {
		if !strings.HasPrefix(p, "/a/b/c/out") && p != "/a" && p != "/a/b" && p != "/a/b/c" {
			t.Errorf("%s written outside the target", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, "ok.txt")); err != nil || string(b) != "ok" {
		t.Fatalf("ok.txt: %q %v", b, err)
	}
	if target, err := os.Readlink(filepath.Join(out, "abs")); err != nil || target != root {
		t.Fatalf("abs: %q %v", target, err)
	}
	if rep.Bad == 0 {
		t.Fatal("no entry was reported skipped")
	}
	t.Logf("exported: %+v; tree: %q", rep, listAll(t, out))
}

// Version 1 has /x -> outside; version 2 makes /x a folder. Exporting both
// into one folder must not write through the old link.
func TestExportSymlinkSwap(t *testing.T) {
	ctx := context.Background()
	d := newDrive(t)
	root := t.TempDir()
	outside := filepath.Join(root, "outside")
	os.Mkdir(outside, 0o755)
	if err := d.Symlink(ctx, outside, "/x"); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "out")
	if _, err := export(t, d, out); err != nil {
		t.Fatal(err)
	}
	if err := d.Unlink(ctx, "/x"); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile(ctx, "/x/swapped.txt", []byte("swapped"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := export(t, d, out); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("written through the old link: %v", ents)
	}
	if b, err := os.ReadFile(filepath.Join(out, "x", "swapped.txt")); err != nil || string(b) != "swapped" {
		t.Fatalf("x/swapped.txt: %q %v", b, err)
	}
}

func TestExportKeepsFolderAttributesAndSkipsUnchanged(t *testing.T) {
	ctx := context.Background()
	d := newDrive(t)
	if err := d.WriteFile(ctx, "/d/f", []byte("123456789\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	dt := time.Date(2005, 5, 5, 0, 0, 0, 0, time.UTC)
	ft := time.Date(2003, 3, 3, 0, 0, 0, 0, time.UTC)
	mode := uint32(0o750)
	if err := d.SetAttr(ctx, "/d/f", hyperdrive.Attr{Mtime: &ft}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetMetadata(ctx, "/d", "user.color", []byte("blue")); err != nil {
		t.Fatal(err)
	}
	if err := d.SetAttr(ctx, "/d", hyperdrive.Attr{Mtime: &dt, Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	rep, err := export(t, d, out)
	if err != nil || rep.Files != 1 {
		t.Fatalf("export: %+v %v", rep, err)
	}
	st, err := os.Stat(filepath.Join(out, "d"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o750 || !st.ModTime().Equal(dt) {
		t.Errorf("folder d: mode %v time %v, want 0750 %v", st.Mode().Perm(), st.ModTime(), dt)
	}
	buf := make([]byte, 16)
	if n, err := unix.Getxattr(filepath.Join(out, "d"), "user.color", buf); err != nil && err != unix.ENOTSUP {
		t.Errorf("folder xattr: %v", err)
	} else if err == nil && string(buf[:n]) != "blue" {
		t.Errorf("folder xattr: %q", buf[:n])
	}
	if st, err := os.Stat(filepath.Join(out, "d", "f")); err != nil || st.Mode().Perm() != 0o640 || !st.ModTime().Equal(ft) {
		t.Errorf("file: %v %v", st, err)
	}
	rep, err = export(t, d, out)
	if err != nil || rep.Files != 0 || rep.Skipped != 1 {
		t.Fatalf("second export: %+v %v, want the file skipped", rep, err)
	}
	// A file as the target: a clear error, nothing written.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte("x"), 0o644)
	if _, err := export(t, d, file); err == nil || !strings.Contains(err.Error(), "is a file") {
		t.Fatalf("export into a file: %v", err)
	}
}

func TestImportDoesNotFollowLinksOut(t *testing.T) {
	ctx := context.Background()
	d := newDrive(t)
	root := t.TempDir()
	src, outside := filepath.Join(root, "src"), filepath.Join(root, "outside")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.Mkdir(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
	os.WriteFile(filepath.Join(src, "sub", "a.txt"), []byte("a"), 0o644)
	os.Symlink(outside, filepath.Join(src, "out-link"))
	os.Symlink("..", filepath.Join(src, "sub", "loop"))
	if err := syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Import(ctx, d, src, "/", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lstat(ctx, "/out-link/secret"); err == nil {
		t.Fatal("import followed a link out of its source")
	}
	if target, err := d.Readlink(ctx, "/out-link"); err != nil || target != outside {
		t.Fatalf("out-link: %q %v", target, err)
	}
	if rep.Files != 3 || rep.Bad != 1 {
		t.Fatalf("report %+v: want 3 files (a.txt, 2 links) and the FIFO skipped", rep)
	}
	// Asked to follow: the outside folder comes in, the loop is cut.
	d2 := newDrive(t)
	rep, err = Import(ctx, d2, src, "/", Options{FollowLinks: true})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := d2.ReadFile(ctx, "/out-link/secret"); err != nil || !bytes.Equal(b, []byte("secret")) {
		t.Fatalf("followed link: %q %v", b, err)
	}
	if rep.Bad != 2 {
		t.Fatalf("report %+v: want the FIFO and the loop skipped", rep)
	}
	// Unchanged files are skipped the second time.
	rep, err = Import(ctx, d, src, "/", Options{})
	if err != nil || rep.Files != 0 || rep.Skipped != 3 {
		t.Fatalf("second import: %+v %v", rep, err)
	}
}

// TestProgressWithinAFile: a large file reports progress as its bytes
// move, not only once it is done.
func TestProgressWithinAFile(t *testing.T) {
	ctx := context.Background()
	d := newDrive(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	if err := d.WriteFile(ctx, "/big", big, 0o644); err != nil {
		t.Fatal(err)
	}
	var partial int
	_, err := Export(ctx, d, "/", t.TempDir(), Options{Progress: func(r Report, _ string) {
		if r.Files == 0 && r.Bytes > 0 && r.Bytes < uint64(len(big)) {
			partial++
		}
	}})
	if err != nil || partial < 2 {
		t.Fatalf("export: %v; %d progress reports within the file", err, partial)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "big"), big, 0o644)
	partial = 0
	_, err = Import(ctx, newDrive(t), src, "/", Options{Progress: func(r Report, _ string) {
		if r.Files == 0 && r.Bytes > 0 && r.Bytes < uint64(len(big)) {
			partial++
		}
	}})
	if err != nil || partial < 2 {
		t.Fatalf("import: %v; %d progress reports within the file", err, partial)
	}
}
