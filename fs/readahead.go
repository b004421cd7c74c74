package fs

import (
	"context"
	"errors"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// reader serves reads of one open backend File, on one path: a range
// whose bytes lie in an operating system file is spliced from it;
// otherwise the File reads straight into the request's buffer, under a
// context that carries the request's interrupt (EINTR) and the read
// timeout (EIO). Sequential readers of a Prefetcher get an adaptive
// read-ahead window: it starts at 128 KiB, doubles with every read that
// follows the last one, up to Options.ReadAhead, and collapses on a seek.
type reader struct {
	ms   *mountState
	ino  uint64
	path string
	f    File
	size int64

	mu         sync.Mutex
	next       int64 // end of the last read; guarded by mu
	window     int64 // current read-ahead window, 0 for random reads; guarded by mu
	prefetched int64 // end of what was handed to a Prefetcher; guarded by mu
	// timedOut is when the last read timed out and on what range; guarded
	// by mu. See timeoutFor.
	timedOut           time.Time
	timedOff, timedEnd int64
}

// retryWindow and retryGrace: after a read times out, the kernel retries
// at once with a read of one page of the same range (a failed read-ahead
// is followed by a synchronous read). Waiting the full timeout again would
// fail the program's read only after twice Options.ReadTimeout; a read
// overlapping a timeout this recent gets retryGrace, enough for a block
// that arrived meanwhile.
const (
	retryWindow = time.Second
	retryGrace  = 100 * time.Millisecond
)

// timeoutFor is how long a read of [off, end) may wait.
func (r *reader) timeoutFor(off, end int64) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.timedOut) < retryWindow && off < r.timedEnd && end > r.timedOff {
		return min(retryGrace, r.ms.opts.ReadTimeout)
	}
	return r.ms.opts.ReadTimeout
}

// noteTimeout records a read of [off, end) that timed out.
func (r *reader) noteTimeout(off, end int64) {
	r.mu.Lock()
	r.timedOut, r.timedOff, r.timedEnd = time.Now(), off, end
	r.mu.Unlock()
}

func newReader(ms *mountState, ino uint64, path string, f File) *reader {
	return &reader{ms: ms, ino: ino, path: path, f: f, size: f.Size()}
}

func (r *reader) close() {
	r.f.Close()
}

// read serves dest at off.
func (r *reader) read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= r.size || len(dest) == 0 {
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(dest)), r.size)
	if sp, ok := r.f.(Splicer); ok {
		if fd, pos, ok := sp.SpliceRange(off, end-off); ok {
			return fuse.ReadResultFd(fd, pos, int(end-off)), 0
		}
	}
	return r.readDirect(ctx, dest[:end-off], off)
}

// readDirect reads the File straight into dest: one copy, no goroutine.
// The context carries the request's interrupt (EINTR) and the read timeout
// (EIO). Sequential readers get read-ahead if the File is a Prefetcher.
func (r *reader) readDirect(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if p, ok := r.f.(Prefetcher); ok {
		r.prefetch(p, off, off+int64(len(dest)))
	}
	end := off + int64(len(dest))
	timeout := r.timeoutFor(off, end)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n, err := r.f.ReadAtContext(rctx, dest, off)
	if err == nil || err == io.EOF {
		return fuse.ReadResultData(dest[:n]), 0
	}
	switch {
	case ctx.Err() != nil:
		return nil, syscall.EINTR
	case rctx.Err() != nil:
		if timeout == r.ms.opts.ReadTimeout {
			r.ms.log.Warn("read timed out", "ino", r.ino, "path", r.path, "offset", off, "size", len(dest), "timeout", timeout)
		}
		r.noteTimeout(off, end)
		return nil, syscall.EIO
	}
	r.logReadError(off, err)
	return nil, toErrno(err)
}

// prefetch asks a Prefetcher for the read-ahead window after a sequential
// read of [off, end).
func (r *reader) prefetch(p Prefetcher, off, end int64) {
	r.mu.Lock()
	limit := r.ms.opts.ReadAhead
	sequential := limit > 0 && (off == 0 || (off >= r.next-2*ioSize && off <= r.next+r.window))
	if !sequential {
		r.window, r.next = 0, end
		r.mu.Unlock()
		return
	}
	r.window = max(min(2*r.window, limit), min(minReadAhead, limit))
	r.next = end
	from := max(end, r.prefetched)
	to := min(end+r.window, r.size)
	if from >= to || from-end > r.window/2 {
		r.mu.Unlock()
		return // enough is on its way
	}
	r.prefetched = to
	r.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.ms.opts.ReadTimeout)
		defer cancel()
		if err := p.Prefetch(ctx, from, to-from); err != nil {
			r.ms.log.Debug("read-ahead failed", "ino", r.ino, "path", r.path, "offset", from, "err", err)
		}
	}()
}

func (r *reader) logReadError(off int64, err error) {
	var ie *IntegrityError
	switch {
	case errors.As(err, &ie):
		r.ms.log.Warn("integrity check failed", "ino", r.ino, "path", r.path, "offset", off, "block", ie.Block, "err", err)
	case isIntegrity(err):
		r.ms.log.Warn("integrity check failed", "ino", r.ino, "path", r.path, "offset", off, "err", err)
	default:
		r.ms.log.Debug("read failed", "ino", r.ino, "path", r.path, "offset", off, "err", err)
	}
}
