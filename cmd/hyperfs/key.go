package main

import (
	"fmt"
	"os"

	"github.com/hyperfs/hyperfs/app"
	"github.com/spf13/cobra"
)

// The secret keys of every drive in a storage folder derive from its
// master_key (as in corestore) and each drive's name, so the key file
// (master key and names) is what there is to back up or move.
func (c *cli) keyCmd() *cobra.Command {
	key := &cobra.Command{
		Use:   "key",
		Short: "back up and restore the keys your drives derive from",
		Args:  argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("key needs a subcommand: export or import")
		},
	}
	key.AddCommand(&cobra.Command{
		Use:   "export <file>",
		Short: "save the storage's master key and the names of all its writable drives (keep it private)",
		Args:  argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, drives, err := app.ExportKeys(c.storage)
			if err != nil {
				return err
			}
			f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("writing the key: %w (choose a file that does not exist yet)", err)
			}
			if _, err := f.Write(b); err != nil {
				f.Close()
				os.Remove(args[0])
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(c.std.stdout, "keys of %s (%d writable drives) saved to %s (mode 0600)\n", c.storage, drives, args[0])
			return nil
		},
	})
	key.AddCommand(&cobra.Command{
		Use:   "import <file>",
		Short: "start a new storage folder from saved keys, making all their drives writable here",
		Args:  argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			n, err := app.ImportKeys(c.storage, b, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(c.std.stdout, "keys installed in %s (%d feeds)\n", c.storage, n)
			return nil
		},
	})
	return key
}

func (c *cli) drivesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "drives",
		Short: "list every drive in the storage: key, name, writable, version, size",
		Args:  argsBetween(0, 0),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		s, done, err := c.session(c.options(nil), "")
		if err != nil {
			return err
		}
		defer done()
		ctx, stop := c.context()
		defer stop()
		drives, err := s.Drives(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			if drives == nil {
				drives = []app.DriveEntry{}
			}
			return c.printJSON(drives)
		}
		tw := c.tabs()
		fmt.Fprintln(tw, "DRIVE\tNAME\tWRITABLE\tVERSION\tSIZE")
		for _, d := range drives {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%s\n", d.Key, orDash(d.Name), d.Writable, d.Version, app.HumanBytes(d.Size))
		}
		return tw.Flush()
	}
	return cmd
}

func (c *cli) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(c.std.stdout, "hyperfs", version())
			return nil
		},
	}
}
