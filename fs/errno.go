package fs

import (
	"context"
	"errors"
	iofs "io/fs"
	"syscall"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// errnoTable maps Backend errors to the errno the kernel gets. It is the
// only place errors become errnos: keep it in step with backend.go.
var errnoTable = []struct {
	err   error
	errno syscall.Errno
}{
	// The drive's sentinels first: some wrap io/fs errors that would
	// match a row below with the wrong errno (ErrReadOnly wraps
	// ErrPermission).
	{hyperdrive.ErrNotFound, syscall.ENOENT},
	{hyperdrive.ErrExist, syscall.EEXIST},
	{hyperdrive.ErrNotDir, syscall.ENOTDIR},
	{hyperdrive.ErrIsDir, syscall.EISDIR},
	{hyperdrive.ErrNotEmpty, syscall.ENOTEMPTY},
	{hyperdrive.ErrReadOnly, syscall.EROFS},
	{hyperdrive.ErrMountCycle, syscall.ELOOP},
	{hyperdrive.ErrInvalidPath, syscall.EINVAL},
	{hyperdrive.ErrNotLink, syscall.EINVAL},
	{hyperdrive.ErrLoop, syscall.ELOOP},
	{hyperdrive.ErrNotMount, syscall.EINVAL},
	{hyperdrive.ErrIsMount, syscall.EBUSY},
	{hyperdrive.ErrCrossDrive, syscall.EXDEV},
	{hyperdrive.ErrCorrupt, syscall.EIO},
	{hypercore.ErrBadProof, syscall.EIO},
	{hypercore.ErrBadSignature, syscall.EIO},
	{hypercore.ErrCorrupt, syscall.EIO},
	{hypercore.ErrNotWritable, syscall.EROFS},
	{hypercore.ErrMayFork, syscall.EROFS}, // writes wait until peers told the drive's length

	{ErrNotFound, syscall.ENOENT},
	{iofs.ErrNotExist, syscall.ENOENT},
	{ErrExist, syscall.EEXIST},
	{iofs.ErrExist, syscall.EEXIST},
	{ErrNotDir, syscall.ENOTDIR},
	{ErrIsDir, syscall.EISDIR},
	{ErrNotEmpty, syscall.ENOTEMPTY},
	{ErrReadOnly, syscall.EROFS},
	{ErrInvalidPath, syscall.EINVAL},
	{ErrMountCycle, syscall.ELOOP},
	{ErrUnsupported, syscall.ENOTSUP},
	{ErrNoData, syscall.ENODATA},
	{iofs.ErrPermission, syscall.EPERM},
	{ErrIntegrity, syscall.EIO},
	{ErrTimeout, syscall.EIO},
	{context.Canceled, syscall.EINTR},
	{context.DeadlineExceeded, syscall.EIO},
}

// toErrno translates a Backend error: a syscall.Errno in its chain as it
// is, else the first row of errnoTable it matches, else EIO.
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	for _, e := range errnoTable {
		if errors.Is(err, e.err) {
			return e.errno
		}
	}
	return syscall.EIO
}

// isIntegrity reports whether err is a verification failure: a block or
// node that does not match its proof, signature or hash.
func isIntegrity(err error) bool {
	for _, e := range []error{ErrIntegrity, hypercore.ErrBadProof, hypercore.ErrBadSignature, hypercore.ErrCorrupt, hyperdrive.ErrCorrupt} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
