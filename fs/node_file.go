package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Open opens a regular file. The kernel keeps the pages of the file
// between opens (FOPEN_KEEP_CACHE): a version's content never changes, and
// the watcher invalidates pages when the drive changes.
func (n *node) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if write && n.ms.readOnly {
		return nil, 0, syscall.EROFS
	}
	h := &fileHandle{n: n, write: write}
	if !write {
		// Open the backend file now, so a missing file fails open(2).
		n.mu.Lock()
		staged := n.staged != nil
		n.mu.Unlock()
		if !staged {
			if _, errno := h.backendReader(ctx); errno != 0 {
				return nil, 0, errno
			}
		}
		return h, fuse.FOPEN_KEEP_CACHE, 0
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if flags&syscall.O_TRUNC != 0 {
		if _, errno := n.stageLocked(ctx, true); errno != 0 {
			return nil, 0, errno
		}
	}
	n.writers++
	return h, fuse.FOPEN_KEEP_CACHE, 0
}
