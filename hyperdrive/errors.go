package hyperdrive

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/hyperfs/hyperfs/hypercore"
)

// Errors callers branch on (with errors.Is). Every error a Drive returns
// names the path it concerns, as a *PathError wrapping one of these or the
// underlying failure.
var (
	// ErrNotFound: no entry at the path (also matches fs.ErrNotExist).
	ErrNotFound = fmt.Errorf("no such file or directory: %w", fs.ErrNotExist)
	// ErrExist: the path is taken (also matches fs.ErrExist).
	ErrExist = fmt.Errorf("file exists: %w", fs.ErrExist)
	// ErrNotDir: a directory was expected (or a parent is a file).
	ErrNotDir = errors.New("not a directory")
	// ErrIsDir: a file was expected.
	ErrIsDir = errors.New("is a directory")
	// ErrNotEmpty: Rmdir (or a Rename onto a directory) found children.
	ErrNotEmpty = errors.New("directory not empty")
	// ErrReadOnly: a write to a drive without its secret key, or to a
	// checkout (also matches fs.ErrPermission).
	ErrReadOnly = fmt.Errorf("drive is read-only: %w", fs.ErrPermission)
	// ErrMountCycle: resolving the path crosses a mount of a drive it is
	// already inside.
	ErrMountCycle = errors.New("mount cycle")
	// ErrInvalidPath: the path cannot name an entry (NUL byte, invalid
	// UTF-8, the root where an entry is needed, a rename into itself).
	ErrInvalidPath = fmt.Errorf("invalid path: %w", fs.ErrInvalid)
	// ErrNotLink: Readlink of something that is not a symlink.
	ErrNotLink = errors.New("not a symbolic link")
	// ErrLoop: too many symlinks followed.
	ErrLoop = errors.New("too many levels of symbolic links")
	// ErrNotMount: Unmount of a path that is not a mountpoint.
	ErrNotMount = errors.New("not a mountpoint")
	// ErrIsMount: Unlink or Rmdir of a mountpoint (use Unmount).
	ErrIsMount = errors.New("is a mountpoint")
	// ErrCrossDrive: a Rename between two drives (one of them mounted),
	// which would have to copy content; like EXDEV, callers copy instead.
	ErrCrossDrive = errors.New("rename across drives")
	// ErrCorrupt: a stored entry does not decode as a Stat, or its content
	// range lies outside the content feed.
	ErrCorrupt = errors.New("malformed drive entry")
	// ErrMayFork: a writable drive restored into this storage without its
	// blocks did not learn its length from peers; writing could fork it
	// (see Options.LearnLength and Options.Force).
	ErrMayFork = hypercore.ErrMayFork
)

// PathError records the operation and path an error concerns.
type PathError struct {
	Op   string
	Path string
	Err  error
}

func (e *PathError) Error() string { return e.Op + " " + e.Path + ": " + e.Err.Error() }

func (e *PathError) Unwrap() error { return e.Err }

func pathErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var pe *PathError
	if errors.As(err, &pe) && pe.Op == op && pe.Path == path {
		return err
	}
	return &PathError{Op: op, Path: path, Err: err}
}
