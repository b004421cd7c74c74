package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/integration/jsref"
)

// TestMountHostileJSDrive mounts a drive written with the JS API holding
// entries named "..", "a/../../x", "dir/./x", a NUL name, a symlink to a
// host folder and a relative symlink climbing out. Listings show only
// names that open, walks end, and no link leads out of the mount.
func TestMountHostileJSDrive(t *testing.T) {
	jsref.Require(t)
	root := t.TempDir()
	dir := filepath.Join(root, "js")
	outside := filepath.Join(root, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	var v1 struct{ Names []string }
	jsref.RunJSON(t, &v1, "drive-hostile.js", dir, outside, "1")
	store, d := openDriveStore(t, dir)
	defer closeDriveStore(t, store, d)

	mnt := filepath.Join(root, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	server, err := hfs.Mount(mnt, hfs.NewDrive(d, dir), hfs.Options{StagingDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := server.Unmount(); err != nil {
			t.Error(err)
		}
		server.Wait()
	}()

	run := func(name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("%s %v did not end within a minute", name, args)
		}
		if err != nil && name != "find" { // find reports the broken links
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	run("ls", "-laR", mnt)
	listed := strings.Split(strings.TrimSpace(run("find", mnt)), "\n")
	if len(listed) > 100 {
		t.Fatalf("find listed %d paths: a walk loops", len(listed))
	}
	for _, p := range listed {
		if strings.HasPrefix(p, "find:") {
			continue
		}
		if !strings.HasPrefix(p, mnt) {
			t.Errorf("find left the mount: %q", p)
			continue
		}
		base := filepath.Base(p)
		if base == ".." || base == "." || strings.ContainsRune(base, 0) {
			t.Errorf("listed %q", p)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("listed but cannot be opened: %q: %v", p, err)
			continue
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				t.Errorf("readlink %s: %v", p, err)
				continue
			}
			resolved := target
			if !filepath.IsAbs(target) {
				resolved = filepath.Join(filepath.Dir(p), target)
			}
			if resolved != mnt && !strings.HasPrefix(resolved, mnt+"/") {
				t.Errorf("link %s -> %s leads out of the mount", p, target)
			}
		}
	}
	if got, err := os.ReadFile(filepath.Join(mnt, "docs", "readme.txt")); err != nil || string(got) != "readme" {
		t.Errorf("docs/readme.txt: %q %v", got, err)
	}
	ents, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == ".." || e.Name() == "." {
			t.Errorf("root lists %q", e.Name())
		}
	}
}
