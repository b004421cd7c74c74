package hyperdrive

import (
	"context"
	"io"
)

// Prefetch makes bytes [off, off+n) of the file local without reading them:
// every block of the range is asked of peers at once. Blocks are found from
// the file's mean block size (files are written in blocks of one size but
// the last), widened by a block on each side, so a sequential reader's next
// reads find their blocks stored.
func (f *File) Prefetch(ctx context.Context, off, n int64) error {
	size := int64(f.stat.Size)
	if off >= size || n <= 0 || f.stat.Blocks == 0 || f.local.Load() {
		return nil
	}
	if off < 0 {
		return io.ErrUnexpectedEOF
	}
	end := min(off+n, size)
	mean := max(1, (f.stat.Size+f.stat.Blocks-1)/f.stat.Blocks)
	first := f.stat.Offset + uint64(off)/mean
	last := f.stat.Offset + uint64(end-1)/mean + 1
	if first > f.stat.Offset {
		first--
	}
	last = min(last, f.stat.Offset+f.stat.Blocks-1)
	return f.feed.Prefetch(ctx, first, last+1)
}
