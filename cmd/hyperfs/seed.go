package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/hyperfs/hyperfs/app"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/peers"
	"github.com/spf13/cobra"
)

// config is what hyperfs remembers between runs.
type config struct {
	// Seeds are the drives (hex keys) hyperfs serve announces and serves,
	// per storage folder ("" is the default storage, for configs written
	// before storages were told apart).
	Seeds   []string            `json:"seeds,omitempty"`
	Storage map[string][]string `json:"storageSeeds,omitempty"`
}

func configFile() string { return filepath.Join(app.ConfigDir(), "config.json") }

func loadConfig() (config, error) {
	var c config
	b, err := os.ReadFile(configFile())
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w (fix or delete it)", configFile(), err)
	}
	return c, nil
}

// seeds returns the seeds of a storage folder.
func (c *config) seeds(storage string) []string {
	if storage == app.DefaultStorage() {
		return append(slices.Clone(c.Seeds), c.Storage[storage]...)
	}
	return c.Storage[storage]
}

func (c *config) setSeeds(storage string, seeds []string) {
	if storage == app.DefaultStorage() {
		c.Seeds = nil
	}
	if c.Storage == nil {
		c.Storage = map[string][]string{}
	}
	if len(seeds) == 0 {
		delete(c.Storage, storage)
		return
	}
	c.Storage[storage] = seeds
}

// save writes the config atomically (a temporary file renamed over it).
func (c config) save() error {
	if err := os.MkdirAll(app.ConfigDir(), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp := filepath.Join(app.ConfigDir(), ".config.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, configFile())
}

// storageID is the storage folder as the config names it.
func (c *cli) storageID() string {
	if abs, err := filepath.Abs(c.storage); err == nil {
		return abs
	}
	return c.storage
}

// driveStats is what a running hyperfs reports for one drive it serves, in
// <state>/stats/<key>-<pid>-<where>.json, for hyperfs stats and hyperfs mounts.
type driveStats struct {
	Key             string    `json:"key"`
	PID             int       `json:"pid"`
	Storage         string    `json:"storage"`
	Mountpoint      string    `json:"mountpoint,omitempty"`
	Version         uint64    `json:"version"`
	Checkout        bool      `json:"checkout,omitempty"`
	Writable        bool      `json:"writable"`
	Peers           int       `json:"peers"`
	UploadedBytes   uint64    `json:"uploadedBytes"`
	DownloadedBytes uint64    `json:"downloadedBytes"`
	Updated         time.Time `json:"updated"`
	// Conns are the peers' addresses and transports.
	Conns []peers.ConnInfo `json:"conns,omitempty"`
	// Browse marks a browse folder (mount --network); Key is empty.
	Browse bool `json:"browse,omitempty"`
}

func statsDir() string { return filepath.Join(app.StateDir(), "stats") }

// reportStats writes the stats of the drive mounted at m (or of a browse
// folder) every two seconds until ctx is done.
func reportStats(ctx context.Context, s *app.Session, m *app.Mount, checkout uint64) {
	reportDriveStats(ctx, s, m.Drive, m.Dir, !m.ReadOnly, checkout)
}

func reportDriveStats(ctx context.Context, s *app.Session, d *hyperdrive.Drive, mountpoint string, writable bool, checkout uint64) {
	if err := os.MkdirAll(statsDir(), 0o700); err != nil {
		return
	}
	key := "browse"
	if d != nil {
		key = hex.EncodeToString(d.Key())
	}
	// One file per drive and mountpoint: a service mounts one drive twice
	// (a version beside the latest).
	where := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d", mountpoint, checkout)))
	file := filepath.Join(statsDir(), fmt.Sprintf("%s-%d-%x.json", key, os.Getpid(), where[:4]))
	defer os.Remove(file)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		ds := driveStats{Key: key, PID: os.Getpid(), Storage: s.Dir, Mountpoint: mountpoint, Checkout: checkout != 0, Writable: writable, Updated: time.Now()}
		if d != nil {
			ds.Version = d.Version()
			ds.DownloadedBytes, ds.UploadedBytes, ds.Peers = s.Transferred(ctx, d)
			ds.Conns = s.Conns(d)
		} else {
			ds.Key, ds.Browse = "", true
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

// runningStats reads the stats of running hyperfs processes.
func runningStats() []driveStats {
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
	sort.Slice(all, func(i, j int) bool {
		if all[i].Mountpoint != all[j].Mountpoint {
			return all[i].Mountpoint < all[j].Mountpoint
		}
		return all[i].Key < all[j].Key
	})
	return all
}

// editSeeds lets edit change the seed list of the storage and saves it.
func (c *cli) editSeeds(arg string, edit func(seeds []string, hexKey string) ([]string, error)) (string, error) {
	k, err := app.ParseKey(arg)
	if err != nil {
		return "", err
	}
	cfg, err := loadConfig()
	if err != nil {
		return "", err
	}
	h := hex.EncodeToString(k)
	seeds, err := edit(cfg.seeds(c.storageID()), h)
	if err != nil {
		return "", err
	}
	cfg.setSeeds(c.storageID(), seeds)
	return h, cfg.save()
}

func (c *cli) seedCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "seed <key>",
		Short: "remember a drive to announce and serve whenever hyperfs serve runs on this storage",
		Args:  argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := c.editSeeds(args[0], func(seeds []string, h string) ([]string, error) {
				if !slices.Contains(seeds, h) {
					seeds = append(seeds, h)
				}
				return seeds, nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.std.stdout, "seeding %s (hyperfs serve announces it)\n", h)
			return nil
		},
	}
}

func (c *cli) unseedCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unseed <key>",
		Short: "stop seeding a drive",
		Args:  argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := c.editSeeds(args[0], func(seeds []string, h string) ([]string, error) {
				i := slices.Index(seeds, h)
				if i < 0 {
					return nil, fmt.Errorf("%s is not seeded from %s", h, c.storageID())
				}
				return slices.Delete(seeds, i, i+1), nil
			})
			return err
		},
	}
}

func (c *cli) seedsCmd() *cobra.Command {
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:   "seeds",
		Short: "list the seeded drives of the storage (--all: of every storage)",
		Args:  argsBetween(0, 0),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&all, "all", false, "list the seeds of every storage")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := loadConfig()
		if err != nil {
			return err
		}
		type seed struct {
			Storage string `json:"storage"`
			Key     string `json:"key"`
		}
		out := []seed{}
		storages := []string{c.storageID()}
		if all {
			storages = nil
			for st := range cfg.Storage {
				storages = append(storages, st)
			}
			if len(cfg.Seeds) > 0 && !slices.Contains(storages, app.DefaultStorage()) {
				storages = append(storages, app.DefaultStorage())
			}
			sort.Strings(storages)
		}
		for _, st := range storages {
			for _, k := range cfg.seeds(st) {
				out = append(out, seed{st, k})
			}
		}
		if asJSON {
			return c.printJSON(out)
		}
		tw := c.tabs()
		fmt.Fprintln(tw, "STORAGE\tDRIVE")
		for _, s := range out {
			fmt.Fprintf(tw, "%s\t%s\n", s.Storage, s.Key)
		}
		return tw.Flush()
	}
	return cmd
}

func (c *cli) serveCmd() *cobra.Command {
	var df driveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "announce and serve every seeded drive of the storage (downloading remote ones in full) until interrupted",
		Long: `serve announces and serves the storage's seeded drives (hyperfs seed), downloading
remote ones in full, until interrupted; it is the storage's service. When a
service already runs on the storage (a mount), serve hands the seeds to it and
returns: that process then stays after its last mount.`,
		Args: argsBetween(0, 0),
	}
	df.register(cmd.Flags(), false)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := df.validate(); err != nil {
			return err
		}
		cfg, err := loadConfig()
		if err != nil {
			return err
		}
		seeds := cfg.seeds(c.storageID())
		if c.svc != nil {
			c.svc.KeepRunning()
			n := c.serveSeeds(c.ctx, c.svc.Context(), c.svc.S, seeds)
			fmt.Fprintf(c.std.stdout, "serving %d drives in the running hyperfs (process %d)\n", n, os.Getpid())
			return nil
		}
		ctx, stop := signalContext()
		defer stop()
		s, err := app.Open(c.options(&df), "")
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := s.Network(); err != nil {
			return err
		}
		// The storage's service: later commands on it run here.
		var svc *app.Service
		if svc, err = app.Serve(s, serviceHandler(&svc)); err != nil {
			return err
		}
		defer svc.Close()
		svc.KeepRunning()
		n := c.serveSeeds(ctx, ctx, s, seeds)
		fmt.Fprintf(c.std.stdout, "serving %d drives\n", n)
		sdNotify(fmt.Sprintf("READY=1\nSTATUS=serving %d drives", n))
		<-ctx.Done()
		sdNotify("STOPPING=1")
		svc.UnmountAll()
		return nil
	}
	return cmd
}

// serveSeeds opens the seeded drives (waiting for peers as long as
// openCtx lets it) and serves them until ctx ends, downloading remote ones
// in full. It returns how many it opened.
func (c *cli) serveSeeds(openCtx, ctx context.Context, s *app.Session, seeds []string) int {
	n := 0
	for _, h := range seeds {
		k, err := app.ParseKey(h)
		if err != nil {
			slog.Warn("a seed that is not a key", "seed", h)
			continue
		}
		d, release, err := s.Drive(openCtx, app.Target{Key: k}, true)
		if err != nil {
			slog.Warn("seeded drive not available yet", "key", h, "err", err)
			continue
		}
		n++
		go func() {
			defer release()
			go reportDriveStats(ctx, s, d, "", d.Writable(), 0)
			if !d.Writable() {
				if err := d.Download(ctx, "/", nil); err != nil && ctx.Err() == nil {
					slog.Warn("downloading seeded drive", "key", h, "err", err)
				}
			}
			<-ctx.Done()
		}()
	}
	return n
}

func (c *cli) statsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "show peers and bytes up and down for every drive a running hyperfs serves",
		Args:  argsBetween(0, 0),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		all := runningStats()
		if asJSON {
			if all == nil {
				all = []driveStats{}
			}
			return c.printJSON(all)
		}
		if len(all) == 0 {
			fmt.Fprintln(c.std.stdout, "no running hyperfs is serving drives")
			return nil
		}
		tw := c.tabs()
		fmt.Fprintln(tw, "DRIVE\tMOUNTPOINT\tPID\tPEERS\tUP\tDOWN")
		for _, ds := range all {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", ds.Key, orDash(ds.Mountpoint), ds.PID, ds.Peers, app.HumanBytes(ds.UploadedBytes), app.HumanBytes(ds.DownloadedBytes))
			for _, pc := range ds.Conns {
				fmt.Fprintf(tw, "  peer %s\t\t\t\t\t\n", pc)
			}
		}
		return tw.Flush()
	}
	return cmd
}

func (c *cli) mountsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "mounts",
		Short: "list the drives mounted by running hyperfs processes: mountpoint, key, version, writable, peers, bytes",
		Args:  argsBetween(0, 0),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var mounts []driveStats
		for _, ds := range runningStats() {
			if ds.Mountpoint != "" {
				mounts = append(mounts, ds)
			}
		}
		if asJSON {
			if mounts == nil {
				mounts = []driveStats{}
			}
			return c.printJSON(mounts)
		}
		tw := c.tabs()
		fmt.Fprintln(tw, "MOUNTPOINT\tDRIVE\tVERSION\tWRITABLE\tPEERS\tUP\tDOWN")
		for _, ds := range mounts {
			v := fmt.Sprint(ds.Version)
			if ds.Checkout {
				v += " (checkout)"
			}
			key := ds.Key
			if ds.Browse {
				key, v = "(browse folder: drives by key)", "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\t%s\t%s\n", ds.Mountpoint, key, v, ds.Writable, ds.Peers, app.HumanBytes(ds.UploadedBytes), app.HumanBytes(ds.DownloadedBytes))
		}
		return tw.Flush()
	}
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
