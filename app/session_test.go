package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	hfs "github.com/hyperfs/hyperfs/fs"
)

// TestDriveShared: a session opens each drive once for all its users (the
// default drive is the same drive by its key); the last release closes it,
// and Close closes what is still open.
func TestDriveShared(t *testing.T) {
	ctx := context.Background()
	s, err := Open(Options{Net: NetOptions{NoDiscovery: true}}, filepath.Join(t.TempDir(), "st"))
	if err != nil {
		t.Fatal(err)
	}
	d1, r1, err := s.Drive(ctx, Target{}, false)
	if err != nil {
		t.Fatal(err)
	}
	d2, r2, err := s.Drive(ctx, Target{Key: d1.Key()}, false)
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Fatal("the default drive opened twice")
	}
	if err := d1.WriteFile(ctx, "/a", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, rv, err := s.Drive(ctx, Target{Key: d1.Key(), Version: 1}, false)
	if err != nil || v == d1 || v.Writable() {
		t.Fatalf("checkout: %v writable=%v", err, v != nil && v.Writable())
	}
	rv()
	r1()
	r1() // a second release of one handle does nothing
	if _, err := d1.ReadFile(ctx, "/a"); err != nil {
		t.Fatalf("closed while a user holds it: %v", err)
	}
	r2()
	if len(s.drives) != 0 {
		t.Fatalf("%d drives left open", len(s.drives))
	}
	// One left open is closed by Close.
	if _, _, err := s.Drive(ctx, Target{}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestUnmountBusyDetaches: a mount something still uses is detached
// lazily after a few seconds; Unmount returns once its user lets go, so the
// process never ends with the folder attached.
func TestUnmountBusyDetaches(t *testing.T) {
	ctx := context.Background()
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	s, err := Open(Options{Net: NetOptions{NoDiscovery: true}}, filepath.Join(t.TempDir(), "st"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, release, err := s.Drive(ctx, Target{}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	mnt, err := CheckMountpoint(filepath.Join(t.TempDir(), "mnt"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.MountDrive(d, mnt, hfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	user := exec.Command("sleep", "60")
	user.Dir = mnt
	if err := user.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Unmount() }()
	deadline := time.Now().Add(10 * time.Second)
	for IsMountpoint(mnt) {
		if time.Now().After(deadline) {
			user.Process.Kill()
			t.Fatal("a busy mount was not detached")
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("Unmount returned while the mount still had a user")
	case <-time.After(300 * time.Millisecond):
	}
	user.Process.Kill()
	user.Wait()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Unmount did not return after the user left")
	}
}

// TestServeWithoutSocket: a runtime folder that is not private costs the
// control socket, not the service.
func TestServeWithoutSocket(t *testing.T) {
	run := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", run)
	os.MkdirAll(filepath.Join(run, "hyperfs"), 0o777)
	os.Chmod(filepath.Join(run, "hyperfs"), 0o777)
	s, err := Open(Options{Net: NetOptions{NoDiscovery: true}}, filepath.Join(t.TempDir(), "st"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svc, err := Serve(s, func(context.Context, Request, io.Writer, io.Writer) int { return 0 })
	if err != nil || svc == nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, ok := Dial(s.Dir); ok {
		t.Fatal("a client reached a socket in a folder others can write")
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCloseWaitsForRelease: a drive its last user is closing when the
// session closes (an unmounted mount gives its drive back while the
// process shuts down) finishes closing before the store does: its last
// writes reach the disk.
func TestCloseWaitsForRelease(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "st")
	const files = 300
	for round := 0; round < 5; round++ {
		s, err := Open(Options{Net: NetOptions{NoDiscovery: true}}, dir)
		if err != nil {
			t.Fatal(err)
		}
		d, release, err := s.Drive(ctx, Target{}, false)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < files; i++ {
			if err := d.WriteFile(ctx, fmt.Sprintf("/r%d/f%d", round, i), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		released := make(chan struct{})
		go func() {
			release()
			close(released)
		}()
		for { // the release has begun: the drive is no longer the session's
			s.mu.Lock()
			n := len(s.drives)
			s.mu.Unlock()
			if n == 0 {
				break
			}
			runtime.Gosched()
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		<-released
		s, err = Open(Options{Net: NetOptions{NoDiscovery: true}}, dir)
		if err != nil {
			t.Fatal(err)
		}
		d, release, err = s.Drive(ctx, Target{}, false)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < files; i++ {
			if _, err := d.ReadFile(ctx, fmt.Sprintf("/r%d/f%d", round, i)); err != nil {
				t.Fatalf("round %d: a write made before the session closed is lost: %v", round, err)
			}
		}
		release()
		s.Close()
	}
}
