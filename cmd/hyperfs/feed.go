package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hyperfs/hyperfs/app"
	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/storage"
	"github.com/spf13/cobra"
)

// feedName is the --name of the feed commands.
type feedName struct{ name string }

// checkFeedName accepts a feed name that is one plain folder name under
// <storage>/feeds: not empty, not "." or "..", without "/" or NUL, and not
// hidden (a leading dot), so no name can reach outside feeds/.
func checkFeedName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") || strings.HasPrefix(name, ".") || len(name) > 255 {
		return usagef("--name %q: a feed name is one folder name (letters, digits, - and _; no /, no leading dot)", name)
	}
	return nil
}

func (c *cli) feedDir(fn *feedName) string { return filepath.Join(c.storage, "feeds", fn.name) }

func (c *cli) openFeed(fn *feedName, mustExist bool) (*hypercore.Feed, error) {
	if err := checkFeedName(fn.name); err != nil {
		return nil, err
	}
	f, err := hypercore.Open(c.feedDir(fn), hypercore.Options{MustExist: mustExist, NoVerifyReads: c.noVerify})
	if errors.Is(err, hypercore.ErrNoFeed) {
		return nil, &app.HintError{Msg: fmt.Sprintf("no feed named %q in %s: create it with hyperfs feed create", fn.name, c.storage), Err: err}
	}
	return f, err
}

// feedSub builds a feed subcommand: the feed opened (created unless
// mustExist), run, and the feed closed.
func (c *cli) feedSub(use, short string, args cobra.PositionalArgs, mustExist bool, run func(f *hypercore.Feed, fn *feedName, args []string) error) *cobra.Command {
	var fn feedName
	cmd := &cobra.Command{Use: use, Short: short, Args: args}
	cmd.Flags().StringVar(&fn.name, "name", "default", "feed `name` (a folder under <storage>/feeds)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := c.openFeed(&fn, mustExist)
		if err != nil {
			return err
		}
		defer f.Close()
		return run(f, &fn, args)
	}
	return cmd
}

func (c *cli) feedCmd() *cobra.Command {
	feed := &cobra.Command{
		Use:   "feed",
		Short: "work with plain hypercore feeds (under <storage>/feeds)",
		Args:  argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("feed needs a subcommand: create, info, append, cat or audit")
		},
	}
	feed.AddCommand(c.feedSub("info", "print a feed's keys, length and size (creating the feed if needed)", argsBetween(0, 0), false,
		func(f *hypercore.Feed, fn *feedName, _ []string) error {
			dk := f.DiscoveryKey()
			fmt.Fprintf(c.std.stdout, "feed:          %s\nkey:           %s\ndiscovery key: %s\nwritable:      %v\nlength:        %d blocks\nbyte length:   %d bytes\ndownloaded:    %d blocks\n",
				c.feedDir(fn), hex.EncodeToString(f.Key()), hex.EncodeToString(dk[:]), f.Writable(), f.Length(), f.ByteLength(), f.Downloaded(0, f.Length()))
			return nil
		}))
	var createName feedName
	create := &cobra.Command{
		Use:   "create",
		Short: "create a new feed and print its key",
		Args:  argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFeedName(createName.name); err != nil {
				return err
			}
			if ok, _ := storage.NewDir(c.feedDir(&createName)).Exists("key"); ok {
				return fmt.Errorf("feed %q already exists in %s", createName.name, c.storage)
			}
			f, err := c.openFeed(&createName, false)
			if err != nil {
				return err
			}
			defer f.Close()
			fmt.Fprintln(c.std.stdout, hex.EncodeToString(f.Key()))
			return nil
		},
	}
	create.Flags().StringVar(&createName.name, "name", "default", "feed `name` (a folder under <storage>/feeds)")
	feed.AddCommand(create)
	feed.AddCommand(c.feedSub("append [file ...]", "append each line of the files (or standard input) as a block", cobra.ArbitraryArgs, false,
		func(f *hypercore.Feed, _ *feedName, args []string) error {
			inputs := []io.Reader{c.std.stdin}
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
			fmt.Fprintf(c.std.stdout, "%d blocks\n", f.Length())
			return nil
		}))
	feed.AddCommand(c.feedSub("cat", "print every block of a feed, one per line", argsBetween(0, 0), true,
		func(f *hypercore.Feed, _ *feedName, _ []string) error {
			w := bufio.NewWriter(c.std.stdout)
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
	feed.AddCommand(c.feedSub("audit", "rehash every stored block and clear the ones that do not match", argsBetween(0, 0), true,
		func(f *hypercore.Feed, _ *feedName, _ []string) error {
			rep, err := f.Audit()
			if err != nil {
				return err
			}
			fmt.Fprintf(c.std.stdout, "%d valid, %d invalid\n", rep.Valid, rep.Invalid)
			if rep.Invalid > 0 {
				return fmt.Errorf("%d blocks did not match their hash and were cleared: %v", rep.Invalid, rep.Bad)
			}
			return nil
		}))
	return feed
}
