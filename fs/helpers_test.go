package fs_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/hyperfs/hyperfs/corestore"
	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/fs/memback"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// backends are the Backends the mount tests run against, as rclone's
// vfstest runs one suite per front end.
var backends = []struct {
	name string
	new  func(t *testing.T) hfs.Backend
}{
	{"memback", func(t *testing.T) hfs.Backend { return memback.New() }},
	{"hyperdrive", func(t *testing.T) hfs.Backend { return newDrive(t) }},
}

// newDrive is a writable hyperdrive in a fresh store.
func newDrive(t *testing.T) *hfs.Drive {
	t.Helper()
	dir := t.TempDir()
	store, err := corestore.Open(dir, corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := hyperdrive.Open(context.Background(), store, hyperdrive.Options{GroupCommit: hyperdrive.DefaultGroupCommit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		store.Close()
	})
	return hfs.NewDrive(d, dir)
}

// testNode is what node-level tests call on a node.
type testNode interface {
	fusefs.InodeEmbedder
	fusefs.NodeLookuper
	fusefs.NodeCreater
	fusefs.NodeMkdirer
	fusefs.NodeSymlinker
	fusefs.NodeUnlinker
	fusefs.NodeRenamer
	fusefs.NodeGetattrer
	fusefs.NodeSetattrer
	fusefs.NodeOpener
	fusefs.NodeOpendirHandler
	fusefs.NodeReadlinker
	fusefs.NodeStatfser
	fusefs.NodeGetxattrer
	fusefs.NodeSetxattrer
	fusefs.NodeListxattrer
	fusefs.NodeRemovexattrer
}

// testLogger returns a logger that fails t on every warning, as
// gocryptfs's -wpanic does, and records them for tests that expect some.
type testLog struct {
	t       *testing.T
	mu      sync.Mutex
	allow   bool     // warnings expected: record, do not fail
	records []string // guarded by mu
}

func (l *testLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *testLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *testLog) WithGroup(string) slog.Handler            { return l }

func (l *testLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		if testing.Verbose() {
			l.t.Logf("%s %s", r.Level, r.Message)
		}
		return nil
	}
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	l.mu.Lock()
	l.records = append(l.records, msg)
	l.mu.Unlock()
	if !l.allow {
		l.t.Errorf("warning logged: %s", msg)
	}
	return nil
}

func (l *testLog) warnings() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.records...)
}

// testMount mounts b in a fresh directory for the length of the test and
// returns the directory. FUSE debug output is on under -v.
func testMount(t *testing.T, b hfs.Backend, opts hfs.Options) string {
	t.Helper()
	dir := t.TempDir()
	if opts.Logger == nil {
		opts.Logger = slog.New(&testLog{t: t})
	}
	if opts.StagingDir == "" {
		opts.StagingDir = t.TempDir()
	}
	opts.Debug = opts.Debug || testing.Verbose() && os.Getenv("FUSE_DEBUG") != ""
	server, err := hfs.Mount(dir, b, opts)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() {
		var err error
		for i := 0; i < 20; i++ {
			if err = server.Unmount(); err == nil {
				server.Wait()
				return
			}
			time.Sleep(50 * time.Millisecond) // the kernel still has the mount busy
		}
		t.Errorf("Unmount %s: %v", dir, err)
	})
	return dir
}

// newTestFS attaches the root of a mount of b to a go-fuse node tree with
// no kernel behind it, so node methods can be called directly.
func newTestFS(t *testing.T, b hfs.Backend, opts hfs.Options) (testNode, *testLog) {
	t.Helper()
	log := &testLog{t: t}
	if opts.Logger == nil {
		opts.Logger = slog.New(log)
	}
	if opts.StagingDir == "" {
		opts.StagingDir = t.TempDir()
	}
	root, closeRoot, err := hfs.NewTestRoot(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	fusefs.NewNodeFS(root, &fusefs.Options{})
	t.Cleanup(closeRoot)
	return root, log
}
