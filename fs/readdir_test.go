package fs_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
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

// TestInodeNumbersAfterRenameAndUnlink checks that two files never share
// an inode number: a file made where another was renamed away from, and
// one made where an open file was unlinked, get numbers of their own,
// and the renamed file keeps its number.
func TestInodeNumbersAfterRenameAndUnlink(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			mnt := testMount(t, be.new(t), hfs.Options{})
			ino := func(p string) uint64 {
				t.Helper()
				var st syscall.Stat_t
				if err := syscall.Lstat(filepath.Join(mnt, p), &st); err != nil {
					t.Fatal(err)
				}
				return st.Ino
			}
			if err := os.WriteFile(filepath.Join(mnt, "a"), []byte("a"), 0o644); err != nil {
				t.Fatal(err)
			}
			a := ino("a")
			if err := os.Rename(filepath.Join(mnt, "a"), filepath.Join(mnt, "z")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(mnt, "a"), []byte("new"), 0o644); err != nil {
				t.Fatal(err)
			}
			if ino("z") != a || ino("a") == a {
				t.Errorf("renamed file %d (was %d), new file at its old path %d", ino("z"), a, ino("a"))
			}
			f, err := os.Open(filepath.Join(mnt, "z"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := os.Remove(filepath.Join(mnt, "z")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(mnt, "z"), []byte("again"), 0o644); err != nil {
				t.Fatal(err)
			}
			var st syscall.Stat_t
			if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
				t.Fatal(err)
			}
			if st.Ino == ino("z") {
				t.Errorf("an unlinked open file and the new file at its path share number %d", st.Ino)
			}
			if b, err := io.ReadAll(f); err != nil || string(b) != "a" {
				t.Errorf("the unlinked file reads %q, %v", b, err)
			}
		})
	}
}

// budget is a Memory of a fixed size that records what is reserved.
type budget struct {
	max      int64
	reserved atomic.Int64
}

func (b *budget) MaxBytes() int64     { return b.max }
func (b *budget) Reserve(delta int64) { b.reserved.Add(delta) }

// TestInodeBudget lists and stats a folder of more files than the budget
// allows inodes: the listing gives the names past the budget without
// attributes, the stats make the kernel forget the oldest inodes, and the
// inodes charged stay within the budget.
func TestInodeBudget(t *testing.T) {
	d := newDrive(t)
	names := bigFolder(t, d, "big", 6000)
	mem := &budget{max: 8 * 2048 * hfs.InodeBytes / 3} // 2048 inodes
	mnt := testMount(t, d, hfs.Options{Memory: mem})
	got, err := os.ReadDir(filepath.Join(mnt, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(names) {
		t.Fatalf("listed %d names, want %d", len(got), len(names))
	}
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(mnt, "big", n)); err != nil {
			t.Fatal(err)
		}
	}
	// The charge is given in steps, and evictions finish in the
	// background: wait for them.
	room := mem.max / 4
	limit := int64(2048+2*256)*hfs.InodeBytes + room
	deadline := time.Now().Add(10 * time.Second)
	for mem.reserved.Load() > limit && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if r := mem.reserved.Load(); r > limit || r <= room {
		t.Errorf("%d bytes charged (%d of them working room), budget %d", r, room, mem.max)
	}
	// Files still stat after their inodes were forgotten, with the
	// same numbers as their names were listed with.
	for _, e := range got[:100] {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(mnt, "big", e.Name()), &st); err != nil {
			t.Fatal(err)
		}
		info, _ := e.Info()
		if info != nil && info.Sys().(*syscall.Stat_t).Ino != st.Ino {
			t.Errorf("%s: number %d, listed as %d", e.Name(), st.Ino, info.Sys().(*syscall.Stat_t).Ino)
		}
	}
}

// TestInodeBytes measures the heap an inode the kernel holds costs (the
// mount's own and go-fuse's), which the budget charges as InodeBytes: the
// heap with every file of a folder looked up, less the heap once the
// mount is gone and the drive's cache still holds what the walk read.
func TestInodeBytes(t *testing.T) {
	d := newDrive(t)
	const n = 20000
	names := bigFolder(t, d, "big", n)
	dir := t.TempDir()
	server, err := hfs.Mount(dir, d, hfs.Options{StagingDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if _, err := os.Lstat(filepath.Join(dir, "big", name)); err != nil {
			t.Fatal(err)
		}
	}
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	with := heap()
	if err := server.Unmount(); err != nil {
		t.Fatal(err)
	}
	server.Wait()
	without := heap()
	per := (int64(with) - int64(without)) / n
	t.Logf("%d bytes per inode", per)
	if per > hfs.InodeBytes {
		t.Errorf("an inode costs %d bytes, the budget charges %d", per, hfs.InodeBytes)
	}
}

// countingDrive counts the Lstats a mount asks its drive for.
type countingDrive struct {
	*hfs.Drive
	lstats atomic.Int64
}

func (c *countingDrive) Lstat(ctx context.Context, p string) (*hfs.Attr, error) {
	c.lstats.Add(1)
	return c.Drive.Lstat(ctx, p)
}

// TestInvalidationFollowsTheChange changes one file of a drive behind the
// mount's back while the kernel knows thousands of its files: the mount
// compares only the changed path with the drive, not every inode.
func TestInvalidationFollowsTheChange(t *testing.T) {
	d := newDrive(t)
	names := bigFolder(t, d, "big", 3000)
	cd := &countingDrive{Drive: d}
	mnt := testMount(t, cd, hfs.Options{})
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(mnt, "big", n)); err != nil {
			t.Fatal(err)
		}
	}
	cd.lstats.Store(0)
	if err := d.D.Unlink(context.Background(), "/big/"+names[7]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Lstat(filepath.Join(mnt, "big", names[7])); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the mount still shows a file removed from its drive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := cd.lstats.Load(); n > 20 {
		t.Errorf("one change cost %d Lstats with %d files known", n, len(names))
	}
}
