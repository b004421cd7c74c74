package fs_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/hypertrie"
)

// bigFolder writes n empty files into folder dir of d, straight into the
// trie.
func bigFolder(t *testing.T, d *hfs.Drive, dir string, n int) []string {
	t.Helper()
	now := time.Unix(1600000000, 0)
	st := hyperdrive.EncodeStat(&hyperdrive.Stat{Mode: hyperdrive.ModeRegular | 0o644, Mtime: now, Ctime: now})
	var ops []hypertrie.Op
	var names []string
	for i := range n {
		name := fmt.Sprintf("f%05d", i)
		names = append(names, name)
		ops = append(ops, hypertrie.Op{Type: hypertrie.OpPut, Key: dir + "/" + name, Value: st})
	}
	if _, err := d.D.Trie().Batch(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	return names
}

// TestReaddirSpansBatchesWhileChanging lists a folder in many small reads
// (many READDIRPLUS requests, several parts of the listing) while files
// are added to it and removed from it: every name the folder held at
// opendir is listed exactly once, and no name twice.
func TestReaddirSpansBatchesWhileChanging(t *testing.T) {
	d := newDrive(t)
	names := bigFolder(t, d, "big", 3000)
	mnt := testMount(t, d, hfs.Options{})
	f, err := os.Open(filepath.Join(mnt, "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]int{}
	for i := 0; ; i++ {
		got, err := f.Readdirnames(40)
		for _, n := range got {
			seen[n]++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// Remove a listed name and one not listed yet, add a new one.
		if i%5 == 0 && len(got) > 0 {
			if err := os.Remove(filepath.Join(mnt, "big", got[0])); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(mnt, "big", names[len(names)-1-i])); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(mnt, "big", fmt.Sprintf("new%d", i)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, n := range names {
		if seen[n] != 1 {
			t.Errorf("%s listed %d times", n, seen[n])
		}
	}
	for n, c := range seen {
		if c > 1 {
			t.Errorf("%s listed %d times", n, c)
		}
	}
}

// TestReaddirRewind reads part of a big listing, seeks back to its start
// and reads it all: the listing is read again, in the same order.
func TestReaddirRewind(t *testing.T) {
	d := newDrive(t)
	names := bigFolder(t, d, "big", 2000)
	mnt := testMount(t, d, hfs.Options{})
	f, err := os.Open(filepath.Join(mnt, "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	first, err := f.Readdirnames(700)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	all, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(names) {
		t.Fatalf("listed %d names after the rewind, want %d", len(all), len(names))
	}
	for i, n := range first {
		if all[i] != n {
			t.Fatalf("entry %d is %s after the rewind, %s before", i, all[i], n)
		}
	}
	seen := map[string]bool{}
	for _, n := range all {
		if seen[n] {
			t.Errorf("%s listed twice", n)
		}
		seen[n] = true
	}
}
