package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInterruptBusyMount: ^C on a foreground mount that a process is
// using never leaves a dead mountpoint. The mount keeps serving and names
// the holder; a second ^C detaches it lazily, and hyperfs exits once the
// holder lets go.
func TestInterruptBusyMount(t *testing.T) {
	env := cliEnv(t)
	mnt := filepath.Join(t.TempDir(), "mnt")
	m := mountCLI(t, env, "--no-discovery", "--storage", filepath.Join(t.TempDir(), "st"), mnt)
	if err := os.WriteFile(filepath.Join(mnt, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("sh", "-c", "cd "+mnt+" && exec sleep 120")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 20 s; hyperfs said: %s", what, m.stderr.String())
			}
		}
	}
	cwd := "/proc/" + strconv.Itoa(holder.Process.Pid) + "/cwd"
	waitFor("holder inside the mount", func() bool { d, _ := os.Readlink(cwd); return d == mnt })

	m.cmd.Process.Signal(syscall.SIGINT)
	waitFor("busy report naming the holder", func() bool {
		return strings.Contains(m.stderr.String(), "pid "+strconv.Itoa(holder.Process.Pid)+" (sleep)")
	})
	if got, err := os.ReadFile(filepath.Join(mnt, "f")); err != nil || string(got) != "x" {
		t.Fatalf("busy mount no longer serves: %q %v", got, err)
	}

	m.cmd.Process.Signal(syscall.SIGINT)
	waitFor("mountpoint detached", func() bool {
		info, _ := os.ReadFile("/proc/self/mountinfo")
		return !strings.Contains(string(info), " "+mnt+" ")
	})
	if _, err := os.ReadDir(mnt); err != nil {
		t.Errorf("mountpoint after the detach: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- m.cmd.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("hyperfs exited while a process still used the detached mount: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	holder.Process.Kill()
	holder.Wait()
	m.once.Do(func() {
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("hyperfs exited with %v: %s", err, m.stderr.String())
			}
		case <-time.After(20 * time.Second):
			m.cmd.Process.Kill()
			t.Errorf("hyperfs still runs after the last user left: %s", m.stderr.String())
		}
	})
}
