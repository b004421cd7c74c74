package fs_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/hyperfs/hyperfs/corestore"
	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// syncCounter is a drive backend that counts Sync and Flush calls.
type syncCounter struct {
	*hfs.Drive
	n       atomic.Int32
	flushes atomic.Int32
}

func (s *syncCounter) Sync(ctx context.Context) error {
	s.n.Add(1)
	return s.Drive.Sync(ctx)
}

func (s *syncCounter) Flush(ctx context.Context) error {
	s.flushes.Add(1)
	return s.Drive.Flush(ctx)
}

// fsync and fdatasync reach the backend's Sync, which for a drive fsyncs
// its feeds' files; the commit on close is flushed (appended and signed)
// before close returns.
func TestFsyncReachesStorage(t *testing.T) {
	b := &syncCounter{Drive: newDrive(t)}
	mnt := testMount(t, b, hfs.Options{})
	f, err := os.Create(filepath.Join(mnt, "f"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("hello")
	if n := b.n.Load(); n != 0 {
		t.Fatalf("%d syncs before fsync", n)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	afterFsync := b.n.Load()
	if afterFsync == 0 {
		t.Fatal("fsync did not sync the drive")
	}
	f.WriteString(" again")
	if err := syscall.Fdatasync(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	afterFdatasync := b.n.Load()
	if afterFdatasync == afterFsync {
		t.Fatal("fdatasync did not sync the drive")
	}
	f.WriteString("!")
	flushes := b.flushes.Load()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if b.flushes.Load() == flushes {
		t.Fatal("the commit on close did not flush the drive")
	}
	if got, _ := os.ReadFile(filepath.Join(mnt, "f")); string(got) != "hello again!" {
		t.Fatalf("read back %q", got)
	}
}

// A flipped byte in a content feed's data file gives EIO through the mount
// (never the wrong bytes), names the feed and block in the log, and clears
// the block; with verification off the bytes are served as stored.
func TestBitRotIsEIO(t *testing.T) {
	ctx := context.Background()
	want := bytes.Repeat([]byte("0123456789abcdef"), 8192) // 128 KiB: two blocks
	build := func(t *testing.T) string {
		dir := t.TempDir()
		store, err := corestore.Open(dir, corestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := hyperdrive.Open(ctx, store, hyperdrive.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.WriteFile(ctx, "/small.txt", []byte("small file"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := d.WriteFile(ctx, "/big.bin", want, 0o644); err != nil {
			t.Fatal(err)
		}
		content, err := d.Content(ctx)
		if err != nil {
			t.Fatal(err)
		}
		data := filepath.Join(content.Location(), "data")
		d.Close()
		store.Close()
		b, _ := os.ReadFile(data)
		b[3] ^= 0x20                               // in small.txt
		b[len("small file")+len(want)-100] ^= 0x01 // in big.bin's last block
		os.WriteFile(data, b, 0o644)
		return dir
	}
	for _, verify := range []bool{true, false} {
		dir := build(t)
		var logged bytes.Buffer
		store, err := corestore.Open(dir, corestore.Options{NoVerifyReads: !verify, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
		if err != nil {
			t.Fatal(err)
		}
		d, err := hyperdrive.Open(ctx, store, hyperdrive.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close(); store.Close() })
		mnt := testMount(t, hfs.NewDrive(d, dir), hfs.Options{Logger: slog.New(&testLog{t: t, allow: true}), ReadOnly: true})
		got, err := os.ReadFile(filepath.Join(mnt, "small.txt"))
		if verify {
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("small file with a flipped byte: %q, %v; want EIO", got, err)
			}
			got, err = os.ReadFile(filepath.Join(mnt, "big.bin"))
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("big file with a flipped byte: %d bytes, %v; want EIO", len(got), err)
			}
			if !strings.Contains(logged.String(), "corrupt") || !strings.Contains(logged.String(), "block=0") {
				t.Fatalf("the log does not name the block: %s", logged.String())
			}
		} else if err != nil || string(got) == "small file" {
			t.Fatalf("without verification: %q %v", got, err)
		}
	}
}

// A master key that no longer derives the stored drive is refused before
// anything is mounted; a damaged key file of a feed is repaired.
func TestDamagedKeysThroughMount(t *testing.T) {
	ctx := context.Background()
	build := func(t *testing.T) (string, []byte) {
		dir := t.TempDir()
		store, err := corestore.Open(dir, corestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := hyperdrive.Open(ctx, store, hyperdrive.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d.WriteFile(ctx, "/a.txt", []byte("keep me"), 0o644)
		key := append([]byte(nil), d.Key()...)
		d.Close()
		store.Close()
		return dir, key
	}
	open := func(dir string) (*hyperdrive.Drive, *corestore.Store, error) {
		store, err := corestore.Open(dir, corestore.Options{})
		if err != nil {
			return nil, nil, err
		}
		d, err := hyperdrive.Open(ctx, store, hyperdrive.Options{})
		if err != nil {
			store.Close()
			return nil, nil, err
		}
		return d, store, nil
	}
	t.Run("master_key replaced", func(t *testing.T) {
		dir, _ := build(t)
		os.WriteFile(filepath.Join(dir, "master_key"), bytes.Repeat([]byte{1}, 32), 0o600)
		if _, _, err := open(dir); err == nil || !strings.Contains(err.Error(), "master_key") {
			t.Fatalf("open: %v, want an error naming master_key", err)
		}
	})
	t.Run("metadata key file deleted", func(t *testing.T) {
		dir, key := build(t)
		store, _ := corestore.Open(dir, corestore.Options{})
		kp, _ := corestore.DeriveKeyPair(store.MasterKey(), []byte(corestore.DefaultName))
		store.Close()
		var folder string
		filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
			if e != nil && e.Name() == "key" {
				if b, _ := os.ReadFile(p); bytes.Equal(b, kp.PublicKey) {
					folder = filepath.Dir(p)
				}
			}
			return nil
		})
		os.Remove(filepath.Join(folder, "key"))
		d, store, err := open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		defer d.Close()
		if !bytes.Equal(d.Key(), key) {
			t.Fatal("another drive opened")
		}
		mnt := testMount(t, hfs.NewDrive(d, dir), hfs.Options{})
		if got, err := os.ReadFile(filepath.Join(mnt, "a.txt")); err != nil || string(got) != "keep me" {
			t.Fatalf("read %q %v", got, err)
		}
	})
}
