package hypercore

import "github.com/hyperfs/hyperfs/hypercore/storage"

// DataFd returns the descriptor of the data file, where block bytes lie back
// to back in block order, if the feed is stored in an operating system file.
// A FUSE server splices reads of locally stored blocks straight from it
// instead of copying them through memory; the caller checks HasRange first
// and must not use the descriptor after Close.
func (f *Feed) DataFd() (uintptr, bool) {
	d, ok := f.dataFile.(storage.Descriptor)
	if !ok {
		return 0, false
	}
	return d.Fd(), true
}
