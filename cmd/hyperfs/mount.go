package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
)

// readyPrefix starts the line a foreground mount prints once the folder is
// usable; --daemon and tests wait for it.
const readyPrefix = "mounted "

func init() {
	register(&command{
		name:    "mount",
		usage:   "[<key|storage-dir>] <mountpoint>",
		summary: "mount a drive as a folder, in the foreground until interrupted (default: your own drive; in hyperdrive-daemon's ~/.hyperdrive, its root drive)",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			var sf storeFlags
			var nf netFlags
			sf.register(fs)
			nf.register(fs)
			readOnly := fs.Bool("readonly", false, "refuse writes even to a drive you own")
			daemon := fs.Bool("daemon", false, "mount in the background and return once mounted")
			readTimeout := fs.Duration("read-timeout", 60*time.Second, "how long a read waits for peers before failing with EIO")
			openTimeout := fs.Duration("open-timeout", 2*time.Minute, "how long to wait for a remote drive's first blocks")
			debugFuse := fs.Bool("debug-fuse", false, "log every FUSE request")
			droppings := fs.Bool("file-manager-files", false, "let file managers create trash folders, .DS_Store, .directory and thumbnails in the drive (they are published to every peer)")
			return func(args []string) error {
				var arg, dir string
				switch len(args) {
				case 1:
					dir = args[0]
				case 2:
					arg, dir = args[0], args[1]
				default:
					return usageError{"mount takes [<key|storage-dir>] <mountpoint>"}
				}
				if *daemon {
					return daemonize(std, os.Args[1:])
				}
				t, err := parseTarget(arg)
				if err != nil {
					return err
				}
				return mount(std, &sf, &nf, t, dir, hfs.Options{
					ReadOnly:       *readOnly,
					ReadTimeout:    *readTimeout,
					Debug:          *debugFuse,
					AllowDroppings: *droppings,
				}, *openTimeout)
			}
		},
	})
	register(&command{
		name:    "unmount",
		usage:   "<mountpoint>",
		summary: "unmount a drive mounted with hyperfs mount (the mount process then exits)",
		flags: func(fs *flag.FlagSet, std *streams) func([]string) error {
			return func(args []string) error {
				if len(args) != 1 {
					return usageError{"unmount takes <mountpoint>"}
				}
				if stale, err := hfs.RecoverStale(args[0]); stale || err != nil {
					return err
				}
				return hfs.Unmount(args[0])
			}
		},
	})
}

// mount serves drive t on dir until a signal or an unmount.
func mount(std *streams, sf *storeFlags, nf *netFlags, t target, dir string, opts hfs.Options, openTimeout time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if recovered, err := hfs.RecoverStale(abs); err != nil {
		return fmt.Errorf("%s was left mounted by a crashed hyperfs and could not be freed: %w (try fusermount3 -u -z %s)", abs, err, abs)
	} else if recovered {
		slog.Warn("freed a mountpoint left by a crashed hyperfs", "dir", abs)
	}
	// A missing mountpoint is made (not its parents: a typo should not
	// grow a tree of folders).
	if err := os.Mkdir(abs, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("mountpoint %s cannot be made: %w (create it with mkdir -p %s)", abs, err, abs)
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return fmt.Errorf("mountpoint %s is not a folder", abs)
	}
	if isMountpoint(abs) {
		return fmt.Errorf("%s is already a mountpoint: unmount it first (hyperfs unmount %s)", abs, abs)
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		return errors.New("FUSE is not installed: install fuse3 (apt-get install fuse3)")
	}
	s, err := sf.open(t.dir)
	if err != nil {
		return err
	}
	defer s.Close()
	// The network outlives the signal: reads in flight while unmounting
	// still need their peers. It stops once the folder is unmounted.
	netCtx, stopNet := context.WithCancel(context.Background())
	defer stopNet()
	n, err := nf.start(netCtx, s)
	if err != nil {
		return err
	}
	defer n.Close()
	opened := make(chan struct{})
	if t.key != nil {
		n.joinUntil(opened, hcrypto.DiscoveryKey(t.key))
	}

	openCtx, cancel := context.WithTimeout(ctx, openTimeout)
	waiting := time.AfterFunc(2*time.Second, func() {
		fmt.Fprintln(std.stderr, "waiting for peers to send the drive…")
	})
	d, err := openDrive(openCtx, s, t, n)
	waiting.Stop()
	cancel()
	close(opened)
	if err != nil {
		return err
	}
	defer d.Close()
	if t.key == nil { // a key was joined while the drive was opened
		n.join(d.DiscoveryKey())
	}
	go reportStats(netCtx, d, n)

	staging := filepath.Join(stateDir(), "staging")
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return err
	}
	opts.StagingDir = staging
	opts.FsName = "hyperfs:" + hex.EncodeToString(d.Key())[:16]
	server, err := hfs.Mount(abs, hfs.NewDrive(d, s.store.Dir()), opts)
	if err != nil {
		if errors.Is(err, syscall.EBUSY) || strings.Contains(err.Error(), "busy") {
			return fmt.Errorf("%s is already a mountpoint: unmount it first (hyperfs unmount %s): %w", abs, abs, err)
		}
		return fmt.Errorf("mounting on %s: %w", abs, err)
	}
	if err := server.WaitMount(); err != nil {
		return err
	}
	mode := "read-write"
	if !d.Writable() || opts.ReadOnly {
		mode = "read-only"
	}
	fmt.Fprintf(std.stdout, "%s%s (drive %s, %s)\n", readyPrefix, abs, hex.EncodeToString(d.Key()), mode)
	unmounted := make(chan struct{})
	go func() {
		server.Wait()
		close(unmounted)
	}()
	select {
	case <-ctx.Done():
		unmountOnSignal(std, server, abs, unmounted)
	case <-unmounted:
	}
	return nil
}

// isMountpoint reports whether something is mounted on dir: its device
// differs from its parent's.
func isMountpoint(dir string) bool {
	var st, parent syscall.Stat_t
	if syscall.Stat(dir, &st) != nil || syscall.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev || st.Ino == parent.Ino
}

// stateDir is $XDG_STATE_HOME/hyperfs (~/.local/state/hyperfs).
func stateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "hyperfs")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "hyperfs-state")
	}
	return filepath.Join(home, ".local", "state", "hyperfs")
}

// daemonize runs the same mount in a new session in the background, its
// log in the state folder, and returns once it reports the folder mounted.
func daemonize(std *streams, args []string) error {
	var childArgs []string
	for _, a := range args {
		if a != "--daemon" && a != "-daemon" && a != "--daemon=true" && a != "-daemon=true" {
			childArgs = append(childArgs, a)
		}
	}
	if err := os.MkdirAll(stateDir(), 0o700); err != nil {
		return err
	}
	logPath := filepath.Join(stateDir(), fmt.Sprintf("mount-%d.log", time.Now().UnixNano()))
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, childArgs...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	// Watch the log for the ready line (or the child's end).
	for {
		log, _ := os.ReadFile(logPath)
		for _, line := range strings.Split(string(log), "\n") {
			if strings.HasPrefix(line, readyPrefix) {
				fmt.Fprintf(std.stdout, "%s\nhyperfs runs as process %d; its log is %s\n", line, cmd.Process.Pid, logPath)
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("mount failed: %s", strings.TrimSpace(string(log)))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
