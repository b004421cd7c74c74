package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"strings"
	"time"

	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// driveCmd is the shape of every command that works on one drive: open the
// storage, connect to peers if the drive may be remote, open the drive, run.
type driveCmd struct {
	sf          storeFlags
	nf          netFlags
	openTimeout time.Duration
}

func (c *driveCmd) register(fs *flag.FlagSet) {
	c.sf.register(fs)
	c.nf.register(fs)
	fs.DurationVar(&c.openTimeout, "timeout", time.Minute, "how long to wait for peers to send a remote drive")
}

// with opens the drive arg names and runs fn on it.
func (c *driveCmd) with(std *streams, arg string, fn func(ctx context.Context, d *hyperdrive.Drive, n *network) error) error {
	t, err := parseTarget(arg)
	if err != nil {
		return err
	}
	s, err := c.sf.open(t.dir)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n *network
	if t.key != nil {
		if n, err = c.nf.start(ctx, s); err != nil {
			return err
		}
		defer n.Close()
	}
	opened := make(chan struct{})
	if n != nil {
		n.joinUntil(opened, hcrypto.DiscoveryKey(t.key))
	}
	openCtx, stop := context.WithTimeout(ctx, c.openTimeout)
	d, err := openDrive(openCtx, s, t, n)
	stop()
	close(opened)
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(ctx, d, n)
}

func init() {
	register(&command{
		name:    "create",
		usage:   "[storage-dir]",
		summary: "create a new writable drive and print its key (in storage-dir, or a new drive in --storage)",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			var sf storeFlags
			sf.register(fs)
			return func(args []string) error {
				if len(args) > 1 {
					return usageError{"create takes at most one storage folder"}
				}
				dir := ""
				if len(args) == 1 {
					dir = args[0]
					if isStorageDir(dir) {
						return fmt.Errorf("%s already holds a drive: mount it with hyperfs mount %s <mountpoint>", dir, dir)
					}
				}
				s, err := sf.open(dir)
				if err != nil {
					return err
				}
				defer s.Close()
				store := s.store
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
				fmt.Fprintln(std.stdout, hex.EncodeToString(d.Key()))
				return nil
			}
		},
	})
	register(&command{
		name:    "info",
		usage:   "[<key|storage-dir>]",
		summary: "print a drive's keys, version, sizes and peers",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			var c driveCmd
			c.register(fs)
			return func(args []string) error {
				return c.with(std, optionalArg(args), func(ctx context.Context, d *hyperdrive.Drive, n *network) error {
					dk := d.DiscoveryKey()
					d.Content(ctx) // opened, so Usage counts it; an empty drive may have none yet
					u := d.Usage()
					peers := 0
					if n != nil {
						peers = n.peers.Peers()
					}
					fmt.Fprintf(std.stdout, "key:            %s\ndiscovery key:  %s\nwritable:       %v\nversion:        %d\ncontent:        %s in %d blocks\nmetadata:       %d blocks\npeers:          %d\n",
						hex.EncodeToString(d.Key()), hex.EncodeToString(dk[:]), d.Writable(), d.Version(),
						humanBytes(u.ContentBytes), u.ContentBlocks, u.MetadataBlocks, peers)
					return nil
				})
			}
		},
	})
	register(&command{
		name:    "ls",
		usage:   "[<key|storage-dir>] [path]",
		summary: "list a folder of a drive",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			var c driveCmd
			c.register(fs)
			long := fs.Bool("l", false, "long listing: mode, size, time")
			return func(args []string) error {
				arg, p := "", "/"
				switch len(args) {
				case 0:
				case 1:
					if strings.HasPrefix(args[0], "/") && !isStorageDir(args[0]) {
						p = args[0]
					} else {
						arg = args[0]
					}
				case 2:
					arg, p = args[0], args[1]
				default:
					return usageError{"ls takes [<key|storage-dir>] [path]"}
				}
				return c.with(std, arg, func(ctx context.Context, d *hyperdrive.Drive, _ *network) error {
					entries, err := d.Readdir(ctx, p)
					if err != nil {
						return err
					}
					for _, e := range entries {
						name := e.Name
						if e.Stat != nil && e.Stat.IsDir() {
							name += "/"
						}
						if *long && e.Stat != nil {
							fmt.Fprintf(std.stdout, "%s %10d %s %s\n", iofs.FileMode(e.Stat.Mode&0o777)|typeBits(e.Stat), e.Stat.Size, e.Stat.Mtime.Format(time.DateTime), name)
						} else {
							fmt.Fprintln(std.stdout, name)
						}
					}
					return nil
				})
			}
		},
	})
	register(&command{
		name:    "cat",
		usage:   "[<key|storage-dir>] <path>",
		summary: "write a file of a drive to standard output",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			var c driveCmd
			c.register(fs)
			return func(args []string) error {
				arg, p := "", ""
				switch len(args) {
				case 1:
					p = args[0]
				case 2:
					arg, p = args[0], args[1]
				default:
					return usageError{"cat takes [<key|storage-dir>] <path>"}
				}
				return c.with(std, arg, func(ctx context.Context, d *hyperdrive.Drive, _ *network) error {
					f, err := d.OpenFile(ctx, p)
					if err != nil {
						return err
					}
					defer f.Close()
					_, err = io.Copy(std.stdout, f)
					return err
				})
			}
		},
	})
	register(&command{
		name:    "download",
		usage:   "<key|storage-dir> [path]",
		summary: "fetch a whole drive (or a folder or file of it) from peers, showing progress",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			var c driveCmd
			c.register(fs)
			return func(args []string) error {
				if len(args) < 1 || len(args) > 2 {
					return usageError{"download takes <key|storage-dir> [path]"}
				}
				p := "/"
				if len(args) == 2 {
					p = args[1]
				}
				return c.with(std, args[0], func(ctx context.Context, d *hyperdrive.Drive, _ *network) error {
					bar := newProgress(std.stderr, "downloading "+p)
					err := d.Download(ctx, p, bar.update)
					bar.done(err)
					return err
				})
			}
		},
	})
}

func optionalArg(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return ""
}

func typeBits(st *hyperdrive.Stat) iofs.FileMode {
	switch {
	case st.IsDir():
		return iofs.ModeDir
	case st.IsSymlink():
		return iofs.ModeSymlink
	}
	return 0
}

// humanBytes formats a byte count with a binary unit.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// progress draws a one-line progress report with a rate, at most every
// 200 ms, on a terminal or a log.
type progress struct {
	w     io.Writer
	label string
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, label string) *progress {
	return &progress{w: w, label: label, start: time.Now()}
}

func (p *progress) update(done, total uint64) {
	if time.Since(p.last) < 200*time.Millisecond && done < total {
		return
	}
	p.last = time.Now()
	rate := float64(done) / time.Since(p.start).Seconds()
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	fmt.Fprintf(p.w, "\r%s: %s of %s (%.0f%%), %s/s   ", p.label, humanBytes(done), humanBytes(total), pct, humanBytes(uint64(rate)))
}

func (p *progress) done(err error) {
	if err != nil {
		fmt.Fprintf(p.w, "\n%s: failed after %s\n", p.label, time.Since(p.start).Round(time.Millisecond))
		return
	}
	fmt.Fprintf(p.w, "\n%s: done in %s\n", p.label, time.Since(p.start).Round(time.Millisecond))
}
