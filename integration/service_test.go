package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/app"
)

// TestServiceRunsCommands: the first mount of a storage is its service.
// While it runs, info, import, drives and a second mount (of a version)
// on the same storage go through its control socket instead of failing on
// the locked storage; mounts lists both; the service ends with its last
// mount.
func TestServiceRunsCommands(t *testing.T) {
	env := cliEnv(t)
	st := filepath.Join(t.TempDir(), "st")
	mnt := t.TempDir()
	first := mountCLI(t, env, "--no-discovery", "--storage", st, mnt)
	sock := app.SocketPath(st)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("control socket %s: %v %v", sock, fi, err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "through-mount.txt"), []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runCLIWithin(t, time.Minute, env, "info", "--json", "--storage", st)
	var info struct {
		Key      string
		Writable bool
		Version  uint64
	}
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil || !info.Writable {
		t.Fatalf("info through the service: exit %d: %s", code, out)
	}
	// import a relative folder: paths are the client's.
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "imported.txt"), []byte("imported"), 0o644)
	cmd := []string{"import", ".", "--storage", st}
	code, out = runCLIIn(t, src, env, cmd...)
	if code != 0 || !strings.Contains(out, "1 files imported") {
		t.Fatalf("import through the service: exit %d: %s", code, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(mnt, "imported.txt"))
		if err == nil && string(b) == "imported" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("imported file not visible in the mount: %q %v", b, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// create and drives go through it too.
	code, out = runCLIWithin(t, time.Minute, env, "create", "--storage", st)
	created := strings.TrimSpace(out)
	if code != 0 || len(created) != 64 {
		t.Fatalf("create through the service: exit %d: %s", code, out)
	}
	code, out = runCLIWithin(t, time.Minute, env, "drives", "--json", "--storage", st)
	var drives []struct{ Key string }
	if code != 0 || json.Unmarshal([]byte(out), &drives) != nil || len(drives) != 2 {
		t.Fatalf("drives through the service: exit %d: %s", code, out)
	}
	// A second mount, of the version before the import, in the same process.
	mnt2 := t.TempDir()
	code, out = runCLIWithin(t, time.Minute, env, "mount", fmt.Sprintf("%s+%d", info.Key, info.Version), mnt2, "--no-discovery", "--storage", st)
	if code != 0 || !strings.Contains(out, "mounted "+mnt2) {
		t.Fatalf("second mount: exit %d: %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(mnt2, "imported.txt")); err == nil {
		t.Error("the version mount shows a later file")
	}
	if b, err := os.ReadFile(filepath.Join(mnt2, "through-mount.txt")); err != nil || string(b) != "v1" {
		t.Errorf("version mount: %q %v", b, err)
	}
	var mounts []struct {
		Mountpoint string
		Key        string
		PID        int
		Writable   bool
		Checkout   bool
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		code, out = runCLI(t, env, "mounts", "--json")
		json.Unmarshal([]byte(out), &mounts)
		if len(mounts) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code != 0 || len(mounts) != 2 || mounts[0].PID != mounts[1].PID {
		t.Fatalf("mounts: exit %d: %s", code, out)
	}
	for _, m := range mounts {
		if m.Key != info.Key || (m.Mountpoint == mnt2) != m.Checkout || (m.Mountpoint == mnt2) == m.Writable {
			t.Errorf("mounts entry %+v", m)
		}
	}
	// The second mount goes; the service keeps serving the first.
	if code, out := runCLI(t, env, "unmount", mnt2); code != 0 {
		t.Fatalf("unmount: %d %s", code, out)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "imported.txt")); err != nil || string(b) != "imported" {
		t.Fatalf("first mount after the second went: %q %v", b, err)
	}
	if err := first.stop(t, mnt); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("control socket left behind")
	}
	var st1 syscall.Stat_t
	if syscall.Stat(mnt2, &st1) != nil {
		t.Error("second mountpoint left dead")
	}
}

// runCLIIn runs hyperfs in the folder dir.
func runCLIIn(t *testing.T, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	return runCLIWithin(t, time.Minute, env, args...)
}

// TestBrowseFolder: in a mount --network folder, opening <key> or
// <key>+<version> mounts that drive read-only on demand.
func TestBrowseFolder(t *testing.T) {
	env := cliEnv(t)
	src := filepath.Join(t.TempDir(), "src")
	key, old := writeVersions(t, src)
	addr := freePort(t)
	mountCLI(t, env, "--no-discovery", "--listen", addr, "--storage", src, t.TempDir())
	browse := t.TempDir()
	browseEnv := cliEnv(t)
	m := mountCLI(t, browseEnv, "--network", "--no-discovery", "--peer", addr, "--storage", filepath.Join(t.TempDir(), "st"), browse)
	if b, err := os.ReadFile(filepath.Join(browse, key, "f.txt")); err != nil || string(b) != "new" {
		t.Fatalf("%s/f.txt: %q %v", key, b, err)
	}
	versioned := fmt.Sprintf("%s+%d", key, old)
	if b, err := os.ReadFile(filepath.Join(browse, versioned, "f.txt")); err != nil || string(b) != "old" {
		t.Fatalf("%s/f.txt: %q %v", versioned, b, err)
	}
	if err := os.WriteFile(filepath.Join(browse, key, "x"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("write into a browsed drive: %v, want EROFS", err)
	}
	if _, err := os.Stat(filepath.Join(browse, "not-a-key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("not-a-key: %v", err)
	}
	ents, err := os.ReadDir(browse)
	if err != nil || len(ents) != 2 {
		t.Fatalf("listing: %v %v", ents, err)
	}
	target, _ := os.Readlink(filepath.Join(browse, key))
	var listed []struct {
		Mountpoint string
		Browse     bool
	}
	found := false
	for deadline := time.Now().Add(10 * time.Second); !found && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		_, out := runCLI(t, browseEnv, "mounts", "--json")
		json.Unmarshal([]byte(out), &listed)
		for _, l := range listed {
			found = found || (l.Mountpoint == browse && l.Browse)
		}
	}
	if !found {
		t.Errorf("mounts does not list the browse folder: %+v", listed)
	}
	if err := m.stop(t, browse); err != nil {
		t.Fatal(err)
	}
	if app.IsMountpoint(target) {
		t.Errorf("%s still mounted after the browse folder stopped", target)
	}
}

// TestServeJoinsRunningService: serve on a storage whose mount is its
// service hands the seeds to that process, which then outlives its mount.
func TestServeJoinsRunningService(t *testing.T) {
	env := cliEnv(t)
	st := filepath.Join(t.TempDir(), "st")
	mnt := t.TempDir()
	m := mountCLI(t, env, "--no-discovery", "--storage", st, mnt)
	code, out := runCLIWithin(t, time.Minute, env, "info", "--json", "--storage", st)
	var info struct{ Key string }
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil {
		t.Fatalf("info: %d %s", code, out)
	}
	if code, out := runCLI(t, env, "seed", info.Key, "--storage", st); code != 0 {
		t.Fatalf("seed: %d %s", code, out)
	}
	code, out = runCLIWithin(t, time.Minute, env, "serve", "--no-discovery", "--storage", st)
	if code != 0 || !strings.Contains(out, "serving 1 drives in the running hyperfs") {
		t.Fatalf("serve: exit %d: %s", code, out)
	}
	if code, out := runCLI(t, env, "unmount", mnt); code != 0 {
		t.Fatalf("unmount: %d %s", code, out)
	}
	time.Sleep(500 * time.Millisecond)
	if code, out := runCLIWithin(t, time.Minute, env, "info", "--storage", st); code != 0 || !strings.Contains(out, info.Key) {
		t.Fatalf("info after the mount went: exit %d: %s", code, out)
	}
	if err := m.stop(t, mnt); err != nil {
		t.Fatal(err)
	}
}

// TestMountNotifiesSystemd: a mount reports READY=1 on $NOTIFY_SOCKET
// once the folder is mounted, as Type=notify units expect.
func TestMountNotifiesSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	env := append(cliEnv(t), "NOTIFY_SOCKET="+sock)
	mnt := t.TempDir()
	mountCLI(t, env, "--no-discovery", "--storage", filepath.Join(t.TempDir(), "st"), mnt)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "READY=1") || !strings.Contains(string(buf[:n]), mnt) {
		t.Fatalf("notification %q %v", buf[:n], err)
	}
}

// TestServiceMountsRemoteDrive: a command run in a service may name a peer
// the service was started without; the service connects to it, and mounts
// someone else's drive beside its own.
func TestServiceMountsRemoteDrive(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	key := writeBigDrive(t, src, 1<<20)
	addr := freePort(t)
	mountCLI(t, cliEnv(t), "--no-discovery", "--listen", addr, "--storage", src, t.TempDir())
	env := cliEnv(t)
	st := filepath.Join(t.TempDir(), "st")
	own := t.TempDir()
	m := mountCLI(t, env, "--no-discovery", "--storage", st, own)
	code, out := runCLIWithin(t, time.Minute, env, "cat", key, "/small.txt", "--peer", addr, "--storage", st)
	if code != 0 || out != "a small file in a big drive\n" {
		t.Fatalf("cat of a remote drive through the service: exit %d: %q", code, out)
	}
	remote := t.TempDir()
	code, out = runCLIWithin(t, time.Minute, env, "mount", key, remote, "--peer", addr, "--storage", st)
	if code != 0 || !strings.Contains(out, "read-only") {
		t.Fatalf("mount of a remote drive through the service: exit %d: %s", code, out)
	}
	if sha256File(t, filepath.Join(remote, "big.bin")) == "" {
		t.Fatal("big.bin unreadable")
	}
	if err := m.stop(t, own); err != nil {
		t.Fatal(err)
	}
	if app.IsMountpoint(remote) {
		t.Error("the remote drive's mount outlived its service")
	}
}
