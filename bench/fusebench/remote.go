package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hyperfs/hyperfs/app"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hyperfs/hyperfs/cache"
	"github.com/hyperfs/hyperfs/corestore"
	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/hypercore/replication"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/peers"
)

// The remote rows: a drive served by another process over loopback TCP,
// read cold through a mount, against the same bytes downloaded by the
// replication layer alone (no FUSE, no files). bench/linkbench has the
// rows over slow links (100 Mbit/s, 50 ms round trips, several seeders,
// several readers), against plain TCP and the JS reference.

// serveInfo is what the serve step prints once it listens.
type serveInfo struct {
	Addr string `json:"addr"`
	Key  string `json:"key"`
}

// serve shares the read-step drive on 127.0.0.1 until stdin closes.
func serve(dir string, cacheBytes int64) error {
	ch, err := cache.New(cache.Options{MaxBytes: cacheBytes})
	if err != nil {
		return err
	}
	defer ch.Close()
	store, err := corestore.Open(dir+"/read-store", corestore.Options{Cache: ch})
	if err != nil {
		return err
	}
	defer store.Close()
	d, err := hyperdrive.Open(context.Background(), store, hyperdrive.Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.Content(context.Background()); err != nil {
		return err
	}
	set := peers.New(store, peers.Options{})
	defer set.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := set.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	json.NewEncoder(os.Stdout).Encode(serveInfo{Addr: addr.String(), Key: hex.EncodeToString(d.Key())})
	bufio.NewReader(os.Stdin).ReadString('\n') // until the driver closes stdin
	return nil
}

// remoteDrive opens the served drive in a fresh store, connected to addr,
// as hyperfs mount <key> --peer addr does (package app).
func remoteDrive(dir, addr, key string, cacheBytes int64) (*hyperdrive.Drive, *peers.Set, func(), error) {
	storeDir, err := os.MkdirTemp(dir, "remote-store-")
	if err != nil {
		return nil, nil, nil, err
	}
	s, err := app.Open(app.Options{
		CacheMiB:    max(cacheBytes>>20, 1),
		Net:         app.NetOptions{Peers: []string{addr}, NoDiscovery: true},
		OpenTimeout: time.Minute,
	}, storeDir)
	if err != nil {
		os.RemoveAll(storeDir)
		return nil, nil, nil, err
	}
	k, _ := hex.DecodeString(key)
	d, release, err := s.Drive(context.Background(), app.Target{Key: k}, false)
	if err != nil {
		s.Close()
		os.RemoveAll(storeDir)
		return nil, nil, nil, err
	}
	done := func() {
		release()
		s.Close()
		os.RemoveAll(storeDir)
	}
	return d, s.Running().Peers, done, nil
}

// coldRead mounts the remote drive and reads /big through the folder.
func coldRead(dir, addr, key string, cacheBytes int64) (result, error) {
	d, _, done, err := remoteDrive(dir, addr, key, cacheBytes)
	if err != nil {
		return result{}, err
	}
	defer done()
	if _, err := d.Stat(context.Background(), "/big"); err != nil {
		return result{}, err
	}
	mnt, err := os.MkdirTemp(dir, "mnt-")
	if err != nil {
		return result{}, err
	}
	server, err := hfs.Mount(mnt, hfs.NewDrive(d, filepath.Dir(mnt)), hfs.Options{StagingDir: dir})
	if err != nil {
		return result{}, err
	}
	defer func() {
		server.Unmount()
		server.Wait()
	}()
	start := time.Now()
	n, err := readAll(mnt + "/big")
	return result{Seconds: time.Since(start).Seconds(), Bytes: n}, err
}

// rawReplication downloads the content feed's blocks of /big with the
// replication layer alone: the ceiling for a cold read.
func rawReplication(dir, addr, key string, cacheBytes int64) (result, error) {
	d, set, done, err := remoteDrive(dir, addr, key, cacheBytes)
	if err != nil {
		return result{}, err
	}
	defer done()
	ctx := context.Background()
	st, err := d.Stat(ctx, "/big")
	if err != nil {
		return result{}, err
	}
	content, err := d.Content(ctx)
	if err != nil {
		return result{}, err
	}
	r := set.Replicator(content)
	if r == nil {
		return result{}, errors.New("content feed is not replicated")
	}
	start := time.Now()
	dl := r.Download(replication.Range{Start: st.Offset, End: st.Offset + st.Blocks, Linear: true})
	if err := dl.Wait(ctx); err != nil {
		return result{}, err
	}
	return result{Seconds: time.Since(start).Seconds(), Bytes: int64(st.Size)}, nil
}

// remoteRows runs the serve step and the two measured steps.
func remoteRows(self, tmp string, cacheMiB int64) (cold, raw result, err error) {
	cmd := exec.Command(self, "-child", "serve", "-dir", tmp, "-cache", fmt.Sprint(cacheMiB))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return cold, raw, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return cold, raw, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return cold, raw, err
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	var info serveInfo
	if err := json.NewDecoder(out).Decode(&info); err != nil {
		return cold, raw, fmt.Errorf("serve: %w", err)
	}
	args := func(step string) []string {
		return []string{"-child", step, "-dir", tmp, "-cache", fmt.Sprint(cacheMiB), "-peer", info.Addr, "-key", info.Key}
	}
	if raw, err = spawn(self, args("raw-replication")...); err != nil {
		return cold, raw, fmt.Errorf("raw replication: %w", err)
	}
	fmt.Fprintln(os.Stderr, "done: raw replication")
	if cold, err = spawn(self, args("cold-read")...); err != nil {
		return cold, raw, fmt.Errorf("cold read: %w", err)
	}
	fmt.Fprintln(os.Stderr, "done: cold read")
	return cold, raw, nil
}
