// Package transfer copies between drives and local folders: export writes
// a drive's tree into a folder, import a folder's tree into a drive.
//
// Both treat the tree they read as hostile. A drive written by someone else
// may hold names such as "..", "a/../../x", names with NUL or a backslash,
// symlinks to anywhere, and mounts of itself; a local folder may change
// while it is read. Export creates, writes and inspects files only through
// package beneath, so nothing outside the target is ever created, written
// or followed; names that cannot be one path component are skipped with a
// warning; a drive's symlinks are recreated, never followed; and the walk
// visits every entry at most once, so it ends on any drive.
package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/internal/beneath"
	"golang.org/x/sys/unix"
)

// Report counts what a transfer did.
type Report struct {
	Files   int    // files and symlinks written
	Dirs    int    // folders written or kept
	Skipped int    // files already up to date
	Bad     int    // entries skipped for an unusable name or a loop
	Bytes   uint64 // bytes written
	// SkippedBytes is the size of the files skipped as up to date.
	SkippedBytes uint64
}

// Options tune a transfer.
type Options struct {
	// Progress, if set, is called after every file with the counts so far
	// and the path just done.
	Progress func(r Report, p string)
	// Log receives the warnings about skipped entries; nil is slog's
	// default logger.
	Log *slog.Logger
	// FollowLinks makes import copy what a local symlink points to instead
	// of the link (loops are detected). Export never follows links.
	FollowLinks bool
}

func (o *Options) log() *slog.Logger {
	if o.Log != nil {
		return o.Log
	}
	return slog.Default()
}

// maxDepth bounds a walk: deeper trees are not made by anything honest, and
// a bound keeps a crafted one from exhausting the stack.
const maxDepth = 1024

// driveName reports whether a name read from a drive's listing can be
// written as one local path component and read back from the drive by
// name: beneath.ValidName, and no backslash (a drive turns "\" into "/" in
// every path, so such an entry cannot be opened by its listed name).
func driveName(name string) bool {
	return beneath.ValidName(name) && !strings.Contains(name, `\`)
}

// Export copies the drive path p into the local folder out (made if
// missing). A folder's contents go into out; a file or symlink goes into
// out/<its name>. Files whose size and modification time already match are
// skipped. Modes, modification times and the user.* extended attributes of
// files and folders are kept.
func Export(ctx context.Context, d *hyperdrive.Drive, p, out string, opts Options) (Report, error) {
	e := &exporter{d: d, opts: opts, log: opts.log()}
	st, err := d.Lstat(ctx, p)
	if err != nil {
		return e.rep, err
	}
	root, err := beneath.Open(out, true)
	if err != nil {
		return e.rep, err
	}
	defer root.Close()
	if !st.IsDir() {
		cp := path.Clean("/" + p)
		return e.rep, e.entry(ctx, root, path.Base(cp), cp, st, 0, nil)
	}
	err = e.dir(ctx, root, path.Clean("/"+p), st, 0, mountKeys([]string{string(d.Key())}, st))
	return e.rep, err
}

type exporter struct {
	d    *hyperdrive.Drive
	opts Options
	log  *slog.Logger
	rep  Report
}

// mountKeys returns keys plus the drive st mounts, if any: the drives on
// the way down, so a drive that mounts itself (or an ancestor) is not
// walked again.
func mountKeys(keys []string, st *hyperdrive.Stat) []string {
	if st.Mount == nil {
		return keys
	}
	return append(keys[:len(keys):len(keys)], string(st.Mount.Key))
}

func (e *exporter) skip(dp, why string) {
	e.rep.Bad++
	e.log.Warn("skipped "+why, "path", dp)
}

// dir writes the drive folder dp (already made as local) and its contents.
func (e *exporter) dir(ctx context.Context, local *beneath.Dir, dp string, st *hyperdrive.Stat, depth int, mounts []string) error {
	if depth > maxDepth {
		e.skip(dp, "folder nested too deep")
		return nil
	}
	entries, err := e.d.Readdir(ctx, dp)
	if errors.Is(err, hyperdrive.ErrMountCycle) {
		e.skip(dp, "a mount of a drive it is inside of (a loop)")
		return nil
	}
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(entries))
	for _, ent := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		child := dp + "/" + ent.Name
		if dp == "/" {
			child = "/" + ent.Name
		}
		if !driveName(ent.Name) {
			e.skip(child, "an entry whose name cannot be a file name")
			continue
		}
		if seen[ent.Name] {
			continue
		}
		seen[ent.Name] = true
		// The listing may show a synthesized folder where the entry is a
		// symlink; the entry's own Stat decides.
		cst, err := e.d.Lstat(ctx, child)
		if errors.Is(err, hyperdrive.ErrMountCycle) {
			e.skip(child, "a mount of a drive it is inside of (a loop)")
			continue
		}
		if err != nil {
			return err
		}
		if err := e.entry(ctx, local, ent.Name, child, cst, depth+1, mounts); err != nil {
			return err
		}
	}
	e.rep.Dirs++
	return e.finish(local, "", st)
}

// entry writes one drive entry as name in local.
func (e *exporter) entry(ctx context.Context, local *beneath.Dir, name, dp string, st *hyperdrive.Stat, depth int, mounts []string) error {
	switch {
	case st.IsDir():
		if st.Mount != nil {
			for _, k := range mounts {
				if k == string(st.Mount.Key) {
					e.skip(dp, "a mount of a drive it is inside of (a loop)")
					return nil
				}
			}
		}
		sub, err := local.Mkdir(name, 0o700) // its own mode once its contents are written
		if err != nil {
			return err
		}
		defer sub.Close()
		return e.dir(ctx, sub, dp, st, depth, mountKeys(mounts, st))
	case st.IsSymlink():
		if err := local.Symlink(st.Linkname, name); err != nil {
			return err
		}
		if err := local.Chtimes(name, st.Mtime, st.Mtime); err != nil {
			e.log.Debug("symlink times", "path", dp, "err", err)
		}
		e.rep.Files++
		e.progress(dp)
		return nil
	case st.IsFile():
		return e.file(ctx, local, name, dp, st)
	}
	e.skip(dp, fmt.Sprintf("an entry of unknown type %o", st.Mode&hyperdrive.ModeType))
	return nil
}

func (e *exporter) progress(dp string) {
	if e.opts.Progress != nil {
		e.opts.Progress(e.rep, dp)
	}
}

// upToDate reports whether name in local is a regular file of st's size
// and modification time (to the millisecond a drive keeps).
func upToDate(local *beneath.Dir, name string, st *hyperdrive.Stat) bool {
	ls, err := local.Lstat(name)
	if err != nil || ls.Mode&unix.S_IFMT != unix.S_IFREG || uint64(ls.Size) != st.Size {
		return false
	}
	mt := time.Unix(ls.Mtim.Unix()).Truncate(time.Millisecond)
	return mt.Equal(st.Mtime.Truncate(time.Millisecond))
}

func (e *exporter) file(ctx context.Context, local *beneath.Dir, name, dp string, st *hyperdrive.Stat) error {
	if upToDate(local, name, st) {
		e.rep.Skipped++
		e.rep.SkippedBytes += st.Size
		e.progress(dp)
		return nil
	}
	f, err := e.d.OpenFile(ctx, dp)
	if err != nil {
		return err
	}
	defer f.Close()
	o, err := local.Create(name, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(o, &counter{r: f, add: func(k int) {
		e.rep.Bytes += uint64(k)
		e.progress(dp)
	}})
	if err == nil {
		err = applyAttrs(o, st, e.log)
	}
	if cerr := o.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("exporting %s: %w", dp, err)
	}
	if err := local.Chtimes(name, st.Mtime, st.Mtime); err != nil {
		return err
	}
	e.rep.Files++
	e.progress(dp)
	return nil
}

// finish gives the folder local its drive mode, attributes and times, after
// its contents are written (writing them changes its time; a read-only
// mode would refuse them).
func (e *exporter) finish(local *beneath.Dir, name string, st *hyperdrive.Stat) error {
	if err := applyAttrs(local.File(), st, e.log); err != nil {
		return err
	}
	return local.Chtimes(name, st.Mtime, st.Mtime)
}

// applyAttrs sets the permission bits (never setuid, setgid or sticky: a
// drive is not trusted with them) and user.* extended attributes of st
// on an open file or folder. A file system without user xattrs only costs
// a warning.
func applyAttrs(f interface {
	Fd() uintptr
	Name() string
}, st *hyperdrive.Stat, log *slog.Logger) error {
	if err := unix.Fchmod(int(f.Fd()), st.Mode&0o777); err != nil {
		return fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	for _, m := range st.Metadata {
		if m.Value == nil || !strings.HasPrefix(m.Key, "user.") {
			continue
		}
		if err := unix.Fsetxattr(int(f.Fd()), m.Key, m.Value, 0); err != nil {
			if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
				log.Warn("extended attribute not kept: the target does not support user xattrs", "path", f.Name(), "attr", m.Key)
				continue
			}
			return fmt.Errorf("setxattr %s on %s: %w", m.Key, f.Name(), err)
		}
	}
	return nil
}

// Size counts the files below the drive path p (or p itself) and their
// bytes, walking as Export does: mounted drives included, each entry once.
func Size(ctx context.Context, d *hyperdrive.Drive, p string) (files int, bytes uint64, err error) {
	st, err := d.Lstat(ctx, p)
	if err != nil {
		return 0, 0, err
	}
	var walk func(dp string, st *hyperdrive.Stat, depth int, mounts []string) error
	walk = func(dp string, st *hyperdrive.Stat, depth int, mounts []string) error {
		if st.IsFile() {
			files++
			bytes += st.Size
			return nil
		}
		if !st.IsDir() || depth > maxDepth {
			return nil
		}
		if st.Mount != nil && depth > 0 {
			for _, k := range mounts {
				if k == string(st.Mount.Key) {
					return nil
				}
			}
			mounts = mountKeys(mounts, st)
		}
		entries, err := d.Readdir(ctx, dp)
		if errors.Is(err, hyperdrive.ErrMountCycle) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !driveName(e.Name) {
				continue
			}
			child := path.Join(dp, e.Name)
			cst, err := d.Lstat(ctx, child)
			if errors.Is(err, hyperdrive.ErrMountCycle) {
				continue
			}
			if err != nil {
				return err
			}
			if err := walk(child, cst, depth+1, mounts); err != nil {
				return err
			}
		}
		return nil
	}
	err = walk(path.Clean("/"+p), st, 0, []string{string(d.Key())})
	return files, bytes, err
}

// counter calls add with the size of every read: progress within a large
// file, not only after it.
type counter struct {
	r   io.Reader
	add func(int)
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.add(n)
	}
	return n, err
}
