package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hyperfs/hyperfs/app"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/peers"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// driveFlags are the flags of every command that works on one drive.
type driveFlags struct {
	net      netFlags
	timeout  time.Duration
	stall    time.Duration
	checkout uint64
	force    bool
}

func (df *driveFlags) register(fs *pflag.FlagSet, versions bool) {
	df.net.register(fs)
	fs.DurationVar(&df.timeout, "timeout", time.Minute, "how long to wait for peers to send a remote drive")
	fs.DurationVar(&df.stall, "stall-timeout", time.Minute, "give up when no data has come from peers for this long (0: never)")
	if versions {
		fs.Uint64Var(&df.checkout, "checkout", 0, "work on this `version` of the drive (read-only), as KEY+VERSION does")
	}
}

// registerForce adds --force to a command that writes.
func (df *driveFlags) registerForce(fs *pflag.FlagSet) {
	fs.BoolVar(&df.force, "force", false, "write to a drive restored from its keys (key import) without first learning from peers how far it goes: only when no peer holds a newer version, or it forks")
}

func (df *driveFlags) validate() error {
	if df.timeout <= 0 {
		return usagef("--timeout %s: must be positive", df.timeout)
	}
	if df.stall < 0 {
		return usagef("--stall-timeout %s: must not be negative", df.stall)
	}
	return df.net.o.Validate()
}

// options are the app options of a command on a drive.
func (c *cli) options(df *driveFlags) app.Options {
	o := app.Options{Storage: c.storage, CacheMiB: c.cacheMiB, NoVerifyReads: c.noVerify}
	if df != nil {
		o.Net = df.net.o
		o.OpenTimeout = df.timeout
		o.Force = df.force
	}
	return o
}

// target parses a drive argument, with --checkout.
func (df *driveFlags) target(arg string) (app.Target, error) {
	t, err := app.ParseTarget(arg)
	if err != nil {
		return t, err
	}
	if df.checkout != 0 {
		if t.Version != 0 && t.Version != df.checkout {
			return t, usagef("%s names version %d but --checkout says %d", arg, t.Version, df.checkout)
		}
		t.Version = df.checkout
	}
	return t, nil
}

// signalContext is ended by ^C or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// withDrive opens the drive arg names and runs fn on it, with a stall
// watchdog on its context; fn calls touch when it makes progress of its own.
func (c *cli) withDrive(df *driveFlags, arg string, fn func(ctx context.Context, s *app.Session, d *hyperdrive.Drive, t app.Target, touch func()) error) error {
	if err := df.validate(); err != nil {
		return err
	}
	t, err := df.target(arg)
	if err != nil {
		return err
	}
	o := c.options(df)
	o.LookupOnly = true // one-shot: look the drive up, do not announce it
	s, done, err := c.session(o, t.Dir)
	if err != nil {
		return err
	}
	defer done()
	if c.svc != nil {
		if err := s.AddPeers(df.net.o.Peers); err != nil {
			return err
		}
	}
	ctx, stop := c.context()
	defer stop()
	d, release, err := s.Drive(ctx, t, false)
	if err != nil {
		return err
	}
	defer release()
	sctx, touch, cancel := s.WatchStall(ctx, d, df.stall)
	defer cancel()
	err = app.Stalled(sctx, fn(sctx, s, d, t, touch))
	if errors.Is(err, hyperdrive.ErrMayFork) {
		return &app.HintError{Msg: fmt.Sprintf("%v: drive %x was restored from its keys and no peer has said how far it goes; connect to one that has it (--peer host:port), or pass --force if none holds a newer version", err, d.Key()), Err: err}
	}
	return err
}

// printJSON writes v as indented JSON.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.std.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c *cli) createCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create [storage-dir]",
		Short: "create a new writable drive and print its key",
		Long:  "create makes a new writable drive and prints its key: in storage-dir (a new storage folder), or as a new drive of --storage.",
		Args:  argsBetween(0, 1),
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		dir := ""
		if len(args) == 1 {
			dir = args[0]
			if app.IsStorageDir(dir) {
				return fmt.Errorf("%s already holds a drive: mount it with hyperfs mount %s <mountpoint>", dir, dir)
			}
		}
		var s *app.Session
		var done func()
		var err error
		if dir != "" {
			s, err = app.Open(c.options(nil), c.abs(dir))
			done = func() { s.Close() }
		} else {
			s, done, err = c.session(c.options(nil), "")
		}
		if err != nil {
			return err
		}
		defer done()
		store := s.Store
		if dir == "" {
			// Each new drive in the shared storage gets its own
			// namespace, so its keys derive from a name of its own.
			var name [16]byte
			rand.Read(name[:])
			store = store.Namespace("drive-" + hex.EncodeToString(name[:]))
		}
		d, err := hyperdrive.Open(context.Background(), store, hyperdrive.Options{})
		if err != nil {
			return err
		}
		defer d.Close()
		fmt.Fprintln(c.std.stdout, hex.EncodeToString(d.Key()))
		return nil
	}
	return cmd
}

// driveInfo is what info prints (and --json encodes).
type driveInfo struct {
	Key            string `json:"key"`
	DiscoveryKey   string `json:"discoveryKey"`
	Writable       bool   `json:"writable"`
	Version        uint64 `json:"version"`
	ContentBytes   uint64 `json:"contentBytes"`
	ContentBlocks  uint64 `json:"contentBlocks"`
	MetadataBlocks uint64 `json:"metadataBlocks"`
	Peers          int    `json:"peers"`
	// Conns are the peers' addresses and transports.
	Conns []peers.ConnInfo `json:"conns"`
}

func (c *cli) infoCmd() *cobra.Command {
	var df driveFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info [<key|link|storage-dir>]",
		Short: "print a drive's keys, version, sizes and peers",
		Args:  argsBetween(0, 1),
	}
	df.register(cmd.Flags(), true)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return c.withDrive(&df, optionalArg(args), func(ctx context.Context, s *app.Session, d *hyperdrive.Drive, _ app.Target, _ func()) error {
			dk := d.DiscoveryKey()
			d.Content(ctx) // opened, so Usage counts it; an empty drive may have none yet
			u := d.Usage()
			_, _, peers := s.Transferred(ctx, d)
			in := driveInfo{hex.EncodeToString(d.Key()), hex.EncodeToString(dk[:]), d.Writable(), d.Version(), u.ContentBytes, u.ContentBlocks, u.MetadataBlocks, peers, s.Conns(d)}
			if asJSON {
				return c.printJSON(in)
			}
			fmt.Fprintf(c.std.stdout, "key:            %s\ndiscovery key:  %s\nwritable:       %v\nversion:        %d\ncontent:        %s in %d blocks\nmetadata:       %d blocks\npeers:          %d\n",
				in.Key, in.DiscoveryKey, in.Writable, in.Version, app.HumanBytes(in.ContentBytes), in.ContentBlocks, in.MetadataBlocks, in.Peers)
			for _, pc := range in.Conns {
				fmt.Fprintf(c.std.stdout, "  peer          %s\n", pc)
			}
			return nil
		})
	}
	return cmd
}

// lsEntry is one line of ls (and an element of ls --json).
type lsEntry struct {
	Name     string    `json:"name"`
	Type     string    `json:"type"` // file, dir, symlink
	Mode     uint32    `json:"mode"`
	Size     uint64    `json:"size"`
	Mtime    time.Time `json:"mtime"`
	Linkname string    `json:"linkname,omitempty"`
	Mount    string    `json:"mount,omitempty"` // key of a drive mounted here
}

// driveAndPath splits the [<drive>] [path] arguments of ls and cat: one
// argument is a drive if it can only be one (a key, a link, a storage
// folder), else a path in the default drive. A hyper:// link may carry the
// path itself.
func driveAndPath(args []string) (arg, p string) {
	switch len(args) {
	case 1:
		if app.LooksLikeDrive(args[0]) {
			return args[0], ""
		}
		return "", args[0]
	case 2:
		return args[0], args[1]
	}
	return "", ""
}

func (c *cli) lsCmd() *cobra.Command {
	var df driveFlags
	var long, asJSON bool
	cmd := &cobra.Command{
		Use:   "ls [<key|link|storage-dir>] [path]",
		Short: "list a folder of a drive",
		Args:  argsBetween(0, 2),
	}
	df.register(cmd.Flags(), true)
	cmd.Flags().BoolVarP(&long, "long", "l", false, "long listing: mode, size, time")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		arg, p := driveAndPath(args)
		return c.withDrive(&df, arg, func(ctx context.Context, _ *app.Session, d *hyperdrive.Drive, t app.Target, _ func()) error {
			if p == "" {
				p = t.Path
			}
			if p == "" {
				p = "/"
			}
			entries, err := d.Readdir(ctx, p)
			if err != nil {
				return err
			}
			out := make([]lsEntry, 0, len(entries))
			for _, e := range entries {
				le := lsEntry{Name: e.Name, Type: "file"}
				if st := e.Stat; st != nil {
					le.Mode, le.Size, le.Mtime, le.Linkname = st.Mode&0o7777, st.Size, st.Mtime, st.Linkname
					switch {
					case st.IsDir():
						le.Type, le.Size = "dir", 0
					case st.IsSymlink():
						le.Type = "symlink"
					}
					if st.Mount != nil {
						le.Mount = hex.EncodeToString(st.Mount.Key)
					}
				}
				out = append(out, le)
			}
			if asJSON {
				return c.printJSON(out)
			}
			for _, le := range out {
				name := fmt.Sprintf("%q", le.Name)
				name = name[1 : len(name)-1] // escaped: a drive's names may hold anything
				if le.Type == "dir" {
					name += "/"
				}
				if long {
					typ := iofs.FileMode(0)
					switch le.Type {
					case "dir":
						typ = iofs.ModeDir
					case "symlink":
						typ = iofs.ModeSymlink
						name += " -> " + le.Linkname
					}
					fmt.Fprintf(c.std.stdout, "%s %10d %s %s\n", iofs.FileMode(le.Mode&0o777)|typ, le.Size, le.Mtime.Format(time.DateTime), name)
				} else {
					fmt.Fprintln(c.std.stdout, name)
				}
			}
			return nil
		})
	}
	return cmd
}

func (c *cli) catCmd() *cobra.Command {
	var df driveFlags
	cmd := &cobra.Command{
		Use:   "cat [<key|link|storage-dir>] <path>",
		Short: "write a file of a drive to standard output",
		Args:  argsBetween(1, 2),
	}
	df.register(cmd.Flags(), true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		arg, p := driveAndPath(args)
		return c.withDrive(&df, arg, func(ctx context.Context, _ *app.Session, d *hyperdrive.Drive, t app.Target, touch func()) error {
			if p == "" {
				p = t.Path
			}
			if p == "" || p == "/" {
				return usagef("cat needs the path of a file")
			}
			f, err := d.OpenFile(ctx, p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(c.std.stdout, &touchReader{f, touch})
			return err
		})
	}
	return cmd
}

// touchReader calls touch on every read that returns bytes: progress for
// the stall watchdog.
type touchReader struct {
	r     io.Reader
	touch func()
}

func (t *touchReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.touch()
	}
	return n, err
}

func optionalArg(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return ""
}

// tabs writes a table.
func (c *cli) tabs() *tabwriter.Writer {
	return tabwriter.NewWriter(c.std.stdout, 0, 0, 2, ' ', 0)
}
