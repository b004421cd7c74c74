package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// hyperfsProcesses counts running hyperfs processes whose command line
// mentions s.
func hyperfsProcesses(t *testing.T, s string) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, "hyperfs") && strings.Contains(cmd, s) && !strings.Contains(cmd, "fusermount") {
			n++
		}
	}
	return n
}

// waitGone waits for a background hyperfs to end after its unmount.
func waitGone(t *testing.T, mnt string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for hyperfsProcesses(t, mnt) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("hyperfs for %s still running after unmount", mnt)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDaemonSpellings: however --daemon is spelled, one background process
// mounts the folder; it does not start another.
func TestDaemonSpellings(t *testing.T) {
	env := cliEnv(t)
	for _, spelling := range []string{"--daemon=1", "--daemon=true", "-d"} {
		mnt := t.TempDir()
		code, out := runCLIWithin(t, time.Minute, env, "mount", spelling, "--no-discovery", "--storage", filepath.Join(t.TempDir(), "st"), mnt)
		if code != 0 || !strings.Contains(out, "mounted "+mnt) {
			t.Fatalf("mount %s: exit %d: %s", spelling, code, out)
		}
		time.Sleep(300 * time.Millisecond) // a runaway child would be forking by now
		if n := hyperfsProcesses(t, mnt); n != 1 {
			t.Errorf("mount %s: %d hyperfs processes, want 1", spelling, n)
		}
		if code, out := runCLI(t, env, "unmount", mnt); code != 0 {
			t.Fatalf("unmount: %d %s", code, out)
		}
		waitGone(t, mnt)
	}
	logs, _ := filepath.Glob(filepath.Join(strings.TrimPrefix(env[len(env)-2], "XDG_STATE_HOME="), "hyperfs", "mount-*.log"))
	if len(logs) != 3 {
		t.Errorf("%d background logs, want 3", len(logs))
	}
}

// writeVersions makes a drive whose /f.txt reads "old" at the returned
// version and "new" at the latest.
func writeVersions(t *testing.T, dir string) (key string, old uint64) {
	t.Helper()
	ctx := context.Background()
	s, err := corestore.Open(dir, corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := hyperdrive.Open(ctx, s, hyperdrive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.WriteFile(ctx, "/f.txt", []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	old = d.Version()
	if err := d.WriteFile(ctx, "/f.txt", []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", d.Key()), old
}

// TestMountVersionAndOptions: KEY+VERSION and --checkout mount a version
// read-only; -o options reach the mount.
func TestMountVersionAndOptions(t *testing.T) {
	env := cliEnv(t)
	st := filepath.Join(t.TempDir(), "st")
	key, old := writeVersions(t, st)
	for _, args := range [][]string{
		{fmt.Sprintf("%s+%d", key, old)},
		{fmt.Sprintf("hyper://%s+%d/", key, old)},
		{key, "--checkout", fmt.Sprint(old)},
	} {
		mnt := t.TempDir()
		m := mountCLI(t, env, append(append([]string{"--no-discovery", "--storage", st}, args...), mnt)...)
		if b, err := os.ReadFile(filepath.Join(mnt, "f.txt")); err != nil || string(b) != "old" {
			t.Errorf("%q: f.txt %q %v, want the old version", args, b, err)
		}
		if err := os.WriteFile(filepath.Join(mnt, "g"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
			t.Errorf("%q: write to a version: %v, want EROFS", args, err)
		}
		if err := m.stop(t, mnt); err != nil {
			t.Fatal(err)
		}
	}
	// -o: owner, umask, read-only, a kernel flag; options after the mountpoint.
	mnt := t.TempDir()
	mountCLI(t, env, "--no-discovery", "--storage", st, mnt, "-o", "uid=1234,gid=2345,umask=027", "-o", "ro,noexec")
	fi, err := os.Stat(filepath.Join(mnt, "f.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sys := fi.Sys().(*syscall.Stat_t)
	if sys.Uid != 1234 || sys.Gid != 2345 || fi.Mode().Perm() != 0o640 {
		t.Errorf("-o uid,gid,umask: uid %d gid %d mode %v", sys.Uid, sys.Gid, fi.Mode().Perm())
	}
	if err := os.WriteFile(filepath.Join(mnt, "g"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("-o ro: %v, want EROFS", err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, " "+mnt+" ") && !strings.Contains(line, "noexec") {
			t.Errorf("-o noexec not passed to the kernel: %s", line)
		}
	}
}

// TestFstabMount: the ways an /etc/fstab line reaches hyperfs. mount -t
// fuse with "/path/to/hyperfs#<drive>", mount.fuse3 "hyperfs#<drive>" with
// hyperfs on PATH, and mount -t fuse.hyperfs, for which mount(8) clears
// PATH and the shell looks in /usr/local/bin (hyperfs is linked there for
// the test if nothing is). Each returns once the folder is mounted.
func TestFstabMount(t *testing.T) {
	bin := hyperfsBin(t)
	env := cliEnv(t)
	for i, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			env[i] = "PATH=" + filepath.Dir(bin) + ":" + strings.TrimPrefix(e, "PATH=")
		}
	}
	const installed = "/usr/local/bin/hyperfs"
	if _, err := os.Stat(installed); errors.Is(err, os.ErrNotExist) {
		os.Remove(installed) // a link an interrupted run left dangling
		if err := os.Symlink(bin, installed); err == nil {
			t.Cleanup(func() { os.Remove(installed) })
		}
	}
	st := filepath.Join(t.TempDir(), "st")
	key, _ := writeVersions(t, st)
	opts := "ro,nodev,nosuid,_netdev,no_discovery,storage=" + st
	for _, argv := range [][]string{
		{"mount", "-t", "fuse", bin + "#" + key, "MNT", "-o", opts},
		{"mount.fuse3", "hyperfs#" + key, "MNT", "-o", opts},
		{"mount", "-t", "fuse.hyperfs", key, "MNT", "-o", opts},
		{"mount", "-t", "fuse.hyperfs", "none", "MNT", "-o", opts},
	} {
		mnt := t.TempDir()
		for i := range argv {
			if argv[i] == "MNT" {
				argv[i] = mnt
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("%q: %v: %s", argv, err, out)
			continue
		}
		b, err := os.ReadFile(filepath.Join(mnt, "f.txt"))
		if err != nil || string(b) != "new" {
			t.Errorf("%q: f.txt %q %v", argv, b, err)
		}
		if err := exec.Command("umount", mnt).Run(); err != nil {
			exec.Command("fusermount3", "-u", "-z", mnt).Run()
			t.Fatalf("umount %s: %v", mnt, err)
		}
		waitGone(t, mnt)
	}
}
