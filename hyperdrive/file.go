package hyperdrive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hypercore"
)

// File reads one file's bytes from its content feed: the blocks
// [Offset, Offset+Blocks) starting at byte ByteOffset, Size bytes long.
// A read locates its first block with the feed's Seek (its tree nodes) and
// reads only the blocks it covers; the last block read is kept, so small
// sequential reads cost one block read per block. File implements
// io.ReaderAt, io.ReadSeeker and io.Closer.
//
// ReadAt and ReadAtContext hold no lock while they read or wait for
// peers, so concurrent reads proceed in parallel; a block that several
// reads need while it is being read or fetched is read once, for all of
// them. Read and Seek share a position, which Read holds while it reads,
// as an operating system file's offset is.
type File struct {
	path string
	stat *Stat
	feed *hypercore.Feed

	posMu sync.Mutex
	pos   int64 // guarded by posMu: position for Read and Seek

	last   atomic.Pointer[loaded] // the last block read, nil if none
	closed atomic.Bool

	mu      sync.Mutex
	flights map[uint64]*flight // guarded by mu: block reads in progress

	local   atomic.Bool // every block of the file is stored locally (then it stays so)
	checked atomic.Bool // every block was verified for splicing (see SpliceRange)
	ahead   atomic.Bool // a verifyAhead goroutine runs
}

// loaded is a block of the file that was read: immutable once stored.
type loaded struct {
	idx   uint64 // block index in the feed
	start uint64 // its first byte in the feed
	data  []byte // never empty
}

// flight is one read of a block; data and err are set before done closes.
type flight struct {
	done chan struct{}
	data []byte
	err  error
}

// OpenFile opens the file at p (following symlinks) for reading.
func (d *Drive) OpenFile(ctx context.Context, p string) (*File, error) {
	cp, err := cleanPath(p)
	if err != nil {
		return nil, pathErr("open", p, err)
	}
	f, err := d.openFile(ctx, cp)
	if err != nil {
		return nil, pathErr("open", cp, err)
	}
	return f, nil
}

func (d *Drive) openFile(ctx context.Context, p string) (*File, error) {
	fd, err := d.resolve(ctx, p)
	if err != nil {
		return nil, err
	}
	st := fd.stat
	var feed *hypercore.Feed
	switch {
	case st.Mount != nil && st.Mount.Hypercore:
		// A core mounted as a file: the whole core is the file.
		if feed, err = d.openCore(ctx, st.Mount.Key); err != nil {
			return nil, err
		}
		st = st.Clone()
		st.Offset, st.ByteOffset, st.Blocks, st.Size = 0, 0, feed.Length(), feed.ByteLength()
	case st.IsDir():
		return nil, ErrIsDir
	default:
		c, err := d.contentOf(ctx, fd.entry.Trie)
		if err != nil {
			return nil, err
		}
		feed = c.feed
	}
	if err := checkRange(st, feed); err != nil {
		return nil, err
	}
	return &File{path: fd.path, stat: st, feed: feed}, nil
}

// checkRange refuses a Stat whose bytes or blocks lie outside the feed
// (which also bounds what ReadFile allocates).
func checkRange(st *Stat, feed *hypercore.Feed) error {
	if st.Size == 0 {
		return nil
	}
	if st.ByteOffset > feed.ByteLength() || st.Size > feed.ByteLength()-st.ByteOffset ||
		st.Offset > feed.Length() || st.Blocks > feed.Length()-st.Offset {
		return fmt.Errorf("content bytes [%d, +%d) blocks [%d, +%d) outside a content feed of %d bytes in %d blocks: %w",
			st.ByteOffset, st.Size, st.Offset, st.Blocks, feed.ByteLength(), feed.Length(), ErrCorrupt)
	}
	return nil
}

// openCore opens a core mounted as a file, once per drive: like the
// drive's own feeds, a core someone else writes is updated from peers
// (the Update hook) when first opened, so a fresh reader learns its
// length instead of reading what happens to be local.
func (d *Drive) openCore(ctx context.Context, key []byte) (*hypercore.Feed, error) {
	id := string(key)
	d.mu.Lock()
	f, ok := d.cores[id]
	d.mu.Unlock()
	if ok {
		return f, nil
	}
	c, err := d.store.Get(ctx, corestore.GetOptions{Key: key, Sparse: d.sparse})
	if err != nil {
		return nil, fmt.Errorf("opening mounted core %x: %w", key, err)
	}
	if err := d.refresh(ctx, c.Feed); err != nil {
		c.Close()
		return nil, fmt.Errorf("updating mounted core %x: %w", key, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.opened = append(d.opened, c) // released on Close, even if opened meanwhile
	if f, ok := d.cores[id]; ok {
		return f, nil
	}
	if d.cores == nil {
		d.cores = map[string]*hypercore.Feed{}
	}
	d.cores[id] = c.Feed
	return c.Feed, nil
}

// withCore gives the Stat of a core mounted as a file the core's current
// length (the Stat holds its length when it was mounted). A core that
// cannot be opened keeps the stored length.
func (d *Drive) withCore(ctx context.Context, st *Stat) *Stat {
	if st == nil || st.Mount == nil || !st.Mount.Hypercore {
		return st
	}
	feed, err := d.openCore(ctx, st.Mount.Key)
	if err != nil {
		return st
	}
	st.Offset, st.ByteOffset, st.Blocks, st.Size = 0, 0, feed.Length(), feed.ByteLength()
	return st
}

// Stat returns the file's Stat.
func (f *File) Stat() *Stat { return f.stat }

// Size is the file's length.
func (f *File) Size() int64 { return int64(f.stat.Size) }

// Name is the file's path in the drive.
func (f *File) Name() string { return f.path }

// Close ends reads of the file.
func (f *File) Close() error {
	f.closed.Store(true)
	f.last.Store(nil)
	return nil
}

// Read reads from the current position.
func (f *File) Read(p []byte) (int, error) {
	f.posMu.Lock()
	defer f.posMu.Unlock()
	n, err := f.ReadAtContext(context.Background(), p, f.pos)
	f.pos += int64(n)
	return n, err
}

// Seek sets the position for Read.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	f.posMu.Lock()
	defer f.posMu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += f.Size()
	default:
		return 0, &PathError{Op: "seek", Path: f.path, Err: fmt.Errorf("whence %d: %w", whence, ErrInvalidPath)}
	}
	if offset < 0 {
		return 0, &PathError{Op: "seek", Path: f.path, Err: errors.New("negative position")}
	}
	f.pos = offset
	return offset, nil
}

// ReadAt reads len(p) bytes at off; it waits for missing blocks without
// a deadline (use ReadAtContext to bound it).
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	return f.ReadAtContext(context.Background(), p, off)
}

// ReadAtContext is ReadAt that gives up when ctx ends.
func (f *File) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if f.closed.Load() {
		return 0, &PathError{Op: "read", Path: f.path, Err: hypercore.ErrClosed}
	}
	if off < 0 {
		return 0, &PathError{Op: "read", Path: f.path, Err: errors.New("negative offset")}
	}
	size := f.stat.Size
	if uint64(off) >= size {
		return 0, io.EOF
	}
	want := p
	if rest := size - uint64(off); uint64(len(want)) > rest {
		want = want[:rest]
	}
	n := 0
	var b *loaded
	for n < len(want) {
		abs := f.stat.ByteOffset + uint64(off) + uint64(n)
		var err error
		if b, err = f.locate(ctx, b, abs); err != nil {
			return n, &PathError{Op: "read", Path: f.path, Err: err}
		}
		n += copy(want[n:], b.data[abs-b.start:])
	}
	if b != nil {
		f.last.Store(b)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// locate returns the block holding feed byte abs: prev (the block this
// read used last) or the file's last block if either holds it, their
// successor, or one found by seeking.
func (f *File) locate(ctx context.Context, prev *loaded, abs uint64) (*loaded, error) {
	if prev == nil {
		prev = f.last.Load()
	}
	if prev != nil {
		end := prev.start + uint64(len(prev.data))
		if abs >= prev.start && abs < end {
			return prev, nil
		}
		if abs == end { // the next block: no seek needed
			return f.load(ctx, prev.idx+1, end)
		}
	}
	idx, rel, err := f.feed.Seek(abs)
	if errors.Is(err, hypercore.ErrNotAvailable) {
		return f.scan(ctx, abs)
	}
	if err != nil {
		return nil, err
	}
	return f.load(ctx, idx, abs-rel)
}

// scan finds abs on a sparse replica that lacks the tree nodes Seek
// needs. Files are written in blocks of one size (but the last), so it
// guesses the block from the file's mean block size and fetches it; the
// proof that comes with a block gives its exact byte offset, and the guess
// is corrected from there. A file of equal blocks takes one fetch.
func (f *File) scan(ctx context.Context, abs uint64) (*loaded, error) {
	first, last := f.stat.Offset, f.stat.Offset+f.stat.Blocks-1
	if f.stat.Blocks == 0 {
		return nil, fmt.Errorf("byte %d of an empty file: %w", abs, io.EOF)
	}
	mean := max(1, (f.stat.Size+f.stat.Blocks-1)/f.stat.Blocks)
	guess := first + (abs-f.stat.ByteOffset)/mean
	for range 64 {
		guess = min(max(guess, first), last)
		if _, err := f.block(ctx, guess); err != nil {
			return nil, err
		}
		start, err := f.feed.ByteOffset(guess)
		if err != nil {
			return nil, err
		}
		b, err := f.load(ctx, guess, start)
		if err != nil {
			return nil, err
		}
		end := b.start + uint64(len(b.data))
		switch {
		case abs >= b.start && abs < end:
			return b, nil
		case abs < b.start:
			guess -= max(1, (b.start-abs)/mean)
		default:
			guess += max(1, (abs-end)/mean)
		}
		// With the fetched block's nodes local, Seek may now succeed.
		if idx, rel, err := f.feed.Seek(abs); err == nil {
			return f.load(ctx, idx, abs-rel)
		}
	}
	return nil, fmt.Errorf("byte %d: no block found in [%d, %d]: %w", abs, first, last, ErrCorrupt)
}

// load reads block idx, whose first byte is feed byte start; a
// zero-length block holds no byte, so the one after it is read instead.
func (f *File) load(ctx context.Context, idx, start uint64) (*loaded, error) {
	for {
		if idx < f.stat.Offset || idx >= f.stat.Offset+f.stat.Blocks {
			return nil, fmt.Errorf("byte %d is in block %d, outside the file's blocks [%d, +%d): %w",
				start, idx, f.stat.Offset, f.stat.Blocks, ErrCorrupt)
		}
		b, err := f.block(ctx, idx)
		if err != nil {
			return nil, fmt.Errorf("content block %d: %w", idx, err)
		}
		if len(b) > 0 {
			return &loaded{idx: idx, start: start, data: b}, nil
		}
		idx++
	}
}

// block reads block idx of the feed. Reads of a block already being read
// (or fetched from peers) by another read of this file wait for that one
// instead of starting their own. A read that gives up because its own ctx
// ended leaves its waiters to try again.
func (f *File) block(ctx context.Context, idx uint64) ([]byte, error) {
	if f.local.Load() || f.feed.Has(idx) {
		return f.feed.Get(ctx, idx) // stored: nothing to wait for
	}
	for {
		f.mu.Lock()
		if c := f.flights[idx]; c != nil {
			f.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if c.err != nil && ctx.Err() == nil && (errors.Is(c.err, context.Canceled) || errors.Is(c.err, context.DeadlineExceeded)) {
				continue // the reader that fetched gave up; we have not
			}
			return c.data, c.err
		}
		c := &flight{done: make(chan struct{})}
		if f.flights == nil {
			f.flights = map[uint64]*flight{}
		}
		f.flights[idx] = c
		f.mu.Unlock()
		c.data, c.err = f.feed.Get(ctx, idx)
		f.mu.Lock()
		delete(f.flights, idx)
		f.mu.Unlock()
		close(c.done)
		return c.data, c.err
	}
}

// ReadFile returns the contents of the file at p (following symlinks).
func (d *Drive) ReadFile(ctx context.Context, p string) ([]byte, error) {
	cp, err := cleanPath(p)
	if err != nil {
		return nil, pathErr("read", p, err)
	}
	f, err := d.openFile(ctx, cp)
	if err != nil {
		return nil, pathErr("read", cp, err)
	}
	b, err := f.readAll(ctx)
	if err != nil {
		return nil, pathErr("read", cp, err)
	}
	return b, nil
}

// readAll reads the file's blocks in runs, without seeking: a file's first
// block starts at its ByteOffset.
func (f *File) readAll(ctx context.Context) ([]byte, error) {
	st := f.stat
	out := make([]byte, 0, st.Size)
	// A file's bytes lie back to back in the content feed: when all its
	// blocks are stored, one read gets them.
	switch err := f.feed.ReadLocal(st.Offset, st.Offset+st.Blocks, st.ByteOffset, out[:st.Size]); {
	case err == nil:
		return out[:st.Size], nil
	case errors.Is(err, hypercore.ErrCorrupt):
		// Cleared; with no peer to send it again, saying why beats
		// "not available".
		if !f.feed.HasFetcher() {
			return nil, err
		}
	}
	const run = 64 // blocks per batch read
	for i := st.Offset; i < st.Offset+st.Blocks && uint64(len(out)) < st.Size; i += run {
		bs, err := f.feed.GetBatch(ctx, i, min(i+run, st.Offset+st.Blocks))
		if err != nil {
			return nil, fmt.Errorf("content blocks from %d: %w", i, err)
		}
		for _, b := range bs {
			out = append(out, b[:min(uint64(len(b)), st.Size-uint64(len(out)))]...)
		}
	}
	if uint64(len(out)) < st.Size {
		return nil, fmt.Errorf("%d blocks hold %d of %d bytes: %w", st.Blocks, len(out), st.Size, ErrCorrupt)
	}
	return out, nil
}

var (
	_ io.ReaderAt    = (*File)(nil)
	_ io.ReadSeeker  = (*File)(nil)
	_ io.Closer      = (*File)(nil)
	_ io.WriteCloser = (*Writer)(nil)
)
