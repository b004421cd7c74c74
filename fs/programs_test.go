package fs_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	hfs "github.com/hyperfs/hyperfs/fs"
)

// pattern is deterministic file content that differs at every offset.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// makeTree writes a small tree with the things archivers care about:
// nesting, an executable, a symlink, old mtimes, an empty file and a file
// over several read-ahead windows.
func makeTree(t *testing.T, dir string) {
	t.Helper()
	files := map[string][]byte{
		"a.txt":              []byte("hello needle\n"),
		"empty":              nil,
		"sub/b.txt":          []byte("no match here\n"),
		"sub/deeper/c.txt":   []byte("another needle in a deeper dir\n"),
		"sub/deeper/big.bin": pattern(5<<20+123, 1),
		"bin/run.sh":         []byte("#!/bin/sh\necho hi\n"),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "bin/run.sh"), 0755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/b.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, name := range []string{"a.txt", "sub/deeper/big.bin", "sub/deeper"} {
		if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// sameTree compares two trees: names, types, permission bits, sizes,
// content, symlink targets and (for files) mtimes to the second.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(want, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		seen[rel] = true
		wi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		gi, err := os.Lstat(filepath.Join(got, rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if wi.Mode() != gi.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, gi.Mode(), wi.Mode())
		}
		switch {
		case wi.Mode().IsRegular():
			if wi.Size() != gi.Size() {
				t.Errorf("%s: size %d, want %d", rel, gi.Size(), wi.Size())
			}
			if !wi.ModTime().Truncate(time.Second).Equal(gi.ModTime().Truncate(time.Second)) {
				t.Errorf("%s: mtime %v, want %v", rel, gi.ModTime(), wi.ModTime())
			}
			if a, b := fileHash(t, p), fileHash(t, filepath.Join(got, rel)); a != b {
				t.Errorf("%s: content differs", rel)
			}
		case wi.Mode()&os.ModeSymlink != 0:
			a, _ := os.Readlink(p)
			b, _ := os.Readlink(filepath.Join(got, rel))
			if a != b {
				t.Errorf("%s: link %q, want %q", rel, b, a)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(got, func(p string, d iofs.DirEntry, err error) error {
		rel, _ := filepath.Rel(got, p)
		if err == nil && !seen[rel] {
			t.Errorf("%s: extra entry", rel)
		}
		return nil
	})
}

func fileHash(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// sh runs a shell command line; commands cd in the shell rather than
// through cmd.Dir, which would chdir between fork and exec (see go-fuse's
// notes on deadlocks when a process execs from its own mount).
func sh(t *testing.T, script string) string {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out)
}

// TestPrograms runs unmodified programs on writable mounts.
func TestPrograms(t *testing.T) {
	src := t.TempDir()
	makeTree(t, src)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			testPrograms(t, src, testMount(t, b.new(t), hfs.Options{}))
		})
	}
}

func testPrograms(t *testing.T, src, mnt string) {
	t.Run("cp", func(t *testing.T) {
		sh(t, fmt.Sprintf("cp -a %s %s/cp", src, mnt))
		sameTree(t, src, mnt+"/cp")
		out := t.TempDir() + "/back"
		sh(t, fmt.Sprintf("cp -a %s/cp %s", mnt, out))
		sameTree(t, src, out)
	})
	t.Run("rsync", func(t *testing.T) {
		if _, err := exec.LookPath("rsync"); err != nil {
			t.Skip("rsync not installed (apt-get install rsync)")
		}
		sh(t, fmt.Sprintf("rsync -a %s/ %s/rsync/", src, mnt))
		sameTree(t, src, mnt+"/rsync")
		// A second run finds nothing to do: sizes and mtimes stuck.
		if out := sh(t, fmt.Sprintf("rsync -ai %s/ %s/rsync/", src, mnt)); out != "" {
			t.Errorf("second rsync changed:\n%s", out)
		}
	})
	t.Run("tar", func(t *testing.T) {
		sh(t, fmt.Sprintf("mkdir %s/tar && tar -C %s -cf - . | tar -C %s/tar -xf -", mnt, src, mnt))
		sameTree(t, src, mnt+"/tar")
		out := t.TempDir()
		sh(t, fmt.Sprintf("tar -C %s/tar -cf - . | tar -C %s -xf -", mnt, out))
		sameTree(t, src, out)
	})
	t.Run("sha256sum", func(t *testing.T) {
		sh(t, fmt.Sprintf("mkdir -p %s/sum && cp -a %s/. %s/sum/", mnt, src, mnt))
		want := sh(t, fmt.Sprintf("cd %s && find . -type f | sort | xargs sha256sum", src))
		got := sh(t, fmt.Sprintf("cd %s/sum && find . -type f | sort | xargs sha256sum", mnt))
		if got != want {
			t.Errorf("sha256sum:\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("find-grep-du", func(t *testing.T) {
		sh(t, fmt.Sprintf("mkdir -p %s/fg && cp -a %s/. %s/fg/", mnt, src, mnt))
		want := sh(t, fmt.Sprintf("cd %s && find . | sort", src))
		if got := sh(t, fmt.Sprintf("cd %s/fg && find . | sort", mnt)); got != want {
			t.Errorf("find:\n%s\nwant\n%s", got, want)
		}
		want = sh(t, fmt.Sprintf("cd %s && grep -r needle . | sort", src))
		if got := sh(t, fmt.Sprintf("cd %s/fg && grep -r needle . | sort", mnt)); got != want {
			t.Errorf("grep -r:\n%s\nwant\n%s", got, want)
		}
		out := sh(t, fmt.Sprintf("du -s --block-size=1 %s/fg", mnt))
		var n int64
		fmt.Sscan(out, &n)
		if n < 5<<20 {
			t.Errorf("du -s: %q, want at least 5 MiB", out)
		}
		sh(t, fmt.Sprintf("du -a %s/fg >/dev/null && ls -lR %s/fg >/dev/null", mnt, mnt))
	})
	t.Run("python-seek", func(t *testing.T) {
		data := pattern(3<<20, 7)
		p := mnt + "/py.bin"
		if err := os.WriteFile(p, data, 0644); err != nil {
			t.Fatal(err)
		}
		script := `
import sys
f = open(sys.argv[1], "rb")
out = []
for off, n in [(0, 10), (2_000_000, 5), (123, 4096), (3*1024*1024 - 3, 10), (1_048_570, 20)]:
    f.seek(off)
    out.append(f.read(n).hex())
f.seek(-7, 2)
out.append(f.read().hex())
print(" ".join(out))
g = open(sys.argv[1], "r+b")
g.seek(1_000_000)
g.write(b"patched")
g.seek(10, 0)
g.write(b"XY")
g.close()
`
		got := strings.TrimSpace(sh(t, fmt.Sprintf("python3 -c '%s' %s", script, p)))
		var want []string
		for _, r := range [][2]int{{0, 10}, {2_000_000, 5}, {123, 4096}, {3<<20 - 3, 10}, {1_048_570, 20}} {
			want = append(want, fmt.Sprintf("%x", data[r[0]:min(r[0]+r[1], len(data))]))
		}
		want = append(want, fmt.Sprintf("%x", data[len(data)-7:]))
		if got != strings.Join(want, " ") {
			t.Errorf("python reads differ:\n%.200s\nwant\n%.200s", got, strings.Join(want, " "))
		}
		copy(data[1_000_000:], "patched")
		copy(data[10:], "XY")
		back, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, data) {
			t.Errorf("python writes with seek: content differs")
		}
	})
	t.Run("git", func(t *testing.T) {
		repo := mnt + "/repo"
		sh(t, fmt.Sprintf(`mkdir %[1]s && cd %[1]s && git init -q && cp -a %[2]s/. . &&
git add -A && git -c user.name=t -c user.email=t@t commit -qm first`, repo, src))
		if out := sh(t, fmt.Sprintf("cd %s && git status --porcelain", repo)); out != "" {
			t.Errorf("git status after commit:\n%s", out)
		}
		sh(t, fmt.Sprintf("cd %s && echo change >> a.txt && git -c user.name=t -c user.email=t@t commit -qam second", repo))
		if out := sh(t, fmt.Sprintf("cd %s && git status --porcelain && git log --oneline | wc -l && git fsck --no-progress 2>&1", repo)); strings.TrimSpace(out) != "2" {
			t.Errorf("git after second commit:\n%s", out)
		}
	})
}

// TestLargeCopy copies a file over many read-ahead windows and MaxWrite
// requests both ways and compares it to the byte.
func TestLargeCopy(t *testing.T) {
	size := 96 << 20
	if testing.Short() {
		size = 16 << 20
	}
	src := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(src, pattern(size+4321, 3), 0644); err != nil {
		t.Fatal(err)
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			testLargeCopy(t, src, size, testMount(t, b.new(t), hfs.Options{}))
		})
	}
}

func testLargeCopy(t *testing.T, src string, size int, mnt string) {
	sh(t, fmt.Sprintf("cp %s %s/big && cp %s/big %s.back", src, mnt, mnt, src))
	want := fileHash(t, src)
	if got := fileHash(t, mnt+"/big"); got != want {
		t.Errorf("copy into the mount differs")
	}
	if got := fileHash(t, src+".back"); got != want {
		t.Errorf("copy out of the mount differs")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(mnt+"/big", &st); err != nil || st.Size != int64(size+4321) {
		t.Errorf("stat: size %d, %v", st.Size, err)
	}
}
