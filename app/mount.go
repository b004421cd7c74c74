package app

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// ParseMountOptions applies -o options, as sshfs and rclone take them
// (comma-separated, repeatable), to fo: ro, rw, allow_other, allow_root,
// default_permissions (always on), uid=N, gid=N, umask=OCTAL, fsname=S,
// debug, nosync_close, read_timeout=DUR, cache_timeout=DUR (also attr_timeout and
// entry_timeout), read_ahead=BYTES, go-fuse's max_background=N,
// max_write=BYTES, max_read=BYTES (the kernel's read-ahead), sync_read,
// no_xattr, no_readdirplus, direct_mount, enable_locks, symlink_caching;
// the kernel's nosuid, nodev, noexec,
// noatime, suid, dev, exec, atime, sync, async, dirsync; and the options
// mount(8) and fstab use that mean nothing to a FUSE file system (auto,
// noauto, user, users, nofail, _netdev, defaults, x-*, comment=*).
func ParseMountOptions(opts []string, fo *hfs.Options) error {
	for _, group := range opts {
		for _, o := range strings.Split(group, ",") {
			if err := parseMountOption(strings.TrimSpace(o), fo); err != nil {
				return err
			}
		}
	}
	return nil
}

func parseMountOption(o string, fo *hfs.Options) error {
	name, val, hasVal := strings.Cut(o, "=")
	bad := func(why string) error { return Usagef("-o %s: %s", o, why) }
	u32 := func(base int) (*uint32, error) {
		n, err := strconv.ParseUint(val, base, 32)
		if err != nil {
			return nil, bad("not a number")
		}
		v := uint32(n)
		return &v, nil
	}
	dur := func() (time.Duration, error) {
		if d, err := time.ParseDuration(val); err == nil && d > 0 {
			return d, nil
		}
		if n, err := strconv.ParseFloat(val, 64); err == nil && n > 0 { // seconds, as sshfs takes them
			return time.Duration(n * float64(time.Second)), nil
		}
		return 0, bad("want a duration such as 30s")
	}
	var err error
	switch name {
	case "":
	case "ro":
		fo.ReadOnly = true
	case "rw":
		fo.ReadOnly = false
	case "allow_other", "allow_root":
		fo.AllowOther = true
	case "default_permissions", "auto_unmount", "defaults", "auto", "noauto", "user", "users", "nouser", "nofail", "_netdev":
	case "uid":
		fo.UID, err = u32(10)
	case "gid":
		fo.GID, err = u32(10)
	case "umask":
		fo.Umask, err = u32(8)
		if err == nil && *fo.Umask > 0o7777 {
			err = bad("a umask is at most 7777 (octal)")
		}
	case "fsname":
		if !hasVal || val == "" {
			return bad("needs a value")
		}
		fo.FsName = val
	case "debug":
		fo.Debug = true
	case "nosync_close":
		fo.NoSyncOnClose = true
	case "read_timeout":
		fo.ReadTimeout, err = dur()
	case "cache_timeout", "attr_timeout", "entry_timeout":
		fo.CacheTimeout, err = dur()
	case "read_ahead":
		n, perr := strconv.ParseInt(val, 10, 64)
		if perr != nil || n < 0 {
			return bad("want a number of bytes")
		}
		fo.ReadAhead = n
		if n == 0 {
			fo.ReadAhead = -1
		}
	case "max_background", "max_write", "max_read":
		n, perr := strconv.Atoi(val)
		if perr != nil || n <= 0 {
			return bad("want a positive number")
		}
		tune(fo, func(mo *fuse.MountOptions) {
			switch name {
			case "max_background":
				mo.MaxBackground = n
			case "max_write":
				mo.MaxWrite = n
			default:
				mo.MaxReadAhead = n
			}
		})
	case "sync_read", "no_xattr", "noxattr", "no_readdirplus", "direct_mount", "enable_locks", "symlink_caching":
		tune(fo, func(mo *fuse.MountOptions) {
			switch name {
			case "sync_read":
				mo.SyncRead = true
			case "no_xattr", "noxattr":
				mo.DisableXAttrs = true
			case "no_readdirplus":
				mo.DisableReadDirPlus = true
			case "direct_mount":
				mo.DirectMount = true
			case "enable_locks":
				mo.EnableLocks = true
			default:
				mo.EnableSymlinkCaching = true
			}
		})
	case "nosuid", "nodev", "noexec", "noatime", "suid", "dev", "exec", "atime", "sync", "async", "dirsync", "relatime", "norelatime", "strictatime", "nodiratime", "diratime":
		fo.KernelOptions = append(fo.KernelOptions, name)
	default:
		if strings.HasPrefix(name, "x-") || name == "comment" {
			return nil
		}
		return bad("unknown mount option (see hyperfs help mount)")
	}
	if err == nil && hasVal && (name == "ro" || name == "rw" || name == "allow_other" || name == "debug") {
		return bad("takes no value")
	}
	return err
}

// tune adds a change to go-fuse's mount options to fo.
func tune(fo *hfs.Options, f func(*fuse.MountOptions)) {
	prev := fo.Tune
	fo.Tune = func(mo *fuse.MountOptions) {
		if prev != nil {
			prev(mo)
		}
		f(mo)
	}
}

// CheckMountpoint returns dir's absolute path once it can be mounted on:
// a folder (made if missing, not its parents), not mounted already (a
// mount left by a crashed hyperfs is freed), FUSE installed.
func CheckMountpoint(dir string) (string, error) {
	if dir == "" {
		return "", Usagef("the mountpoint is empty: name a folder")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		return "", errors.New("FUSE is not installed: install fuse3 (apt-get install fuse3)")
	}
	if recovered, err := hfs.RecoverStale(abs); err != nil {
		return "", fmt.Errorf("%s was left mounted by a crashed hyperfs and could not be freed: %w (try fusermount3 -u -z %s)", abs, err, abs)
	} else if recovered {
		slog.Warn("freed a mountpoint left by a crashed hyperfs", "dir", abs)
	}
	// A missing mountpoint is made (not its parents: a typo should not
	// grow a tree of folders).
	if err := os.Mkdir(abs, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("mountpoint %s cannot be made: %w (create it with mkdir -p %s)", abs, err, abs)
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return "", fmt.Errorf("mountpoint %s is not a folder", abs)
	}
	if IsMountpoint(abs) {
		return "", fmt.Errorf("%s is already a mountpoint: unmount it first (hyperfs unmount %s)", abs, abs)
	}
	return abs, nil
}

// IsMountpoint reports whether something is mounted on dir: its device
// differs from its parent's.
func IsMountpoint(dir string) bool {
	var st, parent syscall.Stat_t
	if syscall.Stat(dir, &st) != nil || syscall.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev || st.Ino == parent.Ino
}

// Mount is a drive mounted on a folder.
type Mount struct {
	Dir      string
	Drive    *hyperdrive.Drive
	ReadOnly bool
	Started  time.Time
	// Browse marks a browse folder (MountBrowse): Drive is nil.
	Browse bool
	server *fuse.Server
	done   chan struct{}
}

// MountDrive mounts d on the folder abs (checked by CheckMountpoint) and
// returns once the folder is usable. The mount ends when it is unmounted
// (Unmount, hyperfs unmount, fusermount3 -u); Done is closed then.
func (s *Session) MountDrive(d *hyperdrive.Drive, abs string, o hfs.Options) (*Mount, error) {
	staging := filepath.Join(StateDir(), "staging")
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return nil, err
	}
	o.StagingDir = staging
	if o.Memory == nil && s.Cache != nil {
		o.Memory = s.Cache // the kernel's inodes count against --cache-size
	}
	if o.FsName == "" {
		o.FsName = fmt.Sprintf("hyperfs:%x", d.Key()[:8])
	}
	server, err := hfs.Mount(abs, hfs.NewDrive(d, s.Store.Dir()), o)
	if err != nil {
		if errors.Is(err, syscall.EBUSY) || strings.Contains(err.Error(), "busy") {
			return nil, fmt.Errorf("%s is already a mountpoint: unmount it first (hyperfs unmount %s): %w", abs, abs, err)
		}
		return nil, fmt.Errorf("mounting on %s: %w", abs, err)
	}
	if err := server.WaitMount(); err != nil {
		server.Unmount()
		return nil, err
	}
	m := &Mount{Dir: abs, Drive: d, ReadOnly: o.ReadOnly || !d.Writable(), Started: time.Now(), server: server, done: make(chan struct{})}
	go func() {
		server.Wait()
		close(m.done)
	}()
	return m, nil
}

// Server is the FUSE server of the mount.
func (m *Mount) Server() *fuse.Server { return m.server }

// Done is closed once the folder is unmounted.
func (m *Mount) Done() <-chan struct{} { return m.done }

// Unmount unmounts the folder, retrying for a few seconds while it is busy
// (a shell inside it), then detaching it lazily: the folder is free at
// once, and the mount serves those still using it until they let go, when
// Unmount returns. The process never ends with the folder attached.
func (m *Mount) Unmount() error {
	for i := 0; i < 10; i++ {
		if err := m.server.Unmount(); err == nil {
			<-m.done
			return nil
		}
		select {
		case <-m.done:
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
	slog.Warn("folder busy: detaching it; its users keep it until they let go", "dir", m.Dir)
	if out, err := exec.Command("fusermount3", "-u", "-z", m.Dir).CombinedOutput(); err != nil {
		if err := syscall.Unmount(m.Dir, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmounting %s: %v: %s (close what uses it, then hyperfs unmount %s)", m.Dir, err, out, m.Dir)
		}
	}
	<-m.done
	return nil
}
