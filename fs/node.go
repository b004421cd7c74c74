package fs

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is every file, directory and symlink of a mount. Its backend path
// is its place in the go-fuse tree (inodePath), so renames need no
// bookkeeping here.
type node struct {
	fusefs.Inode
	ms *mountState
	// ent is n's entry in the inode number table, set at creation.
	ent *inoEntry
	// counted is set while n counts against the inode budget.
	counted atomic.Bool

	mu sync.Mutex
	// attr is the last attributes read from or written to the backend.
	// Guarded by mu.
	attr Attr
	// staged holds the content while the file is written. Guarded by mu.
	staged *stagedFile
	// writers counts open writable handles. Guarded by mu.
	writers int
	// gen counts commits, so open readers reopen the new version.
	// Guarded by mu.
	gen uint64
	// dirMtime and dirCtime are when an entry of this directory was last
	// made, removed or renamed through the mount. POSIX wants both times
	// of the directory to change then; a drive stores a directory's
	// times in its own entry, and rewriting that entry for every file
	// made in it would double the metadata each write appends (the
	// reference never does), so the mount keeps them while it runs and
	// reports the later of these and the stored times. Guarded by mu.
	dirMtime, dirCtime time.Time
}

// path is n's backend path; ok is false once n left the tree.
func (n *node) path() (string, bool) {
	return inodePath(n.EmbeddedInode())
}

func (n *node) ino() uint64 { return n.StableAttr().Ino }

// newChild returns the inode for path with attributes a, reusing the live
// inode of that number if the kernel still knows it.
func (n *node) newChild(ctx context.Context, path string, a *Attr, out *fuse.EntryOut) *fusefs.Inode {
	return n.newChildSince(ctx, path, a, out, nil, 0)
}

// newChildSince is newChild for attributes read after prev (the live
// node of path, if any) was at commit generation gen: if prev committed
// since, a is older than what prev knows and is dropped.
func (n *node) newChildSince(ctx context.Context, path string, a *Attr, out *fuse.EntryOut, prev *node, gen uint64) *fusefs.Inode {
	mode := fileType(a)
	ino, ent := n.ms.inos.get(path, mode)
	_, name := splitPath(path)
	if in := n.GetChild(name); in != nil && in.StableAttr().Ino == ino && in.StableAttr().Mode == mode {
		got := in.Operations().(*node)
		got.mu.Lock()
		if got != prev || got.gen == gen {
			got.attr = *a
		}
		got.mu.Unlock()
		got.entryOut(out)
		return in
	}
	child := &node{ms: n.ms, attr: *a, ent: ent}
	in := n.NewInode(ctx, child, fusefs.StableAttr{Mode: mode, Ino: ino})
	n.ms.inodes.add(child)
	child.entryOut(out)
	return in
}

// genOf is the commit generation of the live child name of n, if any.
func (n *node) genOf(name string) (*node, uint64) {
	in := n.GetChild(name)
	if in == nil {
		return nil, 0
	}
	c := in.Operations().(*node)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c, c.gen
}

// entryOut fills out from n's current attributes.
func (n *node) entryOut(out *fuse.EntryOut) {
	n.mu.Lock()
	a := n.currentAttrLocked()
	n.mu.Unlock()
	n.ms.setEntryOut(n.ino(), &a, out)
}

// currentAttrLocked is n.attr with the size of the staged copy, if there
// is one, and its mtime if it changed since the last commit. While a file
// is staged its copy's size is the truth, committed or not: reporting an
// older size would shrink the kernel's file size, so the next O_APPEND
// write would land over bytes already acknowledged and readers would see
// a short file.
func (n *node) currentAttrLocked() Attr {
	a := n.attr
	if s := n.staged; s != nil {
		a.Size = uint64(s.size)
		if s.dirty {
			a.Mtime = s.mtime
		}
	}
	if n.dirMtime.After(a.Mtime) {
		a.Mtime = n.dirMtime
	}
	if n.dirCtime.After(a.Ctime) {
		a.Ctime = n.dirCtime
	}
	return a
}

// entriesChanged records that an entry of directory n was made, removed
// or renamed now.
func (n *node) entriesChanged() {
	now := time.Now()
	n.mu.Lock()
	n.dirMtime, n.dirCtime = now, now
	n.mu.Unlock()
}

// refresh reads n's attributes from the backend into n.attr.
func (n *node) refresh(ctx context.Context) (Attr, syscall.Errno) {
	p, ok := n.path()
	if !ok {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.currentAttrLocked(), 0
	}
	n.mu.Lock()
	gen := n.gen
	n.mu.Unlock()
	a, err := n.ms.backend.Lstat(ctx, p)
	if err != nil {
		return Attr{}, toErrno(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	// A commit since the Lstat makes a older than n.attr; another type
	// means the path names another entry now (a rename raced us).
	if fileType(a) == n.StableAttr().Mode && n.gen == gen {
		n.attr = *a
	}
	return n.currentAttrLocked(), 0
}

// Getattr reports n's attributes; a node that left the tree (an open file
// that was unlinked or renamed over) keeps its last ones with no links.
func (n *node) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	a, errno := n.refresh(ctx)
	if errno != 0 {
		return errno
	}
	n.ms.fillAttr(n.ino(), &a, &out.Attr)
	if _, ok := n.path(); !ok {
		out.Nlink = 0
	}
	out.SetTimeout(n.ms.attrTTL)
	return 0
}

// Setattr is truncate, chmod, chown and utimens.
func (n *node) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if n.ms.readOnly {
		return syscall.EROFS
	}
	ctx = context.WithoutCancel(ctx)
	p, ok := n.path()
	if size, ok2 := in.GetSize(); ok2 {
		if n.IsDir() {
			return syscall.EISDIR
		}
		if errno := n.truncate(ctx, p, ok, int64(size)); errno != 0 {
			return errno
		}
	}
	var sa SetAttr
	var any bool
	if m, ok := in.GetMode(); ok {
		m &= 07777
		sa.Mode, any = &m, true
	}
	if uid, ok := in.GetUID(); ok {
		sa.UID, any = &uid, true
	}
	if gid, ok := in.GetGID(); ok {
		sa.GID, any = &gid, true
	}
	if mt, ok := in.GetMTime(); ok {
		sa.Mtime, any = &mt, true
		n.mu.Lock()
		n.dirMtime = time.Time{} // the time set wins over the last entry change
		n.mu.Unlock()
	}
	if at, ok := in.GetATime(); ok {
		sa.Atime, any = &at, true
	}
	if any && ok {
		// Staged content is committed first, so the commit does not
		// overwrite the times and modes set here.
		if errno := n.commit(ctx); errno != 0 {
			return errno
		}
		if err := n.ms.backend.SetAttr(ctx, p, sa); err != nil {
			return toErrno(err)
		}
		n.ms.noteOwnChange()
	} else if any {
		// An unlinked file: keep the change in memory only.
		n.mu.Lock()
		if sa.Mode != nil {
			n.attr.Mode = n.attr.Mode&syscall.S_IFMT | *sa.Mode
		}
		if sa.Mtime != nil {
			n.attr.Mtime = *sa.Mtime
		}
		n.mu.Unlock()
	}
	return n.Getattr(ctx, fh, out)
}

// truncate sets the size of n: in its staged copy if it has one, else in
// the backend.
func (n *node) truncate(ctx context.Context, p string, inTree bool, size int64) syscall.Errno {
	n.mu.Lock()
	s := n.staged
	n.mu.Unlock()
	if s != nil {
		return n.stagedTruncate(ctx, size)
	}
	if !inTree {
		return 0
	}
	n.mu.Lock()
	cur := int64(n.attr.Size)
	n.mu.Unlock()
	if errno := n.checkGrowth(cur, size); errno != 0 {
		return errno
	}
	if err := n.ms.backend.Truncate(ctx, p, size); err != nil {
		return toErrno(err)
	}
	n.ms.noteOwnChange()
	n.mu.Lock()
	n.gen++
	n.mu.Unlock()
	_, errno := n.refresh(ctx)
	return errno
}

// Statfs reports the drive's usage. Sizes are in 4 KiB blocks. A drive
// has no inode table: the entries used are counted by the metadata feed's
// blocks (one per change, an upper bound), and the free ones by what the
// free space holds at one metadata block each, so df -i adds up.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	u := n.ms.backend.Usage()
	used := (u.ContentBytes + blockSize - 1) / blockSize
	free := u.FreeBytes / blockSize
	out.Bsize = blockSize
	out.Frsize = blockSize
	out.Blocks = used + free
	out.Bfree = free
	out.Bavail = free
	out.Ffree = 0
	if !n.ms.readOnly {
		out.Ffree = free
	}
	out.Files = u.MetadataBlocks + out.Ffree
	out.NameLen = maxNameLen
	return 0
}

// Readlink returns the target of a symlink.
func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	p, ok := n.path()
	if !ok {
		n.mu.Lock()
		defer n.mu.Unlock()
		return []byte(n.ms.linkTarget("", n.attr.Linkname)), 0
	}
	target, err := n.ms.backend.Readlink(ctx, p)
	if err != nil {
		return nil, toErrno(err)
	}
	return []byte(n.ms.linkTarget(p, target)), 0
}

// noteOwnChange records the backend version after a change made through
// this mount, so the watcher does not invalidate what the kernel already
// knows.
func (ms *mountState) noteOwnChange() {
	ms.ownVersion.Store(ms.backend.Version())
}
