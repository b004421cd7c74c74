package fs

import (
	"context"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Extended attributes in the user namespace are the entry's metadata, keyed
// by the full name ("user.x"), as hyperdrive-fuse stores them. Other
// namespaces are not stored: reads find nothing, writes get ENOTSUP.

const xattrPrefix = "user."

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if !strings.HasPrefix(attr, xattrPrefix) {
		return 0, syscall.ENODATA
	}
	a, errno := n.refresh(ctx)
	if errno != 0 {
		return 0, errno
	}
	v, ok := a.Metadata[attr]
	if !ok {
		return 0, syscall.ENODATA
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	a, errno := n.refresh(ctx)
	if errno != 0 {
		return 0, errno
	}
	var names []string
	for k := range a.Metadata {
		if strings.HasPrefix(k, xattrPrefix) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var size int
	for _, k := range names {
		size += len(k) + 1
	}
	if len(dest) < size {
		return uint32(size), syscall.ERANGE
	}
	pos := 0
	for _, k := range names {
		pos += copy(dest[pos:], k)
		dest[pos] = 0
		pos++
	}
	return uint32(size), 0
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if n.ms.readOnly {
		return syscall.EROFS
	}
	if !strings.HasPrefix(attr, xattrPrefix) {
		return syscall.ENOTSUP
	}
	p, ok := n.path()
	if !ok {
		return syscall.ENOENT
	}
	if flags&(unix.XATTR_CREATE|unix.XATTR_REPLACE) != 0 {
		a, errno := n.refresh(ctx)
		if errno != 0 {
			return errno
		}
		_, exists := a.Metadata[attr]
		if flags&unix.XATTR_CREATE != 0 && exists {
			return syscall.EEXIST
		}
		if flags&unix.XATTR_REPLACE != 0 && !exists {
			return syscall.ENODATA
		}
	}
	if errno := n.commit(ctx); errno != 0 {
		return errno
	}
	if err := n.ms.backend.SetMetadata(context.WithoutCancel(ctx), p, attr, data); err != nil {
		return toErrno(err)
	}
	n.ms.noteOwnChange()
	return 0
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if n.ms.readOnly {
		return syscall.EROFS
	}
	if !strings.HasPrefix(attr, xattrPrefix) {
		return syscall.ENODATA
	}
	p, ok := n.path()
	if !ok {
		return syscall.ENOENT
	}
	if errno := n.commit(ctx); errno != 0 {
		return errno
	}
	if err := n.ms.backend.RemoveMetadata(context.WithoutCancel(ctx), p, attr); err != nil {
		return toErrno(err)
	}
	n.ms.noteOwnChange()
	return 0
}
