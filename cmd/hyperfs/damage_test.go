package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A drive that fails to open (its metadata data file truncated) is
// reported, naming the file, before anything is mounted: no dead
// mountpoint is left behind.
func TestMountOfDamagedDriveLeavesNoMountpoint(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	isolate(t)
	st := filepath.Join(t.TempDir(), "st")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("hello"), 0o644)
	if code, _, errOut := hyperfs(t, "", "import", src, "--storage", st); code != exitOK {
		t.Fatalf("import: %d %q", code, errOut)
	}
	names, _ := filepath.Glob(filepath.Join(st, "*", "*", "*", "name"))
	var data string
	for _, n := range names {
		if b, _ := os.ReadFile(n); bytes.HasSuffix(b, []byte("default")) {
			data = filepath.Join(filepath.Dir(n), "data")
		}
	}
	if data == "" {
		t.Fatal("no default drive in the storage")
	}
	os.Truncate(data, 10)

	mnt := t.TempDir()
	type result struct {
		code   int
		errOut string
	}
	done := make(chan result, 1)
	go func() {
		code, _, errOut := hyperfs(t, "", "mount", "--storage", st, "--no-discovery", mnt)
		done <- result{code, errOut}
	}()
	select {
	case r := <-done:
		if r.code == exitOK || !strings.Contains(r.errOut, data) {
			t.Fatalf("mount: %d %q, want a failure naming %s", r.code, r.errOut, data)
		}
	case <-time.After(60 * time.Second):
		exec.Command("fusermount3", "-u", mnt).Run()
		t.Fatal("the mount of a damaged drive went ahead")
	}
	mounts, _ := os.ReadFile("/proc/mounts")
	if strings.Contains(string(mounts), " "+mnt+" ") {
		exec.Command("fusermount3", "-u", mnt).Run()
		t.Fatalf("%s was left mounted", mnt)
	}
	if _, err := os.ReadDir(mnt); err != nil {
		t.Fatalf("mountpoint left unusable: %v", err)
	}
}
