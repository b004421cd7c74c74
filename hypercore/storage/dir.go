package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Dir stores a feed's files in one directory, named as hypercore 9 names
// them. Opening "bitfield" takes an exclusive flock on it, the same lock the
// reference's default storage and corestore take, so a Go and a JS process
// never write one feed at the same time.
type Dir struct {
	path string
}

// NewDir returns directory storage rooted at path; the directory is created
// on the first Open.
func NewDir(path string) *Dir { return &Dir{path: path} }

// Location implements Storage.
func (d *Dir) Location() string { return d.path }

// Exists implements Storage.
func (d *Dir) Exists(name string) (bool, error) {
	st, err := os.Stat(filepath.Join(d.path, name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return st.Size() > 0, nil
}

// Open implements Storage.
func (d *Dir) Open(name string) (File, error) {
	if err := os.MkdirAll(d.path, 0o755); err != nil {
		return nil, err
	}
	p := filepath.Join(d.path, name)
	perm := os.FileMode(0o644)
	if name == "secret_key" {
		perm = 0o600
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, perm)
	if err != nil {
		return nil, err
	}
	if name == "bitfield" {
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("%s: %w (close the other program using this feed)", p, ErrLocked)
			}
			return nil, fmt.Errorf("locking %s: %w", p, err)
		}
	}
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &osFile{f: f, raw: raw}, nil
}

type osFile struct {
	f         *os.File
	raw       syscall.RawConn // f's, for syncs that must hold its descriptor
	closeOnce sync.Once
	closeErr  error

	// dirty is set by every change to the file and cleared by the Sync
	// that makes it durable, so a Sync of an unchanged file (a key file,
	// a feed that was only read) costs no system call.
	dirty   atomic.Bool
	syncMu  sync.Mutex // one fdatasync at a time: a Sync waits for one in flight
	syncErr error      // guarded by syncMu: a failed fdatasync, reported from then on
}

func (o *osFile) Name() string { return o.f.Name() }

// Fd implements Descriptor.
func (o *osFile) Fd() uintptr { return o.f.Fd() }

func (o *osFile) ReadAt(p []byte, off int64) (int, error) { return o.f.ReadAt(p, off) }

func (o *osFile) WriteAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	defer o.dirty.Store(true) // after the write: a Sync that clears it must see the bytes
	return o.f.WriteAt(p, off)
}

// iovMax is Linux's limit on buffers per pwritev call.
const iovMax = 1024

// WriteVecAt implements VectorWriter with pwritev(2).
func (o *osFile) WriteVecAt(bufs [][]byte, off int64) error {
	defer o.dirty.Store(true)
	for len(bufs) > 0 {
		chunk := bufs[:min(len(bufs), iovMax)]
		want := 0
		for _, b := range chunk {
			want += len(b)
		}
		n, err := unix.Pwritev(int(o.f.Fd()), chunk, off)
		if err != nil {
			return &os.PathError{Op: "pwritev", Path: o.f.Name(), Err: err}
		}
		if n < want {
			// A short write: finish the rest one buffer at a time.
			rest := skipBytes(chunk, n)
			if err := WriteVecAt(plainFile{o}, rest, off+int64(n)); err != nil {
				return err
			}
		}
		off += int64(want)
		bufs = bufs[len(chunk):]
	}
	return nil
}

// skipBytes drops the first n bytes of bufs.
func skipBytes(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n < len(bufs[0]) {
			return append([][]byte{bufs[0][n:]}, bufs[1:]...)
		}
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	return bufs
}

// plainFile hides osFile's VectorWriter so WriteVecAt falls back to WriteAt.
type plainFile struct{ File }

func (o *osFile) Size() (int64, error) {
	st, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (o *osFile) Truncate(size int64) error {
	defer o.dirty.Store(true)
	return o.f.Truncate(size)
}

// Sync implements File with fdatasync(2): the file's bytes and its size,
// not its times, which nothing reads back. A file not changed since its
// last Sync is not synced again; a Sync that finds another in flight
// waits for it, as that one may have taken its changes. Once an
// fdatasync has failed, the kernel may have dropped the pages it could
// not write and a later one would succeed without them, so every later
// Sync fails too.
func (o *osFile) Sync() error {
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	if o.syncErr != nil {
		return o.syncErr
	}
	if !o.dirty.Swap(false) {
		return nil
	}
	syncs.Add(1)
	// Through the raw connection, which holds the descriptor open: a
	// Close racing with the sync cannot hand its number to another file.
	var err error
	if cerr := o.raw.Control(func(fd uintptr) { err = fdatasync(int(fd)) }); cerr != nil {
		o.dirty.Store(true)
		return &os.PathError{Op: "fdatasync", Path: o.f.Name(), Err: os.ErrClosed}
	}
	if err != nil {
		o.syncErr = &os.PathError{Op: "fdatasync", Path: o.f.Name(), Err: fmt.Errorf("%w (writes since the last good sync may be lost; reopen the feed)", err)}
		return o.syncErr
	}
	return nil
}

// StartSync implements Starter: it starts writing the file's changed
// pages back (sync_file_range without waiting) if it has any.
func (o *osFile) StartSync() {
	if o.dirty.Load() {
		o.raw.Control(func(fd uintptr) { unix.SyncFileRange(int(fd), 0, 0, unix.SYNC_FILE_RANGE_WRITE) })
	}
}

// fdatasync is unix.Fdatasync; tests replace it.
var fdatasync = unix.Fdatasync

// syncs counts the fdatasync calls of every Dir file of the process.
var syncs atomic.Uint64

// Syncs is how many fdatasync calls the files of every Dir have made:
// what durability costs (a close in a mount, an fsync), for diagnostics
// and tests.
func Syncs() uint64 { return syncs.Load() }

// Delete punches a hole so the blocks go back to the file system; where the
// file system cannot, it writes zeros. A range that reaches the end of the
// file is truncated away instead, as random-access-file does.
func (o *osFile) Delete(off, n int64) error {
	size, err := o.Size()
	if err != nil {
		return err
	}
	if off >= size || n <= 0 {
		return nil
	}
	defer o.dirty.Store(true)
	if off+n >= size {
		return o.f.Truncate(off)
	}
	err = unix.Fallocate(int(o.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if err == nil {
		return nil
	}
	zero := make([]byte, min(n, 1<<20))
	for n > 0 {
		c := min(n, int64(len(zero)))
		if _, err := o.f.WriteAt(zero[:c], off); err != nil {
			return err
		}
		off += c
		n -= c
	}
	return nil
}

func (o *osFile) Close() error {
	o.closeOnce.Do(func() { o.closeErr = o.f.Close() })
	return o.closeErr
}
