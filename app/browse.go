package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	hfs "github.com/hyperfs/hyperfs/fs"
)

// A browse folder is hyperdrive-daemon's Network/ folder: opening
// <key> or <key>+<version> in it mounts that drive read-only on demand, so
// a shell or a file manager reaches any drive by pasting its key. Each
// name is a symlink to the drive's own mount, kept in a runtime folder;
// listing the folder shows the drives opened so far.

type browseRoot struct {
	gofs.Inode
	s    *Session
	base string // where the drives are mounted
	opts hfs.Options

	mu      sync.Mutex
	mounted map[string]*Mount // by name
	opening map[string]chan struct{}
}

var (
	_ gofs.NodeLookuper  = (*browseRoot)(nil)
	_ gofs.NodeReaddirer = (*browseRoot)(nil)
	_ gofs.NodeGetattrer = (*browseRoot)(nil)
)

// MountBrowse mounts a browse folder on abs (checked by CheckMountpoint).
// Drives opened through it are mounted with o (read-only) and unmounted
// with it.
func (s *Session) MountBrowse(abs string, o hfs.Options) (*Mount, error) {
	sum := sha256.Sum256([]byte(abs))
	base := filepath.Join(filepath.Dir(SocketPath(s.Dir)), "browse-"+hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, err
	}
	o.ReadOnly = true
	root := &browseRoot{s: s, base: base, opts: o, mounted: map[string]*Mount{}, opening: map[string]chan struct{}{}}
	ttl := time.Second
	server, err := gofs.Mount(abs, root, &gofs.Options{
		MountOptions: fuse.MountOptions{FsName: "hyperfs-browse", Name: "hyperfs", AllowOther: o.AllowOther, Options: []string{"default_permissions"}},
		EntryTimeout: &ttl, AttrTimeout: &ttl, NegativeTimeout: &ttl,
	})
	if err != nil {
		return nil, fmt.Errorf("mounting the browse folder on %s: %w", abs, err)
	}
	if err := server.WaitMount(); err != nil {
		server.Unmount()
		return nil, err
	}
	m := &Mount{Dir: abs, ReadOnly: true, Started: time.Now(), server: server, done: make(chan struct{}), Browse: true}
	go func() {
		server.Wait()
		for _, dm := range root.all() {
			if err := dm.Unmount(); err != nil {
				slog.Warn("unmounting a drive of the browse folder", "dir", dm.Dir, "err", err)
			}
		}
		close(m.done)
	}()
	return m, nil
}

func (r *browseRoot) all() []*Mount {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Mount
	for _, m := range r.mounted {
		out = append(out, m)
	}
	return out
}

func (r *browseRoot) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | 0o555
	out.Nlink = 1
	return 0
}

// mountFor mounts the drive name names, once, and returns its folder.
func (r *browseRoot) mountFor(ctx context.Context, name string) (string, syscall.Errno) {
	t, err := parseLink(name)
	if err != nil || t.Path != "" {
		return "", syscall.ENOENT
	}
	for {
		r.mu.Lock()
		if m := r.mounted[name]; m != nil {
			select {
			case <-m.Done():
				delete(r.mounted, name) // unmounted from outside: mount again
			default:
				r.mu.Unlock()
				return m.Dir, 0
			}
		}
		wait, busy := r.opening[name]
		if !busy {
			r.opening[name] = make(chan struct{})
			r.mu.Unlock()
			break
		}
		r.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return "", syscall.EINTR
		}
	}
	defer func() {
		r.mu.Lock()
		close(r.opening[name])
		delete(r.opening, name)
		r.mu.Unlock()
	}()
	dir := filepath.Join(r.base, name)
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		slog.Warn("browse folder", "err", err)
		return "", syscall.EIO
	}
	d, release, err := r.s.Drive(context.Background(), t, true)
	if err != nil {
		slog.Warn("browse folder: opening a drive", "drive", name, "err", err)
		return "", syscall.ENOENT
	}
	if IsMountpoint(dir) {
		hfs.RecoverStale(dir)
	}
	m, err := r.s.MountDrive(d, dir, r.opts)
	if err != nil {
		release()
		slog.Warn("browse folder: mounting a drive", "drive", name, "err", err)
		return "", syscall.EIO
	}
	go func() {
		<-m.Done()
		release()
	}()
	r.mu.Lock()
	r.mounted[name] = m
	r.mu.Unlock()
	return dir, 0
}

func (r *browseRoot) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	dir, errno := r.mountFor(ctx, name)
	if errno != 0 {
		return nil, errno
	}
	out.Mode = syscall.S_IFLNK | 0o777
	out.Size = uint64(len(dir))
	out.SetEntryTimeout(time.Second)
	out.SetAttrTimeout(time.Second)
	return r.NewInode(ctx, &gofs.MemSymlink{Data: []byte(dir)}, gofs.StableAttr{Mode: syscall.S_IFLNK}), 0
}

func (r *browseRoot) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	r.mu.Lock()
	names := make([]string, 0, len(r.mounted))
	for n := range r.mounted {
		names = append(names, n)
	}
	r.mu.Unlock()
	sort.Strings(names)
	entries := make([]fuse.DirEntry, len(names))
	for i, n := range names {
		entries[i] = fuse.DirEntry{Name: n, Mode: syscall.S_IFLNK}
	}
	return gofs.NewListDirStream(entries), 0
}
