package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/storage"
)

// defaultStorage is $XDG_DATA_HOME/hyperfs (~/.local/share/hyperfs).
func defaultStorage() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "hyperfs")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "hyperfs")
	}
	return filepath.Join(home, ".local", "share", "hyperfs")
}

// feedFlags are the flags every feed command shares.
type feedFlags struct {
	storage string
	name    string
}

func (ff *feedFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&ff.storage, "storage", defaultStorage(), "storage `folder`")
	fs.StringVar(&ff.name, "name", "default", "feed `name` (a folder under <storage>/feeds)")
}

func (ff *feedFlags) dir() string { return filepath.Join(ff.storage, "feeds", ff.name) }

func (ff *feedFlags) open(mustExist bool) (*hypercore.Feed, error) {
	f, err := hypercore.Open(ff.dir(), hypercore.Options{MustExist: mustExist})
	if errors.Is(err, hypercore.ErrNoFeed) {
		return nil, hintError{fmt.Sprintf("no feed named %q in %s: create it with hyperfs feed create", ff.name, ff.storage), err}
	}
	return f, err
}

// feedCommand builds a feed command: its flags, the feed opened (created
// unless mustExist), run, and the feed closed.
func feedCommand(name, usage, summary string, mustExist bool, run func(std *streams, f *hypercore.Feed, ff *feedFlags, args []string) error) *command {
	return &command{
		name:    name,
		usage:   usage,
		summary: summary,
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			var ff feedFlags
			ff.register(fs)
			return func(args []string) error {
				f, err := ff.open(mustExist)
				if err != nil {
					return err
				}
				defer f.Close()
				return run(std, f, &ff, args)
			}
		},
	}
}

func init() {
	register(feedCommand("feed info", "", "print a feed's keys, length and size (creating the feed if needed)", false,
		func(std *streams, f *hypercore.Feed, ff *feedFlags, args []string) error {
			dk := f.DiscoveryKey()
			fmt.Fprintf(std.stdout, "feed:          %s\nkey:           %s\ndiscovery key: %s\nwritable:      %v\nlength:        %d blocks\nbyte length:   %d bytes\ndownloaded:    %d blocks\n",
				ff.dir(), hex.EncodeToString(f.Key()), hex.EncodeToString(dk[:]), f.Writable(), f.Length(), f.ByteLength(), f.Downloaded(0, f.Length()))
			return nil
		}))
	register(&command{
		name:    "feed create",
		summary: "create a new feed and print its key",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			var ff feedFlags
			ff.register(fs)
			return func(args []string) error {
				if ok, _ := storage.NewDir(ff.dir()).Exists("key"); ok {
					return fmt.Errorf("feed %q already exists in %s", ff.name, ff.storage)
				}
				f, err := ff.open(false)
				if err != nil {
					return err
				}
				defer f.Close()
				fmt.Fprintln(std.stdout, hex.EncodeToString(f.Key()))
				return nil
			}
		},
	})
	register(feedCommand("feed append", "[file ...]", "append each line of the files (or standard input) as a block", false,
		func(std *streams, f *hypercore.Feed, _ *feedFlags, args []string) error {
			inputs := []io.Reader{std.stdin}
			if len(args) > 0 {
				inputs = nil
				for _, a := range args {
					r, err := os.Open(a)
					if err != nil {
						return err
					}
					defer r.Close()
					inputs = append(inputs, r)
				}
			}
			var batch [][]byte
			for _, in := range inputs {
				sc := bufio.NewScanner(in)
				sc.Buffer(make([]byte, 64<<10), hypercore.MaxBlockSize)
				for sc.Scan() {
					batch = append(batch, append([]byte(nil), sc.Bytes()...))
					if len(batch) == 1024 {
						if _, err := f.Append(batch...); err != nil {
							return err
						}
						batch = batch[:0]
					}
				}
				if err := sc.Err(); err != nil {
					return err
				}
			}
			if _, err := f.Append(batch...); err != nil {
				return err
			}
			fmt.Fprintf(std.stdout, "%d blocks\n", f.Length())
			return nil
		}))
	register(feedCommand("feed cat", "", "print every block of a feed, one per line", true,
		func(std *streams, f *hypercore.Feed, _ *feedFlags, args []string) error {
			w := bufio.NewWriter(std.stdout)
			defer w.Flush()
			for i := uint64(0); i < f.Length(); i++ {
				b, err := f.Get(context.Background(), i)
				if err != nil {
					return err
				}
				w.Write(b)
				w.WriteByte('\n')
			}
			return nil
		}))
	register(feedCommand("feed audit", "", "rehash every stored block and clear the ones that do not match", true,
		func(std *streams, f *hypercore.Feed, _ *feedFlags, args []string) error {
			rep, err := f.Audit()
			if err != nil {
				return err
			}
			fmt.Fprintf(std.stdout, "%d valid, %d invalid\n", rep.Valid, rep.Invalid)
			if rep.Invalid > 0 {
				return fmt.Errorf("%d blocks did not match their hash and were cleared: %v", rep.Invalid, rep.Bad)
			}
			return nil
		}))
	register(&command{
		name:    "version",
		summary: "print the version",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			return func(args []string) error {
				fmt.Fprintln(std.stdout, "hyperfs", version())
				return nil
			}
		},
	})
}

func exitCode(err error) int {
	var ue usageError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, storage.ErrLocked):
		return exitLocked
	case errors.Is(err, hypercore.ErrNoFeed), errors.Is(err, os.ErrNotExist):
		return exitNotFound
	}
	return exitFailure
}

// hintError replaces an error's message with one that says what to do,
// keeping the error for exit codes.
type hintError struct {
	msg string
	err error
}

func (e hintError) Error() string { return e.msg }
func (e hintError) Unwrap() error { return e.err }
