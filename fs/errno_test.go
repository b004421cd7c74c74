package fs

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"syscall"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

func TestToErrno(t *testing.T) {
	for _, c := range []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{ErrNotFound, syscall.ENOENT},
		{iofs.ErrNotExist, syscall.ENOENT},
		{&hyperdrive.PathError{Op: "stat", Path: "/x", Err: hyperdrive.ErrNotFound}, syscall.ENOENT},
		{hyperdrive.ErrReadOnly, syscall.EROFS},
		{fmt.Errorf("x: %w", hyperdrive.ErrNotEmpty), syscall.ENOTEMPTY},
		{hyperdrive.ErrCrossDrive, syscall.EXDEV},
		{hyperdrive.ErrIsDir, syscall.EISDIR},
		{hyperdrive.ErrNotDir, syscall.ENOTDIR},
		{hyperdrive.ErrExist, syscall.EEXIST},
		{hyperdrive.ErrNotLink, syscall.EINVAL},
		{hypercore.ErrBadProof, syscall.EIO},
		{&IntegrityError{Block: 3, Err: errors.New("bad")}, syscall.EIO},
		{context.Canceled, syscall.EINTR},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), syscall.EIO},
		{ErrTimeout, syscall.EIO},
		{syscall.EACCES, syscall.EACCES},
		{fmt.Errorf("x: %w", syscall.ENOSPC), syscall.ENOSPC},
		{errors.New("something else"), syscall.EIO},
	} {
		if got := toErrno(c.err); got != c.want {
			t.Errorf("toErrno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestInoTable(t *testing.T) {
	var tb inoTable
	tb.init()
	a := tb.get("/a", syscall.S_IFDIR)
	ab := tb.get("/a/b", syscall.S_IFREG)
	c := tb.get("/c", syscall.S_IFREG)
	if tb.get("/a", syscall.S_IFDIR) != a || tb.get("/", syscall.S_IFDIR) != 1 {
		t.Fatal("numbers not stable")
	}
	if tb.get("/c", syscall.S_IFDIR) == c {
		t.Error("a type change kept the number")
	}
	tb.rename("/a", "/z")
	if tb.get("/z", syscall.S_IFDIR) != a || tb.get("/z/b", syscall.S_IFREG) != ab {
		t.Error("rename lost numbers")
	}
	if tb.get("/a/b", syscall.S_IFREG) == ab {
		t.Error("old path kept its number")
	}
	tb.remove("/z")
	if tb.get("/z/b", syscall.S_IFREG) == ab {
		t.Error("remove kept numbers below")
	}
}
