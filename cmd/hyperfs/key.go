package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// The secret keys of every drive in a storage folder derive from its
// master_key (as in corestore), so that one file is what there is to back
// up or move.
func init() {
	register(&command{
		name:    "key export",
		usage:   "<file>",
		summary: "save the storage's master key, from which every drive's secret key derives (keep it private)",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			storage := fs.String("storage", defaultStorage(), "storage `folder`")
			return func(args []string) error {
				if len(args) != 1 {
					return usageError{"key export takes <file>"}
				}
				mk, err := os.ReadFile(filepath.Join(*storage, "master_key"))
				if err != nil {
					return fmt.Errorf("no master key in %s: create a drive first: %w", *storage, err)
				}
				f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return fmt.Errorf("writing the key: %w (choose a file that does not exist yet)", err)
				}
				if _, err := f.Write(mk); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				fmt.Fprintf(std.stdout, "master key of %s saved to %s (mode 0600)\n", *storage, args[0])
				return nil
			}
		},
	})
	register(&command{
		name:    "key import",
		usage:   "<file>",
		summary: "start a storage folder from a saved master key, making its drives writable here",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			storage := fs.String("storage", defaultStorage(), "storage `folder`")
			return func(args []string) error {
				if len(args) != 1 {
					return usageError{"key import takes <file>"}
				}
				mk, err := os.ReadFile(args[0])
				if err != nil {
					return err
				}
				if len(mk) != 32 {
					return fmt.Errorf("%s holds %d bytes, not a 32-byte master key", args[0], len(mk))
				}
				dst := filepath.Join(*storage, "master_key")
				if _, err := os.Stat(dst); err == nil {
					return fmt.Errorf("%s already has a master key: import into a new folder (--storage)", *storage)
				} else if !errors.Is(err, os.ErrNotExist) {
					return err
				}
				if err := os.MkdirAll(*storage, 0o700); err != nil {
					return err
				}
				if err := os.WriteFile(dst, mk, 0o600); err != nil {
					return err
				}
				fmt.Fprintf(std.stdout, "master key installed in %s\n", *storage)
				return nil
			}
		},
	})
}
