package fs

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
)

// watchDelay gathers a burst of changes into one pass over the tree.
const watchDelay = 20 * time.Millisecond

// watch follows changes of the backend made elsewhere (a remote writer
// appending a new version) and pushes them to the kernel, until stop.
func (n *node) watch() (stop func()) {
	ms := n.ms
	kick := make(chan struct{}, 1)
	done := make(chan struct{})
	stopWatch := ms.backend.Watch("/", func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	var wg sync.WaitGroup
	wg.Add(1)
	// seen is the version the kernel's view was last compared with.
	seen := ms.backend.Version()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-kick:
			}
			select {
			case <-done:
				return
			case <-time.After(watchDelay):
			}
			v := ms.backend.Version()
			if v == ms.ownVersion.Load() {
				seen = v
				continue
			}
			n.invalidateSince(context.Background(), seen)
			seen = v
			ms.ownVersion.Store(v)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			stopWatch()
			close(done)
			wg.Wait()
		})
	}
}

// maxChanged is how many changed paths are compared one by one; past it
// the whole tree the kernel knows is.
const maxChanged = 4096

// invalidateSince tells the kernel what changed since version since: only
// the inodes on the changed paths are compared, when the backend can list
// them (own changes come through here too when they race the watcher, so
// the cost must follow the change, not the inodes the kernel holds).
func (n *node) invalidateSince(ctx context.Context, since uint64) {
	c, ok := n.ms.backend.(Changer)
	if !ok {
		n.invalidate(ctx)
		return
	}
	paths, ok, err := c.Changed(ctx, since, maxChanged)
	if err != nil || !ok {
		n.invalidate(ctx)
		return
	}
	root := n.EmbeddedInode()
	checked := map[*fusefs.Inode]bool{}
	for _, p := range paths {
		in, dir := root, "/"
		for rest := strings.TrimPrefix(p, "/"); rest != ""; {
			var name string
			name, rest, _ = strings.Cut(rest, "/")
			child := in.GetChild(name)
			if child == nil {
				break // the kernel knows nothing here
			}
			if !checked[child] {
				checked[child] = true
				if !n.check(ctx, in, dir, name, child) {
					break
				}
			}
			in, dir = child, childPath(dir, name)
		}
	}
	if a, err := n.ms.backend.Lstat(ctx, "/"); err == nil && n.update(a) {
		root.NotifyContent(0, 0)
	}
}

// check compares the kernel's child name of directory in (at path dir)
// with the backend and tells the kernel what changed; false if the name
// went away or changed type.
func (n *node) check(ctx context.Context, in *fusefs.Inode, dir, name string, child *fusefs.Inode) bool {
	cp := childPath(dir, name)
	a, err := n.ms.backend.Lstat(ctx, cp)
	if err != nil || fileType(a) != child.StableAttr().Mode {
		if err == nil || toErrno(err) == syscall.ENOENT {
			n.ms.inos.remove(cp)
			in.NotifyEntry(name)
			n.ms.log.Debug("entry changed", "path", cp, "ino", child.StableAttr().Ino)
		}
		return false
	}
	if child.Operations().(*node).update(a) {
		child.NotifyContent(0, 0)
		n.ms.log.Debug("content changed", "path", cp, "ino", child.StableAttr().Ino)
	}
	return true
}

// invalidate compares every inode the kernel knows with the backend and
// tells the kernel what changed: NotifyEntry for names that went away or
// changed type, NotifyContent (attributes and pages) for entries whose
// attributes changed. Names that appeared need nothing: lookups of
// missing names are not cached, and listings are read at each opendir.
func (n *node) invalidate(ctx context.Context) {
	todo := []*fusefs.Inode{n.EmbeddedInode()}
	for len(todo) > 0 {
		in := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		nd := in.Operations().(*node)
		p, ok := nd.path()
		if !ok {
			continue
		}
		if in.IsDir() {
			for name, child := range in.Children() {
				if n.check(ctx, in, p, name, child) && child.IsDir() {
					todo = append(todo, child)
				}
			}
		}
		if in.IsRoot() {
			if a, err := n.ms.backend.Lstat(ctx, "/"); err == nil && nd.update(a) {
				in.NotifyContent(0, 0)
			}
		}
	}
}

// update stores a as n's attributes and reports whether they differ from
// what the kernel was told. A file being written keeps its own.
func (n *node) update(a *Attr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.staged != nil || sameAttr(&n.attr, a) {
		return false
	}
	n.attr = *a
	n.gen++
	return true
}

func sameAttr(a, b *Attr) bool {
	if a.Mode != b.Mode || a.UID != b.UID || a.GID != b.GID || a.Size != b.Size ||
		!a.Mtime.Equal(b.Mtime) || !a.Ctime.Equal(b.Ctime) || a.Linkname != b.Linkname ||
		a.Mount != b.Mount || len(a.Metadata) != len(b.Metadata) {
		return false
	}
	for k, v := range a.Metadata {
		if w, ok := b.Metadata[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}
