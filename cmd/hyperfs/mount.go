package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hyperfs/hyperfs/app"
	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/spf13/cobra"
)

// readyPrefix starts the line a mount prints once the folder is usable;
// --daemon and tests wait for it.
const readyPrefix = "mounted "

// childEnv marks the background process --daemon starts, so it mounts in
// the foreground itself instead of starting another (whatever spelling of
// --daemon its arguments carry). Its value is the number of the inherited
// file descriptor the child writes its ready line to.
const childEnv = "HYPERFS_DAEMON_CHILD"

func (c *cli) mountCmd() *cobra.Command {
	var df driveFlags
	var readOnly, daemon, debugFuse, droppings, browse bool
	var readTimeout time.Duration
	var opts []string
	cmd := &cobra.Command{
		Use:   "mount [<key|link|storage-dir>] <mountpoint>",
		Short: "mount a drive as a folder, in the foreground until interrupted",
		Long: `mount mounts a drive on a folder and serves it (in the foreground, until ^C or
hyperfs unmount; in the background with --daemon). Without a drive it mounts
your own default drive (in hyperdrive-daemon's ~/.hyperdrive, its root drive).
KEY+VERSION or --checkout VERSION mounts a version, read-only.

Mount options (-o, comma-separated, as sshfs and rclone take them):
  ro, rw                read-only / read-write (your own drives are read-write)
  allow_other           let other users in (needs user_allow_other in /etc/fuse.conf)
  uid=N, gid=N          owner shown for entries that store none
  umask=OCT             permission bits cleared from every entry as shown
  default_permissions   (always on: the kernel checks permissions)
  fsname=NAME           source shown by mount(8) and df(1)
  read_timeout=DUR      how long a read waits for peers before EIO
  cache_timeout=DUR     how long the kernel keeps attributes (attr_timeout, entry_timeout)
  read_ahead=BYTES      largest read-ahead window (0: none)
  nosync_close          close returns once a file is signed, without fsync
                        (fsync still syncs; faster for many small files)
  debug                 log every FUSE request
  max_background=N, max_write=BYTES, max_read=BYTES, sync_read, no_xattr,
  no_readdirplus, direct_mount, enable_locks, symlink_caching   go-fuse's settings
  nosuid, nodev, noexec, noatime, …   passed to the kernel
  auto, noauto, user, nofail, _netdev, x-*   fstab options, ignored

In /etc/fstab (with hyperfs on root's PATH; storage=, peer=, listen=,
bootstrap=, no_discovery, no_mdns, checkout=, cache_size= and timeout= set
hyperfs's own flags there):
  hyperfs#<key>  /mnt/drive  fuse.hyperfs  ro,allow_other,_netdev  0 0
  none  /home/me/hyperdrive  fuse.hyperfs  storage=/home/me/.local/share/hyperfs  0 0
or as a mount type, with /sbin/mount.hyperfs linked to hyperfs:
  <key>  /mnt/drive  hyperfs  ro  0 0`,
		Args: argsBetween(1, 2),
	}
	f := cmd.Flags()
	df.register(f, true)
	df.registerForce(f)
	f.Lookup("timeout").DefValue = "2m0s"
	df.timeout = 2 * time.Minute
	f.BoolVar(&readOnly, "readonly", false, "refuse writes even to a drive you own (-o ro)")
	f.BoolVarP(&daemon, "daemon", "d", false, "mount in the background and return once mounted")
	f.DurationVar(&readTimeout, "read-timeout", 60*time.Second, "how long a read waits for peers before failing with EIO")
	f.Lookup("stall-timeout").Hidden = true // reads have --read-timeout
	f.BoolVar(&debugFuse, "debug-fuse", false, "log every FUSE request (-o debug)")
	f.StringArrayVarP(&opts, "option", "o", nil, "mount `options`, comma-separated (see above)")
	f.BoolVar(&browse, "network", false, "mount a browse folder instead of one drive: opening <key> or <key>+<version> in it mounts that drive read-only")
	f.BoolVar(&droppings, "file-manager-files", false, "let file managers create trash folders, .DS_Store, .directory and thumbnails in the drive (they are published to every peer)")
	// Older spellings.
	f.DurationVar(&df.timeout, "open-timeout", 2*time.Minute, "how long to wait for a remote drive's first blocks (as --timeout)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var arg, dir string
		if len(args) == 1 {
			dir = args[0]
		} else {
			arg, dir = args[0], args[1]
		}
		if err := df.validate(); err != nil {
			return err
		}
		if readTimeout <= 0 {
			return usagef("--read-timeout %s: must be positive", readTimeout)
		}
		fo := hfs.Options{ReadOnly: readOnly, ReadTimeout: readTimeout, Debug: debugFuse, AllowDroppings: droppings}
		if err := app.ParseMountOptions(opts, &fo); err != nil {
			return err
		}
		if browse && arg != "" {
			return usagef("mount --network takes only the folder to browse drives in")
		}
		t, err := df.target(strings.TrimPrefix(arg, "hyperfs#"))
		if err != nil {
			return err
		}
		t.Browse = browse
		if daemon && os.Getenv(childEnv) == "" && c.svc == nil {
			return c.daemonize()
		}
		return c.mount(&df, t, dir, fo)
	}
	return cmd
}

// mount serves drive t on dir until a signal or an unmount. The process
// becomes its storage's service: later commands on the storage, and more
// mounts, run in it; it ends once every mount it serves is unmounted. In a
// service (a mount another hyperfs forwarded), it mounts and returns.
func (c *cli) mount(df *driveFlags, t app.Target, dir string, fo hfs.Options) error {
	abs, err := app.CheckMountpoint(c.abs(dir))
	if err != nil {
		return err
	}
	if c.svc != nil {
		if err := c.svc.S.AddPeers(df.net.o.Peers); err != nil {
			return err
		}
		m, ready, err := c.mountIn(c.ctx, c.svc.S, t, abs, fo)
		if err != nil {
			return err
		}
		c.svc.AddMount(m)
		fmt.Fprintln(c.std.stdout, ready)
		return nil
	}
	ctx, stop := signalContext()
	defer stop()
	s, err := app.Open(c.options(df), t.Dir)
	if err != nil {
		return err
	}
	defer s.Close()
	var svc *app.Service
	svc, err = app.Serve(s, serviceHandler(&svc))
	if err != nil {
		return err
	}
	defer svc.Close()
	m, ready, err := c.mountIn(ctx, s, t, abs, fo)
	if err != nil {
		return err
	}
	svc.AddMount(m)
	fmt.Fprintln(c.std.stdout, ready)
	signalReady(ready)
	sdNotify("READY=1\nSTATUS=" + ready)
	idle := make(chan struct{})
	go func() {
		svc.WaitIdle(ctx)
		close(idle)
	}()
	select {
	case <-ctx.Done():
		sdNotify("STOPPING=1")
		unmountOnSignal(c.std, m.Server(), abs, m.Done())
		// The other mounts of the service, each as patiently.
		for _, other := range svc.Mounts() {
			unmountOnSignal(c.std, other.Server(), other.Dir, other.Done())
		}
	case <-idle:
	}
	return nil
}

// mountIn opens drive t in s and mounts it on abs; the drive is given back
// once the folder is unmounted. It returns the ready line.
func (c *cli) mountIn(ctx context.Context, s *app.Session, t app.Target, abs string, fo hfs.Options) (*app.Mount, string, error) {
	if t.Browse {
		m, err := s.MountBrowse(abs, fo)
		if err != nil {
			return nil, "", err
		}
		statsCtx, stopStats := context.WithCancel(context.Background())
		go reportStats(statsCtx, s, m, 0)
		go func() {
			<-m.Done()
			stopStats()
		}()
		return m, fmt.Sprintf("%s%s (browse folder: open <key> or <key>+<version> in it)", readyPrefix, abs), nil
	}
	waiting := time.AfterFunc(2*time.Second, func() {
		fmt.Fprintln(c.std.stderr, "waiting for peers to send the drive…")
	})
	d, release, err := s.Drive(ctx, t, true)
	waiting.Stop()
	if err != nil {
		return nil, "", err
	}
	m, err := s.MountDrive(d, abs, fo)
	if err != nil {
		release()
		return nil, "", err
	}
	statsCtx, stopStats := context.WithCancel(context.Background())
	go reportStats(statsCtx, s, m, t.Version)
	go func() {
		<-m.Done()
		stopStats()
		release()
	}()
	mode := "read-write"
	if m.ReadOnly {
		mode = "read-only"
	}
	version := ""
	if t.Version != 0 {
		version = fmt.Sprintf(" at version %d", t.Version)
	}
	return m, fmt.Sprintf("%s%s (drive %s%s, %s)", readyPrefix, abs, hex.EncodeToString(d.Key()), version, mode), nil
}

// signalReady writes the ready line to the pipe a --daemon parent waits on.
func signalReady(line string) {
	v := os.Getenv(childEnv)
	if v == "" {
		return
	}
	os.Unsetenv(childEnv)
	var fd int
	if _, err := fmt.Sscanf(v, "%d", &fd); err != nil || fd < 3 {
		return
	}
	f := os.NewFile(uintptr(fd), "ready")
	fmt.Fprintln(f, line)
	f.Close()
}

// sdNotify sends a state to systemd's notification socket (Type=notify
// units), if there is one.
func sdNotify(state string) {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return
	}
	if strings.HasPrefix(sock, "@") {
		sock = "\x00" + sock[1:] // an abstract socket
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return
	}
	defer conn.Close()
	conn.Write([]byte(state))
}

// daemonize runs the same command in a new session in the background, its
// log in the state folder, and returns once it reports the folder mounted
// on an inherited pipe (or has ended). The child is marked by childEnv.
func (c *cli) daemonize() error {
	if err := os.MkdirAll(app.StateDir(), 0o700); err != nil {
		return err
	}
	logPath := filepath.Join(app.StateDir(), fmt.Sprintf("mount-%d.log", time.Now().UnixNano()))
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Args[0] = os.Args[0] // as mount.hyperfs, if so called
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.Env = append(os.Environ(), childEnv+"=3")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return err
	}
	w.Close()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err == nil && strings.HasPrefix(line, readyPrefix) {
		fmt.Fprintf(c.std.stdout, "%shyperfs runs as process %d; its log is %s\n", line, cmd.Process.Pid, logPath)
		cmd.Process.Release()
		return nil
	}
	cmd.Wait()
	log, _ := os.ReadFile(logPath)
	msg := strings.TrimSpace(string(log))
	if msg == "" {
		msg = "the background process ended without a message"
	}
	return errors.New("mount failed: " + lastLine(msg))
}

func lastLine(s string) string {
	lines := strings.Split(s, "\n")
	return lines[len(lines)-1]
}

func (c *cli) unmountCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "unmount <mountpoint>",
		Aliases: []string{"umount"},
		Short:   "unmount a drive mounted with hyperfs mount (the mount process then exits)",
		Args:    argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if stale, err := hfs.RecoverStale(args[0]); stale || err != nil {
				return err
			}
			abs, _ := filepath.Abs(args[0])
			if !app.IsMountpoint(abs) {
				return fmt.Errorf("%s is not mounted", abs)
			}
			return hfs.Unmount(args[0])
		},
	}
}

// fstabCall reports whether args are mount.fuse3's "<source> <mountpoint>
// -o <options>" rather than a command.
func fstabCall(args []string) bool {
	var pos []string
	hasO := false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-o":
			hasO = true
			i++
		case strings.HasPrefix(a, "-"):
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 || isCommand(pos[0]) {
		return false
	}
	return hasO || strings.HasPrefix(pos[0], "hyperfs#") || app.LooksLikeDrive(pos[0])
}

func isCommand(name string) bool {
	switch name {
	case "help", "completion":
		return true
	}
	for _, cmd := range (&cli{std: &streams{}}).rootCmd().Commands() {
		if cmd.Name() == name || cmd.HasAlias(name) {
			return true
		}
	}
	return false
}

// fstabArgs turns mount(8)'s "<source> <mountpoint> [-o options] [-n -s -f
// -v]" into a background mount: options go to -o, except those naming
// hyperfs's own settings (storage=DIR, peer=HOST:PORT, listen=ADDR,
// bootstrap=HOST:PORT, no_discovery, no_mdns, checkout=N, cache_size=MIB,
// timeout=DUR), which an fstab line has no other way to give; "none",
// "default" or "hyperfs" as the source is the default drive.
func fstabArgs(args []string) []string {
	out := []string{"mount", "--daemon"}
	var pos, mountOpts []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" && i+1 < len(args):
			for _, o := range strings.Split(args[i+1], ",") {
				name, val, _ := strings.Cut(o, "=")
				switch name {
				case "storage", "peer", "listen", "bootstrap", "checkout", "timeout":
					out = append(out, "--"+name, val)
				case "cache_size":
					out = append(out, "--cache-size", val)
				case "no_discovery", "no_mdns":
					out = append(out, "--"+strings.ReplaceAll(name, "_", "-"))
				default:
					mountOpts = append(mountOpts, o)
				}
			}
			i++
		case a == "-n", a == "-s", a == "-f", a == "-v", a == "-i":
			// no mtab, sloppy, fake, verbose, no helper: nothing to do
		case strings.HasPrefix(a, "-"):
			out = append(out, a)
		default:
			pos = append(pos, a)
		}
	}
	if len(mountOpts) > 0 {
		out = append(out, "-o", strings.Join(mountOpts, ","))
	}
	if len(pos) == 2 {
		src := strings.TrimPrefix(pos[0], "hyperfs#")
		if src == "" || src == "none" || src == "hyperfs" || src == "default" {
			return append(out, pos[1])
		}
		return append(out, src, pos[1])
	}
	return append(out, pos...)
}
