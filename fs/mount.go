package fs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Options configure a mount. The zero value is a read-write mount (if the
// backend is writable) with the defaults named by each field.
type Options struct {
	// ReadOnly refuses writes with EROFS even on a writable backend.
	ReadOnly bool
	// ReadTimeout bounds how long a read waits for data that is not stored
	// locally; after it the read fails with EIO. Default DefaultReadTimeout.
	ReadTimeout time.Duration
	// ReadAhead is the largest read-ahead window for sequential readers;
	// the window starts small and doubles with each sequential read.
	// Default DefaultReadAhead; negative disables read-ahead.
	ReadAhead int64
	// CacheTimeout is how long the kernel keeps entries and attributes.
	// Changes to the drive are pushed to the kernel, so it can be long.
	// Default DefaultCacheTimeout.
	CacheTimeout time.Duration
	// StagingDir is where files being written are kept until they are
	// committed. Default os.TempDir().
	StagingDir string
	// UID and GID own entries that store no owner. Default: the mounting
	// user.
	UID, GID *uint32
	// AllowOther lets other users see the mount (needs user_allow_other).
	AllowOther bool
	// NoSyncOnClose makes close(2) return once a file's commit is appended
	// and signed, as a local file system's close returns once its data is
	// in the page cache. By default close also syncs the commit to stable
	// storage, as NFS's close-to-open does: a program that closes a file
	// and tells someone it is saved is not lied to by a power loss. fsync
	// and fdatasync always sync.
	NoSyncOnClose bool
	// AllowDroppings lets file managers create their per-machine files
	// (trash folders .Trash and .Trash-$uid, .directory, .DS_Store, "._"
	// files, thumbnail caches), which a drive publishes to every peer. By
	// default their creation fails with EPERM, so file managers delete
	// for good instead of publishing the trash.
	AllowDroppings bool
	// Umask, if set, clears these permission bits from every entry's mode
	// as shown (not as stored), as sshfs and rclone's umask= option do.
	Umask *uint32
	// KernelOptions are passed to the kernel mount as they are (for
	// example nosuid, nodev, noexec, noatime).
	KernelOptions []string
	// Tune, if set, adjusts go-fuse's mount options last: the -o options
	// hyperfs passes on to go-fuse (max_background, sync_read, …).
	Tune func(*fuse.MountOptions)
	// FsName is the source shown by mount(8) and df(1). Default "hyperfs".
	FsName string
	// Debug logs every FUSE request.
	Debug bool
	// Memory, if set, is the memory budget the mount shares with the
	// backend's cache (the *cache.Cache of its storage): the inodes the
	// kernel holds are charged to it and kept to three eighths of it (see
	// Memory).
	Memory Memory
	// Logger receives warnings (failed proofs, failed commits) and, at
	// debug level, other events. Default slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.ReadAhead == 0 {
		o.ReadAhead = DefaultReadAhead
	}
	if o.CacheTimeout <= 0 {
		o.CacheTimeout = DefaultCacheTimeout
	}
	if o.FsName == "" {
		o.FsName = "hyperfs"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = o.Logger.With("pkg", "fs")
}

// Mount mounts b on dir and serves it until the returned server is
// unmounted (server.Unmount, Unmount, or fusermount3 -u). Changes to b are
// pushed to the kernel as they happen.
func Mount(dir string, b Backend, opts Options) (*fuse.Server, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	root, err := newRoot(b, opts)
	if err != nil {
		return nil, err
	}
	ms := root.ms
	ms.mountpoint = abs
	ttl := ms.opts.CacheTimeout
	mo := fuse.MountOptions{
		FsName:               ms.opts.FsName,
		Name:                 "hyperfs",
		Debug:                ms.opts.Debug,
		AllowOther:           ms.opts.AllowOther,
		MaxWrite:             ioSize,
		MaxReadAhead:         ioSize,
		MaxBackground:        64,
		IgnoreSecurityLabels: true,
		Options:              append([]string{"default_permissions"}, ms.opts.KernelOptions...),
	}
	if ms.readOnly {
		mo.Options = append(mo.Options, "ro")
	}
	if ms.opts.Tune != nil {
		ms.opts.Tune(&mo)
	}
	fopts := &fusefs.Options{
		MountOptions: mo,
		EntryTimeout: &ttl,
		AttrTimeout:  &ttl,
		// Mode 0 is a mode (chmod 000); go-fuse would show it as 0644.
		NullPermissions: true,
	}
	server, err := fusefs.Mount(dir, root, fopts)
	if err != nil {
		ms.close()
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	stop := root.watch()
	go func() {
		server.Wait()
		stop()
		ms.close()
	}()
	return server, nil
}

// Unmount unmounts the hyperfs mount at dir, as fusermount3 -u does.
func Unmount(dir string) error {
	out, err := exec.Command("fusermount3", "-u", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fusermount3 -u %s: %w: %s", dir, err, out)
	}
	return nil
}

// ErrStaleMount is what Stat of a mountpoint whose daemon died returns.
var ErrStaleMount = errors.New("mountpoint is not connected (stale FUSE mount)")

// RecoverStale checks whether dir is a mountpoint left by a crashed daemon
// and if so detaches it lazily, so dir can be mounted again. It reports
// whether it did. A dead mount answers ENOTCONN to statfs, which always
// reaches the daemon (stat may be answered from the kernel's cache).
func RecoverStale(dir string) (bool, error) {
	var st syscall.Statfs_t
	err := syscall.Statfs(dir, &st)
	if err == nil {
		_, err = os.Stat(dir)
	}
	if err == nil || !errors.Is(err, syscall.ENOTCONN) {
		return false, nil
	}
	out, uerr := exec.Command("fusermount3", "-u", "-z", dir).CombinedOutput()
	if uerr != nil {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			return false, fmt.Errorf("%w: fusermount3 -u -z %s: %v: %s", ErrStaleMount, dir, uerr, out)
		}
	}
	return true, nil
}
