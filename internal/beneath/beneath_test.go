package beneath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{"a": true, ".a": true, "a\\b": true, "": false, ".": false, "..": false, "a/b": false, "a\x00": false} {
		if ValidName(name) != want {
			t.Errorf("ValidName(%q) = %v", name, !want)
		}
	}
}

// outsideTree makes root/target and root/outside; a test's writes must stay
// in target.
func outsideTree(t *testing.T) (target, outside string, d *Dir) {
	root := t.TempDir()
	target, outside = filepath.Join(root, "target"), filepath.Join(root, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := Open(target, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return target, outside, d
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("%s appeared outside the target", filepath.Join(dir, e.Name()))
	}
}

func TestPlantedSymlinksAreReplacedNotFollowed(t *testing.T) {
	target, outside, d := outsideTree(t)
	// A folder expected where a link to outside stands.
	os.Symlink(outside, filepath.Join(target, "x"))
	sub, err := d.Mkdir("x", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	f, err := sub.Create("swapped.txt", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("in"))
	f.Close()
	sub.Close()
	// A file expected where a link to an outside file stands.
	os.WriteFile(filepath.Join(outside, "victim"), []byte("keep"), 0o644)
	os.Symlink(filepath.Join(outside, "victim"), filepath.Join(target, "f"))
	f, err = d.Create("f", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("new"))
	f.Close()
	if b, _ := os.ReadFile(filepath.Join(outside, "victim")); string(b) != "keep" {
		t.Fatalf("outside file overwritten: %q", b)
	}
	os.Remove(filepath.Join(outside, "victim"))
	assertEmpty(t, outside)
	if b, err := os.ReadFile(filepath.Join(target, "x", "swapped.txt")); err != nil || string(b) != "in" {
		t.Fatalf("x/swapped.txt: %q %v", b, err)
	}
	// Paths through a link are refused.
	os.Symlink(outside, filepath.Join(target, "l"))
	if _, err := d.OpenDir("l"); err == nil {
		t.Fatal("OpenDir followed a symlink")
	}
	if _, err := d.OpenDir("x/../.."); !errors.Is(err, ErrBadName) {
		t.Fatalf("OpenDir(..): %v", err)
	}
	noOpenat2.Store(true) // the O_NOFOLLOW walk
	defer noOpenat2.Store(false)
	if _, err := d.OpenDir("l"); err == nil {
		t.Fatal("walk followed a symlink")
	}
	if sub, err := d.OpenDir("x"); err != nil {
		t.Fatal(err)
	} else {
		sub.Close()
	}
}

func TestBadNamesAndFolders(t *testing.T) {
	target, _, d := outsideTree(t)
	for _, n := range []string{"", ".", "..", "a/b", "a\x00b"} {
		if _, err := d.Create(n, 0o644); !errors.Is(err, ErrBadName) {
			t.Errorf("Create(%q): %v", n, err)
		}
		if _, err := d.Mkdir(n, 0o755); !errors.Is(err, ErrBadName) {
			t.Errorf("Mkdir(%q): %v", n, err)
		}
		if err := d.Symlink("t", n); !errors.Is(err, ErrBadName) {
			t.Errorf("Symlink(%q): %v", n, err)
		}
	}
	os.Mkdir(filepath.Join(target, "dir"), 0o755)
	os.WriteFile(filepath.Join(target, "dir", "keep"), nil, 0o644)
	if _, err := d.Create("dir", 0o644); !errors.Is(err, ErrIsFolder) {
		t.Fatalf("a file over a folder: %v", err)
	}
	// A file where the target should be.
	file := filepath.Join(target, "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := Open(file, true); err == nil || !strings.Contains(err.Error(), "is a file") {
		t.Fatalf("Open(file): %v", err)
	}
	if _, err := Open(filepath.Join(file, "sub"), true); err == nil || !strings.Contains(err.Error(), "is a file") {
		t.Fatalf("Open(file/sub): %v", err)
	}
}

func TestFIFODoesNotBlock(t *testing.T) {
	target, _, d := outsideTree(t)
	if err := syscall.Mkfifo(filepath.Join(target, "p"), 0o644); err != nil {
		t.Skip(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := d.OpenFile("p")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a FIFO opened as a file")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OpenFile blocked on a FIFO")
	}
	f, err := d.Create("p", 0o644) // replaced by a regular file
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestTimesAndXattrs(t *testing.T) {
	target, _, d := outsideTree(t)
	f, err := d.Create("f", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	xerr := SetXattr(f, "user.tag", []byte("v"))
	if xerr == nil {
		x, err := Xattrs(f)
		if err != nil || string(x["user.tag"]) != "v" {
			t.Fatalf("xattrs: %v %v", x, err)
		}
	}
	f.Close()
	mt := time.Date(2005, 5, 5, 0, 0, 0, 0, time.UTC)
	if err := d.Chtimes("f", mt, mt); err != nil {
		t.Fatal(err)
	}
	if err := d.Chtimes("", mt, mt); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(target, "f"), target} {
		if st, err := os.Stat(p); err != nil || !st.ModTime().Equal(mt) {
			t.Fatalf("%s: %v %v", p, st.ModTime(), err)
		}
	}
}
