package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// config is what hyperfs remembers between runs.
type config struct {
	// Seeds are the drives (hex keys) hyperfs serve announces and serves.
	Seeds []string `json:"seeds"`
}

// configDir is $XDG_CONFIG_HOME/hyperfs (~/.config/hyperfs).
func configDir() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "hyperfs")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "hyperfs-config")
	}
	return filepath.Join(home, ".config", "hyperfs")
}

func loadConfig() (config, error) {
	var c config
	b, err := os.ReadFile(filepath.Join(configDir(), "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w (fix or delete it)", filepath.Join(configDir(), "config.json"), err)
	}
	return c, nil
}

// save writes the config atomically (a temporary file renamed over it).
func (c config) save() error {
	if err := os.MkdirAll(configDir(), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp := filepath.Join(configDir(), ".config.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(configDir(), "config.json"))
}

// driveStats is what a running hyperfs reports for one drive, in
// <state>/stats/<key>.json, for hyperfs stats.
type driveStats struct {
	Key             string    `json:"key"`
	PID             int       `json:"pid"`
	Peers           int       `json:"peers"`
	UploadedBytes   uint64    `json:"uploadedBytes"`
	DownloadedBytes uint64    `json:"downloadedBytes"`
	Updated         time.Time `json:"updated"`
}

func statsDir() string { return filepath.Join(stateDir(), "stats") }

// reportStats writes d's stats every two seconds until ctx is done.
func reportStats(ctx context.Context, d *hyperdrive.Drive, n *network) {
	if err := os.MkdirAll(statsDir(), 0o700); err != nil {
		return
	}
	key := hex.EncodeToString(d.Key())
	file := filepath.Join(statsDir(), key+".json")
	defer os.Remove(file)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		ds := driveStats{Key: key, PID: os.Getpid(), Updated: time.Now()}
		if r := n.peers.Replicator(d.Metadata()); r != nil {
			st := r.Stats()
			ds.UploadedBytes += st.UploadedBytes
			ds.DownloadedBytes += st.DownloadedBytes
			ds.Peers = len(r.Peers())
		}
		if c, err := d.Content(ctx); err == nil {
			if r := n.peers.Replicator(c); r != nil {
				st := r.Stats()
				ds.UploadedBytes += st.UploadedBytes
				ds.DownloadedBytes += st.DownloadedBytes
			}
		}
		b, _ := json.Marshal(ds)
		os.WriteFile(file+".tmp", b, 0o600)
		os.Rename(file+".tmp", file)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// editSeeds reads the one <key> argument of seed and unseed, lets edit
// change the seed list, and saves it.
// It returns the key in hex.
func editSeeds(args []string, verb string, edit func(c *config, hexKey string) error) (string, error) {
	if len(args) != 1 {
		return "", usageError{verb + " takes <key>"}
	}
	k, err := parseKey(args[0])
	if err != nil {
		return "", err
	}
	c, err := loadConfig()
	if err != nil {
		return "", err
	}
	h := hex.EncodeToString(k)
	if err := edit(&c, h); err != nil {
		return "", err
	}
	return h, c.save()
}

func init() {
	register(&command{
		name:    "seed",
		usage:   "<key>",
		summary: "remember a drive to announce and serve whenever hyperfs serve runs",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			return func(args []string) error {
				h, err := editSeeds(args, "seed", func(c *config, h string) error {
					if !slices.Contains(c.Seeds, h) {
						c.Seeds = append(c.Seeds, h)
					}
					return nil
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(std.stdout, "seeding %s (hyperfs serve announces it)\n", h)
				return nil
			}
		},
	})
	register(&command{
		name:    "unseed",
		usage:   "<key>",
		summary: "stop seeding a drive",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			return func(args []string) error {
				_, err := editSeeds(args, "unseed", func(c *config, h string) error {
					i := slices.Index(c.Seeds, h)
					if i < 0 {
						return fmt.Errorf("%s is not seeded", h)
					}
					c.Seeds = slices.Delete(c.Seeds, i, i+1)
					return nil
				})
				return err
			}
		},
	})
	register(&command{
		name:    "serve",
		summary: "announce and serve every seeded drive (downloading remote ones in full) until interrupted",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			var sf storeFlags
			var nf netFlags
			sf.register(fs)
			nf.register(fs)
			return func(args []string) error {
				c, err := loadConfig()
				if err != nil {
					return err
				}
				ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				s, err := sf.open("")
				if err != nil {
					return err
				}
				defer s.Close()
				n, err := nf.start(ctx, s)
				if err != nil {
					return err
				}
				defer n.Close()
				var drives []*hyperdrive.Drive
				defer func() {
					for _, d := range drives {
						d.Close()
					}
				}()
				for _, h := range c.Seeds {
					k, _ := parseKey(h)
					n.join(hcrypto.DiscoveryKey(k))
					openCtx, cancel := context.WithTimeout(ctx, time.Minute)
					d, err := openDrive(openCtx, s, target{key: k}, n)
					cancel()
					if err != nil {
						slog.Warn("seeded drive not available yet", "key", h, "err", err)
						continue
					}
					drives = append(drives, d)
					go reportStats(ctx, d, n)
					if !d.Writable() {
						go func() {
							if err := d.Download(ctx, "/", nil); err != nil && ctx.Err() == nil {
								slog.Warn("downloading seeded drive", "key", h, "err", err)
							}
						}()
					}
				}
				fmt.Fprintf(std.stdout, "serving %d drives\n", len(drives))
				<-ctx.Done()
				return nil
			}
		},
	})
	register(&command{
		name:    "stats",
		summary: "show peers and bytes up and down for every drive a running hyperfs serves",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			return func(args []string) error {
				files, _ := filepath.Glob(filepath.Join(statsDir(), "*.json"))
				var all []driveStats
				for _, f := range files {
					b, err := os.ReadFile(f)
					if err != nil {
						continue
					}
					var ds driveStats
					if json.Unmarshal(b, &ds) != nil || time.Since(ds.Updated) > 10*time.Second {
						continue // left by a process that is gone
					}
					all = append(all, ds)
				}
				if len(all) == 0 {
					fmt.Fprintln(std.stdout, "no running hyperfs is serving drives")
					return nil
				}
				sort.Slice(all, func(i, j int) bool { return all[i].Key < all[j].Key })
				tw := tabwriter.NewWriter(std.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "DRIVE\tPID\tPEERS\tUP\tDOWN")
				for _, ds := range all {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", ds.Key, ds.PID, ds.Peers, humanBytes(ds.UploadedBytes), humanBytes(ds.DownloadedBytes))
				}
				return tw.Flush()
			}
		},
	})
}
