// Command hyperfs mounts Hyperdrive archives as folders and works with
// them: create, mount, import, export, download, seed and serve drives.
//
// Usage:
//
//	hyperfs <command> [arguments] [flags]
//
// Flags may come anywhere on the line. Run "hyperfs help <command>" for a
// command's flags. The commands are a thin layer over package app.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/hyperfs/hyperfs/app"
	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/storage"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes, one per kind of failure so scripts can tell them apart (the
// README's table).
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitLocked   = 3
	exitNotFound = 4
)

// streams are the standard files a command reads and writes; tests replace them.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// usageError marks an error in how the command was called.
type usageError = app.UsageError

func usagef(format string, args ...any) error { return app.Usagef(format, args...) }

func main() {
	if os.Getenv("PATH") == "" {
		// mount(8) runs helpers with no PATH; fusermount3 must be found.
		os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	args := os.Args[1:]
	if base := filepath.Base(os.Args[0]); strings.HasPrefix(base, "mount.") {
		// /sbin/mount.hyperfs or mount.fuse.hyperfs, run by mount(8).
		args = fstabArgs(args)
	} else if fstabCall(args) {
		// mount.fuse3 runs "hyperfs <source> <mountpoint> -o <options>".
		args = fstabArgs(args)
	}
	os.Exit(run(args, &streams{os.Stdin, os.Stdout, os.Stderr}))
}

// cli is one run of the command line: the global flags and the streams.
type cli struct {
	std      *streams
	storage  string
	cacheMiB int64
	noVerify bool
	verbose  int
	quiet    bool
	logLevel string
	logFile  string
	logClose func()

	// In a service: the service, the request's context and the client's
	// working folder.
	svc *app.Service
	ctx context.Context
	cwd string
}

func run(args []string, std *streams) int {
	return (&cli{std: std}).run(args)
}

func (c *cli) run(args []string) int {
	std := c.std
	root := c.rootCmd()
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if c.logClose != nil {
		defer c.logClose()
	}
	if err == nil {
		return exitOK
	}
	var fw forwarded
	if errors.As(err, &fw) {
		return fw.code
	}
	code := exitCode(err)
	name := "hyperfs"
	if cmd != nil && cmd != root {
		name = cmd.CommandPath()
	}
	msg := err.Error()
	if code == exitUsage && !strings.Contains(msg, "hyperfs help") {
		msg += fmt.Sprintf(" (see %s --help)", name)
	}
	fmt.Fprintf(std.stderr, "%s: %s\n", name, msg)
	return code
}

func (c *cli) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "hyperfs",
		Short: "hyperfs mounts Hyperdrive archives as folders",
		Long: `hyperfs mounts Hyperdrive archives (Hypercore Protocol "Dat2") as folders and
works with them. Your own drives live in a storage folder (--storage); someone
else's are fetched from peers on demand. The first mount or serve on a storage
becomes its service: later commands on that storage go through it.

Drives are named by key (64 hex digits), KEY+VERSION, hyper://KEY[+VERSION]/path
or dat://…, or by a storage folder (a corestore, or hyperdrive-daemon's
~/.hyperdrive). Without one, a command works on your default drive.`,
		Version:           version(),
		SilenceUsage:      true,
		SilenceErrors:     true,
		DisableAutoGenTag: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q (see hyperfs help)", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(c.std.stderr)
			cmd.Usage()
			return usagef("a command is missing")
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := c.setup(); err != nil {
				return err
			}
			return c.maybeForward(cmd, args)
		},
	}
	root.SetIn(c.std.stdin)
	root.SetOut(c.std.stdout)
	root.SetErr(c.std.stderr)
	root.SetVersionTemplate("hyperfs {{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return &usageError{Msg: err.Error()} })
	pf := root.PersistentFlags()
	pf.StringVar(&c.storage, "storage", app.DefaultStorage(), "storage `folder` (a corestore, readable by the JS stack; or hyperdrive-daemon's ~/.hyperdrive)")
	pf.Int64Var(&c.cacheMiB, "cache-size", app.DefaultCacheMiB, "`MiB` of memory for cached tree nodes and blocks, and for a mount's inodes and working room")
	pf.BoolVar(&c.noVerify, "no-verify-reads", false, "trust the disk: do not check blocks read back against their feed's signed tree")
	pf.CountVarP(&c.verbose, "verbose", "v", "log more (-v info, -vv debug)")
	pf.BoolVarP(&c.quiet, "quiet", "q", false, "log only errors and show no progress")
	pf.StringVar(&c.logLevel, "log-level", "", "log `level`: debug, info, warn or error (default warn; HYPERFS_DEBUG=1 is debug)")
	pf.StringVar(&c.logFile, "log-file", "", "write logs to `file` instead of standard error")
	root.Flags().BoolP("version", "V", false, "print the version")
	root.AddGroup(
		&cobra.Group{ID: "drive", Title: "Drives:"},
		&cobra.Group{ID: "mount", Title: "Mounting:"},
		&cobra.Group{ID: "net", Title: "Sharing:"},
		&cobra.Group{ID: "keys", Title: "Keys and feeds:"},
	)
	defer func() {
		// The commands that run inside a storage's service when one runs,
		// and which of their arguments are local paths.
		for _, sub := range root.Commands() {
			if local, ok := map[string]string{"create": "0", "info": "", "ls": "", "cat": "", "download": "", "import": "0", "export": "1", "drives": "", "mount": "last", "serve": ""}[sub.Name()]; ok {
				forwardable(sub, local)
			}
		}
	}()
	root.SetHelpCommandGroupID("keys")
	root.SetCompletionCommandGroupID("keys")
	for _, sub := range []*cobra.Command{
		c.createCmd(), c.infoCmd(), c.lsCmd(), c.catCmd(), c.downloadCmd(), c.importCmd(), c.exportCmd(), c.drivesCmd(),
	} {
		sub.GroupID = "drive"
		root.AddCommand(sub)
	}
	for _, sub := range []*cobra.Command{c.mountCmd(), c.unmountCmd(), c.mountsCmd()} {
		sub.GroupID = "mount"
		root.AddCommand(sub)
	}
	for _, sub := range []*cobra.Command{c.seedCmd(), c.unseedCmd(), c.seedsCmd(), c.serveCmd(), c.statsCmd()} {
		sub.GroupID = "net"
		root.AddCommand(sub)
	}
	for _, sub := range []*cobra.Command{c.keyCmd(), c.feedCmd(), c.versionCmd()} {
		sub.GroupID = "keys"
		root.AddCommand(sub)
	}
	return root
}

// setup validates the global flags and sets up logging.
func (c *cli) setup() error {
	if c.storage == "" {
		return usagef("--storage is empty: name a folder")
	}
	if err := app.CheckCacheMiB(c.cacheMiB); err != nil {
		return &usageError{Msg: err.Error()}
	}
	if c.svc != nil {
		return nil // the service logs as it was started
	}
	level := slog.LevelWarn
	if v := os.Getenv("HYPERFS_DEBUG"); v != "" && v != "0" && v != "false" {
		level = slog.LevelDebug
	}
	switch {
	case c.logLevel != "":
		if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
			return usagef("--log-level %q: want debug, info, warn or error", c.logLevel)
		}
	case c.quiet && c.verbose > 0:
		return usagef("-q and -v contradict each other")
	case c.quiet:
		level = slog.LevelError
	case c.verbose == 1:
		level = slog.LevelInfo
	case c.verbose > 1:
		level = slog.LevelDebug
	}
	w := c.std.stderr
	if c.logFile != "" {
		f, err := os.OpenFile(c.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return usagef("--log-file: %v", err)
		}
		w = f
		c.logClose = func() { f.Close() }
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})))
	return nil
}

// exitCode maps an error to the README's exit codes.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case strings.HasPrefix(err.Error(), "unknown command"), strings.HasPrefix(err.Error(), "unknown flag"),
		strings.HasPrefix(err.Error(), "accepts "), strings.HasPrefix(err.Error(), "requires "):
		return exitUsage
	case errors.Is(err, storage.ErrLocked):
		return exitLocked
	case errors.Is(err, hypercore.ErrNoFeed), errors.Is(err, os.ErrNotExist), errors.Is(err, hyperdrive.ErrNotFound):
		return exitNotFound
	}
	return exitFailure
}

// argsBetween is a cobra.PositionalArgs that gives a usage error naming the
// expected arguments.
func argsBetween(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usagef("%s takes %s", cmd.Name(), strings.TrimPrefix(cmd.Use, cmd.Name()+" "))
		}
		for _, a := range args {
			if a == "" {
				return usagef("an argument of %s is empty", cmd.Name())
			}
		}
		return nil
	}
}

// netFlags are the flags of every command that may talk to peers.
type netFlags struct {
	o app.NetOptions
}

func (nf *netFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&nf.o.Peers, "peer", nil, "connect to a peer at `host:port` (repeatable)")
	fs.StringVar(&nf.o.Listen, "listen", "", "accept peers on `addr` (host:port)")
	fs.BoolVar(&nf.o.NoDiscovery, "no-discovery", false, "find no peers through the DHT or the local network")
	fs.BoolVar(&nf.o.NoMDNS, "no-mdns", false, "find no peers on the local network (multicast DNS), only through the DHT")
	fs.StringArrayVar(&nf.o.Bootstrap, "bootstrap", nil, "DHT bootstrap node `host:port` (repeatable; default: the public hyperswarm nodes)")
}
