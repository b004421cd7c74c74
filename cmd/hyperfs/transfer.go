package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/transfer"
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
			follow := fs.Bool("follow-links", false, "copy what symlinks point to (loops are cut) instead of the links")
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
					rep, err := transfer.Import(ctx, d, src, *dest, transfer.Options{FollowLinks: *follow})
					if err != nil {
						return err
					}
					fmt.Fprintf(std.stdout, "%d files imported (%s), %d unchanged, %d folders%s\n", rep.Files, humanBytes(rep.Bytes), rep.Skipped, rep.Dirs, skippedNote(rep))
					return nil
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
					rep, err := transfer.Export(ctx, d, p, args[1], transfer.Options{})
					if err != nil {
						return err
					}
					fmt.Fprintf(std.stdout, "%d files exported (%s), %d unchanged, %d folders%s\n", rep.Files, humanBytes(rep.Bytes), rep.Skipped, rep.Dirs, skippedNote(rep))
					return nil
				})
			}
		},
	})
}

// skippedNote mentions the entries a transfer skipped (each was logged).
func skippedNote(rep transfer.Report) string {
	if rep.Bad == 0 {
		return ""
	}
	return fmt.Sprintf("; %d entries skipped (see the warnings)", rep.Bad)
}
