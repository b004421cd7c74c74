package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hyperfs/hyperfs/app"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/transfer"
	"github.com/spf13/cobra"
)

func (c *cli) importCmd() *cobra.Command {
	var df driveFlags
	var dest string
	var follow bool
	cmd := &cobra.Command{
		Use:   "import <folder> [<key|storage-dir>]",
		Short: "copy a local folder into a drive you own, skipping unchanged files",
		Args:  argsBetween(1, 2),
	}
	df.register(cmd.Flags(), false)
	df.registerForce(cmd.Flags())
	cmd.Flags().StringVar(&dest, "to", "/", "drive `path` to import into")
	cmd.Flags().BoolVarP(&follow, "follow-links", "L", false, "copy what symlinks point to (loops are cut) instead of the links")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		src := args[0]
		if st, err := os.Stat(src); err != nil || !st.IsDir() {
			return fmt.Errorf("%s is not a folder", src)
		}
		return c.withDrive(&df, optionalArg(args[1:]), func(ctx context.Context, _ *app.Session, d *hyperdrive.Drive, _ app.Target, _ func()) error {
			if !d.Writable() {
				return fmt.Errorf("drive %x is not yours to write: %w", d.Key(), hyperdrive.ErrReadOnly)
			}
			return c.transfer("importing "+src, localSize(src, follow), "imported", nil, func(o transfer.Options) (transfer.Report, error) {
				o.FollowLinks = follow
				return transfer.Import(ctx, d, src, dest, o)
			})
		})
	}
	return cmd
}

func (c *cli) exportCmd() *cobra.Command {
	var df driveFlags
	cmd := &cobra.Command{
		Use:   "export <key|link|storage-dir> <folder> [path]",
		Short: "copy a drive (or a folder of it) into a local folder, skipping unchanged files",
		Long: `export copies a drive, or the folder or file path of it, into a local folder.
Files whose size and time match are skipped; modes, times and user.* extended
attributes are kept. Nothing outside the folder is ever created, written or
followed: entries whose names cannot be file names are skipped with a warning,
and the drive's symlinks are recreated, never followed.`,
		Args: argsBetween(2, 3),
	}
	df.register(cmd.Flags(), true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return c.withDrive(&df, args[0], func(ctx context.Context, _ *app.Session, d *hyperdrive.Drive, t app.Target, touch func()) error {
			p := t.Path
			if len(args) == 3 {
				p = args[2]
			}
			if p == "" {
				p = "/"
			}
			return c.export(ctx, d, p, args[1], "exported", touch)
		})
	}
	return cmd
}

func (c *cli) downloadCmd() *cobra.Command {
	var df driveFlags
	var to string
	cmd := &cobra.Command{
		Use:   "download <key|link|storage-dir> [path]",
		Short: "fetch a whole drive (or a folder or file of it) from peers into the storage, showing progress",
		Long: `download fetches a drive, or the folder or file path of it, from peers into the
storage, showing progress, so it can be read offline and served to others.
With --to it then copies what it fetched into a local folder, as export does
(never writing outside that folder).`,
		Args: argsBetween(1, 2),
	}
	df.register(cmd.Flags(), true)
	cmd.Flags().StringVar(&to, "to", "", "also copy the download into this local `folder`")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return c.withDrive(&df, args[0], func(ctx context.Context, s *app.Session, d *hyperdrive.Drive, t app.Target, touch func()) error {
			p := t.Path
			if len(args) == 2 {
				p = args[1]
			}
			if p == "" {
				p = "/"
			}
			files, total, err := transfer.Size(ctx, d, p)
			if err != nil {
				return err
			}
			before, _, _ := s.Transferred(ctx, d)
			m := c.newMeter("downloading "+p, int64(total))
			var done uint64
			err = d.Download(ctx, p, func(n, _ uint64) {
				done = n
				down, _, _ := s.Transferred(ctx, d)
				fetched := down - before
				m.update(int64(n), files, fmt.Sprintf(" (%s fetched, %s already local)", app.HumanBytes(fetched), app.HumanBytes(n-min(n, fetched))))
			})
			m.finish(err)
			if err != nil {
				return err
			}
			down, _, _ := s.Transferred(ctx, d)
			fetched := down - before
			fmt.Fprintf(c.std.stdout, "%d files, %s: %s fetched from peers, %s already local\n", files, app.HumanBytes(max(done, total)), app.HumanBytes(fetched), app.HumanBytes(max(done, total)-min(max(done, total), fetched)))
			if to == "" {
				return nil
			}
			return c.export(ctx, d, p, c.abs(to), "copied to "+to, touch)
		})
	}
	return cmd
}

// export copies drive path p into the local folder out, showing progress.
func (c *cli) export(ctx context.Context, d *hyperdrive.Drive, p, out, verb string, touch func()) error {
	_, total, err := transfer.Size(ctx, d, p)
	if err != nil {
		return err
	}
	return c.transfer("exporting "+p, int64(total), verb, touch, func(o transfer.Options) (transfer.Report, error) {
		return transfer.Export(ctx, d, p, out, o)
	})
}

// transfer runs an import or export with a progress meter, then prints its
// summary (only on success): "N files <verb> (bytes), …".
func (c *cli) transfer(label string, total int64, verb string, touch func(), run func(transfer.Options) (transfer.Report, error)) error {
	m := c.newMeter(label, total)
	rep, err := run(transfer.Options{Progress: func(r transfer.Report, _ string) {
		if touch != nil {
			touch()
		}
		m.update(int64(r.Bytes+r.SkippedBytes), r.Files+r.Skipped, fmt.Sprintf(" (%s unchanged)", app.HumanBytes(r.SkippedBytes)))
	}})
	m.finish(err)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.std.stdout, "%d files %s (%s), %d unchanged, %d folders%s\n", rep.Files, verb, app.HumanBytes(rep.Bytes), rep.Skipped, rep.Dirs, skippedNote(rep))
	return nil
}

// skippedNote mentions the entries a transfer skipped (each was logged).
func skippedNote(rep transfer.Report) string {
	if rep.Bad == 0 {
		return ""
	}
	return fmt.Sprintf("; %d entries skipped (see the warnings)", rep.Bad)
}

// localSize is the bytes of the regular files below dir, for a progress
// total (0 if it cannot be read).
func localSize(dir string, follow bool) int64 {
	var n int64
	var walk func(string, int)
	walk = func(p string, depth int) {
		if depth > 64 {
			return
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return
		}
		for _, e := range ents {
			child := p + "/" + e.Name()
			info, err := e.Info()
			if err != nil {
				continue
			}
			if follow && info.Mode()&os.ModeSymlink != 0 {
				if info, err = os.Stat(child); err != nil {
					continue
				}
			}
			switch {
			case info.IsDir():
				walk(child, depth+1)
			case info.Mode().IsRegular():
				n += info.Size()
			}
		}
	}
	walk(dir, 0)
	return n
}
