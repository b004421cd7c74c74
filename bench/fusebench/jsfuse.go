package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/hyperfs/hyperfs/integration/jsref"
	"github.com/hyperfs/hyperfs/internal/syncbuf"
)

// The jsfuse backend: the JS FUSE stack, hyperdrive-fuse on fuse-native
// (libfuse 2), mounting the same corestore folder the hyperdrive backend
// does, through integration/js/scripts/fuse-mount.js. Its daemon is the
// node process, so its peak RSS is node's, which the script reports.

// errNoMount marks a jsfuse failure to mount at all; the driver then prints
// "not run" rows instead of failing the run.
var errNoMount = errors.New("cannot mount")

// jsEvent is a line fuse-mount.js prints.
type jsEvent struct {
	Event   string `json:"event"`
	PeakRSS int64  `json:"peak_rss"`
}

// mountJS starts fuse-mount.js on the corestore folder store at mnt and
// waits until it is mounted. unmount closes the script's stdin, waits for
// it to unmount and exit, and returns its peak RSS.
func mountJS(store, mnt string) (unmount func() (int64, error), err error) {
	if err := os.MkdirAll(store, 0755); err != nil {
		return nil, err
	}
	cmd := jsref.Command(context.Background(), "fuse-mount.js", store, mnt)
	cmd.WaitDelay = 10 * time.Second
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: %v", errNoMount, err)
	}
	lines := make(chan []byte)
	go func() {
		defer close(lines)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadBytes('\n')
			if line = bytes.TrimSpace(line); len(line) > 0 {
				lines <- line
			}
			if err != nil {
				io.Copy(io.Discard, r)
				return
			}
		}
	}()
	next := func(timeout time.Duration) (jsEvent, error) {
		var ev jsEvent
		select {
		case line, ok := <-lines:
			if !ok {
				return ev, errors.New("fuse-mount.js exited")
			}
			return ev, json.Unmarshal(line, &ev)
		case <-time.After(timeout):
			return ev, errors.New("fuse-mount.js timed out")
		}
	}
	stop := func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		unmountStale(mnt)
	}
	if ev, err := next(time.Minute); err != nil || ev.Event != "mounted" {
		stop()
		if err == nil {
			err = fmt.Errorf("unexpected event %q", ev.Event)
		}
		return nil, fmt.Errorf("%w: %v: %s", errNoMount, err, firstLine(stderr.String()))
	}
	return func() (int64, error) {
		stdin.Close()
		ev, err := next(time.Minute)
		werr := cmd.Wait()
		unmountStale(mnt)
		if err == nil && ev.Event != "closed" {
			err = fmt.Errorf("unexpected event %q", ev.Event)
		}
		if err == nil {
			err = werr
		}
		if err != nil {
			return 0, fmt.Errorf("fuse-mount.js: %v: %s", err, firstLine(stderr.String()))
		}
		return ev.PeakRSS, nil
	}, nil
}

// unmountStale lazily unmounts mnt if it is still a mount point, as after
// the script died without unmounting.
func unmountStale(mnt string) {
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil || !bytes.Contains(info, []byte(" "+mnt+" ")) {
		return
	}
	for _, c := range []string{"fusermount3", "fusermount"} {
		if exec.Command(c, "-uz", mnt).Run() == nil {
			return
		}
	}
}

// firstLine is the first line of s naming an error, else its first
// non-empty line, for messages: node prints a stack, whose first line may
// be only the location.
func firstLine(s string) string {
	first := ""
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if strings.Contains(l, "Error") {
			return l
		}
		if first == "" {
			first = l
		}
	}
	return first
}
