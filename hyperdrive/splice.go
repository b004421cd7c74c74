package hyperdrive

// SpliceRange says where bytes [off, off+n) of the file lie in its content
// feed's data file, so a FUSE server can splice them to the kernel without
// copying: the descriptor and the offset in it. ok is false unless every
// block of the file is stored locally in an operating system file, and the
// blocks the range covers have been verified against the feed's tree (or,
// with verification off, the data file is long enough): bytes spliced from
// the file never pass through Get, so they are checked here, once.
func (f *File) SpliceRange(off, n int64) (fd uintptr, pos int64, ok bool) {
	if off < 0 || n < 0 || uint64(off+n) > f.stat.Size {
		return 0, 0, false
	}
	first, end := f.stat.Offset, f.stat.Offset+f.stat.Blocks
	if !f.local.Load() {
		if !f.feed.HasRange(first, end) {
			return 0, 0, false
		}
		f.local.Store(true)
	}
	if n > 0 && !f.checked.Load() && !f.checkSplice(off, n) {
		return 0, 0, false
	}
	fd, ok = f.feed.DataFd()
	return fd, int64(f.stat.ByteOffset) + off, ok
}

// checkSplice verifies the blocks holding [off, off+n); false sends the read
// down the ordinary path, which reports (and heals) what failed.
func (f *File) checkSplice(off, n int64) bool {
	first, end := f.stat.Offset, f.stat.Offset+f.stat.Blocks
	if !f.feed.Verifying() {
		// Only the length of the data file to check: once for the file.
		if f.feed.VerifyRange(first, end) != nil {
			return false
		}
		f.checked.Store(true)
		return true
	}
	if f.stat.Blocks <= wholeFileBlocks {
		// A small file is checked whole at its first read: cheaper than
		// seeking its blocks in the feed's tree, which is what a read
		// of a few blocks would otherwise cost most.
		if f.feed.VerifyRange(first, end) != nil {
			return false
		}
		f.checked.Store(true)
		return true
	}
	abs := f.stat.ByteOffset + uint64(off)
	i, _, err := f.feed.Seek(abs)
	if err != nil {
		return false
	}
	j, _, err := f.feed.Seek(abs + uint64(n) - 1)
	if err != nil {
		return false
	}
	// The next blocks are verified in the background while these are.
	f.verifyAhead(j+1, end)
	if f.feed.VerifyRange(i, j+1) != nil {
		return false
	}
	if j+1 >= end && f.feed.Verified(first, end) {
		f.checked.Store(true) // a reader reached the end: maybe all is checked
	}
	return true
}

// wholeFileBlocks is the most blocks a file may have for checkSplice to
// verify all of them at its first read.
const wholeFileBlocks = 4

// verifyAheadBlocks is how far past a read the blocks of a file are
// verified in the background, so a sequential reader finds them checked
// and hashing runs beside the kernel's copying instead of before it.
const verifyAheadBlocks = 256

// verifyAhead verifies blocks from next on (up to end) in the background,
// one goroutine per file at a time. Failures are left for the read that
// reaches the block to report.
func (f *File) verifyAhead(next, end uint64) {
	stop := min(end, next+verifyAheadBlocks)
	if next >= stop || f.feed.Verified(next, stop) {
		return
	}
	if !f.ahead.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer f.ahead.Store(false)
		f.feed.VerifyRange(next, stop)
	}()
}
