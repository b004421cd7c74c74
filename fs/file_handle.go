package fs

import (
	"context"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// fileHandle is an open regular file. Reads come from the node's staged
// copy while it is being written, else from the backend version the
// handle opened, reopened after each commit.
type fileHandle struct {
	n     *node
	write bool // opened for writing: counted in n.writers

	mu  sync.Mutex
	r   *reader // guarded by mu
	gen uint64  // n.gen r was opened at; guarded by mu
}

// backendReader returns the reader for n's committed content.
func (h *fileHandle) backendReader(ctx context.Context) (*reader, syscall.Errno) {
	h.n.mu.Lock()
	gen := h.n.gen
	h.n.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.r != nil && h.gen == gen {
		return h.r, 0
	}
	p, ok := h.n.path()
	if !ok {
		if h.r != nil {
			return h.r, 0 // the unlinked file's last content
		}
		return nil, syscall.ENOENT
	}
	f, err := h.n.ms.backend.OpenFile(ctx, p)
	if err != nil {
		return nil, toErrno(err)
	}
	if h.r != nil {
		h.r.close()
	}
	h.r = newReader(h.n.ms, h.n.ino(), p, f)
	h.gen = gen
	return h.r, 0
}

func (h *fileHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if m, ok, errno := h.n.stagedRead(dest, off); ok {
		if errno != 0 {
			return nil, errno
		}
		return fuse.ReadResultData(dest[:m]), 0
	}
	r, errno := h.backendReader(ctx)
	if errno != 0 {
		return nil, errno
	}
	return r.read(ctx, dest, off)
}

func (h *fileHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if !h.write {
		return 0, syscall.EBADF
	}
	return h.n.stagedWrite(ctx, data, off)
}

// Flush runs on every close(2) of a descriptor: commit, so close reports
// a failed commit, and sync it unless Options.NoSyncOnClose.
func (h *fileHandle) Flush(ctx context.Context) syscall.Errno {
	if !h.write {
		return 0
	}
	if errno := h.n.commit(ctx); errno != 0 {
		return errno
	}
	// Also when nothing was left to commit: an earlier commit's metadata
	// (a setattr's, say) may still wait to be appended.
	if h.n.ms.opts.NoSyncOnClose {
		return h.n.ms.flush(ctx)
	}
	return h.n.ms.sync(ctx)
}

func (h *fileHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if !h.write {
		return 0
	}
	if errno := h.n.commit(ctx); errno != 0 {
		return errno
	}
	// Also when nothing was left to commit: an earlier commit's writes
	// may still be in flight.
	return h.n.ms.sync(ctx)
}

func (h *fileHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	if h.r != nil {
		h.r.close()
		h.r = nil
	}
	h.mu.Unlock()
	if h.write {
		return h.n.releaseWriter(ctx)
	}
	return 0
}

// Lseek answers SEEK_DATA and SEEK_HOLE: files have no holes.
func (h *fileHandle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	h.n.mu.Lock()
	a := h.n.currentAttrLocked()
	h.n.mu.Unlock()
	if off >= a.Size {
		return 0, syscall.ENXIO
	}
	switch whence {
	case unix.SEEK_DATA:
		return off, 0
	case unix.SEEK_HOLE:
		return a.Size, 0
	}
	return 0, syscall.EINVAL
}

func (h *fileHandle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	if !h.write {
		return syscall.EBADF
	}
	return h.n.stagedAllocate(ctx, off, size, mode)
}
