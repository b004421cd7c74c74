package fs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/hyperfs/hyperfs/corestore"
	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/hypercore/storage"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/internal/syncbuf"
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

// fsync, fdatasync and the commit on close reach the backend's Sync, which
// for a drive fsyncs its feeds' files; with NoSyncOnClose the commit on
// close is only flushed (appended and signed) before close returns.
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
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if b.n.Load() == afterFdatasync {
		t.Fatal("the commit on close did not sync the drive")
	}
	if got, _ := os.ReadFile(filepath.Join(mnt, "f")); string(got) != "hello again!" {
		t.Fatalf("read back %q", got)
	}

	// With NoSyncOnClose, close appends and signs (a flush) without a sync.
	b2 := &syncCounter{Drive: newDrive(t)}
	mnt2 := testMount(t, b2, hfs.Options{NoSyncOnClose: true})
	if err := os.WriteFile(filepath.Join(mnt2, "g"), []byte("quick"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b2.flushes.Load() == 0 || b2.n.Load() != 0 {
		t.Fatalf("close with NoSyncOnClose: %d flushes, %d syncs; want a flush and no sync", b2.flushes.Load(), b2.n.Load())
	}
	if got, _ := os.ReadFile(filepath.Join(mnt2, "g")); string(got) != "quick" {
		t.Fatalf("read back %q", got)
	}
}

// The sync of a close reaches only the feed files the commit wrote: the
// data, tree, signatures and bitfield of the content and metadata feeds,
// at most eight fdatasyncs, issued together; a close with nothing new to
// commit syncs nothing.
func TestCloseSyncsOnlyWhatChanged(t *testing.T) {
	mnt := testMount(t, newDrive(t), hfs.Options{})
	write := func(name string) uint64 {
		t.Helper()
		before := storage.Syncs()
		if err := os.WriteFile(filepath.Join(mnt, name), []byte("content of "+name), 0o644); err != nil {
			t.Fatal(err)
		}
		return storage.Syncs() - before
	}
	write("first") // the feeds' key files are synced once, with the first commit
	if n := write("second"); n == 0 || n > 8 {
		t.Fatalf("close of a new file: %d fdatasyncs, want 1 to 8", n)
	}
	before := storage.Syncs()
	f, err := os.OpenFile(filepath.Join(mnt, "second"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if n := storage.Syncs() - before; n != 0 {
		t.Fatalf("close with nothing written: %d fdatasyncs, want 0", n)
	}

	// Closes in parallel all commit and read back.
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			name := filepath.Join(mnt, fmt.Sprintf("p%d", i))
			if err := os.WriteFile(name, []byte(name), 0o644); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range 16 {
		name := filepath.Join(mnt, fmt.Sprintf("p%d", i))
		if got, err := os.ReadFile(name); err != nil || string(got) != name {
			t.Fatalf("%s read back %q, %v", name, got, err)
		}
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
		var logged syncbuf.Buffer // written by the mount's goroutines
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

// The key cases of the storage damage table (see hyperdrive's
// TestStorageDamage), through a real mount: a damaged master_key is refused
// before anything is mounted, naming the file; damaged key and name files
// of the drive's feeds are repaired, and the mount reads and writes.
func TestDamagedKeysThroughMount(t *testing.T) {
	ctx := context.Background()
	damages := map[string]func(p string) error{
		"flipped": func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x55
			return os.WriteFile(p, b, 0o644)
		},
		"truncated": func(p string) error { return os.Truncate(p, 3) },
		"emptied":   func(p string) error { return os.Truncate(p, 0) },
		"deleted":   os.Remove,
	}
	for _, target := range []string{"master_key", "metadata/key", "metadata/name", "content/key", "content/name"} {
		for dname, damage := range damages {
			t.Run(target+"/"+dname, func(t *testing.T) {
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
				c, err := d.Content(ctx)
				if err != nil {
					t.Fatal(err)
				}
				folders := map[string]string{"metadata": d.Metadata().Location(), "content": c.Location()}
				d.Close()
				store.Close()
				path := filepath.Join(dir, target)
				if f, file, ok := strings.Cut(target, "/"); ok {
					path = filepath.Join(folders[f], file)
				}
				if err := damage(path); err != nil {
					t.Fatal(err)
				}
				store, err = corestore.Open(dir, corestore.Options{})
				if target == "master_key" {
					if err == nil || !strings.Contains(err.Error(), path) {
						t.Fatalf("open: %v, want a refusal naming %s", err, path)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				// Cleanups, not defers: they run after testMount's unmount,
				// so no kernel read meets a closed feed.
				t.Cleanup(func() { store.Close() })
				d, err = hyperdrive.Open(ctx, store, hyperdrive.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { d.Close() })
				mnt := testMount(t, hfs.NewDrive(d, dir), hfs.Options{})
				if got, err := os.ReadFile(filepath.Join(mnt, "a.txt")); err != nil || string(got) != "keep me" {
					t.Fatalf("read %q %v", got, err)
				}
				if err := os.WriteFile(filepath.Join(mnt, "b.txt"), []byte("new"), 0o644); err != nil {
					t.Fatalf("write: %v", err)
				}
				if got, err := os.ReadFile(filepath.Join(mnt, "a.txt")); err != nil || string(got) != "keep me" {
					t.Fatalf("read after the write %q %v", got, err)
				}
			})
		}
	}
}
