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
	get := func(p string, mode uint32) uint64 {
		n, _ := tb.get(p, mode)
		return n
	}
	a := get("/a", syscall.S_IFDIR)
	ab := get("/a/b", syscall.S_IFREG)
	c := get("/c", syscall.S_IFREG)
	if get("/a", syscall.S_IFDIR) != a || get("/", syscall.S_IFDIR) != 1 {
		t.Fatal("numbers not stable")
	}
	if tb.peek("/a/b", syscall.S_IFREG) != ab || tb.peek("/new", syscall.S_IFREG) != get("/new", syscall.S_IFREG) {
		t.Error("peek gives another number than get")
	}
	if get("/c", syscall.S_IFDIR) == c {
		t.Error("a type change kept the number")
	}
	tb.rename("/a", "/z")
	if get("/z", syscall.S_IFDIR) != a || get("/z/b", syscall.S_IFREG) != ab {
		t.Error("rename lost numbers")
	}
	if get("/a/b", syscall.S_IFREG) == ab {
		t.Error("old path kept its number")
	}
	tb.remove("/z")
	if get("/z/b", syscall.S_IFREG) == ab {
		t.Error("remove kept numbers below")
	}
	// A rename over an existing path replaces its numbers, below too.
	x := get("/x", syscall.S_IFDIR)
	xy := get("/x/y", syscall.S_IFREG)
	get("/w", syscall.S_IFDIR)
	get("/w/old", syscall.S_IFREG)
	tb.rename("/x", "/w")
	if get("/w", syscall.S_IFDIR) != x || get("/w/y", syscall.S_IFREG) != xy {
		t.Error("rename over a path lost the moved numbers")
	}
	if get("/x", syscall.S_IFDIR) == x {
		t.Error("renamed-from path kept its number")
	}
	// A child seen before its parent: the parent gets its own number later.
	q := get("/p/q", syscall.S_IFREG)
	if p := get("/p", syscall.S_IFDIR); p == 0 || p == q {
		t.Errorf("parent numbered %d, child %d", p, q)
	}
	if get("/p/q", syscall.S_IFREG) != q {
		t.Error("numbering the parent changed the child's number")
	}
}

// TestInoTableRelease checks that a forgotten path whose number is its
// hash leaves the table, with unnumbered parents, and gets the same
// number back; a renamed one stays.
func TestInoTableRelease(t *testing.T) {
	var tb inoTable
	tb.init()
	n, e := tb.get("/d/e/f", syscall.S_IFREG)
	tb.release(e, n)
	if tb.root.kids["d"] != nil {
		t.Error("released entry or its unnumbered parents are still in the table")
	}
	if again, _ := tb.get("/d/e/f", syscall.S_IFREG); again != n {
		t.Errorf("number %d after release, %d before", again, n)
	}
	n, e = tb.get("/d/e/f", syscall.S_IFREG)
	tb.rename("/d/e/f", "/g")
	tb.release(e, n)
	if tb.root.kids["g"] != e {
		t.Error("a renamed entry left the table: its number would be lost")
	}
	// A numbered parent stays.
	tb.get("/h", syscall.S_IFDIR)
	n, e = tb.get("/h/i", syscall.S_IFREG)
	tb.release(e, n)
	if h := tb.root.kids["h"]; h == nil || len(h.kids) != 0 {
		t.Error("release dropped a numbered parent or kept the child")
	}
}

// BenchmarkInoTableRenameUnlink renames and unlinks a path in a table
// that knows 1k to 1M other paths: the cost per operation stays flat.
func BenchmarkInoTableRenameUnlink(b *testing.B) {
	for _, known := range []int{1000, 100000, 1000000} {
		b.Run(fmt.Sprint(known), func(b *testing.B) {
			var tb inoTable
			tb.init()
			for i := range known {
				tb.get(fmt.Sprintf("/big/f%d", i), syscall.S_IFREG)
			}
			for i := 0; b.Loop(); i++ {
				p := fmt.Sprintf("/small/f%d", i%1000)
				tb.get(p, syscall.S_IFREG)
				tb.rename(p, p+".tmp")
				tb.remove(p + ".tmp")
			}
		})
	}
}
