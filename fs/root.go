package fs

import (
	"hash/maphash"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Defaults for Options fields left zero.
const (
	DefaultReadTimeout  = 60 * time.Second
	DefaultCacheTimeout = time.Hour
	DefaultReadAhead    = 8 << 20
	minReadAhead        = 128 << 10
	blockSize           = 4096
	ioSize              = 1 << 20 // the largest FUSE request
	maxNameLen          = 255     // NAME_MAX: longer names could not be copied to other file systems
)

// mountState is what every node of one mount shares. Fields above mu are
// written once, in newRoot.
type mountState struct {
	backend    Backend
	opts       Options
	log        *slog.Logger
	uid, gid   uint32 // owner shown for entries that store none
	mountpoint string // absolute; "" when not mounted (tests of nodes)
	stagingDir string
	readOnly   bool
	attrTTL    time.Duration

	inos   inoTable
	inodes inodeBudget

	// hidden holds the listed names already logged as hidden (dir NUL
	// name), so each is logged once.
	hidden sync.Map

	// ownVersion is the backend version after this mount's last change,
	// so the watcher can skip the events its own writes cause.
	ownVersion atomic.Uint64
}

// newRoot returns the root node of a mount of b. The staging directory for
// writes is created under opts.StagingDir.
func newRoot(b Backend, opts Options) (*node, error) {
	opts.setDefaults()
	ms := &mountState{
		backend:  b,
		opts:     opts,
		log:      opts.Logger,
		readOnly: opts.ReadOnly || !b.Writable(),
		attrTTL:  opts.CacheTimeout,
	}
	ms.uid, ms.gid = uint32(os.Getuid()), uint32(os.Getgid())
	if opts.UID != nil {
		ms.uid = *opts.UID
	}
	if opts.GID != nil {
		ms.gid = *opts.GID
	}
	if !ms.readOnly {
		dir, err := os.MkdirTemp(opts.StagingDir, "hyperfs-staging-")
		if err != nil {
			return nil, err
		}
		ms.stagingDir = dir
	}
	ms.inos.init()
	ms.inodes.init(opts.Memory)
	ms.ownVersion.Store(b.Version())
	return &node{ms: ms}, nil
}

// close removes the staging directory.
func (ms *mountState) close() {
	ms.inodes.stop()
	if ms.stagingDir != "" {
		os.RemoveAll(ms.stagingDir)
	}
}

// fillAttr converts a backend Attr for the kernel.
func (ms *mountState) fillAttr(ino uint64, a *Attr, out *fuse.Attr) {
	out.Ino = ino
	out.Mode = a.Mode
	if a.Mount {
		out.Mode = syscall.S_IFDIR | a.Mode&07777
		if a.Mode&07777 == 0 {
			out.Mode |= 0755
		}
	}
	out.Size = a.Size
	out.Blocks = (a.Size + 511) / 512
	// st_blksize is what programs take as the best write size. Writes go
	// to a local staged copy, so small ones are cheap; a large value makes
	// tools (fsstress, cp of sparse input) write large sparse files, and
	// every commit writes a file whole.
	out.Blksize = blockSize
	out.Nlink = 1 // also for directories: "unknown", so find(1) does not count links
	out.Owner.Uid, out.Owner.Gid = a.UID, a.GID
	if a.UID == 0 && a.GID == 0 {
		out.Owner.Uid, out.Owner.Gid = ms.uid, ms.gid
	}
	out.SetTimes(&a.Mtime, &a.Mtime, &a.Ctime)
	if ms.opts.Umask != nil {
		out.Mode &^= *ms.opts.Umask & 0o7777
	}
	if a.Mode&syscall.S_IFMT == syscall.S_IFLNK {
		// Linux symlinks are always rwxrwxrwx, whatever a drive stored.
		out.Mode = syscall.S_IFLNK | 0777
		out.Size = uint64(len(ms.linkTarget("", a.Linkname)))
	}
}

func (ms *mountState) setEntryOut(ino uint64, a *Attr, out *fuse.EntryOut) {
	ms.fillAttr(ino, a, &out.Attr)
	out.SetEntryTimeout(ms.attrTTL)
	out.SetAttrTimeout(ms.attrTTL)
}

// linkTarget is what readlink shows for the symlink at linkPath (a drive
// path; "" if unknown) whose stored target is target. A drive resolves its
// links inside itself: an absolute target from its root, a relative one
// that climbs above the root stopped there. So an absolute target is shown
// under the mountpoint, as hyperdrive-fuse does, and so is a relative one
// that would climb out of the mount: links keep working wherever the drive
// is mounted, and a drive's links never lead into the host's tree. Other
// relative targets are shown as stored.
func (ms *mountState) linkTarget(linkPath, target string) string {
	if ms.mountpoint == "" {
		return target
	}
	if strings.HasPrefix(target, "/") {
		return path.Join(ms.mountpoint, target)
	}
	if linkPath != "" && climbsOut(path.Dir(linkPath), target) {
		return path.Join(ms.mountpoint, path.Join(path.Dir(linkPath), target))
	}
	return target
}

// climbsOut reports whether relative target, followed from drive
// directory dir, goes above the drive's root.
func climbsOut(dir, target string) bool {
	depth := 0
	for _, c := range strings.Split(dir, "/") {
		if c != "" {
			depth++
		}
	}
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return true
			}
		default:
			depth++
		}
	}
	return false
}

// storedTarget is the inverse of linkTarget for a symlink made through
// the mount: a target under the mountpoint is stored from the drive's root.
func (ms *mountState) storedTarget(target string) string {
	if ms.mountpoint == "" {
		return target
	}
	if target == ms.mountpoint {
		return "/"
	}
	if rest, ok := strings.CutPrefix(target, ms.mountpoint+"/"); ok {
		return "/" + rest
	}
	return target
}

// fileType is the S_IF* type the kernel sees for a.
func fileType(a *Attr) uint32 {
	if a.Mount {
		return syscall.S_IFDIR
	}
	return a.Mode & syscall.S_IFMT
}

// inoTable hands out inode numbers by path, so a path keeps its number for
// the life of the mount; renames carry numbers along. It is a tree of
// names, so a lookup, unlink or rename costs the depth of its path,
// whatever the number of paths known.
//
// A path's first number is a hash of the path (hashIno), so a listing can
// give each name the number a lookup will give it without adding it to the
// table, and a path whose inode the kernel forgot needs no entry to keep
// its number: the table holds the paths the kernel knows, those above
// them, and those whose number is not their hash (renamed, or renumbered
// because their hash was taken). Its size follows the inodes the kernel
// holds, not the names ever listed.
type inoTable struct {
	mu   sync.Mutex
	next uint64   // guarded by mu
	root inoEntry // guarded by mu: "/"
	seed maphash.Seed
	// used holds the hash numbers given out and not yet given back, so
	// no two files get one number: a path whose hash is taken (by a file
	// renamed away from it, or unlinked while open) is counted a number.
	// Guarded by mu.
	used map[uint64]struct{}
}

// inoEntry is one path's number and the names known below it.
type inoEntry struct {
	ino    uint64 // 0 until the path itself is numbered (a parent seen only through a child)
	mode   uint32 // S_IF* type the number was handed out for
	parent *inoEntry
	name   string
	kids   map[string]*inoEntry
}

// Numbers below hashBase come from the counter, those from it up from the
// path hash.
const hashBase = 1 << 32

func (t *inoTable) init() {
	t.root = inoEntry{ino: 1, mode: syscall.S_IFDIR}
	t.next = 2
	t.seed = maphash.MakeSeed()
	t.used = map[uint64]struct{}{}
}

// hashIno is path's number unless the table says otherwise.
func (t *inoTable) hashIno(path string) uint64 {
	return hashBase + maphash.String(t.seed, path)%(1<<62-hashBase)
}

// walk returns the entry of path; with create, missing entries are added.
func (t *inoTable) walk(path string, create bool) *inoEntry {
	e := &t.root
	for rest := strings.TrimPrefix(path, "/"); rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, "/")
		k := e.kids[name]
		if k == nil {
			if !create {
				return nil
			}
			if e.kids == nil {
				e.kids = map[string]*inoEntry{}
			}
			k = &inoEntry{parent: e, name: name}
			e.kids[name] = k
		}
		e = k
	}
	return e
}

// detach removes path's entry, with everything below it, and returns it.
func (t *inoTable) detach(path string) *inoEntry {
	dir, name := splitPath(path)
	if name == "" {
		return nil // the root stays
	}
	parent := t.walk(dir, false)
	if parent == nil {
		return nil
	}
	e := parent.kids[name]
	delete(parent.kids, name)
	if e != nil {
		e.parent = nil
	}
	return e
}

// get returns the number of path, a new one if path is new or changed
// type, and its entry.
func (t *inoTable) get(path string, mode uint32) (uint64, *inoEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.walk(path, true)
	switch {
	case e.ino == 0:
		e.mode = mode
		h := t.hashIno(path)
		if _, taken := t.used[h]; !taken {
			t.used[h] = struct{}{}
			e.ino = h
			break
		}
		e.ino = t.next
		t.next++
	case e.mode != mode:
		e.ino, e.mode = t.next, mode
		t.next++
	}
	return e.ino, e
}

// peek returns the number get would give path, adding nothing to the
// table where it can.
func (t *inoTable) peek(path string, mode uint32) uint64 {
	t.mu.Lock()
	e := t.walk(path, false)
	h := t.hashIno(path)
	_, taken := t.used[h]
	t.mu.Unlock()
	switch {
	case (e == nil || e.ino == 0) && !taken:
		return h
	case e != nil && e.ino != 0 && e.mode == mode:
		return e.ino
	}
	ino, _ := t.get(path, mode)
	return ino
}

// release is called when the kernel forgot the inode numbered ino whose
// entry is e. The number is given back unless e still holds it, and e
// leaves the table if the table can give its path the same number
// without it: the number is its path's hash and nothing is known below.
// Parents left empty and unnumbered go too.
func (t *inoTable) release(e *inoEntry, ino uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	attached := e.parent != nil && e.parent.kids[e.name] == e
	if attached && e.ino == ino && (len(e.kids) > 0 || ino != t.hashIno(e.path())) {
		return // renamed, renumbered or a parent: the entry keeps its number
	}
	if attached && e.ino != ino {
		attached = false // renumbered since: only the old number goes
	}
	if ino >= hashBase {
		delete(t.used, ino)
	}
	for attached && len(e.kids) == 0 {
		p := e.parent
		delete(p.kids, e.name)
		e.parent = nil
		if p.ino != 0 || p == &t.root || p.parent == nil || p.parent.kids[p.name] != p {
			return
		}
		e = p
	}
}

// path is e's path; e is attached.
func (e *inoEntry) path() string {
	var segs []string
	for ; e.parent != nil; e = e.parent {
		segs = append(segs, e.name)
	}
	var b strings.Builder
	for i := len(segs) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(segs[i])
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// remove forgets path and everything below it.
func (t *inoTable) remove(path string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.detach(path)
}

// rename moves the numbers of from and everything below it to to,
// replacing whatever to had.
func (t *inoTable) rename(from, to string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.detach(from)
	t.detach(to)
	if e == nil {
		return
	}
	dir, name := splitPath(to)
	if name == "" {
		return
	}
	parent := t.walk(dir, true)
	if parent.kids == nil {
		parent.kids = map[string]*inoEntry{}
	}
	parent.kids[name] = e
	e.parent, e.name = parent, name
}

// splitPath splits an absolute path into its directory and last name
// ("/" has none).
func splitPath(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/", p[i+1:]
	}
	return p[:i], p[i+1:]
}

// childPath joins a directory path and a name.
func childPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// inodePath is the backend path of in, and false if in is no longer in the
// tree (unlinked, or replaced by a rename).
func inodePath(in *fusefs.Inode) (string, bool) {
	var segs []string
	for !in.IsRoot() {
		name, parent := in.Parent()
		if parent == nil {
			return "", false
		}
		segs = append(segs, name)
		in = parent
	}
	if len(segs) == 0 {
		return "/", true
	}
	var b strings.Builder
	for i := len(segs) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(segs[i])
	}
	return b.String(), true
}
