package fs

import (
	"context"
	"io"

	"golang.org/x/sys/unix"

	"github.com/hyperfs/hyperfs/hyperdrive"
)

// Drive adapts a *hyperdrive.Drive to Backend. Paths and semantics are the
// drive's own; errors pass through untranslated (errno.go knows the
// drive's sentinels).
type Drive struct {
	D *hyperdrive.Drive
	// StorageDir, if set, is where the drive's feeds are stored: statfs
	// reports its free space as room for writes.
	StorageDir string
}

var _ Backend = (*Drive)(nil)

// NewDrive returns a Backend serving d.
func NewDrive(d *hyperdrive.Drive, storageDir string) *Drive {
	return &Drive{D: d, StorageDir: storageDir}
}

func attrOf(st *hyperdrive.Stat) *Attr {
	a := &Attr{
		Mode:     st.Mode,
		UID:      st.UID,
		GID:      st.GID,
		Size:     st.Size,
		Blocks:   st.Blocks,
		Mtime:    st.Mtime,
		Ctime:    st.Ctime,
		Linkname: st.Linkname,
		// A core mounted as a file (Mount.Hypercore) is a regular file
		// whose bytes are the core's blocks; only drives are directories.
		Mount: st.Mount != nil && !st.Mount.Hypercore,
	}
	for _, m := range st.Metadata {
		if m.Value == nil {
			continue // removed: the key stays in the Stat without a value
		}
		if a.Metadata == nil {
			a.Metadata = map[string][]byte{}
		}
		a.Metadata[m.Key] = m.Value
	}
	return a
}

// Lstat implements Backend.
func (b *Drive) Lstat(ctx context.Context, p string) (*Attr, error) {
	st, err := b.D.Lstat(ctx, p)
	if err != nil {
		return nil, err
	}
	return attrOf(st), nil
}

// Readdir implements Backend.
func (b *Drive) Readdir(ctx context.Context, p string) ([]DirEntry, error) {
	ents, err := b.D.Readdir(ctx, p)
	if err != nil {
		return nil, err
	}
	return dirEntries(ents), nil
}

// Changed implements Changer.
func (b *Drive) Changed(ctx context.Context, since uint64, max int) ([]string, bool, error) {
	return b.D.Changed(ctx, since, max)
}

// OpenDir implements DirLister.
func (b *Drive) OpenDir(ctx context.Context, p string) (DirStream, error) {
	r, err := b.D.OpenDir(ctx, p)
	if err != nil {
		return nil, err
	}
	return driveDir{r}, nil
}

// driveDir is a drive's listing as a DirStream.
type driveDir struct{ r *hyperdrive.DirReader }

func (d driveDir) Next(ctx context.Context, n int) ([]DirEntry, error) {
	ents, err := d.r.Next(ctx, n)
	if err != nil {
		return nil, err
	}
	return dirEntries(ents), nil
}

// OpenFile implements Backend; a *hyperdrive.File reads with a context.
// Files of a drive we do not write (a replica) also prefetch, so the
// mount's read-ahead fetches blocks before a sequential reader asks.
func (b *Drive) OpenFile(ctx context.Context, p string) (File, error) {
	f, err := b.D.OpenFile(ctx, p)
	if err != nil || b.D.Writable() {
		return f, err
	}
	closing, stop := context.WithCancel(context.Background())
	return &driveFile{File: f, closing: closing, stopPrefetch: stop}, nil
}

// driveFile is a replica's file: its read-ahead asks peers for every
// block of the window at once, and a Close ends a read-ahead still waiting.
type driveFile struct {
	*hyperdrive.File
	closing      context.Context // done once Close starts, ending prefetches
	stopPrefetch context.CancelFunc
}

// Prefetch makes [off, off+n) local: the blocks are requested in parallel.
func (f *driveFile) Prefetch(ctx context.Context, off, n int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(f.closing, cancel)
	defer stop()
	return f.File.Prefetch(ctx, off, n)
}

// Close ends read-ahead and closes the file.
func (f *driveFile) Close() error {
	f.stopPrefetch() // a prefetch waiting on peers must not hold up the release
	return f.File.Close()
}

// WriteFile implements Backend: the content is streamed through a
// hyperdrive Writer.
func (b *Drive) WriteFile(ctx context.Context, p string, mode uint32, content io.Reader, size int64) error {
	// With the type bits the permissions are taken as given, 0 included;
	// a bare 0 would mean "keep the old permissions or use 0644".
	w, err := b.D.Create(ctx, p, hyperdrive.ModeRegular|mode&hyperdrive.ModePerm)
	if err != nil {
		return err
	}
	// A buffer no larger than the file: most files are small, and a 512 KiB
	// buffer per commit would cost more to clear than to copy them.
	buf := make([]byte, max(512, min(size, hyperdrive.WriteBlockSize)))
	if _, err := io.CopyBuffer(w, io.LimitReader(content, size), buf); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// Truncate implements Backend.
func (b *Drive) Truncate(ctx context.Context, p string, size int64) error {
	return b.D.Truncate(ctx, p, uint64(size))
}

// Mkdir implements Backend.
func (b *Drive) Mkdir(ctx context.Context, p string, mode uint32) error {
	return b.D.Mkdir(ctx, p, hyperdrive.ModeDir|mode&hyperdrive.ModePerm)
}

// Rmdir implements Backend.
func (b *Drive) Rmdir(ctx context.Context, p string) error { return b.D.Rmdir(ctx, p) }

// Unlink implements Backend.
func (b *Drive) Unlink(ctx context.Context, p string) error { return b.D.Unlink(ctx, p) }

// Rename implements Backend.
func (b *Drive) Rename(ctx context.Context, from, to string) error {
	return b.D.Rename(ctx, from, to)
}

// Symlink implements Backend.
func (b *Drive) Symlink(ctx context.Context, target, p string) error {
	return b.D.Symlink(ctx, target, p)
}

// Readlink implements Backend.
func (b *Drive) Readlink(ctx context.Context, p string) (string, error) {
	return b.D.Readlink(ctx, p)
}

// SetAttr implements Backend.
func (b *Drive) SetAttr(ctx context.Context, p string, a SetAttr) error {
	return b.D.SetAttr(ctx, p, hyperdrive.Attr{Mode: a.Mode, UID: a.UID, GID: a.GID, Mtime: a.Mtime, Atime: a.Atime})
}

// SetMetadata implements Backend.
func (b *Drive) SetMetadata(ctx context.Context, p, key string, value []byte) error {
	return b.D.SetMetadata(ctx, p, key, value)
}

// RemoveMetadata implements Backend. A key that is not set is ErrNoData,
// as removexattr(2) wants.
func (b *Drive) RemoveMetadata(ctx context.Context, p, key string) error {
	st, err := b.D.Lstat(ctx, p)
	if err != nil {
		return err
	}
	if _, ok := attrOf(st).Metadata[key]; !ok {
		return ErrNoData
	}
	return b.D.RemoveMetadata(ctx, p, key)
}

// Flush implements Flusher: metadata writes held back to be appended
// together are appended.
func (b *Drive) Flush(ctx context.Context) error { return b.D.Flush() }

// Sync implements Syncer: the drive's writable feeds go to stable storage.
func (b *Drive) Sync(ctx context.Context) error { return b.D.Sync() }

// Writable implements Backend.
func (b *Drive) Writable() bool { return b.D.Writable() }

// Usage implements Backend.
func (b *Drive) Usage() Usage {
	u := b.D.Usage()
	out := Usage{ContentBytes: u.ContentBytes, ContentBlocks: u.ContentBlocks, MetadataBlocks: u.MetadataBlocks}
	if b.StorageDir != "" && b.D.Writable() {
		var st unix.Statfs_t
		if unix.Statfs(b.StorageDir, &st) == nil {
			out.FreeBytes = st.Bavail * uint64(st.Bsize)
		}
	}
	return out
}

// Version implements Backend.
func (b *Drive) Version() uint64 { return b.D.Version() }

// Watch implements Backend.
func (b *Drive) Watch(prefix string, fn func()) (stop func()) { return b.D.Watch(prefix, fn) }

// dirEntries converts a drive's listing to the backend's.
func dirEntries(ents []hyperdrive.DirEntry) []DirEntry {
	out := make([]DirEntry, len(ents))
	for i, e := range ents {
		out[i] = DirEntry{Name: e.Name, Attr: *attrOf(e.Stat)}
	}
	return out
}
