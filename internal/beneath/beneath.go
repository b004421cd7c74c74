// Package beneath creates, writes and reads files below one local folder
// without ever following a symbolic link or leaving that folder. It is how
// hyperfs copies trees it does not trust (a drive someone else wrote, a
// folder that may change under it) to and from the disk.
//
// Every operation names a single path component relative to an open
// directory, or a relative path resolved with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS) where the kernel has it and by an O_NOFOLLOW walk of
// one component at a time where it has not, as tar and rsync do. A symlink
// planted where a folder is expected is never entered, so an earlier
// version of a tree cannot redirect a later write.
package beneath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ErrBadName is returned for a name that cannot be one path component.
var ErrBadName = errors.New("not a single path component")

// ValidName reports whether name can be one path component on this
// system: not empty, ".", or "..", and without "/" or NUL.
func ValidName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// Dir is an open directory; names are resolved relative to it.
type Dir struct {
	f    *os.File
	path string // for messages: the root's path joined with the names walked
}

// Open opens the folder at p. Links in p itself are followed: the caller
// chose p. With create, a missing folder is made (with its parents). A p
// that exists and is not a folder is an error saying so.
func Open(p string, create bool) (*Dir, error) {
	if p == "" {
		return nil, errors.New("empty folder name")
	}
	if create {
		if err := os.MkdirAll(p, 0o755); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) && errors.Is(err, unix.ENOTDIR) {
				return nil, fmt.Errorf("%s is a file, not a folder: choose a folder", p)
			}
			return nil, err
		}
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ENOTDIR {
			return nil, fmt.Errorf("%s is a file, not a folder: choose a folder", p)
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), p), path: p}, nil
}

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// Path is the directory's path, for messages.
func (d *Dir) Path() string { return d.path }

// File is the open directory (for Chmod, Chown, ReadDir, Fd).
func (d *Dir) File() *os.File { return d.f }

func (d *Dir) fd() int { return int(d.f.Fd()) }

func (d *Dir) join(name string) string { return path.Join(d.path, name) }

func (d *Dir) err(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: d.join(name), Err: err}
}

// noOpenat2 is set once the kernel has said it lacks openat2.
var noOpenat2 atomic.Bool

// OpenDir opens the folder rel (slash-separated, relative) below d. No
// component may be a symlink, "..", or lead outside d.
func (d *Dir) OpenDir(rel string) (*Dir, error) {
	rel = strings.Trim(rel, "/")
	if rel == "" {
		return d.openChild(".")
	}
	for _, c := range strings.Split(rel, "/") {
		if !ValidName(c) {
			return nil, d.err("open", rel, ErrBadName)
		}
	}
	if !noOpenat2.Load() {
		fd, err := unix.Openat2(d.fd(), rel, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		switch err {
		case nil:
			return &Dir{f: os.NewFile(uintptr(fd), d.join(rel)), path: d.join(rel)}, nil
		case unix.ENOSYS, unix.EPERM: // no openat2 (or a seccomp filter refusing it)
			noOpenat2.Store(true)
		default:
			return nil, d.err("open", rel, err)
		}
	}
	// One component at a time, none followed.
	cur := d
	for _, c := range strings.Split(rel, "/") {
		next, err := cur.openChild(c)
		if cur != d {
			cur.Close()
		}
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

func (d *Dir) openChild(name string) (*Dir, error) {
	fd, err := unix.Openat(d.fd(), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, d.err("open", name, err)
	}
	p := d.join(name)
	if name == "." {
		p = d.path
	}
	return &Dir{f: os.NewFile(uintptr(fd), p), path: p}, nil
}

// Lstat returns what name is, without following a symlink.
func (d *Dir) Lstat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if !ValidName(name) {
		return st, d.err("lstat", name, ErrBadName)
	}
	if err := unix.Fstatat(d.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return st, d.err("lstat", name, err)
	}
	return st, nil
}

// IsNotExist reports whether err says an entry does not exist.
func IsNotExist(err error) bool { return errors.Is(err, unix.ENOENT) }

// ErrIsFolder is returned when a file or link would replace a folder.
var ErrIsFolder = errors.New("a folder is in the way (remove it to replace it)")

// clear removes name unless it is absent or of type keep, so that an entry
// of another type can take its place. A folder is never removed.
func (d *Dir) clear(name string, keep uint32) error {
	st, err := d.Lstat(name)
	if err != nil {
		if IsNotExist(err) {
			return nil
		}
		return err
	}
	typ := st.Mode & unix.S_IFMT
	switch {
	case typ == keep:
		return nil
	case typ == unix.S_IFDIR:
		return d.err("replace", name, ErrIsFolder)
	}
	if err := unix.Unlinkat(d.fd(), name, 0); err != nil {
		return d.err("remove", name, err)
	}
	return nil
}

// Mkdir opens the folder name in d, making it (with perm) if missing. A
// file or symlink of that name is replaced, never followed.
func (d *Dir) Mkdir(name string, perm uint32) (*Dir, error) {
	if !ValidName(name) {
		return nil, d.err("mkdir", name, ErrBadName)
	}
	if err := d.clear(name, unix.S_IFDIR); err != nil {
		return nil, err
	}
	if err := unix.Mkdirat(d.fd(), name, perm&0o7777); err != nil && err != unix.EEXIST {
		return nil, d.err("mkdir", name, err)
	}
	return d.openChild(name)
}

// Create opens the regular file name in d for writing, truncated, made with
// perm if missing. A symlink or special file of that name is replaced; it is
// never followed or opened (a FIFO cannot block the caller).
func (d *Dir) Create(name string, perm uint32) (*os.File, error) {
	if !ValidName(name) {
		return nil, d.err("create", name, ErrBadName)
	}
	if err := d.clear(name, unix.S_IFREG); err != nil {
		return nil, err
	}
	fd, err := unix.Openat(d.fd(), name, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, perm&0o7777)
	if err != nil {
		return nil, d.err("create", name, err)
	}
	f := os.NewFile(uintptr(fd), d.join(name))
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, d.err("create", name, errors.New("not a regular file"))
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		f.Close()
		return nil, d.err("create", name, err)
	}
	return f, nil
}

// OpenFile opens the regular file name in d for reading, refusing a
// symlink or special file.
func (d *Dir) OpenFile(name string) (*os.File, error) {
	if !ValidName(name) {
		return nil, d.err("open", name, ErrBadName)
	}
	fd, err := unix.Openat(d.fd(), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, d.err("open", name, err)
	}
	f := os.NewFile(uintptr(fd), d.join(name))
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, d.err("open", name, errors.New("not a regular file"))
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		f.Close()
		return nil, d.err("open", name, err)
	}
	return f, nil
}

// Symlink makes name in d a symlink to target, replacing a file or link of
// that name. The target is stored as given and never resolved here.
func (d *Dir) Symlink(target, name string) error {
	if !ValidName(name) {
		return d.err("symlink", name, ErrBadName)
	}
	if st, err := d.Lstat(name); err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		if old, err := d.Readlink(name); err == nil && old == target {
			return nil
		}
	}
	if err := d.clear(name, 0); err != nil {
		return err
	}
	if err := unix.Symlinkat(target, d.fd(), name); err != nil {
		return d.err("symlink", name, err)
	}
	return nil
}

// Readlink returns the target of the symlink name in d.
func (d *Dir) Readlink(name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(d.fd(), name, buf)
		if err != nil {
			return "", d.err("readlink", name, err)
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Chtimes sets name's access and modification times, a symlink's own.
func (d *Dir) Chtimes(name string, atime, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if name == "" {
		name = "."
	} else if !ValidName(name) {
		return d.err("chtimes", name, ErrBadName)
	}
	if err := unix.UtimesNanoAt(d.fd(), name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return d.err("chtimes", name, err)
	}
	return nil
}

// Remove removes the file, symlink or empty folder name from d.
func (d *Dir) Remove(name string) error {
	if !ValidName(name) {
		return d.err("remove", name, ErrBadName)
	}
	err := unix.Unlinkat(d.fd(), name, 0)
	if err == unix.EISDIR || err == unix.EPERM {
		err = unix.Unlinkat(d.fd(), name, unix.AT_REMOVEDIR)
	}
	if err != nil {
		return d.err("remove", name, err)
	}
	return nil
}

// SetXattr sets the extended attribute attr on the open file f.
func SetXattr(f *os.File, attr string, value []byte) error {
	if err := unix.Fsetxattr(int(f.Fd()), attr, value, 0); err != nil {
		return &fs.PathError{Op: "setxattr " + attr, Path: f.Name(), Err: err}
	}
	return nil
}

// Xattrs returns the extended attributes in the user namespace of the open
// file f, by name.
func Xattrs(f *os.File) (map[string][]byte, error) {
	fd := int(f.Fd())
	sz, err := unix.Flistxattr(fd, nil)
	if err != nil || sz == 0 {
		if err == unix.ENOTSUP {
			err = nil
		}
		return nil, err
	}
	buf := make([]byte, sz)
	if sz, err = unix.Flistxattr(fd, buf); err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if !strings.HasPrefix(name, "user.") {
			continue
		}
		n, err := unix.Fgetxattr(fd, name, nil)
		if err != nil {
			continue
		}
		v := make([]byte, n)
		if n, err = unix.Fgetxattr(fd, name, v); err != nil {
			continue
		}
		out[name] = v[:n]
	}
	return out, nil
}
