package fs

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"
)

// Backend is the storage a mount shows: one drive version, addressed by
// slash-separated absolute paths ("/", "/a/b"). It is the only thing this
// package knows about drives, so it is tested against an in-memory backend
// (package memback) and adapted to hyperdrive in hyperdrive.go.
//
// Methods that can wait on storage or peers take a ctx first and must
// return ctx.Err() (wrapped or not) when it is done. Errors are translated
// to errno in one place, errno.go: return the sentinels below (or errors
// wrapping io/fs.ErrNotExist, io/fs.ErrExist, or a syscall.Errno).
//
// Directories may be implicit: a directory exists while it holds anything,
// whether or not it was created with Mkdir.
type Backend interface {
	// Lstat describes path without following a symlink at its end.
	Lstat(ctx context.Context, path string) (*Attr, error)
	// Readdir lists the directory at path, with each entry's attributes.
	Readdir(ctx context.Context, path string) ([]DirEntry, error)
	// OpenFile opens the regular file at path for reading.
	OpenFile(ctx context.Context, path string) (File, error)
	// WriteFile replaces the whole content of the regular file at path,
	// creating it if needed, with size bytes read from content. mode holds
	// the permission bits. An existing file keeps its owner and metadata.
	WriteFile(ctx context.Context, path string, mode uint32, content io.Reader, size int64) error
	// Truncate sets the size of the regular file at path.
	Truncate(ctx context.Context, path string, size int64) error
	Mkdir(ctx context.Context, path string, mode uint32) error
	// Rmdir removes an empty directory.
	Rmdir(ctx context.Context, path string) error
	// Unlink removes a file or symlink.
	Unlink(ctx context.Context, path string) error
	// Rename moves from to to, replacing a file or an empty directory at to.
	Rename(ctx context.Context, from, to string) error
	Symlink(ctx context.Context, target, path string) error
	Readlink(ctx context.Context, path string) (string, error)
	// SetAttr changes the attributes whose fields are set.
	SetAttr(ctx context.Context, path string, attr SetAttr) error
	// SetMetadata and RemoveMetadata edit the key/value metadata of path,
	// which the mount shows as extended attributes.
	SetMetadata(ctx context.Context, path, key string, value []byte) error
	RemoveMetadata(ctx context.Context, path, key string) error

	// Writable reports whether the mutating methods can succeed.
	Writable() bool
	// Usage reports the storage used, for statfs.
	Usage() Usage
	// Version is the drive version; it grows with every change.
	Version() uint64
	// Watch calls fn, from any goroutine, after a change at or below
	// prefix, until stop is called. fn must not block.
	Watch(prefix string, fn func()) (stop func())
}

// Attr describes one path of a Backend.
type Attr struct {
	Mode     uint32 // S_IF* type bits and permission bits
	UID, GID uint32 // 0 and 0: shown as the mounting user
	Size     uint64
	Blocks   uint64 // content blocks in the drive, informational
	Mtime    time.Time
	Ctime    time.Time
	Linkname string // symlink target
	Mount    bool   // the root of a nested drive, shown as a directory
	Metadata map[string][]byte
}

// DirEntry is one entry of a Readdir listing.
type DirEntry struct {
	Name string
	Attr Attr
}

// File is an open regular file of one version: its content never changes.
// The mount reads it with ReadAtContext, straight into the request's
// buffer; ReadAt is for copying it (a file reopened for writing).
type File interface {
	io.ReaderAt
	// ReadAtContext is ReadAt that gives up when ctx ends (the request
	// was interrupted, or Options.ReadTimeout passed), returning
	// ctx.Err(), wrapped or not. Reads may run concurrently.
	ReadAtContext(ctx context.Context, p []byte, off int64) (int, error)
	Size() int64
	Close() error
}

// DirLister is implemented by Backends that list a directory in parts:
// the mount then reads a listing as the kernel asks for it and holds one
// part at a time, whatever the directory's size. Without it the mount
// takes the whole listing from Readdir at opendir.
type DirLister interface {
	OpenDir(ctx context.Context, path string) (DirStream, error)
}

// DirStream is one listing of a directory, as the directory was when it
// was opened, in an order that is the same for every listing of that
// state (so a listing opened again can be skipped forward to where an
// earlier one was). Not safe for concurrent use.
type DirStream interface {
	// Next returns up to n more entries, none at the end. After an error
	// the stream is not used again.
	Next(ctx context.Context, n int) ([]DirEntry, error)
}

// Changer is implemented by Backends that can tell what changed between
// versions: the mount then compares with the backend only the inodes on
// the changed paths, not every inode the kernel holds.
type Changer interface {
	// Changed returns the paths added, changed or removed since version
	// since, at most max of them; ok is false when there are more or it
	// cannot tell.
	Changed(ctx context.Context, since uint64, max int) (paths []string, ok bool, err error)
}

// Splicer is implemented by Files whose bytes may lie, unchanged and in
// order, in an operating system file: SpliceRange returns its descriptor
// and the offset of [off, off+n) in it, or ok false. The mount then lets the
// kernel splice the read from that file, with no copy through the daemon.
type Splicer interface {
	SpliceRange(off, n int64) (fd uintptr, pos int64, ok bool)
}

// Prefetcher is implemented by Files whose content may have to come from
// the network. Prefetch makes [off, off+n) local without returning it; the
// mount calls it from a goroutine, ahead of sequential readers. (Files in
// memory or on disk need none: the kernel's read-ahead asks early enough.)
type Prefetcher interface {
	Prefetch(ctx context.Context, off, n int64) error
}

// Syncer is implemented by Backends whose changes can sit in buffers:
// Sync returns once every change made so far is on stable storage. The
// mount calls it on fsync(2) and fdatasync(2) of a file and on fsync of a
// directory; a commit on close(2) is flushed (Flusher), not synced.
type Syncer interface {
	Sync(ctx context.Context) error
}

// Flusher is implemented by Backends that hold writes back to append
// several together: Flush returns once every change made so far is
// appended (readers of the storage see it), if not yet on stable storage.
// The mount calls it before Sync, and wherever a change must be out.
type Flusher interface {
	Flush(ctx context.Context) error
}

// SetAttr lists the attributes to change; nil fields stay as they are.
type SetAttr struct {
	Mode     *uint32 // permission bits
	UID, GID *uint32
	Mtime    *time.Time
	Atime    *time.Time
}

// Usage is the storage a drive uses.
type Usage struct {
	ContentBytes   uint64
	ContentBlocks  uint64
	MetadataBlocks uint64
	// FreeBytes is the room left for writes, 0 when unknown or read-only.
	FreeBytes uint64
}

// Errors a Backend returns; errno.go maps each to one errno.
var (
	ErrNotFound    = errors.New("no such file or directory")
	ErrExist       = errors.New("file exists")
	ErrNotDir      = errors.New("not a directory")
	ErrIsDir       = errors.New("is a directory")
	ErrNotEmpty    = errors.New("directory not empty")
	ErrReadOnly    = errors.New("drive is read-only")
	ErrInvalidPath = errors.New("invalid path")
	ErrMountCycle  = errors.New("mount would create a cycle")
	ErrUnsupported = errors.New("operation not supported")
	ErrNoData      = errors.New("no such metadata key")
	// ErrIntegrity is a block or node that failed verification.
	ErrIntegrity = errors.New("integrity check failed")
	// ErrTimeout is a read that could not be served in time.
	ErrTimeout = errors.New("read timed out")
)

// IntegrityError is an ErrIntegrity naming the block that failed.
type IntegrityError struct {
	Block uint64
	Err   error
}

func (e *IntegrityError) Error() string {
	return "block " + strconv.FormatUint(e.Block, 10) + ": " + e.Err.Error()
}

func (e *IntegrityError) Unwrap() []error { return []error{ErrIntegrity, e.Err} }
