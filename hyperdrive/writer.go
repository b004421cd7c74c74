package hyperdrive

import (
	"context"
	"errors"
	"fmt"

	"github.com/hyperfs/hyperfs/mounts"
)

// Writer streams a new version of a file into the content feed. Bytes are
// appended in blocks of WriteBlockSize; the file's Stat is written by
// Close. Blocks of a file must be contiguous, so from its first full block
// until Close (or Abort) a Writer holds its content feed, and other writers
// to the same drive wait. Not safe for concurrent use.
type Writer struct {
	d    *Drive
	ctx  context.Context // bounds waiting for the content feed
	path string
	loc  mounts.Location
	c    *content
	st   *Stat // the Stat to write; Offset, ByteOffset set once locked

	buf    []byte
	locked bool
	blocks uint64
	size   uint64
	done   bool
	err    error // sticky: the first failure
}

// Create starts writing the file at p, replacing any file there. mode 0
// keeps an existing file's permissions (or uses 0644); a mode with type
// bits sets its permission bits as given, 0 included; an existing
// file's owner and extended attributes are kept. ctx bounds waits for the
// content feed during Write and Close.
func (d *Drive) Create(ctx context.Context, p string, mode uint32) (*Writer, error) {
	cp, err := entryPath(p)
	if err != nil {
		return nil, pathErr("create", p, err)
	}
	w, err := d.create(ctx, cp, mode)
	if err != nil {
		return nil, pathErr("create", cp, err)
	}
	return w, nil
}

func (d *Drive) create(ctx context.Context, p string, mode uint32) (*Writer, error) {
	if err := d.writable(); err != nil {
		return nil, err
	}
	f, err := d.get(ctx, p)
	if err != nil {
		return nil, err
	}
	st := newStat(ModeRegular, mode, d.now())
	if old := f.stat; old != nil {
		if old.IsDir() {
			return nil, ErrIsDir
		}
		if mode == 0 && old.IsFile() {
			st.Mode = old.Mode
		}
		st.UID, st.GID = old.UID, old.GID
		st.Metadata = old.Metadata
	} else if err := d.checkParent(ctx, p); err != nil {
		return nil, err
	}
	if !f.entry.Trie.Feed().Writable() {
		return nil, fmt.Errorf("drive %x: %w", f.entry.Trie.Key(), ErrReadOnly)
	}
	if h, ok := f.entry.Trie.Feed().(interface{ AppendErr() error }); ok {
		if err := h.AppendErr(); err != nil {
			return nil, err // before waiting on a content feed it cannot write
		}
	}
	c, err := d.contentOf(ctx, f.entry.Trie)
	if err != nil {
		return nil, err
	}
	return &Writer{d: d, ctx: ctx, path: p, loc: f.entry.Location, c: c, st: st}, nil
}

// Write appends p to the file.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, &PathError{Op: "write", Path: w.path, Err: errors.New("writer is closed")}
	}
	n := len(p)
	for len(p) > 0 {
		if len(w.buf) == 0 && len(p) >= WriteBlockSize {
			// Whole blocks straight from the caller's buffer.
			k := len(p) / WriteBlockSize * WriteBlockSize
			if err := w.append(splitBlocks(p[:k])...); err != nil {
				return 0, err
			}
			p = p[k:]
			continue
		}
		take := min(WriteBlockSize-len(w.buf), len(p))
		w.buf = append(w.buf, p[:take]...)
		p = p[take:]
		if len(w.buf) == WriteBlockSize {
			if err := w.append(w.buf); err != nil {
				return 0, err
			}
			w.buf = w.buf[:0]
		}
	}
	return n, nil
}

// append adds blocks to the content feed, taking it first.
func (w *Writer) append(blocks ...[]byte) error {
	if !w.locked {
		if err := w.c.acquire(w.ctx); err != nil {
			return w.fail(err)
		}
		w.locked = true
		w.st.Offset, w.st.ByteOffset = w.c.feed.Length(), w.c.feed.ByteLength()
	}
	if _, err := w.c.feed.Append(blocks...); err != nil {
		return w.fail(fmt.Errorf("appending content: %w", err))
	}
	for _, b := range blocks {
		w.size += uint64(len(b))
	}
	w.blocks += uint64(len(blocks))
	return nil
}

func (w *Writer) fail(err error) error {
	w.err = &PathError{Op: "write", Path: w.path, Err: err}
	w.unlock()
	return w.err
}

func (w *Writer) unlock() {
	if w.locked {
		w.locked = false
		w.c.release()
	}
}

// Close appends what is buffered and writes the file's Stat.
func (w *Writer) Close() error {
	if w.done {
		return w.err
	}
	w.done = true
	if w.err != nil {
		return w.err
	}
	if len(w.buf) > 0 && !w.locked {
		// The whole file is one block: it shares an append with the
		// small files written meanwhile.
		off, byteOff, err := w.c.appendShared(w.ctx, w.buf)
		if err != nil {
			w.err = &PathError{Op: "write", Path: w.path, Err: err}
			return w.err
		}
		w.st.Offset, w.st.ByteOffset = off, byteOff
		w.size, w.blocks = uint64(len(w.buf)), 1
	} else if len(w.buf) > 0 || !w.locked {
		// Take the feed even with nothing to append: the Stat records where
		// the feed ended.
		var blocks [][]byte
		if len(w.buf) > 0 {
			blocks = [][]byte{w.buf}
		}
		if err := w.append(blocks...); err != nil {
			return err
		}
	}
	defer w.unlock()
	now := w.d.now()
	w.st.Size, w.st.Blocks, w.st.Mtime, w.st.Ctime = w.size, w.blocks, now, now
	if _, err := w.loc.Trie.Put(w.ctx, w.loc.Key, EncodeStat(w.st)); err != nil {
		w.err = &PathError{Op: "write", Path: w.path, Err: translate(err)}
		return w.err
	}
	return nil
}

// Abort drops the file: blocks already appended stay in the content feed
// (as in the reference, content is never reclaimed) but no Stat points to
// them.
func (w *Writer) Abort() {
	w.done = true
	w.unlock()
}

// splitBlocks cuts b into blocks of at most WriteBlockSize; an empty b is
// one empty block, as hyperdrive's writeFile of an empty buffer appends.
func splitBlocks(b []byte) [][]byte {
	if len(b) == 0 {
		return [][]byte{{}}
	}
	out := make([][]byte, 0, (len(b)+WriteBlockSize-1)/WriteBlockSize)
	for len(b) > 0 {
		n := min(len(b), WriteBlockSize)
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return out
}

// WriteFile writes data as the file at p (see Create for mode), appending
// it in blocks of WriteBlockSize (an empty file is one empty block).
func (d *Drive) WriteFile(ctx context.Context, p string, data []byte, mode uint32) error {
	cp, err := entryPath(p)
	if err != nil {
		return pathErr("write", p, err)
	}
	return pathErr("write", cp, d.writeFile(ctx, cp, data, mode, nil))
}

// writeFile writes data at p; set, if given, adjusts the Stat before it is
// written (Offset, ByteOffset, Size and Blocks are set after).
func (d *Drive) writeFile(ctx context.Context, p string, data []byte, mode uint32, set func(*Stat)) error {
	w, err := d.create(ctx, p, mode)
	if err != nil {
		return err
	}
	if set != nil {
		set(w.st)
	}
	if len(data) <= WriteBlockSize {
		// One block: shared with the small files written meanwhile.
		if data == nil {
			data = []byte{} // an empty file is one empty block
		}
		off, byteOff, err := w.c.appendShared(ctx, data)
		if err != nil {
			return err
		}
		w.done = true
		w.st.Offset, w.st.ByteOffset = off, byteOff
		w.st.Size, w.st.Blocks = uint64(len(data)), 1
		if _, err := w.loc.Trie.Put(ctx, w.loc.Key, EncodeStat(w.st)); err != nil {
			return translate(err)
		}
		return nil
	}
	if err := w.append(splitBlocks(data)...); err != nil {
		w.Abort()
		return err
	}
	defer w.unlock()
	w.done = true
	w.st.Size, w.st.Blocks = w.size, w.blocks
	if _, err := w.loc.Trie.Put(ctx, w.loc.Key, EncodeStat(w.st)); err != nil {
		return translate(err)
	}
	return nil
}
