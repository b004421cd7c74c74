package fs

import (
	"context"
	"errors"
	iofs "io/fs"
	"syscall"
)

// errnoTable maps Backend errors to the errno the kernel gets. It is the
// only place errors become errnos: keep it in step with backend.go.
var errnoTable = []struct {
	err   error
	errno syscall.Errno
}{
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
