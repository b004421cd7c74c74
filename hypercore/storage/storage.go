// Package storage provides the random-access files a hypercore feed keeps
// its state in: a directory of real files (the default, laid out and locked
// exactly as the JavaScript reference does) or memory (for tests).
package storage

import (
	"errors"
	"io"
)

// ErrLocked is returned when another process holds a feed's storage.
var ErrLocked = errors.New("storage is locked by another process")

// Storage opens the named files of one feed ("key", "data", "tree", ...).
type Storage interface {
	// Open returns the named file, creating it empty if it does not exist.
	Open(name string) (File, error)
	// Exists reports whether the named file exists and is not empty.
	Exists(name string) (bool, error)
	// Location describes where the files live, for messages.
	Location() string
}

// File is one random-access file. Reads past the end return io.EOF (or
// io.ErrUnexpectedEOF semantics via ReadAt's short count), never garbage.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Size is the current length of the file in bytes.
	Size() (int64, error)
	// Truncate sets the file's length.
	Truncate(size int64) error
	// Delete zeroes [off, off+n) and frees the disk space it used where the
	// file system can (hole punching). Reads of the range return zeros.
	Delete(off, n int64) error
	// Sync commits the file to stable storage.
	Sync() error
	Close() error
	// Name is the file's path (or memory name), for error messages.
	Name() string
}

// Starter is implemented by files whose Sync can be started ahead: a
// caller about to sync several files starts them all first, so the disk
// gets every file's writes at once and a journaling file system commits
// them together, rather than in the order the syncs reach it.
type Starter interface {
	StartSync()
}

// Descriptor is implemented by files backed by an operating system file,
// whose descriptor lets a FUSE server splice reads straight from it.
type Descriptor interface {
	Fd() uintptr
}

// VectorWriter is implemented by files that write several buffers at one
// offset in one call (pwritev), sparing the caller a copy into one buffer.
type VectorWriter interface {
	WriteVecAt(bufs [][]byte, off int64) error
}

// WriteVecAt writes bufs back to back at off, in one call where f supports it.
func WriteVecAt(f File, bufs [][]byte, off int64) error {
	if vw, ok := f.(VectorWriter); ok {
		return vw.WriteVecAt(bufs, off)
	}
	for _, b := range bufs {
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
		off += int64(len(b))
	}
	return nil
}
