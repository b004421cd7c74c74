package hyperdrive

import (
	"context"
	"fmt"
	"time"

	"github.com/hyperfs/hyperfs/hypertrie"
)

// Attr holds the attributes SetAttr changes; nil fields stay as they are.
type Attr struct {
	Mode     *uint32 // permission bits; the type bits are kept
	UID, GID *uint32
	Mtime    *time.Time
	// Atime is accepted and ignored: hyperdrive stores no access time.
	Atime *time.Time
}

// SetAttr changes the mode, owner or modification time of the entry at p
// (not following a symlink), as the reference's _update re-puts the Stat
// with the node's flags, and sets its ctime to now. An implicit directory
// gets an explicit entry.
func (d *Drive) SetAttr(ctx context.Context, p string, a Attr) error {
	return d.update(ctx, "setattr", p, func(st *Stat) {
		if a.Mode != nil {
			st.Mode = st.Mode&ModeType | *a.Mode&ModePerm
		}
		if a.UID != nil {
			st.UID = *a.UID
		}
		if a.GID != nil {
			st.GID = *a.GID
		}
		if a.Mtime != nil {
			st.Mtime = *a.Mtime
		}
	})
}

// SetMetadata sets extended attribute key of the entry at p.
func (d *Drive) SetMetadata(ctx context.Context, p, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	return d.update(ctx, "setmetadata", p, func(st *Stat) { st.setMetadata(key, value) })
}

// RemoveMetadata removes extended attribute key of the entry at p; as in
// the reference the key stays in the Stat, without a value.
func (d *Drive) RemoveMetadata(ctx context.Context, p, key string) error {
	return d.update(ctx, "removemetadata", p, func(st *Stat) { st.setMetadata(key, nil) })
}

// update re-puts the Stat at p after fn changed it.
func (d *Drive) update(ctx context.Context, op, p string, fn func(*Stat)) error {
	cp, err := cleanPath(p)
	if err != nil {
		return pathErr(op, p, err)
	}
	if cp == "/" {
		return pathErr(op, cp, fmt.Errorf("the root has no entry: %w", ErrInvalidPath))
	}
	if err := d.writable(); err != nil {
		return pathErr(op, cp, err)
	}
	f, err := d.lstat(ctx, cp)
	if err != nil {
		return pathErr(op, cp, err)
	}
	st := f.stat.Clone()
	fn(st)
	st.Ctime = d.now() // every change of an entry's attributes is a status change
	return pathErr(op, cp, d.putStat(ctx, f, st))
}

// Truncate sets the size of the file at p (following symlinks). A cut at
// a block boundary only rewrites the Stat; otherwise what is kept is
// copied to the end of the content feed (the reference's readers read all
// of a file's blocks whatever its Size), and growing appends zeros after
// it (no copy if the file already ends the feed). Unlike the reference,
// truncating to 0 empties the file.
func (d *Drive) Truncate(ctx context.Context, p string, size uint64) error {
	cp, err := cleanPath(p)
	if err != nil {
		return pathErr("truncate", p, err)
	}
	if err := d.writable(); err != nil {
		return pathErr("truncate", cp, err)
	}
	f, err := d.resolve(ctx, cp)
	if err != nil {
		return pathErr("truncate", cp, err)
	}
	if err := d.truncate(ctx, f, size); err != nil {
		return pathErr("truncate", f.path, err)
	}
	return nil
}

func (d *Drive) truncate(ctx context.Context, f *found, size uint64) error {
	st := f.stat
	switch {
	case st.IsDir():
		return ErrIsDir
	case !st.IsFile() || st.Mount != nil:
		return fmt.Errorf("not a regular file: %w", ErrInvalidPath)
	case size == st.Size:
		return nil
	}
	c, err := d.contentOf(ctx, f.entry.Trie)
	if err != nil {
		return err
	}
	if err := checkRange(st, c.feed); err != nil {
		return err
	}
	next := st.Clone()
	next.Mtime, next.Ctime = d.now(), d.now()
	if size < st.Size {
		if blocks, ok := d.blocksBefore(c, st, size); ok {
			// The cut is at a block boundary: the Stat alone changes.
			next.Size, next.Blocks = size, blocks
			return d.putStat(ctx, f, next)
		}
	}
	if err := c.acquire(ctx); err != nil {
		return err
	}
	defer c.release()
	if size < st.Size || st.Offset+st.Blocks != c.feed.Length() || st.ByteOffset+st.Size != c.feed.ByteLength() {
		// Copy what is kept to the end of the feed: readers of the
		// reference read every block of a file whatever its Size.
		r := &File{path: f.path, stat: st, feed: c.feed}
		data, err := r.readAll(ctx)
		if err != nil {
			return err
		}
		data = data[:min(size, st.Size)]
		next.Offset, next.ByteOffset, next.Blocks, next.Size = c.feed.Length(), c.feed.ByteLength(), 0, 0
		if len(data) > 0 {
			blocks := splitBlocks(data)
			if _, err := c.feed.Append(blocks...); err != nil {
				return err
			}
			next.Blocks, next.Size = uint64(len(blocks)), uint64(len(data))
		}
		st = next
	}
	have := next.Size // bytes kept in place or copied
	zeros := make([]byte, min(size-have, WriteBlockSize))
	for left := size - have; size > have && left > 0; {
		n := min(left, uint64(len(zeros)))
		if _, err := c.feed.Append(zeros[:n]); err != nil {
			return err
		}
		next.Blocks++
		left -= n
	}
	next.Size = size
	return d.putStat(ctx, f, next)
}

// blocksBefore returns the number of blocks holding exactly the first size
// bytes of a file, false if byte size is inside a block.
func (d *Drive) blocksBefore(c *content, st *Stat, size uint64) (uint64, bool) {
	if size == 0 {
		return 0, true
	}
	idx, rel, err := c.feed.Seek(st.ByteOffset + size)
	if err != nil || rel != 0 || idx < st.Offset || idx > st.Offset+st.Blocks {
		return 0, false
	}
	return idx - st.Offset, true
}

// putStat re-puts an entry's Stat keeping its flags.
func (d *Drive) putStat(ctx context.Context, f *found, st *Stat) error {
	var opts []hypertrie.Option
	if n := f.entry.Node; n != nil {
		opts = append(opts, hypertrie.WithFlags(n.Flags))
	}
	_, err := f.entry.Trie.Put(ctx, f.entry.Key, EncodeStat(st), opts...)
	return translate(err)
}
