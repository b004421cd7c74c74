package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/internal/beneath"
	"golang.org/x/sys/unix"
)

// Import mirrors the local folder src into the drive folder dest. A file
// whose size and modification time match the drive's copy is skipped.
// Symlinks are copied as symlinks and never followed, unless
// opts.FollowLinks; then the walk keeps track of the folders it is in, so a
// link back to one of them is skipped instead of looping.
func Import(ctx context.Context, d *hyperdrive.Drive, src, dest string, opts Options) (Report, error) {
	im := &importer{d: d, opts: opts}
	root, err := beneath.Open(src, false)
	if err != nil {
		return im.rep, err
	}
	defer root.Close()
	dest = path.Clean("/" + dest)
	if dest != "/" {
		if err := d.Mkdir(ctx, dest, 0o755); err != nil && !errors.Is(err, hyperdrive.ErrExist) {
			return im.rep, err
		}
	}
	err = im.dir(ctx, root, dest, 0, nil)
	return im.rep, err
}

type importer struct {
	d    *hyperdrive.Drive
	opts Options
	rep  Report
}

type devIno struct{ dev, ino uint64 }

func (im *importer) skip(p, why string) {
	im.rep.Bad++
	im.opts.log().Warn("skipped "+why, "path", p)
}

// dir copies the entries of the open local folder into drive folder dp.
// stack holds the folders being walked, for FollowLinks.
func (im *importer) dir(ctx context.Context, local *beneath.Dir, dp string, depth int, stack []devIno) error {
	if depth > maxDepth {
		im.skip(local.Path(), "folder nested too deep")
		return nil
	}
	var self unix.Stat_t
	if err := unix.Fstat(int(local.File().Fd()), &self); err != nil {
		return err
	}
	for _, s := range stack {
		if s == (devIno{self.Dev, self.Ino}) {
			im.skip(local.Path(), "a link to a folder it is inside of (a loop)")
			return nil
		}
	}
	stack = append(stack[:len(stack):len(stack)], devIno{self.Dev, self.Ino})
	names, err := local.File().Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("listing %s: %w", local.Path(), err)
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		child := path.Join(dp, name)
		if !driveName(name) {
			im.skip(filepath.Join(local.Path(), name), "a file whose name a drive cannot hold (a backslash)")
			continue
		}
		st, err := local.Lstat(name)
		if err != nil {
			if beneath.IsNotExist(err) {
				continue // removed while walking
			}
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK && im.opts.FollowLinks {
			if err := im.followed(ctx, local, name, child, depth, stack); err != nil {
				return err
			}
			continue
		}
		if err := im.entry(ctx, local, name, child, st, depth, stack); err != nil {
			return err
		}
	}
	return nil
}

func (im *importer) entry(ctx context.Context, local *beneath.Dir, name, dp string, st unix.Stat_t, depth int, stack []devIno) error {
	mtime := time.Unix(st.Mtim.Unix()).Truncate(time.Millisecond) // drives keep milliseconds
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		sub, err := local.OpenDir(name)
		if err != nil {
			return err
		}
		defer sub.Close()
		return im.folder(ctx, sub, dp, st.Mode&0o777, depth, stack)
	case unix.S_IFLNK:
		target, err := local.Readlink(name)
		if err != nil {
			return err
		}
		if old, err := im.d.Readlink(ctx, dp); err == nil && old == target {
			im.rep.Skipped++
			im.progress(dp)
			return nil
		}
		im.d.Unlink(ctx, dp)
		if err := im.d.Symlink(ctx, target, dp); err != nil {
			return err
		}
		im.rep.Files++
		im.progress(dp)
	case unix.S_IFREG:
		if dst, err := im.d.Lstat(ctx, dp); err == nil && dst.IsFile() && dst.Size == uint64(st.Size) && dst.Mtime.Equal(mtime) {
			im.rep.Skipped++
			im.rep.SkippedBytes += uint64(st.Size)
			im.progress(dp)
			return nil
		}
		f, err := local.OpenFile(name)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := im.copyFile(ctx, f, dp, st.Mode&0o777, mtime); err != nil {
			return err
		}
		im.rep.Files++
		im.progress(dp)
	default:
		im.skip(filepath.Join(local.Path(), name), "a special file (device, FIFO or socket)")
	}
	return nil
}

// folder makes drive folder dp and copies the open local folder into it.
func (im *importer) folder(ctx context.Context, sub *beneath.Dir, dp string, mode uint32, depth int, stack []devIno) error {
	if err := im.d.Mkdir(ctx, dp, mode); err != nil && !errors.Is(err, hyperdrive.ErrExist) {
		return err
	}
	im.rep.Dirs++
	return im.dir(ctx, sub, dp, depth+1, stack)
}

// followed imports what the symlink name in local points to.
func (im *importer) followed(ctx context.Context, local *beneath.Dir, name, dp string, depth int, stack []devIno) error {
	p := filepath.Join(local.Path(), name)
	fi, err := os.Stat(p)
	if err != nil {
		im.skip(p, "a broken symlink")
		return nil
	}
	switch {
	case fi.IsDir():
		sub, err := beneath.Open(p, false)
		if err != nil {
			return err
		}
		defer sub.Close()
		return im.folder(ctx, sub, dp, uint32(fi.Mode().Perm()), depth, stack)
	case fi.Mode().IsRegular():
		mtime := fi.ModTime().Truncate(time.Millisecond)
		if dst, err := im.d.Lstat(ctx, dp); err == nil && dst.IsFile() && dst.Size == uint64(fi.Size()) && dst.Mtime.Equal(mtime) {
			im.rep.Skipped++
			im.rep.SkippedBytes += uint64(fi.Size())
			im.progress(dp)
			return nil
		}
		f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := im.copyFile(ctx, f, dp, uint32(fi.Mode().Perm()), mtime); err != nil {
			return err
		}
		im.rep.Files++
		im.progress(dp)
		return nil
	}
	im.skip(p, "a link to a special file")
	return nil
}

func (im *importer) copyFile(ctx context.Context, f *os.File, dp string, mode uint32, mtime time.Time) error {
	w, err := im.d.Create(ctx, dp, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, &counter{r: f, add: func(k int) {
		im.rep.Bytes += uint64(k)
		im.progress(dp)
	}})
	if err != nil {
		w.Abort()
		return fmt.Errorf("importing %s: %w", f.Name(), err)
	}
	if err := w.Close(); err != nil {
		return err
	}
	return im.d.SetAttr(ctx, dp, hyperdrive.Attr{Mtime: &mtime})
}

func (im *importer) progress(dp string) {
	if im.opts.Progress != nil {
		im.opts.Progress(im.rep, dp)
	}
}
