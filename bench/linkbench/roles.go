package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyperfs/hyperfs/app"
	"github.com/hyperfs/hyperfs/bench/internal/events"
	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/internal/delayproxy"
	"github.com/hyperfs/hyperfs/peers"
)

// setup writes the drive every seeder serves: /big (256 MiB × scale),
// /mid (32 MiB × scale) and /small.txt.
func setup(dir string, scale float64) error {
	sz := fileSizes(scale)
	ctx := context.Background()
	st, err := app.OpenStorage(dir, 64, false)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := hyperdrive.Open(ctx, st.Store, hyperdrive.Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	hd := hfs.NewDrive(d, dir)
	for _, f := range []struct {
		name string
		size int64
	}{{"/small.txt", 100}, {"/mid", sz.mid}, {"/big", sz.big}} {
		data := pattern(f.size, byte(f.size))
		if err := hd.WriteFile(ctx, f.name, 0644, bytes.NewReader(data), f.size); err != nil {
			return fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	emit(event{Event: events.Event{Event: "done"}, Key: hex.EncodeToString(d.Key())})
	return nil
}

// pattern is n bytes that do not compress.
func pattern(n int64, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// runProxy runs the delay proxies listed in forward (listen=to,...).
func runProxy(forward string, delay time.Duration) error {
	for _, f := range strings.Split(forward, ",") {
		listen, to, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("-forward %q: want listen=to", f)
		}
		p, err := delayproxy.Listen(listen, to, delay, nil)
		if err != nil {
			return err
		}
		defer p.Close()
	}
	emit(event{Event: events.Event{Event: "ready"}})
	serveStats()
	return nil
}

// seed serves the drive of the store at dir on port, as hyperfs serve does.
func seed(dir string, port int, cacheMiB int64) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := app.OpenStorage(dir, cacheMiB, false) // as hyperfs serve opens it, memory limit too
	if err != nil {
		return err
	}
	defer st.Close()
	store := st.Store
	d, err := hyperdrive.Open(ctx, store, hyperdrive.Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.Content(ctx); err != nil {
		return err
	}
	set := peers.New(store, peers.Options{})
	defer set.Close()
	if _, err := set.Listen(ctx, fmt.Sprintf("0.0.0.0:%d", port)); err != nil {
		return err
	}
	emit(event{Event: events.Event{Event: "ready"}, Key: hex.EncodeToString(d.Key())})
	serveStats()
	return nil
}

// read is a hyperfs reader: it opens the drive from peers as hyperfs mount
// <key> --peer ... does, mounts it, and on "go" cats path through the
// folder (or, with ttfb, does all of that after "go" and reads one byte).
// Its done event has the CPU the mount's daemon (this process) spent; cat's
// own is left out, as a JS reader has no cat.
func read(dir, key string, peerAddrs []string, path string, ttfb bool, cacheMiB int64) error {
	if err := os.MkdirAll(dir, 0755); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	k, err := hex.DecodeString(key)
	if err != nil {
		return fmt.Errorf("-key: %w", err)
	}
	if ttfb {
		emit(event{Event: events.Event{Event: "ready"}})
		if !waitGo() {
			return nil
		}
	}
	start := time.Now()
	s, err := app.Open(app.Options{
		CacheMiB:    cacheMiB,
		Net:         app.NetOptions{Peers: peerAddrs, NoDiscovery: true},
		OpenTimeout: time.Minute,
	}, filepath.Join(dir, "store"))
	if err != nil {
		return err
	}
	defer s.Close()
	d, release, err := s.Drive(context.Background(), app.Target{Key: k}, false)
	if err != nil {
		return err
	}
	defer release()
	mnt := filepath.Join(dir, "mnt")
	if err := os.MkdirAll(mnt, 0755); err != nil {
		return err
	}
	server, err := hfs.Mount(mnt, hfs.NewDrive(d, dir), hfs.Options{StagingDir: dir})
	if err != nil {
		return err
	}
	defer func() {
		server.Unmount()
		server.Wait()
	}()
	file := filepath.Join(mnt, path)
	if ttfb {
		opened := time.Since(start)
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		openedFile := time.Since(start)
		var one [1]byte
		_, err = f.Read(one[:])
		secs := time.Since(start).Seconds()
		f.Close()
		if err != nil {
			return err
		}
		emit(event{Event: events.Event{Event: "done"}, Seconds: secs, Open: opened.Seconds(), Lookup: (openedFile - opened).Seconds(), Bytes: 1, PeakRSS: peakRSS()})
		return nil
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	emit(event{Event: events.Event{Event: "ready"}})
	if !waitGo() {
		return nil
	}
	start = time.Now()
	cpu0 := cpuSeconds()
	cmd := exec.Command("cat", file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	cmd.Stdout = devnull
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cat %s: %v: %s", path, err, stderr.String())
	}
	emit(event{Event: events.Event{Event: "done"}, Seconds: time.Since(start).Seconds(), Bytes: st.Size(), CPU: cpuSeconds() - cpu0, PeakRSS: peakRSS()})
	return nil
}
