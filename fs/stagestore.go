package fs

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// memStageMax is the largest staged content kept in memory. Most files
// written are small (sources, an untar, a git checkout); giving each a
// file of the staging directory cost more than the rest of its write, so a
// file lives in memory until it grows past this, then moves to a file.
const memStageMax = 256 << 10

// stageStore holds the bytes of a staged file: in memory while small, in a
// nameless file of the staging directory once larger. Not safe for
// concurrent use (the owning node's mu guards it).
type stageStore struct {
	dir string
	mem []byte   // the content while f is nil
	f   *os.File // the content once spilled
}

func newStageStore(dir string) *stageStore { return &stageStore{dir: dir} }

// spill moves the content to a file.
func (s *stageStore) spill() error {
	if s.f != nil {
		return nil
	}
	f, err := openStaging(s.dir)
	if err != nil {
		return err
	}
	if len(s.mem) > 0 {
		if _, err := f.WriteAt(s.mem, 0); err != nil {
			f.Close()
			return err
		}
	}
	s.f, s.mem = f, nil
	return nil
}

// grow makes the memory content size bytes long, zero-filled.
func (s *stageStore) grow(size int64) {
	if int64(len(s.mem)) >= size {
		return
	}
	if int64(cap(s.mem)) >= size {
		old := len(s.mem)
		s.mem = s.mem[:size]
		clear(s.mem[old:])
		return
	}
	s.mem = append(s.mem, make([]byte, size-int64(len(s.mem)))...)
}

// WriteAt writes p at off, extending the content as needed.
func (s *stageStore) WriteAt(p []byte, off int64) (int, error) {
	if s.f == nil && off+int64(len(p)) > memStageMax {
		if err := s.spill(); err != nil {
			return 0, err
		}
	}
	if s.f != nil {
		return s.f.WriteAt(p, off)
	}
	s.grow(off + int64(len(p)))
	return copy(s.mem[off:], p), nil
}

// Write appends p (for copying content in).
func (s *stageStore) Write(p []byte) (int, error) {
	if s.f != nil {
		st, err := s.f.Stat()
		if err != nil {
			return 0, err
		}
		return s.f.WriteAt(p, st.Size())
	}
	return s.WriteAt(p, int64(len(s.mem)))
}

// ReadAt reads at off, as os.File's ReadAt does (io.EOF past the end).
func (s *stageStore) ReadAt(p []byte, off int64) (int, error) {
	if s.f != nil {
		return s.f.ReadAt(p, off)
	}
	if off >= int64(len(s.mem)) {
		return 0, io.EOF
	}
	n := copy(p, s.mem[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Truncate sets the content's size.
func (s *stageStore) Truncate(size int64) error {
	if s.f == nil && size > memStageMax {
		if err := s.spill(); err != nil {
			return err
		}
	}
	if s.f != nil {
		return s.f.Truncate(size)
	}
	if size < int64(len(s.mem)) {
		s.mem = s.mem[:size]
		return nil
	}
	s.grow(size)
	return nil
}

// Fallocate is fallocate(2) on the content, which moves it to a file.
func (s *stageStore) Fallocate(mode uint32, off, size int64) error {
	if err := s.spill(); err != nil {
		return err
	}
	return unix.Fallocate(int(s.f.Fd()), mode, off, size)
}

// Close releases the content.
func (s *stageStore) Close() error {
	s.mem = nil
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}
