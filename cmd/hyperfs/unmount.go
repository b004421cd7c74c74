package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// unmountOnSignal unmounts dir after ^C and returns once the server has
// stopped, so the process never exits with the folder still mounted (a
// dead mountpoint: "Transport endpoint is not connected"). While the
// mount is busy (a shell inside it, an open file) it keeps serving, says
// which processes hold it, and retries; a second ^C detaches it lazily:
// the folder is free at once, and the process serves those still using
// it until they let go.
func unmountOnSignal(std *streams, server *fuse.Server, dir string, unmounted <-chan struct{}) {
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	fmt.Fprintln(std.stderr, "unmounting", dir)
	told := false
	for i := 0; ; i++ {
		err := server.Unmount()
		if err == nil {
			<-unmounted
			return
		}
		if i == 5 && !told { // a busy mount often frees itself in a moment
			told = true
			who := holders(dir)
			if len(who) == 0 {
				who = []string{"unknown processes"}
			}
			fmt.Fprintf(std.stderr, "%s is busy (%v), held by %s; still serving it: close what uses it, or press ^C again to detach it now\n",
				dir, err, strings.Join(who, ", "))
		}
		select {
		case <-unmounted:
			return
		case <-again:
			fmt.Fprintf(std.stderr, "detaching %s; serving the processes still using it until they let go\n", dir)
			if out, err := exec.Command("fusermount3", "-u", "-z", dir).CombinedOutput(); err != nil {
				if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
					fmt.Fprintf(std.stderr, "detaching %s failed: %v: %s\n", dir, err, out)
					continue
				}
			}
			<-unmounted
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// holders lists the processes whose working directory, root or open
// files are in dir, as "pid 123 (bash)", from /proc.
func holders(dir string) []string {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	self := strconv.Itoa(os.Getpid())
	inside := func(p string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
	var out []string
	for _, proc := range procs {
		pid := filepath.Base(proc)
		if pid == self {
			continue
		}
		held := false
		for _, l := range []string{"cwd", "root"} {
			if t, err := os.Readlink(filepath.Join(proc, l)); err == nil && inside(t) {
				held = true
			}
		}
		if !held {
			fds, _ := os.ReadDir(filepath.Join(proc, "fd"))
			for _, fd := range fds {
				if t, err := os.Readlink(filepath.Join(proc, "fd", fd.Name())); err == nil && inside(t) {
					held = true
					break
				}
			}
		}
		if held {
			comm, _ := os.ReadFile(filepath.Join(proc, "comm"))
			out = append(out, fmt.Sprintf("pid %s (%s)", pid, strings.TrimSpace(string(comm))))
		}
	}
	sort.Strings(out)
	return out
}
