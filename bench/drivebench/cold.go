package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/hyperfs/hyperfs/cache"
	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/replication"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// remote holds the cold-lookup child's flags.
var remote struct{ key, port, path string }

// coldRow writes a drive of n files with hyperfs, serves it with
// drive-serve.js, and has each side look one path up cold.
func coldRow(tw *tabwriter.Writer, self, tmp, jsDir string, scale float64, cacheMiB int64) error {
	n := max(1, int(float64(defaults["cold-lookup"])*scale))
	dir := filepath.Join(tmp, "remote")
	if _, err := runChild(self, "-child", "-case", "put-files", "-dir", dir, "-ops", strconv.Itoa(n)); err != nil {
		return fmt.Errorf("writing the remote drive: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv := exec.CommandContext(ctx, "node", filepath.Join(jsDir, "scripts", "drive-serve.js"), dir)
	stdin, err := srv.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		stdin.Close()
		srv.Wait()
	}()
	var ready struct {
		Port int
		Key  string
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		return fmt.Errorf("drive-serve.js printed nothing")
	}
	if err := json.Unmarshal(sc.Bytes(), &ready); err != nil {
		return fmt.Errorf("drive-serve.js: %q: %w", sc.Text(), err)
	}
	go func() {
		for sc.Scan() { // drain stream-close events
		}
	}()
	path := filePath(n / 2)
	args := []string{"--key", ready.Key, "--port", strconv.Itoa(ready.Port), "--path", path}
	js, err := runChild("node", append([]string{filepath.Join(jsDir, "scripts", "drive-bench.js"), filepath.Join(tmp, "unused"), "cold-lookup"}, args...)...)
	if err != nil {
		return fmt.Errorf("reference cold-lookup: %w", err)
	}
	gr, err := runChild(self, "-child", "-case", "cold-lookup", "-dir", filepath.Join(tmp, "go-cold"),
		"-key", ready.Key, "-port", strconv.Itoa(ready.Port), "-path", path, "-cache", strconv.FormatInt(cacheMiB, 10))
	if err != nil {
		return fmt.Errorf("hyperfs cold-lookup: %w", err)
	}
	fmt.Fprintf(tw, "%s\t%s\t%d\t%.3f\t%.3f\t%d blocks\t%d blocks\t%.2f×\t%.0f\t%.0f\t\n", "cold-lookup",
		fmt.Sprintf("stat of 1 path of %d, remote", n), 1, js.Seconds, gr.Seconds, js.Bytes, gr.Bytes,
		js.Seconds/gr.Seconds, float64(js.PeakRSS)/(1<<20), float64(gr.PeakRSS)/(1<<20))
	return nil
}

// coldLookup is the Go side: an empty store in dir, one replication
// stream to the server, the drive opened sparse, one Stat.
func coldLookup(dir string, cacheBytes int64) (result, error) {
	res := result{Case: "cold-lookup"}
	key, err := hex.DecodeString(remote.key)
	if err != nil {
		return res, err
	}
	ch, err := cache.New(cache.Options{MaxBytes: cacheBytes})
	if err != nil {
		return res, err
	}
	defer ch.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	store, err := corestore.Open(dir, corestore.Options{Cache: ch})
	if err != nil {
		return res, err
	}
	defer store.Close()
	conn, err := net.Dial("tcp", "127.0.0.1:"+remote.port)
	if err != nil {
		return res, err
	}
	stream, err := replication.NewStream(ctx, conn, replication.Config{Initiator: true, Live: true,
		OnDiscoveryKey: func(*replication.Stream, [32]byte) {}})
	if err != nil {
		return res, err
	}
	defer stream.Close()
	var mu sync.Mutex
	reps := map[*hypercore.Feed]*replication.Replicator{}
	var replErr error
	stop := store.OnFeed(func(f *hypercore.Feed) {
		r := replication.NewReplicator(f, replication.Options{})
		mu.Lock()
		reps[f] = r
		mu.Unlock()
		if _, err := stream.Replicate(r, replication.PeerOptions{}); err != nil {
			replErr = err
		}
	})
	defer stop()
	update := func(ctx context.Context, f *hypercore.Feed) error {
		mu.Lock()
		r := reps[f]
		mu.Unlock()
		return r.Update(ctx, replication.UpdateOptions{MinLength: 1})
	}
	d, err := hyperdrive.Open(ctx, store, hyperdrive.Options{Key: key, Sparse: true, Update: update})
	if err != nil {
		return res, err
	}
	defer d.Close()
	st, err := d.Stat(ctx, remote.path)
	if err != nil {
		return res, err
	}
	res.Seconds = time.Since(t0).Seconds()
	if replErr != nil {
		return res, replErr
	}
	if !st.IsFile() {
		return res, fmt.Errorf("%s is not a file", remote.path)
	}
	m := d.Metadata()
	res.Ops, res.Bytes = 1, m.Downloaded(0, m.Length())
	return res, nil
}
