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

// reader serves reads of one open backend File. Bytes are fetched into
// immutable chunks by goroutines, so a read can give up (EINTR when its
// ctx is cancelled, EIO after Options.ReadTimeout) without leaving a
// fetch writing into a buffer the kernel owns. Sequential readers get an
// adaptive read-ahead window: it starts at 128 KiB, doubles with every
// read that follows the last one, up to Options.ReadAhead, and collapses
// on a seek; the next window is fetched while the current one is read.
type reader struct {
	ms   *mountState
	ino  uint64
	path string
	f    File
	size int64

	mu         sync.Mutex
	next       int64    // end of the last read; guarded by mu
	window     int64    // current read-ahead window, 0 for random reads; guarded by mu
	prefetched int64    // end of what was handed to a Prefetcher; guarded by mu
	chunks     []*chunk // fetched or in flight, by offset; guarded by mu
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

// chunk is one fetch. data and err are set before done is closed.
type chunk struct {
	off, n int64
	done   chan struct{}
	data   []byte
	err    error
}

// maxChunks bounds the chunks a reader keeps, and so its memory to about
// maxChunks × Options.ReadAhead.
const maxChunks = 4

func newReader(ms *mountState, ino uint64, path string, f File) *reader {
	return &reader{ms: ms, ino: ino, path: path, f: f, size: f.Size()}
}

func (r *reader) close() {
	r.mu.Lock()
	r.chunks = nil
	r.mu.Unlock()
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
	if cr, ok := r.f.(ContextReaderAt); ok {
		return r.readDirect(ctx, cr, dest[:end-off], off)
	}
	pieces := r.plan(off, end)
	if len(pieces) == 1 && pieces[0].off <= off {
		c := pieces[0]
		if errno := r.wait(ctx, c); errno != 0 {
			return nil, errno
		}
		lo, hi := off-c.off, min(end-c.off, int64(len(c.data)))
		if lo >= hi {
			return fuse.ReadResultData(nil), 0
		}
		return fuse.ReadResultData(c.data[lo:hi]), 0
	}
	pos := off
	for _, c := range pieces {
		if errno := r.wait(ctx, c); errno != 0 {
			return nil, errno
		}
		if pos < c.off || pos >= c.off+int64(len(c.data)) {
			break // short data: the file ended early
		}
		m := copy(dest[pos-off:end-off], c.data[pos-c.off:])
		pos += int64(m)
		if pos >= end {
			break
		}
	}
	return fuse.ReadResultData(dest[:pos-off]), 0
}

// readDirect reads a File that takes a context straight into dest: one
// copy, no goroutine. The context carries the request's interrupt (EINTR)
// and the read timeout (EIO). Sequential readers still get read-ahead if
// the File is a Prefetcher.
func (r *reader) readDirect(ctx context.Context, cr ContextReaderAt, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if p, ok := r.f.(Prefetcher); ok {
		r.prefetch(p, off, off+int64(len(dest)))
	}
	end := off + int64(len(dest))
	timeout := r.timeoutFor(off, end)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n, err := cr.ReadAtContext(rctx, dest, off)
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
	r.window = max2(min(2*r.window, limit), min(minReadAhead, limit))
	r.next = end
	from := max2(end, r.prefetched)
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

// plan returns the chunks that cover [off, end) in order, starting the
// fetches that are missing, and starts the read-ahead.
func (r *reader) plan(off, end int64) []*chunk {
	r.mu.Lock()
	defer r.mu.Unlock()
	limit := r.ms.opts.ReadAhead
	sequential := limit > 0 && (off == 0 || (off >= r.next-2*ioSize && off <= r.next+r.window))
	if sequential {
		r.window = min(2*r.window, limit)
		if r.window < minReadAhead {
			r.window = min(minReadAhead, limit)
		}
	} else {
		r.window = 0
	}
	r.next = end

	// Drop chunks well behind the reader.
	keep := r.chunks[:0]
	for _, c := range r.chunks {
		if c.off+c.n > off-2*ioSize {
			keep = append(keep, c)
		}
	}
	r.chunks = keep

	var pieces []*chunk
	pos := off
	for pos < end {
		c := r.findLocked(pos)
		if c == nil {
			gapEnd := end
			if next := r.nextStartLocked(pos); next < gapEnd {
				gapEnd = next
			}
			if r.window > 0 {
				c = r.fetchLocked(pos, min(max2(gapEnd, pos+r.window), r.size)-pos, true)
			} else {
				c = r.fetchLocked(pos, gapEnd-pos, false)
			}
		}
		pieces = append(pieces, c)
		pos = c.off + c.n
	}
	if r.window > 0 {
		last := end
		for _, c := range r.chunks {
			last = max2(last, c.off+c.n)
		}
		if last < r.size && last < end+r.window {
			r.fetchLocked(last, min(r.window, r.size-last), true)
		}
	}
	return pieces
}

func max2(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// findLocked returns the kept chunk holding pos.
func (r *reader) findLocked(pos int64) *chunk {
	for _, c := range r.chunks {
		if c.off <= pos && pos < c.off+c.n {
			return c
		}
	}
	return nil
}

// nextStartLocked is the start of the first kept chunk after pos.
func (r *reader) nextStartLocked(pos int64) int64 {
	next := r.size
	for _, c := range r.chunks {
		if c.off > pos && c.off < next {
			next = c.off
		}
	}
	return next
}

// fetchLocked starts fetching [off, off+n); keep adds the chunk to
// r.chunks for later reads.
func (r *reader) fetchLocked(off, n int64, keep bool) *chunk {
	c := &chunk{off: off, n: n, done: make(chan struct{})}
	if keep {
		if len(r.chunks) >= maxChunks {
			r.chunks = r.chunks[1:]
		}
		r.chunks = append(r.chunks, c)
	}
	go r.fetch(c)
	return c
}

func (r *reader) fetch(c *chunk) {
	buf := make([]byte, c.n)
	var m int
	var err error
	if cr, ok := r.f.(ContextReaderAt); ok {
		ctx, cancel := context.WithTimeout(context.Background(), r.ms.opts.ReadTimeout)
		m, err = cr.ReadAtContext(ctx, buf, c.off)
		cancel()
	} else {
		m, err = r.f.ReadAt(buf, c.off)
	}
	if err == io.EOF {
		err = nil
	}
	c.data, c.err = buf[:m], err
	if err != nil {
		r.logReadError(c.off, err)
		r.forget(c)
	}
	close(c.done)
}

// forget drops a failed chunk so the next read fetches again.
func (r *reader) forget(c *chunk) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, k := range r.chunks {
		if k == c {
			r.chunks = append(r.chunks[:i], r.chunks[i+1:]...)
			return
		}
	}
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

// wait waits for c: EINTR if ctx is cancelled first, EIO after the read
// timeout.
func (r *reader) wait(ctx context.Context, c *chunk) syscall.Errno {
	select {
	case <-c.done:
		return toErrno(c.err)
	default:
	}
	timeout := r.timeoutFor(c.off, c.off+c.n)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
		return toErrno(c.err)
	case <-ctx.Done():
		return syscall.EINTR
	case <-t.C:
		if timeout == r.ms.opts.ReadTimeout {
			r.ms.log.Warn("read timed out", "ino", r.ino, "path", r.path, "offset", c.off, "size", c.n, "timeout", timeout)
		}
		r.noteTimeout(c.off, c.off+c.n)
		r.forget(c)
		return syscall.EIO
	}
}
