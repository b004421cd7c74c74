package hyperdrive

// SpliceRange says where bytes [off, off+n) of the file lie in its content
// feed's data file, so a FUSE server can splice them to the kernel without
// copying: the descriptor and the offset in it. ok is false unless every
// block of the file is stored locally in an operating system file.
func (f *File) SpliceRange(off, n int64) (fd uintptr, pos int64, ok bool) {
	if off < 0 || n < 0 || uint64(off+n) > f.stat.Size {
		return 0, 0, false
	}
	if !f.local.Load() {
		if !f.feed.HasRange(f.stat.Offset, f.stat.Offset+f.stat.Blocks) {
			return 0, 0, false
		}
		f.local.Store(true)
	}
	fd, ok = f.feed.DataFd()
	return fd, int64(f.stat.ByteOffset) + off, ok
}
