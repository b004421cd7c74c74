package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/hyperfs/hyperfs/hyperdrive"
)

func init() {
	register(&command{
		name:    "import",
		usage:   "<folder> [<key|storage-dir>]",
		summary: "copy a local folder into a drive you own, skipping files that are unchanged",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			var c driveCmd
			c.register(fs)
			dest := fs.String("to", "/", "drive `path` to import into")
			return func(args []string) error {
				if len(args) < 1 || len(args) > 2 {
					return usageError{"import takes <folder> [<key|storage-dir>]"}
				}
				src := args[0]
				if st, err := os.Stat(src); err != nil || !st.IsDir() {
					return fmt.Errorf("%s is not a folder", src)
				}
				return c.with(std, optionalArg(args[1:]), func(ctx context.Context, d *hyperdrive.Drive, _ *network) error {
					if !d.Writable() {
						return fmt.Errorf("drive %x is not yours to write: %w", d.Key(), hyperdrive.ErrReadOnly)
					}
					rep, err := importFolder(ctx, d, src, *dest)
					fmt.Fprintf(std.stdout, "%d files imported (%s), %d unchanged, %d folders\n", rep.files, humanBytes(rep.bytes), rep.skipped, rep.dirs)
					return err
				})
			}
		},
	})
	register(&command{
		name:    "export",
		usage:   "<key|storage-dir> <folder> [path]",
		summary: "copy a drive (or a folder of it) into a local folder",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			var c driveCmd
			c.register(fs)
			return func(args []string) error {
				if len(args) < 2 || len(args) > 3 {
					return usageError{"export takes <key|storage-dir> <folder> [path]"}
				}
				p := "/"
				if len(args) == 3 {
					p = args[2]
				}
				return c.with(std, args[0], func(ctx context.Context, d *hyperdrive.Drive, _ *network) error {
					rep, err := exportTree(ctx, d, p, args[1])
					fmt.Fprintf(std.stdout, "%d files exported (%s), %d folders\n", rep.files, humanBytes(rep.bytes), rep.dirs)
					return err
				})
			}
		},
	})
}

type transferReport struct {
	files, skipped, dirs int
	bytes                uint64
}

// importFolder mirrors the local folder src into the drive at dest. A file
// whose size and modification time match the drive's copy is skipped.
func importFolder(ctx context.Context, d *hyperdrive.Drive, src, dest string) (transferReport, error) {
	var rep transferReport
	err := filepath.WalkDir(src, func(local string, e iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, local)
		dp := path.Join("/", dest, filepath.ToSlash(rel))
		info, err := e.Info()
		if err != nil {
			return err
		}
		switch {
		case e.IsDir():
			if dp == "/" {
				return nil
			}
			if err := d.Mkdir(ctx, dp, uint32(info.Mode().Perm())); err != nil && !errors.Is(err, hyperdrive.ErrExist) {
				return err
			}
			rep.dirs++
		case info.Mode()&iofs.ModeSymlink != 0:
			target, err := os.Readlink(local)
			if err != nil {
				return err
			}
			if old, err := d.Readlink(ctx, dp); err == nil && old == target {
				rep.skipped++
				return nil
			}
			d.Unlink(ctx, dp)
			if err := d.Symlink(ctx, target, dp); err != nil {
				return err
			}
			rep.files++
		case info.Mode().IsRegular():
			mtime := info.ModTime().Truncate(time.Millisecond) // drives keep milliseconds
			if st, err := d.Lstat(ctx, dp); err == nil && st.IsFile() && st.Size == uint64(info.Size()) && st.Mtime.Equal(mtime) {
				rep.skipped++
				return nil
			}
			if err := importFile(ctx, d, local, dp, uint32(info.Mode().Perm()), mtime); err != nil {
				return err
			}
			rep.files++
			rep.bytes += uint64(info.Size())
		}
		return nil
	})
	return rep, err
}

func importFile(ctx context.Context, d *hyperdrive.Drive, local, dp string, mode uint32, mtime time.Time) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := d.Create(ctx, dp, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		w.Abort()
		return fmt.Errorf("importing %s: %w", local, err)
	}
	if err := w.Close(); err != nil {
		return err
	}
	return d.SetAttr(ctx, dp, hyperdrive.Attr{Mtime: &mtime})
}

// exportTree copies the drive path p (file or folder) into the local folder out.
func exportTree(ctx context.Context, d *hyperdrive.Drive, p, out string) (transferReport, error) {
	var rep transferReport
	st, err := d.Lstat(ctx, p)
	if err != nil {
		return rep, err
	}
	var walk func(dp, local string, st *hyperdrive.Stat) error
	walk = func(dp, local string, st *hyperdrive.Stat) error {
		switch {
		case st.IsDir():
			if err := os.MkdirAll(local, 0o755); err != nil {
				return err
			}
			rep.dirs++
			entries, err := d.Readdir(ctx, dp)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if err := walk(path.Join(dp, e.Name), filepath.Join(local, e.Name), e.Stat); err != nil {
					return err
				}
			}
		case st.IsSymlink():
			os.Remove(local)
			if err := os.Symlink(st.Linkname, local); err != nil {
				return err
			}
			rep.files++
		default:
			f, err := d.OpenFile(ctx, dp)
			if err != nil {
				return err
			}
			defer f.Close()
			o, err := os.OpenFile(local, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, iofs.FileMode(st.Mode&0o777))
			if err != nil {
				return err
			}
			n, err := io.Copy(o, f)
			if cerr := o.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("exporting %s: %w", dp, err)
			}
			os.Chtimes(local, st.Mtime, st.Mtime)
			rep.files++
			rep.bytes += uint64(n)
		}
		return nil
	}
	root := out
	if !st.IsDir() {
		root = filepath.Join(out, path.Base(p))
		if err := os.MkdirAll(out, 0o755); err != nil {
			return rep, err
		}
	}
	return rep, walk(p, root, st)
}
