package fs_test

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/fs/memback"
)

// childMountEnv makes the test binary a mount daemon (see TestMain).
const childMountEnv = "HYPERFS_FS_TEST_MOUNT"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childMountEnv); dir != "" {
		b := memback.New()
		b.WriteFile(bg, "/f", 0644, strings.NewReader("x"), 1)
		if _, err := hfs.Mount(dir, b, hfs.Options{}); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("mounted\n")
		select {} // until killed
	}
	os.Exit(m.Run())
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after 5s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLiveUpdate changes a read-only mount's drive behind its back, as a
// remote writer does, and expects the kernel's cached entries, attributes
// and pages to follow without a remount.
func TestLiveUpdate(t *testing.T) {
	b := memback.New()
	b.WriteFile(bg, "/dir/f", 0644, strings.NewReader("version 1"), 9)
	b.WriteFile(bg, "/gone", 0644, strings.NewReader("x"), 1)
	mnt := testMount(t, memback.ReadOnly{Backend: b}, hfs.Options{})

	if got, err := os.ReadFile(mnt + "/dir/f"); err != nil || string(got) != "version 1" {
		t.Fatalf("ReadFile: %q %v", got, err)
	}
	if _, err := os.Stat(mnt + "/gone"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mnt+"/dir/g", nil, 0644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("write to a read-only mount: %v, want EROFS", err)
	}

	b.WriteFile(bg, "/dir/f", 0644, strings.NewReader("version 2, longer"), 17)
	b.WriteFile(bg, "/dir/new", 0644, strings.NewReader("new"), 3)
	b.Unlink(bg, "/gone")

	eventually(t, "new content", func() bool {
		got, err := os.ReadFile(mnt + "/dir/f")
		return err == nil && string(got) == "version 2, longer"
	})
	eventually(t, "deleted file gone", func() bool {
		_, err := os.Stat(mnt + "/gone")
		return errors.Is(err, os.ErrNotExist)
	})
	ents, err := os.ReadDir(mnt + "/dir")
	if err != nil || len(ents) != 2 || ents[1].Name() != "new" {
		t.Errorf("ReadDir after update: %v %v", ents, err)
	}
}

// TestMountOptions checks what a mount reports to statfs and to the
// kernel: a read-only backend is mounted "ro".
func TestMountOptions(t *testing.T) {
	b := memback.New()
	mnt := testMount(t, memback.ReadOnly{Backend: b}, hfs.Options{})
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	if st.Flags&1 /* ST_RDONLY */ == 0 {
		t.Errorf("read-only mount flags %#x", st.Flags)
	}
	if err := os.Mkdir(mnt+"/d", 0755); !errors.Is(err, syscall.EROFS) {
		t.Errorf("Mkdir: %v", err)
	}
}

// TestRecoverStale kills a mount daemon and recovers its mountpoint.
func TestRecoverStale(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childMountEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "mounted\n" {
		cmd.Process.Kill()
		t.Fatalf("child: %q %v", line, err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(got) != "x" {
		t.Errorf("child mount: %q %v", got, err)
	}
	cmd.Process.Kill()
	cmd.Wait()

	if _, err := os.ReadDir(dir); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("ReadDir of the dead mount: %v, want ENOTCONN", err)
	}
	if ok, err := hfs.RecoverStale(dir); !ok || err != nil {
		t.Fatalf("RecoverStale: %v %v", ok, err)
	}
	if ok, err := hfs.RecoverStale(dir); ok || err != nil {
		t.Errorf("RecoverStale of a healthy dir: %v %v", ok, err)
	}
	// The mountpoint works again.
	b := memback.New()
	b.WriteFile(bg, "/again", 0644, strings.NewReader("y"), 1)
	server, err := hfs.Mount(dir, b, hfs.Options{StagingDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/again"); err != nil {
		t.Error(err)
	}
	if err := hfs.Unmount(dir); err != nil {
		t.Error(err)
	}
	server.Wait()
}
