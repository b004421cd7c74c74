package fs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hyperfs/hyperfs/corestore"
	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/fs/memback"
	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// Regression tests of POSIX semantics on real mounts, for every backend.

func lstat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func ctimeOf(st *syscall.Stat_t) time.Time { return time.Unix(st.Ctim.Unix()) }
func mtimeOf(st *syscall.Stat_t) time.Time { return time.Unix(st.Mtim.Unix()) }

// TestDirOwnAttrs: a directory reports its own mode, size and times, never
// a child's, through stat and through a listing (READDIRPLUS), whether it
// was made with mkdir, renamed, or exists only because a file is below it.
func TestDirOwnAttrs(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			be := b.new(t)
			mnt := testMount(t, be, hfs.Options{})
			d := filepath.Join(mnt, "d")
			if err := os.Mkdir(d, 0700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(d+"/f", []byte("123456789\n"), 0666); err != nil {
				t.Fatal(err)
			}
			dirTime := time.Date(2005, 5, 5, 0, 0, 0, 0, time.UTC)
			fileTime := time.Date(2003, 3, 3, 0, 0, 0, 0, time.UTC)
			if err := os.Chtimes(d+"/f", fileTime, fileTime); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(d, dirTime, dirTime); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(d, mnt+"/renamed"); err != nil {
				t.Fatal(err)
			}
			// A directory with no entry of its own.
			if err := be.WriteFile(bg, "/implicit/g", 0600, strings.NewReader("0123456789abcdef"), 16); err != nil {
				t.Fatal(err)
			}
			check := func(how string, mnt string) {
				t.Helper()
				sh(t, "ls -l "+mnt+" >/dev/null")
				st := lstat(t, mnt+"/renamed")
				if st.Mode != syscall.S_IFDIR|0700 || st.Size == 10 || !mtimeOf(st).Equal(dirTime) {
					t.Errorf("%s: renamed dir: mode %o size %d mtime %v, want %o, not 10, %v", how, st.Mode, st.Size, mtimeOf(st), syscall.S_IFDIR|0700, dirTime)
				}
				st = lstat(t, mnt+"/implicit")
				if st.Mode&syscall.S_IFMT != syscall.S_IFDIR || st.Mode&07777 == 0600 || st.Size == 16 {
					t.Errorf("%s: implicit dir: mode %o size %d, want a directory's own", how, st.Mode, st.Size)
				}
				ents, err := os.ReadDir(mnt)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range ents {
					if !e.IsDir() {
						t.Errorf("%s: %s listed as %v", how, e.Name(), e.Type())
					}
				}
			}
			check("same mount", mnt)
			// A second mount of the same backend sees only what is stored
			// (no attributes kept by the first mount's nodes).
			check("fresh mount", testMount(t, be, hfs.Options{}))
		})
	}
}

// TestCtimeAndDirTimes: chmod, chown, utimes and rename change ctime; making
// and removing entries changes the directory's mtime and ctime.
func TestCtimeAndDirTimes(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			mnt := testMount(t, b.new(t), hfs.Options{})
			f := mnt + "/f"
			if err := os.WriteFile(f, []byte("x"), 0644); err != nil {
				t.Fatal(err)
			}
			changes := []struct {
				name string
				do   func() error
			}{
				{"chmod", func() error { return os.Chmod(f, 0600) }},
				{"chown", func() error { return os.Chown(f, 65534, 65534) }},
				{"utimes", func() error { return os.Chtimes(f, time.Unix(1e9, 0), time.Unix(1e9, 0)) }},
				{"rename", func() error {
					if err := os.Rename(f, f+"2"); err != nil {
						return err
					}
					f += "2"
					return nil
				}},
			}
			for _, c := range changes {
				before := ctimeOf(lstat(t, f))
				time.Sleep(20 * time.Millisecond)
				if err := c.do(); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if after := ctimeOf(lstat(t, f)); !after.After(before) {
					t.Errorf("%s: ctime %v, was %v", c.name, after, before)
				}
			}

			if err := os.Mkdir(mnt+"/d", 0755); err != nil {
				t.Fatal(err)
			}
			entryOps := []struct {
				name string
				do   func() error
			}{
				{"create", func() error { return os.WriteFile(mnt+"/d/a", nil, 0644) }},
				{"mkdir", func() error { return os.Mkdir(mnt+"/d/sub", 0755) }},
				{"symlink", func() error { return os.Symlink("a", mnt+"/d/l") }},
				{"rename within", func() error { return os.Rename(mnt+"/d/a", mnt+"/d/b") }},
				{"unlink", func() error { return os.Remove(mnt + "/d/b") }},
				{"rmdir", func() error { return os.Remove(mnt + "/d/sub") }},
			}
			for _, c := range entryOps {
				st := lstat(t, mnt+"/d")
				m, ct := mtimeOf(st), ctimeOf(st)
				time.Sleep(20 * time.Millisecond)
				if err := c.do(); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				st = lstat(t, mnt+"/d")
				if !mtimeOf(st).After(m) || !ctimeOf(st).After(ct) {
					t.Errorf("%s: dir mtime %v ctime %v, were %v %v", c.name, mtimeOf(st), ctimeOf(st), m, ct)
				}
			}
		})
	}
}

// TestModeZero: mode 0 is kept at creation and by chmod, also across a
// commit of an open file.
func TestModeZero(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			mnt := testMount(t, b.new(t), hfs.Options{})
			fd, err := syscall.Open(mnt+"/zero", syscall.O_CREAT|syscall.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			syscall.Write(fd, []byte("data"))
			syscall.Close(fd)
			if err := syscall.Mkdir(mnt+"/zdir", 0); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(mnt+"/later", []byte("x"), 0644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(mnt+"/later", 0); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"zero", "zdir", "later"} {
				if st := lstat(t, mnt+"/"+name); st.Mode&07777 != 0 {
					t.Errorf("%s: mode %o, want 0", name, st.Mode&07777)
				}
			}
			// A remount shows what is stored.
			if st := lstat(t, mnt+"/zero"); st.Size != 4 {
				t.Errorf("zero: size %d", st.Size)
			}
		})
	}
}

// TestNameTooLong: names beyond 255 bytes are ENAMETOOLONG everywhere.
func TestNameTooLong(t *testing.T) {
	mnt := testMount(t, newDrive(t), hfs.Options{})
	long := strings.Repeat("x", 256)
	ok := strings.Repeat("y", 255)
	if err := os.WriteFile(mnt+"/"+ok, nil, 0644); err != nil {
		t.Fatalf("255-byte name: %v", err)
	}
	for what, err := range map[string]error{
		"create":  os.WriteFile(mnt+"/"+long, nil, 0644),
		"mkdir":   os.Mkdir(mnt+"/"+long, 0755),
		"symlink": os.Symlink("t", mnt+"/"+long),
		"stat":    func() error { _, err := os.Lstat(mnt + "/" + long); return err }(),
		"rename":  os.Rename(mnt+"/"+ok, mnt+"/"+long),
	} {
		if !errors.Is(err, syscall.ENAMETOOLONG) {
			t.Errorf("%s: %v, want ENAMETOOLONG", what, err)
		}
	}
}

// TestDirFsyncRenameFlagsMknod: fsync and fdatasync of a directory succeed;
// renameat2 flags a drive does not implement are EINVAL; mknod of types a
// drive cannot hold is EPERM, of a regular file works.
func TestDirFsyncRenameFlagsMknod(t *testing.T) {
	mnt := testMount(t, newDrive(t), hfs.Options{})
	if err := os.WriteFile(mnt+"/a", []byte("a"), 0644); err != nil {
		t.Fatal(err)
	}
	dir, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		t.Errorf("fsync of a directory: %v", err)
	}
	if err := unix.Fdatasync(int(dir.Fd())); err != nil {
		t.Errorf("fdatasync of a directory: %v", err)
	}

	if err := os.WriteFile(mnt+"/c", []byte("c"), 0644); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []uint{unix.RENAME_WHITEOUT, unix.RENAME_EXCHANGE, 1 << 10} {
		if err := unix.Renameat2(unix.AT_FDCWD, mnt+"/a", unix.AT_FDCWD, mnt+"/c", flag); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("renameat2 flags %#x: %v, want EINVAL", flag, err)
		}
	}
	if _, err := os.Lstat(mnt + "/a"); err != nil {
		t.Errorf("a after refused renames: %v", err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, mnt+"/a", unix.AT_FDCWD, mnt+"/b", unix.RENAME_NOREPLACE); err != nil {
		t.Errorf("RENAME_NOREPLACE: %v", err)
	}

	for name, mode := range map[string]uint32{"fifo": syscall.S_IFIFO, "sock": syscall.S_IFSOCK, "chr": syscall.S_IFCHR, "blk": syscall.S_IFBLK} {
		if err := syscall.Mknod(mnt+"/"+name, mode|0644, 0); !errors.Is(err, syscall.EPERM) {
			t.Errorf("mknod %s: %v, want EPERM", name, err)
		}
	}
	if err := syscall.Mknod(mnt+"/reg", syscall.S_IFREG|0640, 0); err != nil {
		t.Errorf("mknod regular: %v", err)
	} else if st := lstat(t, mnt+"/reg"); st.Mode != syscall.S_IFREG|0640 || st.Size != 0 {
		t.Errorf("mknod regular: mode %o size %d", st.Mode, st.Size)
	}
}

// TestStatfsAndBlksize: df -i adds up (used = files - free never
// negative), and st_blksize is a small write's size.
func TestStatfsAndBlksize(t *testing.T) {
	mnt := testMount(t, newDrive(t), hfs.Options{})
	for i := range 5 {
		if err := os.WriteFile(fmt.Sprintf("%s/f%d", mnt, i), []byte("x"), 0644); err != nil {
			t.Fatal(err)
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	if st.Files < st.Ffree || st.Files-st.Ffree < 5 || st.Namelen != 255 {
		t.Errorf("statfs: files %d free %d namelen %d", st.Files, st.Ffree, st.Namelen)
	}
	out := sh(t, "df -i "+mnt+" | tail -1")
	if strings.Contains(out, " -") {
		t.Errorf("df -i: %s", out)
	}
	if bs := lstat(t, mnt+"/f0").Blksize; bs != 4096 {
		t.Errorf("st_blksize %d, want 4096", bs)
	}
}

// TestAppendersAndReaders: processes appending lines with O_APPEND and
// fsync every few lines, while others read the file, lose no line whose
// write and fsync succeeded.
func TestAppendersAndReaders(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			mnt := testMount(t, b.new(t), hfs.Options{})
			p := mnt + "/log"
			if err := os.WriteFile(p, nil, 0644); err != nil {
				t.Fatal(err)
			}
			const writers, lines = 3, 300
			stop := make(chan struct{})
			var readers sync.WaitGroup
			for range 2 {
				readers.Add(1)
				go func() {
					defer readers.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						os.ReadFile(p)
						os.Stat(p)
					}
				}()
			}
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
					if err != nil {
						errs <- err
						return
					}
					defer f.Close()
					for i := range lines {
						if _, err := fmt.Fprintf(f, "w%d line %d\n", w, i); err != nil {
							errs <- err
							return
						}
						if i%5 == 4 {
							if err := f.Sync(); err != nil {
								errs <- err
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			close(stop)
			readers.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
				seen[l] = true
			}
			lost := 0
			for w := range writers {
				for i := range lines {
					if !seen[fmt.Sprintf("w%d line %d", w, i)] {
						lost++
					}
				}
			}
			if lost > 0 || len(data) == 0 {
				t.Errorf("%d of %d acknowledged lines lost (file %d bytes)", lost, writers*lines, len(data))
			}
		})
	}
}

// TestSQLiteWAL runs three sqlite3 processes on one WAL database in the
// mount, two writing and one reading: reads racing a commit must see the
// old bytes or the new, never a short read ("disk I/O error").
func TestSQLiteWAL(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("sqlite3 not installed (scripts/test installs it)")
	}
	mnt := testMount(t, newDrive(t), hfs.Options{})
	db := mnt + "/test.db"
	sh(t, fmt.Sprintf("sqlite3 %s 'PRAGMA journal_mode=WAL; CREATE TABLE t(w INTEGER, i INTEGER, pad TEXT);'", db))
	var wg sync.WaitGroup
	outs := make([]string, 3)
	errs := make([]error, 3)
	for w := range 3 {
		var script strings.Builder
		script.WriteString(".timeout 20000\n.bail on\n")
		for i := range 120 {
			if w == 2 {
				script.WriteString("SELECT count(*), sum(length(pad)) FROM t;\n")
			} else {
				fmt.Fprintf(&script, "BEGIN IMMEDIATE; INSERT INTO t VALUES(%d, %d, hex(randomblob(3000))); COMMIT;\n", w, i)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("sqlite3", db)
			cmd.Stdin = strings.NewReader(script.String())
			out, err := cmd.CombinedOutput()
			outs[w], errs[w] = string(out), err
		}()
	}
	wg.Wait()
	for w := range 3 {
		if errs[w] != nil || strings.Contains(outs[w], "rror") {
			t.Errorf("sqlite3 process %d: %v\n%s", w, errs[w], tail(outs[w], 500))
		}
	}
	if got := strings.TrimSpace(sh(t, "sqlite3 "+db+" 'SELECT count(*) FROM t; PRAGMA integrity_check;'")); got != "240\nok" {
		t.Errorf("after the run: %q", got)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestHugeSizesEFBIG: sizes the drive cannot hold fail with EFBIG at once,
// by truncate, ftruncate, a write past the end and fallocate; a small
// growth reads back as zeros.
func TestHugeSizesEFBIG(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			mnt := testMount(t, b.new(t), hfs.Options{})
			f := mnt + "/f"
			if err := os.WriteFile(f, []byte("abc"), 0644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			for _, size := range []int64{999999999999999, 1 << 53} {
				if err := os.Truncate(f, size); !errors.Is(err, syscall.EFBIG) {
					t.Errorf("truncate to %d: %v, want EFBIG", size, err)
				}
			}
			fh, err := os.OpenFile(f, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			if err := fh.Truncate(999999999999999); !errors.Is(err, syscall.EFBIG) {
				t.Errorf("ftruncate: %v, want EFBIG", err)
			}
			if _, err := fh.WriteAt([]byte("x"), 1<<50); !errors.Is(err, syscall.EFBIG) {
				t.Errorf("write at 2^50: %v, want EFBIG", err)
			}
			if err := unix.Fallocate(int(fh.Fd()), 0, 0, 1<<50); !errors.Is(err, syscall.EFBIG) {
				t.Errorf("fallocate of 2^50: %v, want EFBIG", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("refusing huge sizes took %v", d)
			}
			fh.Close()
			if err := os.Truncate(f, 100<<10); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(f)
			if err != nil || len(got) != 100<<10 || string(got[:3]) != "abc" || strings.Trim(string(got[3:]), "\x00") != "" {
				t.Errorf("after growing: %d bytes %v", len(got), err)
			}
		})
	}
}

// TestAbsoluteSymlinks: a drive's absolute symlink points under the
// mountpoint, and a link made through the mount to a path under it is
// stored from the drive's root; relative links are unchanged.
func TestAbsoluteSymlinks(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			be := b.new(t)
			if err := be.WriteFile(bg, "/meta.txt", 0644, strings.NewReader("meta"), 4); err != nil {
				t.Fatal(err)
			}
			if err := be.Symlink(bg, "/meta.txt", "/abs"); err != nil {
				t.Fatal(err)
			}
			if err := be.Symlink(bg, "meta.txt", "/rel"); err != nil {
				t.Fatal(err)
			}
			mnt := testMount(t, be, hfs.Options{})
			if got, err := os.Readlink(mnt + "/abs"); err != nil || got != mnt+"/meta.txt" {
				t.Errorf("readlink abs: %q %v, want %q", got, err, mnt+"/meta.txt")
			}
			if st := lstat(t, mnt+"/abs"); st.Size != int64(len(mnt+"/meta.txt")) {
				t.Errorf("abs: size %d", st.Size)
			}
			if got, err := os.ReadFile(mnt + "/abs"); err != nil || string(got) != "meta" {
				t.Errorf("read through abs: %q %v", got, err)
			}
			if got, err := os.Readlink(mnt + "/rel"); err != nil || got != "meta.txt" {
				t.Errorf("readlink rel: %q %v", got, err)
			}
			// A relative link climbing out of the drive stops at its root,
			// as the drive resolves it.
			if err := be.Symlink(bg, "../../../etc", "/d/out"); err != nil {
				t.Fatal(err)
			}
			if got, err := os.Readlink(mnt + "/d/out"); err != nil || got != mnt+"/etc" {
				t.Errorf("readlink of a link climbing out: %q %v, want %q", got, err, mnt+"/etc")
			}
			if err := os.Symlink(mnt+"/meta.txt", mnt+"/made"); err != nil {
				t.Fatal(err)
			}
			if got, err := be.Readlink(bg, "/made"); err != nil || got != "/meta.txt" {
				t.Errorf("stored target: %q %v, want /meta.txt", got, err)
			}
			if got, err := os.Readlink(mnt + "/made"); err != nil || got != mnt+"/meta.txt" {
				t.Errorf("readlink made: %q %v", got, err)
			}
		})
	}
}

// TestDroppingsRefused: file managers' trash folders and per-machine files
// are not created in a drive (they would be published), unless allowed.
func TestDroppingsRefused(t *testing.T) {
	be := newDrive(t)
	mnt := testMount(t, be, hfs.Options{})
	if err := os.WriteFile(mnt+"/doc", []byte("x"), 0644); err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"mkdir .Trash-0":     os.Mkdir(mnt+"/.Trash-0", 0700),
		"mkdir .Trash":       os.Mkdir(mnt+"/.Trash", 0700),
		"create .DS_Store":   os.WriteFile(mnt+"/.DS_Store", nil, 0644),
		"create ._doc":       os.WriteFile(mnt+"/._doc", nil, 0644),
		"rename .directory":  os.Rename(mnt+"/doc", mnt+"/.directory"),
		"mkdir .thumbnails":  os.Mkdir(mnt+"/.thumbnails", 0700),
		"symlink .fseventsd": os.Symlink("x", mnt+"/.fseventsd"),
	} {
		if !errors.Is(err, syscall.EPERM) {
			t.Errorf("%s: %v, want EPERM", what, err)
		}
	}
	if ents, _ := be.Readdir(bg, "/"); len(ents) != 1 {
		t.Errorf("drive holds %v", ents)
	}
	mnt2 := testMount(t, newDrive(t), hfs.Options{AllowDroppings: true})
	if err := os.Mkdir(mnt2+"/.Trash-0", 0700); err != nil {
		t.Errorf("with AllowDroppings: %v", err)
	}
}

// hostileBackend lists names a hostile drive can hold in its trie but no
// file system can show.
type hostileBackend struct{ hfs.Backend }

var hostileNames = []string{"..", ".", "", "a/../b", "n\x00ul", `back\slash`, strings.Repeat("l", 300), "\xff\xfe"}

func (b hostileBackend) Readdir(ctx context.Context, p string) ([]hfs.DirEntry, error) {
	ents, err := b.Backend.Readdir(ctx, p)
	if err != nil {
		return nil, err
	}
	for _, name := range hostileNames {
		ents = append(ents, hfs.DirEntry{Name: name, Attr: hfs.Attr{Mode: syscall.S_IFDIR | 0755}})
	}
	return ents, nil
}

// TestHostileNames: names that cannot be one file name are hidden (and
// logged once), so listings hold only names that open and walks end.
func TestHostileNames(t *testing.T) {
	be := newDrive(t)
	if err := be.WriteFile(bg, "/dir/ok.txt", 0644, strings.NewReader("ok"), 2); err != nil {
		t.Fatal(err)
	}
	log := &testLog{t: t, allow: true}
	mnt := testMount(t, hostileBackend{be}, hfs.Options{Logger: slog.New(log)})
	for range 2 {
		ents, err := os.ReadDir(mnt + "/dir")
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 1 || ents[0].Name() != "ok.txt" {
			t.Errorf("listing shows %v", ents)
		}
	}
	out := sh(t, "timeout 20 find "+mnt+" | sort")
	if want := mnt + "\n" + mnt + "/dir\n" + mnt + "/dir/ok.txt\n"; out != want {
		t.Errorf("find: %q, want %q", out, want)
	}
	if w := log.warnings(); len(w) != 2*len(hostileNames) {
		t.Errorf("%d warnings, want each hidden name of / and /dir once: %q", len(w), w)
	}
	if _, err := os.Lstat(mnt + `/dir\ok.txt`); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(`lookup of "dir\ok.txt" at the root: %v, want ENOENT`, err)
	}
	if err := os.WriteFile(mnt+`/a\b`, nil, 0644); !errors.Is(err, syscall.EINVAL) {
		t.Errorf(`create "a\b": %v, want EINVAL`, err)
	}
}

// TestReadTimeoutOnce: a read of data no peer sends fails with EIO after
// Options.ReadTimeout, not twice that (the kernel retries a failed
// read-ahead with a read of one page).
func TestReadTimeoutOnce(t *testing.T) {
	for _, direct := range []bool{true, false} {
		t.Run(fmt.Sprintf("context=%v", direct), func(t *testing.T) {
			stall := &stallFile{size: 1 << 20, release: make(chan struct{})}
			defer close(stall.release)
			b := memback.New()
			b.WriteFile(bg, "/f", 0644, strings.NewReader(strings.Repeat("x", 1<<20)), 1<<20)
			var be hfs.Backend = stallBackend{b, stall}
			if direct {
				be = ctxBackend{b, &ctxFile{stallFile: stallFile{size: 1 << 20, release: make(chan struct{})}}}
			}
			const timeout = time.Second
			log := &testLog{t: t, allow: true}
			mnt := testMount(t, be, hfs.Options{ReadTimeout: timeout, Logger: slog.New(log)})
			start := time.Now()
			_, err := os.ReadFile(mnt + "/f")
			took := time.Since(start)
			if !errors.Is(err, syscall.EIO) {
				t.Errorf("read: %v, want EIO", err)
			}
			if took < timeout || took > timeout*17/10 {
				t.Errorf("EIO after %v, want %v (not twice it)", took, timeout)
			}
		})
	}
}

// TestMountedCoreIsAFile: a hypercore mounted in a drive as a file
// (drive.mount(path, key, {hypercore: true})) is a regular file whose
// bytes are the core's blocks at its current length, learned from peers
// (the Update hook) before the length is read.
func TestMountedCoreIsAFile(t *testing.T) {
	dir := t.TempDir()
	store, err := corestore.Open(dir, corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() }) // after the unmount
	core, err := store.Get(bg, corestore.GetOptions{Name: "a core"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { core.Close() }) // after the unmount
	if _, err := core.Feed.Append([]byte("block one\n"), []byte("block two\n")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	updated := map[string]int{}
	d, err := hyperdrive.Open(bg, store, hyperdrive.Options{Update: func(ctx context.Context, f *hypercore.Feed) error {
		mu.Lock()
		updated[string(f.Key())]++
		mu.Unlock()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() }) // after the unmount
	// The Stat JS hyperdrive's mount(…, {hypercore: true}) writes: a file
	// carrying the core's key and its length at mount time.
	st := &hyperdrive.Stat{Mode: hyperdrive.ModeRegular | 0o644, Size: 10, Blocks: 1,
		Mount: &hyperdrive.MountInfo{Key: core.Feed.Key(), Hypercore: true}}
	if _, err := d.Trie().Put(bg, "core", hyperdrive.EncodeStat(st)); err != nil {
		t.Fatal(err)
	}
	mnt := testMount(t, hfs.NewDrive(d, dir), hfs.Options{})
	if _, err := core.Feed.Append([]byte("block three\n")); err != nil {
		t.Fatal(err)
	}
	const want = "block one\nblock two\nblock three\n"
	ents, err := os.ReadDir(mnt)
	if err != nil || len(ents) != 1 || !ents[0].Type().IsRegular() {
		t.Fatalf("listing: %v %v", ents, err)
	}
	if st := lstat(t, mnt+"/core"); st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Size != int64(len(want)) {
		t.Errorf("stat: mode %o size %d, want a regular file of %d bytes", st.Mode, st.Size, len(want))
	}
	if got, err := os.ReadFile(mnt + "/core"); err != nil || string(got) != want {
		t.Errorf("cat: %q %v, want %q", got, err, want)
	}

	// A core someone else writes is updated from peers before its length
	// is read.
	dir2 := t.TempDir()
	store2, err := corestore.Open(dir2, corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store2.Close() }) // after the unmount
	d2, err := hyperdrive.Open(bg, store2, hyperdrive.Options{Update: func(ctx context.Context, f *hypercore.Feed) error {
		mu.Lock()
		updated[string(f.Key())]++
		mu.Unlock()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d2.Close() }) // after the unmount
	if _, err := d2.Trie().Put(bg, "core", hyperdrive.EncodeStat(st)); err != nil {
		t.Fatal(err)
	}
	mnt2 := testMount(t, hfs.NewDrive(d2, dir2), hfs.Options{})
	lstat(t, mnt2+"/core")
	mu.Lock()
	defer mu.Unlock()
	if updated[string(core.Feed.Key())] != 1 {
		t.Errorf("the mounted core was updated %d times before its length was read, want once", updated[string(core.Feed.Key())])
	}
}

// TestCallerOwnsNewFiles: with allow_other, a file another user creates
// belongs to that user, who can then chmod it and append to it; in a
// set-group-ID directory new entries take the directory's group.
func TestCallerOwnsNewFiles(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to act as another user")
	}
	mnt := testMount(t, newDrive(t), hfs.Options{AllowOther: true})
	if err := os.Chmod(filepath.Dir(mnt), 0o755); err != nil { // t.TempDir's are 0700
		t.Fatal(err)
	}
	shared := mnt + "/shared"
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	as := func(uid, gid uint32, script string) {
		t.Helper()
		cmd := exec.Command("sh", "-c", script)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("as %d: %s: %v\n%s", uid, script, err, out)
		}
	}
	as(65534, 65533, "cd "+shared+" && echo one > f && chmod 600 f && echo two >> f && mkdir d")
	for _, name := range []string{"f", "d"} {
		if st := lstat(t, shared+"/"+name); st.Uid != 65534 || st.Gid != 65533 {
			t.Errorf("%s: owner %d:%d, want 65534:65533", name, st.Uid, st.Gid)
		}
	}
	if st := lstat(t, shared+"/f"); st.Mode&0o777 != 0o600 || st.Size != 8 {
		t.Errorf("f: mode %o size %d", st.Mode&0o777, st.Size)
	}
	if err := os.Chown(shared, 0, 4242); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Chmod(shared, 0o2777); err != nil {
		t.Fatal(err)
	}
	as(65534, 65533, "cd "+shared+" && touch g")
	if st := lstat(t, shared+"/g"); st.Uid != 65534 || st.Gid != 4242 {
		t.Errorf("in a set-group-ID directory: owner %d:%d, want 65534:4242", st.Uid, st.Gid)
	}
}
