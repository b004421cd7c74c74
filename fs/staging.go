package fs

import (
	"context"
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stagedFile is the content of a file being written, kept in memory while
// small and in a file of the staging directory beyond (stageStore): writes
// can land anywhere, and a multi-GB copy must not sit in memory. The whole file is committed to the backend on flush,
// fsync and the last release. Its fields are guarded by the owning node's
// mu.
type stagedFile struct {
	f     *stageStore
	size  int64
	dirty bool // changed since the last commit
	mtime time.Time
}

// stageLocked gives n a staged copy of its content if it has none yet: a
// copy of the backend file, or an empty file if empty is set. n.mu is held.
func (n *node) stageLocked(ctx context.Context, empty bool) (*stagedFile, syscall.Errno) {
	if n.staged != nil {
		if empty && n.staged.size > 0 {
			if err := n.staged.f.Truncate(0); err != nil {
				return nil, toErrno(err)
			}
			n.staged.size = 0
			n.staged.dirty = true
			n.staged.mtime = time.Now()
		}
		return n.staged, 0
	}
	f := newStageStore(n.ms.stagingDir)
	s := &stagedFile{f: f, mtime: n.attr.Mtime}
	if empty {
		s.dirty = n.attr.Size > 0
		if s.dirty {
			s.mtime = time.Now()
		}
	} else if p, ok := n.path(); ok && n.attr.Size > 0 {
		src, err := n.ms.backend.OpenFile(ctx, p)
		if err != nil {
			f.Close()
			return nil, toErrno(err)
		}
		m, err := io.Copy(f, io.NewSectionReader(src, 0, src.Size()))
		src.Close()
		if err != nil {
			f.Close()
			n.ms.log.Warn("staging a file for writing failed", "ino", n.ino(), "path", p, "err", err)
			return nil, toErrno(err)
		}
		s.size = m
	}
	n.staged = s
	return s, 0
}

// openStaging opens a new, nameless file in dir for staged content. With
// O_TMPFILE it never has a name, which spares creating and removing a
// directory entry for every file written (half the cost of writing a
// small file); file systems without it get a file that is removed at once.
func openStaging(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), dir+"/(staged)"), nil
	}
	f, err := os.CreateTemp(dir, "staged-")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name()) // the open descriptor is all we need
	return f, nil
}

// maxFileSize is the largest file a drive holds: byte offsets in the
// content feed are JavaScript numbers in the reference, exact up to 2^53.
const maxFileSize = 1<<53 - 1

// checkGrowth fails with EFBIG, at once, when growing a file from size
// from to size to leaves a hole the drive cannot hold. hyperdrive 10 has
// no holes: a Stat names the content blocks of the whole file, and the
// reference's readers read Stat.blocks blocks and stop there, so a Size
// larger than its blocks reads back short. Growing a file must therefore
// append the zeros (as the reference's truncate does), and a hole larger
// than the free space left for the drive's storage could never be
// committed. Writes that leave no hole are not checked: ENOSPC stops them.
func (n *node) checkGrowth(from, to int64) syscall.Errno {
	if to < 0 || to > maxFileSize {
		return syscall.EFBIG
	}
	if to <= from {
		return 0
	}
	if free := n.ms.backend.Usage().FreeBytes; free > 0 && uint64(to-from) > free {
		return syscall.EFBIG
	}
	return 0
}

// stagedWrite writes data at off into n's staged copy.
func (n *node) stagedWrite(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, errno := n.stageLocked(ctx, false)
	if errno != 0 {
		return 0, errno
	}
	if off > s.size {
		if errno := n.checkGrowth(s.size, off+int64(len(data))); errno != 0 {
			return 0, errno
		}
	} else if off+int64(len(data)) > maxFileSize {
		return 0, syscall.EFBIG
	}
	m, err := s.f.WriteAt(data, off)
	if end := off + int64(m); end > s.size {
		s.size = end
	}
	if m > 0 {
		s.dirty = true
		s.mtime = time.Now()
	}
	if err != nil {
		return uint32(m), toErrno(err)
	}
	return uint32(m), 0
}

// stagedRead reads n's staged copy; ok is false if there is none.
func (n *node) stagedRead(dest []byte, off int64) (int, bool, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.staged
	if s == nil {
		return 0, false, 0
	}
	if off >= s.size {
		return 0, true, 0
	}
	if rest := s.size - off; int64(len(dest)) > rest {
		dest = dest[:rest]
	}
	m, err := s.f.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return m, true, toErrno(err)
	}
	return m, true, 0
}

// stagedTruncate sets the size of n's staged copy.
func (n *node) stagedTruncate(ctx context.Context, size int64) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, errno := n.stageLocked(ctx, size == 0)
	if errno != 0 {
		return errno
	}
	if s.size == size {
		return 0
	}
	if errno := n.checkGrowth(s.size, size); errno != 0 {
		return errno
	}
	if err := s.f.Truncate(size); err != nil {
		return toErrno(err)
	}
	s.size = size
	s.dirty = true
	s.mtime = time.Now()
	return 0
}

// stagedAllocate is fallocate(2) on n's staged copy.
func (n *node) stagedAllocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, errno := n.stageLocked(ctx, false)
	if errno != 0 {
		return errno
	}
	if mode&unix.FALLOC_FL_KEEP_SIZE == 0 {
		if errno := n.checkGrowth(s.size, int64(off+size)); errno != 0 {
			return errno
		}
	}
	if err := s.f.Fallocate(mode, int64(off), int64(size)); err != nil {
		return toErrno(err)
	}
	if mode&unix.FALLOC_FL_KEEP_SIZE == 0 && int64(off+size) > s.size {
		s.size = int64(off + size)
		s.dirty = true
		s.mtime = time.Now()
	}
	return 0
}

// commit writes n's staged copy, if changed, to the backend. A node that
// left the tree is not committed: its content is gone with its name.
func (n *node) commit(ctx context.Context) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.commitLocked(ctx)
}

func (n *node) commitLocked(ctx context.Context) syscall.Errno {
	s := n.staged
	if s == nil || !s.dirty {
		return 0
	}
	p, ok := n.path()
	if !ok {
		s.dirty = false
		return 0
	}
	ctx = context.WithoutCancel(ctx) // a signal must not lose a commit halfway
	err := n.ms.backend.WriteFile(ctx, p, n.attr.Mode&07777, io.NewSectionReader(s.f, 0, s.size), s.size)
	if err != nil {
		n.ms.log.Warn("commit failed", "ino", n.ino(), "path", p, "size", s.size, "err", err)
		return toErrno(err)
	}
	n.ms.noteOwnChange()
	s.dirty = false
	n.gen++
	if a, err := n.ms.backend.Lstat(ctx, p); err == nil {
		n.attr = *a
		s.mtime = a.Mtime
	}
	return 0
}

// release drops a writer of n; the last one commits and removes the
// staged copy.
func (n *node) releaseWriter(ctx context.Context) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.writers--
	if n.writers > 0 || n.staged == nil {
		return 0
	}
	errno := n.commitLocked(ctx)
	n.staged.f.Close()
	n.staged = nil
	return errno
}

// flush appends the writes the backend holds back to append together, if
// it does: a commit (and so close(2)) returns once its data is appended
// and signed, as a local file system's close returns once its data is in
// the page cache; fsync(2) adds sync.
func (ms *mountState) flush(ctx context.Context) syscall.Errno {
	f, ok := ms.backend.(Flusher)
	if !ok {
		return 0
	}
	if err := f.Flush(ctx); err != nil {
		ms.log.Warn("flush failed", "err", err)
		return toErrno(err)
	}
	return 0
}

// sync commits the backend's writes to stable storage, if it can.
func (ms *mountState) sync(ctx context.Context) syscall.Errno {
	s, ok := ms.backend.(Syncer)
	if !ok {
		return 0
	}
	if err := s.Sync(ctx); err != nil {
		ms.log.Warn("sync failed", "err", err)
		return toErrno(err)
	}
	return 0
}
