// Package memback is an in-memory fs.Backend with the semantics of a
// hyperdrive (implicit directories, a version that grows with each change,
// watchers), for tests and benchmarks of the mount without a drive.
package memback

import (
	"context"
	"io"
	"maps"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hyperfs/hyperfs/fs"
)

// contentBlock is the block size content is counted in, as hyperdrive's
// default 64 KiB writer chunks.
const contentBlock = 64 << 10

// Backend is a drive held in memory. It is safe for concurrent use.
type Backend struct {
	mu       sync.RWMutex
	entries  map[string]*entry              // by path; guarded by mu
	children map[string]map[string]struct{} // directory → names; guarded by mu
	version  uint64                         // guarded by mu
	watchers map[int]watcher                // guarded by mu
	nextID   int                            // guarded by mu

	// FreeBytes is reported by Usage.
	FreeBytes uint64
}

type entry struct {
	attr     fs.Attr
	data     []byte // content of a regular file, never changed in place
	implicit bool   // a directory that exists because something is below it
}

type watcher struct {
	prefix string
	fn     func()
}

var _ fs.Backend = (*Backend)(nil)

// New returns an empty writable drive.
func New() *Backend {
	now := time.Now()
	b := &Backend{
		entries:   map[string]*entry{"/": {attr: fs.Attr{Mode: syscall.S_IFDIR | 0755, Mtime: now, Ctime: now}}},
		children:  map[string]map[string]struct{}{"/": {}},
		watchers:  map[int]watcher{},
		FreeBytes: 1 << 40,
	}
	return b
}

func clean(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fs.ErrInvalidPath
	}
	return path.Clean(p), nil
}

func isDir(e *entry) bool { return e.attr.Mode&syscall.S_IFMT == syscall.S_IFDIR }

// lookupLocked returns the entry at p, checking that its parents are
// directories.
func (b *Backend) lookupLocked(p string) (*entry, error) {
	if e, ok := b.entries[p]; ok {
		return e, nil
	}
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		if e, ok := b.entries[dir]; ok {
			if !isDir(e) {
				return nil, fs.ErrNotDir
			}
			break
		}
	}
	return nil, fs.ErrNotFound
}

// parentLocked makes sure the parent directories of p exist, implicitly.
func (b *Backend) parentLocked(p string, now time.Time) error {
	dir := path.Dir(p)
	if e, ok := b.entries[dir]; ok {
		if !isDir(e) {
			return fs.ErrNotDir
		}
		return nil
	}
	if err := b.parentLocked(dir, now); err != nil {
		return err
	}
	b.putLocked(dir, &entry{attr: fs.Attr{Mode: syscall.S_IFDIR | 0755, Mtime: now, Ctime: now}, implicit: true})
	return nil
}

func (b *Backend) putLocked(p string, e *entry) {
	b.entries[p] = e
	if p == "/" {
		return
	}
	dir := path.Dir(p)
	if b.children[dir] == nil {
		b.children[dir] = map[string]struct{}{}
	}
	b.children[dir][path.Base(p)] = struct{}{}
	if isDir(e) && b.children[p] == nil {
		b.children[p] = map[string]struct{}{}
	}
	if d := b.entries[dir]; d != nil {
		d.attr.Mtime, d.attr.Ctime = e.attr.Ctime, e.attr.Ctime
	}
}

// deleteLocked removes p, then implicit parents left empty.
func (b *Backend) deleteLocked(p string, now time.Time) {
	delete(b.entries, p)
	delete(b.children, p)
	b.unlinkNameLocked(p, now)
}

// unlinkNameLocked removes p from its directory, then implicit parents
// left empty.
func (b *Backend) unlinkNameLocked(p string, now time.Time) {
	dir := path.Dir(p)
	delete(b.children[dir], path.Base(p))
	if d := b.entries[dir]; d != nil {
		d.attr.Mtime, d.attr.Ctime = now, now
		if d.implicit && len(b.children[dir]) == 0 && dir != "/" {
			b.deleteLocked(dir, now)
		}
	}
}

// changed bumps the version and notifies watchers of p; call with mu held
// for writing, then run the returned function after unlocking.
func (b *Backend) changedLocked(paths ...string) func() {
	b.version++
	var fns []func()
	for _, w := range b.watchers {
		for _, p := range paths {
			if w.prefix == "/" || p == w.prefix || strings.HasPrefix(p, w.prefix+"/") {
				fns = append(fns, w.fn)
				break
			}
		}
	}
	return func() {
		for _, fn := range fns {
			fn()
		}
	}
}

func copyAttr(a fs.Attr) *fs.Attr {
	a.Metadata = maps.Clone(a.Metadata)
	return &a
}

// Lstat implements fs.Backend.
func (b *Backend) Lstat(ctx context.Context, p string) (*fs.Attr, error) {
	p, err := clean(p)
	if err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	e, err := b.lookupLocked(p)
	if err != nil {
		return nil, err
	}
	return copyAttr(e.attr), nil
}

// Readdir implements fs.Backend.
func (b *Backend) Readdir(ctx context.Context, p string) ([]fs.DirEntry, error) {
	p, err := clean(p)
	if err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	e, err := b.lookupLocked(p)
	if err != nil {
		return nil, err
	}
	if !isDir(e) {
		return nil, fs.ErrNotDir
	}
	names := make([]string, 0, len(b.children[p]))
	for name := range b.children[p] {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]fs.DirEntry, len(names))
	for i, name := range names {
		out[i] = fs.DirEntry{Name: name, Attr: *copyAttr(b.entries[path.Join(p, name)].attr)}
	}
	return out, nil
}

// File is an open file of one version.
type File struct{ data []byte }

// ReadAt implements io.ReaderAt.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// ReadAtContext implements fs.ContextReaderAt: memory never waits.
func (f *File) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	return f.ReadAt(p, off)
}

// Size is the file's size.
func (f *File) Size() int64 { return int64(len(f.data)) }

// Close does nothing.
func (f *File) Close() error { return nil }

// OpenFile implements fs.Backend.
func (b *Backend) OpenFile(ctx context.Context, p string) (fs.File, error) {
	p, err := clean(p)
	if err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	e, err := b.lookupLocked(p)
	if err != nil {
		return nil, err
	}
	if isDir(e) {
		return nil, fs.ErrIsDir
	}
	return &File{data: e.data}, nil
}

// WriteFile implements fs.Backend.
func (b *Backend) WriteFile(ctx context.Context, p string, mode uint32, content io.Reader, size int64) error {
	p, err := clean(p)
	if err != nil {
		return err
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(content, data); err != nil {
		return err
	}
	b.mu.Lock()
	now := time.Now()
	if err := b.parentLocked(p, now); err != nil {
		b.mu.Unlock()
		return err
	}
	e := &entry{data: data}
	if old, ok := b.entries[p]; ok {
		if isDir(old) {
			b.mu.Unlock()
			return fs.ErrIsDir
		}
		e.attr = *copyAttr(old.attr)
		e.attr.Linkname = ""
	}
	e.attr.Mode = syscall.S_IFREG | mode&07777
	e.attr.Size = uint64(size)
	e.attr.Blocks = (uint64(size) + contentBlock - 1) / contentBlock
	e.attr.Mtime, e.attr.Ctime = now, now
	b.putLocked(p, e)
	notify := b.changedLocked(p)
	b.mu.Unlock()
	notify()
	return nil
}

// edit runs fn on the entry at p under the lock and notifies watchers.
func (b *Backend) edit(p string, fn func(p string, e *entry, now time.Time) error) error {
	p, err := clean(p)
	if err != nil {
		return err
	}
	b.mu.Lock()
	e, err := b.lookupLocked(p)
	if err == nil {
		err = fn(p, e, time.Now())
	}
	if err != nil {
		b.mu.Unlock()
		return err
	}
	notify := b.changedLocked(p)
	b.mu.Unlock()
	notify()
	return nil
}

// Truncate implements fs.Backend.
func (b *Backend) Truncate(ctx context.Context, p string, size int64) error {
	return b.edit(p, func(p string, e *entry, now time.Time) error {
		if isDir(e) {
			return fs.ErrIsDir
		}
		data := make([]byte, size)
		copy(data, e.data)
		ne := &entry{attr: *copyAttr(e.attr), data: data}
		ne.attr.Size = uint64(size)
		ne.attr.Blocks = (uint64(size) + contentBlock - 1) / contentBlock
		ne.attr.Mtime, ne.attr.Ctime = now, now
		b.putLocked(p, ne)
		return nil
	})
}

// create adds a new entry at p, which must not exist.
func (b *Backend) create(p string, e *entry) error {
	p, err := clean(p)
	if err != nil {
		return err
	}
	b.mu.Lock()
	now := time.Now()
	e.attr.Mtime, e.attr.Ctime = now, now
	if old, ok := b.entries[p]; ok {
		if old.implicit && isDir(e) {
			old.implicit = false
			old.attr.Mode = e.attr.Mode
			b.mu.Unlock()
			return nil
		}
		b.mu.Unlock()
		return fs.ErrExist
	}
	if err := b.parentLocked(p, now); err != nil {
		b.mu.Unlock()
		return err
	}
	b.putLocked(p, e)
	notify := b.changedLocked(p)
	b.mu.Unlock()
	notify()
	return nil
}

// Mkdir implements fs.Backend.
func (b *Backend) Mkdir(ctx context.Context, p string, mode uint32) error {
	return b.create(p, &entry{attr: fs.Attr{Mode: syscall.S_IFDIR | mode&07777}})
}

// MkMount adds a nested-mount entry at p, as hyperdrive's Mount does.
func (b *Backend) MkMount(ctx context.Context, p string) error {
	return b.create(p, &entry{attr: fs.Attr{Mode: syscall.S_IFDIR | 0755, Mount: true}})
}

// Symlink implements fs.Backend.
func (b *Backend) Symlink(ctx context.Context, target, p string) error {
	return b.create(p, &entry{attr: fs.Attr{Mode: syscall.S_IFLNK | 0777, Linkname: target, Size: uint64(len(target))}})
}

// Readlink implements fs.Backend.
func (b *Backend) Readlink(ctx context.Context, p string) (string, error) {
	a, err := b.Lstat(ctx, p)
	if err != nil {
		return "", err
	}
	if a.Mode&syscall.S_IFMT != syscall.S_IFLNK {
		return "", fs.ErrInvalidPath
	}
	return a.Linkname, nil
}

// Rmdir implements fs.Backend.
func (b *Backend) Rmdir(ctx context.Context, p string) error {
	return b.edit(p, func(p string, e *entry, now time.Time) error {
		switch {
		case !isDir(e):
			return fs.ErrNotDir
		case p == "/":
			return fs.ErrInvalidPath
		case len(b.children[p]) > 0:
			return fs.ErrNotEmpty
		}
		b.deleteLocked(p, now)
		return nil
	})
}

// Unlink implements fs.Backend.
func (b *Backend) Unlink(ctx context.Context, p string) error {
	return b.edit(p, func(p string, e *entry, now time.Time) error {
		if isDir(e) {
			return fs.ErrIsDir
		}
		b.deleteLocked(p, now)
		return nil
	})
}

// Rename implements fs.Backend.
func (b *Backend) Rename(ctx context.Context, from, to string) error {
	to, err := clean(to)
	if err != nil {
		return err
	}
	return b.edit(from, func(from string, e *entry, now time.Time) error {
		if from == to {
			return nil
		}
		if from == "/" || strings.HasPrefix(to, from+"/") {
			return fs.ErrInvalidPath
		}
		if old, ok := b.entries[to]; ok {
			switch {
			case isDir(e) && !isDir(old):
				return fs.ErrNotDir
			case !isDir(e) && isDir(old):
				return fs.ErrIsDir
			case isDir(old) && len(b.children[to]) > 0:
				return fs.ErrNotEmpty
			}
			b.deleteLocked(to, now)
		}
		if err := b.parentLocked(to, now); err != nil {
			return err
		}
		// Move from and everything below it.
		moved := map[string]*entry{to: e}
		prefix := from + "/"
		for p, d := range b.entries {
			if strings.HasPrefix(p, prefix) {
				moved[to+p[len(from):]] = d
			}
		}
		for p := range moved {
			old := from + p[len(to):]
			delete(b.entries, old)
			delete(b.children, old)
		}
		e.attr.Ctime = now
		paths := make([]string, 0, len(moved))
		for p := range moved {
			paths = append(paths, p)
		}
		sort.Strings(paths) // parents first
		times := make(map[string][2]time.Time, len(paths))
		for _, p := range paths {
			times[p] = [2]time.Time{moved[p].attr.Mtime, moved[p].attr.Ctime}
		}
		for _, p := range paths {
			b.putLocked(p, moved[p])
		}
		// Moving a directory changes no directory below it: putLocked
		// touched them as parents.
		for _, p := range paths {
			moved[p].attr.Mtime, moved[p].attr.Ctime = times[p][0], times[p][1]
		}
		b.unlinkNameLocked(from, now)
		return nil
	})
}

// SetAttr implements fs.Backend.
func (b *Backend) SetAttr(ctx context.Context, p string, sa fs.SetAttr) error {
	return b.edit(p, func(p string, e *entry, now time.Time) error {
		a := copyAttr(e.attr)
		if sa.Mode != nil {
			a.Mode = a.Mode&syscall.S_IFMT | *sa.Mode&07777
		}
		if sa.UID != nil {
			a.UID = *sa.UID
		}
		if sa.GID != nil {
			a.GID = *sa.GID
		}
		if sa.Mtime != nil {
			a.Mtime = *sa.Mtime
		}
		a.Ctime = now
		e.attr = *a
		e.implicit = false
		return nil
	})
}

// SetMetadata implements fs.Backend.
func (b *Backend) SetMetadata(ctx context.Context, p, key string, value []byte) error {
	return b.edit(p, func(p string, e *entry, now time.Time) error {
		a := copyAttr(e.attr)
		if a.Metadata == nil {
			a.Metadata = map[string][]byte{}
		}
		a.Metadata[key] = append([]byte(nil), value...)
		a.Ctime = now
		e.attr = *a
		e.implicit = false
		return nil
	})
}

// RemoveMetadata implements fs.Backend.
func (b *Backend) RemoveMetadata(ctx context.Context, p, key string) error {
	return b.edit(p, func(p string, e *entry, now time.Time) error {
		if _, ok := e.attr.Metadata[key]; !ok {
			return fs.ErrNoData
		}
		a := copyAttr(e.attr)
		delete(a.Metadata, key)
		a.Ctime = now
		e.attr = *a
		return nil
	})
}

// Writable implements fs.Backend.
func (b *Backend) Writable() bool { return true }

// Usage implements fs.Backend.
func (b *Backend) Usage() fs.Usage {
	b.mu.RLock()
	defer b.mu.RUnlock()
	u := fs.Usage{MetadataBlocks: uint64(len(b.entries)), FreeBytes: b.FreeBytes}
	for _, e := range b.entries {
		u.ContentBytes += e.attr.Size
		u.ContentBlocks += e.attr.Blocks
	}
	return u
}

// Version implements fs.Backend.
func (b *Backend) Version() uint64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.version
}

// Watch implements fs.Backend.
func (b *Backend) Watch(prefix string, fn func()) (stop func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.nextID
	b.nextID++
	b.watchers[id] = watcher{prefix: path.Clean(prefix), fn: fn}
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.watchers, id)
	}
}

// ReadOnly is a view of a Backend that refuses changes, as a remote drive
// does; changes made through the Backend itself show through.
type ReadOnly struct{ *Backend }

// Writable implements fs.Backend.
func (ReadOnly) Writable() bool { return false }

// WriteFile implements fs.Backend.
func (ReadOnly) WriteFile(context.Context, string, uint32, io.Reader, int64) error {
	return fs.ErrReadOnly
}

// Truncate implements fs.Backend.
func (ReadOnly) Truncate(context.Context, string, int64) error { return fs.ErrReadOnly }

// Mkdir implements fs.Backend.
func (ReadOnly) Mkdir(context.Context, string, uint32) error { return fs.ErrReadOnly }

// Rmdir implements fs.Backend.
func (ReadOnly) Rmdir(context.Context, string) error { return fs.ErrReadOnly }

// Unlink implements fs.Backend.
func (ReadOnly) Unlink(context.Context, string) error { return fs.ErrReadOnly }

// Rename implements fs.Backend.
func (ReadOnly) Rename(context.Context, string, string) error { return fs.ErrReadOnly }

// Symlink implements fs.Backend.
func (ReadOnly) Symlink(context.Context, string, string) error { return fs.ErrReadOnly }

// SetAttr implements fs.Backend.
func (ReadOnly) SetAttr(context.Context, string, fs.SetAttr) error { return fs.ErrReadOnly }

// SetMetadata implements fs.Backend.
func (ReadOnly) SetMetadata(context.Context, string, string, []byte) error { return fs.ErrReadOnly }

// RemoveMetadata implements fs.Backend.
func (ReadOnly) RemoveMetadata(context.Context, string, string) error { return fs.ErrReadOnly }
