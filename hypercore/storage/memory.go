package storage

import (
	"io"
	"sync"
)

// Memory keeps a feed's files in memory. Files survive Close, so a feed can
// be closed and opened again on the same Memory, as on a disk.
type Memory struct {
	mu    sync.Mutex
	files map[string]*memFile // guarded by mu
}

// NewMemory returns empty in-memory storage.
func NewMemory() *Memory { return &Memory{files: map[string]*memFile{}} }

// Location implements Storage.
func (m *Memory) Location() string { return "memory" }

// Exists implements Storage.
func (m *Memory) Exists(name string) (bool, error) {
	m.mu.Lock()
	f := m.files[name]
	m.mu.Unlock()
	if f == nil {
		return false, nil
	}
	n, _ := f.Size()
	return n > 0, nil
}

// Open implements Storage.
func (m *Memory) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.files[name]
	if f == nil {
		f = &memFile{name: name}
		m.files[name] = f
	}
	return f, nil
}

type memFile struct {
	name string
	mu   sync.RWMutex
	buf  []byte // guarded by mu
}

func (f *memFile) Name() string { return "memory:" + f.name }

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if off >= int64(len(f.buf)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, f.buf[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := int(off) + len(p)
	if end > len(f.buf) {
		if end > cap(f.buf) {
			nb := make([]byte, end, max(end, 2*cap(f.buf)))
			copy(nb, f.buf)
			f.buf = nb
		} else {
			f.buf = f.buf[:end]
		}
	}
	copy(f.buf[off:], p)
	return len(p), nil
}

func (f *memFile) Size() (int64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return int64(len(f.buf)), nil
}

func (f *memFile) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if int(size) <= len(f.buf) {
		f.buf = f.buf[:size]
		return nil
	}
	nb := make([]byte, size)
	copy(nb, f.buf)
	f.buf = nb
	return nil
}

func (f *memFile) Delete(off, n int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if off >= int64(len(f.buf)) {
		return nil
	}
	if off+n >= int64(len(f.buf)) {
		f.buf = f.buf[:off]
		return nil
	}
	clear(f.buf[off : off+n])
	return nil
}

func (f *memFile) Sync() error  { return nil }
func (f *memFile) Close() error { return nil }
