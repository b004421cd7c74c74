package fs

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"strings"
	"syscall"
	"unicode/utf8"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Lookup finds name in the directory n.
func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	dir, ok := n.path()
	if !ok {
		return nil, syscall.ENOENT
	}
	if len(name) > maxNameLen {
		return nil, syscall.ENAMETOOLONG
	}
	if !driveName(name) {
		return nil, syscall.ENOENT // it would name another entry of the drive
	}
	p := childPath(dir, name)
	prev, gen := n.genOf(name)
	a, err := n.ms.backend.Lstat(ctx, p)
	if err != nil {
		return nil, toErrno(err)
	}
	return n.newChildSince(ctx, p, a, out, prev, gen), 0
}

// OpendirHandle opens a listing of the directory. Its entries carry their
// attributes, so READDIRPLUS needs no further backend calls.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	dir, ok := n.path()
	if !ok {
		return nil, 0, syscall.ENOENT
	}
	d := &dirHandle{n: n, dir: dir}
	if errno := d.open(ctx); errno != 0 {
		return nil, 0, errno
	}
	return d, 0, 0
}

// openStream starts a listing of dir: the backend's own stream, or its
// whole listing, sorted by name, for a backend that has none.
func (ms *mountState) openStream(ctx context.Context, dir string) (DirStream, error) {
	if l, ok := ms.backend.(DirLister); ok {
		return l.OpenDir(ctx, dir)
	}
	entries, err := ms.backend.Readdir(ctx, dir)
	if err != nil {
		return nil, err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	return &sliceStream{entries}, nil
}

// sliceStream serves a listing taken whole.
type sliceStream struct{ rest []DirEntry }

func (s *sliceStream) Next(ctx context.Context, n int) ([]DirEntry, error) {
	n = min(n, len(s.rest))
	out := s.rest[:n:n]
	s.rest = s.rest[n:]
	return out, nil
}

// Mkdir creates a directory.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return n.create(ctx, name, out, func(p string) error {
		return n.ms.backend.Mkdir(ctx, p, mode&07777)
	})
}

// Symlink creates a symlink to target.
func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return n.create(ctx, name, out, func(p string) error {
		return n.ms.backend.Symlink(ctx, n.ms.storedTarget(target), p)
	})
}

// Create creates an empty file, committed at once so other processes see
// it, and opens it for writing.
func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	ctx = context.WithoutCancel(ctx)
	in, errno := n.create(ctx, name, out, func(p string) error {
		return n.ms.backend.WriteFile(ctx, p, mode&07777, bytes.NewReader(nil), 0)
	})
	if errno != 0 {
		return nil, nil, 0, errno
	}
	child := in.Operations().(*node)
	child.mu.Lock()
	defer child.mu.Unlock()
	if _, errno := child.stageLocked(ctx, true); errno != 0 {
		return nil, nil, 0, errno
	}
	child.writers++
	return in, &fileHandle{n: child, write: true}, fuse.FOPEN_KEEP_CACHE, 0
}

// create runs mk for the path of name and returns the new child.
func (n *node) create(ctx context.Context, name string, out *fuse.EntryOut, mk func(p string) error) (*fusefs.Inode, syscall.Errno) {
	if n.ms.readOnly {
		return nil, syscall.EROFS
	}
	if len(name) > maxNameLen {
		return nil, syscall.ENAMETOOLONG
	}
	if !driveName(name) {
		return nil, syscall.EINVAL
	}
	if errno := n.ms.refuseDropping(name); errno != 0 {
		return nil, errno
	}
	dir, ok := n.path()
	if !ok {
		return nil, syscall.ENOENT
	}
	p := childPath(dir, name)
	if err := mk(p); err != nil {
		return nil, toErrno(err)
	}
	n.ms.noteOwnChange()
	n.entriesChanged()
	if errno := n.setOwner(ctx, p); errno != 0 {
		return nil, errno
	}
	a, err := n.ms.backend.Lstat(ctx, p)
	if err != nil {
		return nil, toErrno(err)
	}
	return n.newChild(ctx, p, a, out), 0
}

// Unlink removes a file or symlink.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.remove(ctx, name, n.ms.backend.Unlink)
}

// Rmdir removes an empty directory.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.remove(ctx, name, n.ms.backend.Rmdir)
}

func (n *node) remove(ctx context.Context, name string, rm func(context.Context, string) error) syscall.Errno {
	if n.ms.readOnly {
		return syscall.EROFS
	}
	dir, ok := n.path()
	if !ok {
		return syscall.ENOENT
	}
	p := childPath(dir, name)
	if err := rm(context.WithoutCancel(ctx), p); err != nil {
		return toErrno(err)
	}
	n.ms.noteOwnChange()
	n.ms.inos.remove(p)
	n.entriesChanged()
	return 0
}

// Rename moves name to newName in newParent, replacing a file or an empty
// directory there. Of renameat2's flags only RENAME_NOREPLACE is
// implemented; the others (RENAME_EXCHANGE, RENAME_WHITEOUT) are EINVAL,
// as rename(2) documents for flags a file system does not support.
func (n *node) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if n.ms.readOnly {
		return syscall.EROFS
	}
	const renameNoreplace = 1
	if flags&^renameNoreplace != 0 {
		return syscall.EINVAL
	}
	if len(newName) > maxNameLen {
		return syscall.ENAMETOOLONG
	}
	if !driveName(newName) {
		return syscall.EINVAL
	}
	if errno := n.ms.refuseDropping(newName); errno != 0 {
		return errno
	}
	dir, ok := n.path()
	np, ok2 := newParent.(*node)
	if !ok || !ok2 {
		return syscall.ENOENT
	}
	newDir, ok := np.path()
	if !ok {
		return syscall.ENOENT
	}
	from, to := childPath(dir, name), childPath(newDir, newName)
	ctx = context.WithoutCancel(ctx)
	src, err := n.ms.backend.Lstat(ctx, from)
	if err != nil {
		return toErrno(err)
	}
	if from == to {
		return 0
	}
	if dst, err := n.ms.backend.Lstat(ctx, to); err == nil {
		if flags&renameNoreplace != 0 {
			return syscall.EEXIST
		}
		srcDir, dstDir := fileType(src) == syscall.S_IFDIR, fileType(dst) == syscall.S_IFDIR
		switch {
		case srcDir && !dstDir:
			return syscall.ENOTDIR
		case !srcDir && dstDir:
			return syscall.EISDIR
		case srcDir:
			if err := n.ms.backend.Rmdir(ctx, to); err != nil {
				return toErrno(err)
			}
		}
	} else if errno := toErrno(err); errno != syscall.ENOENT {
		return errno
	}
	// A file being written is committed first, so the move carries its
	// latest content.
	if child := n.GetChild(name); child != nil {
		if errno := child.Operations().(*node).commit(ctx); errno != 0 {
			return errno
		}
	}
	if err := n.ms.backend.Rename(ctx, from, to); err != nil {
		return toErrno(err)
	}
	n.ms.noteOwnChange()
	n.ms.inos.rename(from, to)
	n.entriesChanged()
	np.entriesChanged()
	return 0
}

// Link is refused: a drive has no hard links.
func (n *node) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// dirBatch is how many entries a directory handle takes from its listing
// at a time: a READDIRPLUS reply holds a page's worth, a few dozen.
const dirBatch = 256

// dirHandle is an open directory: a listing read in parts as the kernel
// asks, served by offset so seekdir works (the offset of entry i is i+1,
// counting "." and ".." as entries 0 and 1). Reading on costs only the
// entries read; a seek back opens the listing again and skips to the
// offset. go-fuse serializes the calls on one handle.
type dirHandle struct {
	n      *node
	dir    string
	stream DirStream  // nil after an error: opened again when needed
	buf    []DirEntry // the part read last
	base   int        // the listing index of buf[0]
	done   bool       // the stream is over
	idx    int        // next entry to return
	last   *DirEntry  // the entry Readdirent returned last, for Lookup
}

// open starts the listing over.
func (d *dirHandle) open(ctx context.Context) syscall.Errno {
	s, err := d.n.ms.openStream(ctx, d.dir)
	if err != nil {
		return toErrno(err)
	}
	d.stream, d.buf, d.base, d.done = s, nil, 0, false
	return 0
}

// entry returns listing entry k, reading the listing up to it; nil past
// the end.
func (d *dirHandle) entry(ctx context.Context, k int) (*DirEntry, syscall.Errno) {
	if k < d.base || d.stream == nil {
		// A seek back, or a listing broken by an interrupted read:
		// the listing is read again up to k.
		if errno := d.open(ctx); errno != 0 {
			return nil, errno
		}
	}
	for k >= d.base+len(d.buf) {
		if d.done {
			return nil, 0
		}
		ents, err := d.stream.Next(ctx, dirBatch)
		if err != nil {
			d.stream = nil
			return nil, toErrno(err)
		}
		d.base += len(d.buf)
		d.buf = d.n.ms.listable(d.dir, ents)
		d.done = len(ents) == 0
	}
	return &d.buf[k-d.base], 0
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	i := d.idx
	de := &fuse.DirEntry{Mode: syscall.S_IFDIR, Off: uint64(i + 1)}
	switch i {
	case 0:
		de.Name, de.Ino = ".", d.n.ino()
	case 1:
		de.Name, de.Ino = "..", 1
		if _, parent := d.n.Parent(); parent != nil {
			de.Ino = parent.StableAttr().Ino
		}
	default:
		e, errno := d.entry(ctx, i-2)
		if errno != 0 || e == nil {
			return nil, errno
		}
		d.last = e
		de.Name = e.Name
		de.Mode = fileType(&e.Attr)
		de.Ino = d.n.ms.inos.peek(childPath(d.dir, e.Name), de.Mode)
	}
	d.idx++
	return de, 0
}

// Seekdir moves to offset off; the listing is read up to it when the
// next entry is asked for.
func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off > 1<<62 {
		return syscall.EINVAL
	}
	d.idx = int(off)
	d.last = nil
	return 0
}

// Lookup serves READDIRPLUS from the listing's attributes.
func (d *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	e := d.last
	if e == nil || e.Name != name {
		return d.n.Lookup(ctx, name, out)
	}
	// A node the kernel already knows keeps its attributes: they are at
	// least as new as the listing, taken at opendir, and a file being
	// written must not have its size set back.
	if in := d.n.GetChild(name); in != nil && in.StableAttr().Mode == fileType(&e.Attr) {
		in.Operations().(*node).entryOut(out)
		return in, 0
	}
	if d.n.ms.inodes.full() {
		// The kernel holds all the inodes the budget allows: the name
		// goes without attributes (an entry with no node ID), so the
		// kernel makes an inode only if it is looked up.
		return nil, syscall.EAGAIN
	}
	return d.n.newChild(ctx, childPath(d.dir, name), &e.Attr, out), 0
}

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) {}

// Mknod creates a regular file; a drive holds no fifos, sockets or device
// nodes, and mknod(2) documents EPERM for types a file system does not
// support.
func (n *node) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if t := mode & syscall.S_IFMT; t != 0 && t != syscall.S_IFREG {
		return nil, syscall.EPERM
	}
	ctx = context.WithoutCancel(ctx)
	return n.create(ctx, name, out, func(p string) error {
		return n.ms.backend.WriteFile(ctx, p, mode&07777, bytes.NewReader(nil), 0)
	})
}

// Fsyncdir makes the directory's entries durable: files of the directory
// being written are committed, then the backend, if it can, syncs its
// storage. Entries are in the backend as soon as they are made, so there is
// nothing else to do.
func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	ctx = context.WithoutCancel(ctx)
	for _, in := range d.n.Children() {
		if errno := in.Operations().(*node).commit(ctx); errno != 0 {
			return errno
		}
	}
	if s, ok := d.n.ms.backend.(Syncer); ok {
		if err := s.Sync(ctx); err != nil {
			return toErrno(err)
		}
	}
	return 0
}

// setOwner gives the new entry p the caller's uid and gid (with
// allow_other, other users than the mounting one create files), or the
// directory's gid if it is set-group-ID, as Linux file systems do. Entries
// that store no owner show as the mounting user, so the common case, the
// mounting user creating files, stores nothing more.
func (n *node) setOwner(ctx context.Context, p string) syscall.Errno {
	uid, gid := n.ms.uid, n.ms.gid
	if c, ok := fuse.FromContext(ctx); ok {
		uid, gid = c.Uid, c.Gid
	}
	n.mu.Lock()
	dir := n.currentAttrLocked()
	n.mu.Unlock()
	if dir.Mode&syscall.S_ISGID != 0 {
		var out fuse.Attr
		n.ms.fillAttr(0, &dir, &out)
		gid = out.Gid
	}
	if uid == n.ms.uid && gid == n.ms.gid {
		return 0
	}
	ctx = context.WithoutCancel(ctx)
	if err := n.ms.backend.SetAttr(ctx, p, SetAttr{UID: &uid, GID: &gid}); err != nil {
		return toErrno(err)
	}
	n.ms.noteOwnChange()
	return 0
}

// driveName reports whether name, a single path component as the kernel
// gives it, names the same entry in the drive. The drive's paths turn "\\"
// into a separator (as hyperdrive's unixify does), and hold only valid
// UTF-8 without NUL.
func driveName(name string) bool {
	return !strings.ContainsRune(name, '\\') && utf8.ValidString(name)
}

// listable drops from a listing of dir the names the kernel must never see
// or that the mount could not open: "", ".", "..", names with "/" or NUL
// (a hostile drive holds keys such as "a/../../x" or "dir/./x", whose
// listings name "." and ".."; showing them would let a walk loop or climb
// out), names that are not one drive entry (a "\\" is a separator in a
// drive path, invalid UTF-8 is refused), and names over NAME_MAX. Each
// hidden name is logged once per mount.
func (ms *mountState) listable(dir string, entries []DirEntry) []DirEntry {
	out := entries[:0]
	for _, e := range entries {
		if ok := e.Name != "" && e.Name != "." && e.Name != ".." && !strings.ContainsAny(e.Name, "/\x00") &&
			len(e.Name) <= maxNameLen && driveName(e.Name); ok {
			out = append(out, e)
			continue
		}
		if _, seen := ms.hidden.LoadOrStore(dir+"\x00"+e.Name, true); !seen {
			ms.log.Warn("hiding a drive entry whose name cannot be a file name here", "dir", dir, "name", e.Name)
		}
	}
	return out
}

// droppings are the names file managers create for one machine's use:
// trash folders (the freedesktop.org trash spec's .Trash and .Trash-$uid,
// which a drive would publish to every peer, "deleted" files included),
// folder view settings and thumbnail caches (KDE's .directory, macOS's
// .DS_Store, AppleDouble "._" files, .Spotlight-V100, .fseventsd,
// .TemporaryItems, .thumbnails).
var droppings = []string{".Trash", ".directory", ".DS_Store", ".thumbnails", ".Spotlight-V100", ".fseventsd", ".TemporaryItems"}

// refuseDropping fails the creation of a file manager's dropping with
// EPERM, unless Options.AllowDroppings: file managers then delete for
// good instead of moving to a trash folder every peer would receive, and
// keep their settings to themselves.
func (ms *mountState) refuseDropping(name string) syscall.Errno {
	if ms.opts.AllowDroppings {
		return 0
	}
	if strings.HasPrefix(name, ".Trash-") || strings.HasPrefix(name, "._") || slices.Contains(droppings, name) {
		if _, seen := ms.hidden.LoadOrStore("refused\x00"+name, true); !seen {
			ms.log.Info("refusing a file manager's per-machine file (it would be published with the drive)", "name", name)
		}
		return syscall.EPERM
	}
	return 0
}
