package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A file is fdatasynced only when something changed it since its last
// sync: a key file written once, or a feed that was only read, costs
// nothing on every later sync.
func TestSyncSkipsUnchangedFile(t *testing.T) {
	f, err := NewDir(filepath.Join(t.TempDir(), "feed")).Open("data")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	step := func(what string, change func() error, want uint64) {
		t.Helper()
		if err := change(); err != nil {
			t.Fatal(err)
		}
		before := Syncs()
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if got := Syncs() - before; got != want {
			t.Fatalf("%s: %d fdatasyncs, want %d", what, got, want)
		}
	}
	none := func() error { return nil }
	step("new file", none, 0)
	step("WriteAt", func() error { _, err := f.WriteAt([]byte("hello"), 0); return err }, 1)
	step("nothing since", none, 0)
	step("WriteVecAt", func() error { return WriteVecAt(f, [][]byte{[]byte("a"), []byte("b")}, 5) }, 1)
	step("Truncate", func() error { return f.Truncate(3) }, 1)
	step("Delete", func() error { return f.Delete(1, 1) }, 1)
	step("nothing since", none, 0)
}

// A Sync that finds nothing left to sync because another Sync took the
// changes waits until that one's fdatasync is done: returning early
// would promise durability the disk has not given yet.
func TestSyncWaitsForOneInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	fdatasync = func(fd int) error {
		close(entered)
		<-release
		return syscall.Fdatasync(fd)
	}
	defer func() { fdatasync = syscall.Fdatasync }()
	f, err := NewDir(filepath.Join(t.TempDir(), "feed")).Open("data")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteAt([]byte("x"), 0)
	go f.Sync()
	<-entered
	var second atomic.Bool
	done := make(chan error)
	go func() { err := f.Sync(); second.Store(true); done <- err }()
	time.Sleep(20 * time.Millisecond)
	if second.Load() {
		t.Fatal("a Sync returned while the fdatasync covering its writes was still running")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Once an fdatasync failed, every later Sync of the file fails: the
// kernel may have dropped the pages it could not write, and a later
// fdatasync would report success without them.
func TestSyncFailureSticks(t *testing.T) {
	fail := true
	fdatasync = func(fd int) error {
		if fail {
			return syscall.EIO
		}
		return syscall.Fdatasync(fd)
	}
	defer func() { fdatasync = syscall.Fdatasync }()
	f, err := NewDir(filepath.Join(t.TempDir(), "feed")).Open("data")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteAt([]byte("x"), 0)
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("first sync: %v, want EIO", err)
	}
	fail = false
	f.WriteAt([]byte("y"), 1)
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("sync after a failed one: %v, want the failure again", err)
	}
}

// A Sync racing with Close syncs the file or fails with os.ErrClosed; it
// never reaches a descriptor number Close gave back (which another file
// could have taken).
func TestSyncRacingClose(t *testing.T) {
	dir := t.TempDir()
	for i := range 50 {
		f, err := NewDir(filepath.Join(dir, fmt.Sprint(i))).Open("data")
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt([]byte("x"), 0)
		done := make(chan error)
		go func() { done <- f.Sync() }()
		f.Close()
		if err := <-done; err != nil && !errors.Is(err, os.ErrClosed) {
			t.Fatalf("sync racing close: %v", err)
		}
	}
}
