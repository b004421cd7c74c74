package fs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	hfs "github.com/hyperfs/hyperfs/fs"
	"github.com/hyperfs/hyperfs/fs/memback"
	"github.com/hyperfs/hyperfs/hypercore"
)

// Node-level tests: the node tree is attached with fs.NewNodeFS and its
// methods are called directly, with no kernel.

var bg = context.Background()

// create makes name in dir as the kernel bridge would: Create, then
// linking the child into the tree.
func create(t *testing.T, dir testNode, name string, mode uint32) (testNode, fusefs.FileHandle) {
	t.Helper()
	var out fuse.EntryOut
	in, fh, _, errno := dir.Create(bg, name, syscall.O_WRONLY|syscall.O_CREAT, mode, &out)
	if errno != 0 {
		t.Fatalf("Create %s: %v", name, errno)
	}
	dir.EmbeddedInode().AddChild(name, in, true)
	return in.Operations().(testNode), fh
}

func lookup(t *testing.T, dir testNode, name string) (testNode, *fuse.EntryOut) {
	t.Helper()
	var out fuse.EntryOut
	in, errno := dir.Lookup(bg, name, &out)
	if errno != 0 {
		t.Fatalf("Lookup %s: %v", name, errno)
	}
	dir.EmbeddedInode().AddChild(name, in, true)
	return in.Operations().(testNode), &out
}

func read(t *testing.T, fh fusefs.FileHandle, off int64, n int) ([]byte, syscall.Errno) {
	t.Helper()
	res, errno := fh.(fusefs.FileReader).Read(bg, make([]byte, n), off)
	if errno != 0 {
		return nil, errno
	}
	b, _ := res.Bytes(make([]byte, n))
	return b, 0
}

func TestNodeWriteCommitRead(t *testing.T) {
	b := memback.New()
	root, _ := newTestFS(t, b, hfs.Options{})
	f, fh := create(t, root, "f", 0640)
	w := fh.(fusefs.FileWriter)
	if _, errno := w.Write(bg, []byte("world"), 6); errno != 0 {
		t.Fatal(errno)
	}
	if _, errno := w.Write(bg, []byte("hello "), 0); errno != 0 {
		t.Fatal(errno)
	}
	// Not committed before flush; the node shows the staged size.
	if got, _ := b.Lstat(bg, "/f"); got.Size != 0 {
		t.Errorf("backend size before flush: %d", got.Size)
	}
	var attr fuse.AttrOut
	if errno := f.Getattr(bg, nil, &attr); errno != 0 || attr.Size != 11 || attr.Mode != syscall.S_IFREG|0640 {
		t.Errorf("Getattr: %v size %d mode %o", errno, attr.Size, attr.Mode)
	}
	if errno := fh.(fusefs.FileFlusher).Flush(bg); errno != 0 {
		t.Fatal(errno)
	}
	r, _ := b.OpenFile(bg, "/f")
	got, _ := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if string(got) != "hello world" {
		t.Errorf("committed %q", got)
	}
	fh.(fusefs.FileReleaser).Release(bg)

	rh, _, errno := f.Open(bg, syscall.O_RDONLY)
	if errno != 0 {
		t.Fatal(errno)
	}
	if got, errno := read(t, rh, 6, 100); errno != 0 || string(got) != "world" {
		t.Errorf("Read: %q %v", got, errno)
	}
}

func TestNodeInodeNumbersStable(t *testing.T) {
	b := memback.New()
	b.WriteFile(bg, "/d/a", 0644, strings.NewReader("x"), 1)
	root, _ := newTestFS(t, b, hfs.Options{})
	d, dout := lookup(t, root, "d")
	_, aout := lookup(t, d, "a")
	// The kernel forgets; a new lookup gets the same numbers.
	root.EmbeddedInode().RmChild("d")
	d2, dout2 := lookup(t, root, "d")
	_, aout2 := lookup(t, d2, "a")
	if dout.Ino != dout2.Ino || aout.Ino != aout2.Ino {
		t.Errorf("numbers changed: %d/%d, %d/%d", dout.Ino, dout2.Ino, aout.Ino, aout2.Ino)
	}
	// A rename carries the number.
	if errno := d2.Rename(bg, "a", root, "b", 0); errno != 0 {
		t.Fatal(errno)
	}
	root.EmbeddedInode().RmChild("b")
	d2.EmbeddedInode().RmChild("a")
	if _, bout := lookup(t, root, "b"); bout.Ino != aout.Ino {
		t.Errorf("renamed: ino %d, want %d", bout.Ino, aout.Ino)
	}
}

func TestNodeReadOnly(t *testing.T) {
	b := memback.New()
	b.WriteFile(bg, "/f", 0644, strings.NewReader("x"), 1)
	root, _ := newTestFS(t, memback.ReadOnly{Backend: b}, hfs.Options{})
	var out fuse.EntryOut
	if _, _, _, errno := root.Create(bg, "g", 0, 0644, &out); errno != syscall.EROFS {
		t.Errorf("Create: %v", errno)
	}
	if _, errno := root.Mkdir(bg, "d", 0755, &out); errno != syscall.EROFS {
		t.Errorf("Mkdir: %v", errno)
	}
	if errno := root.Unlink(bg, "f"); errno != syscall.EROFS {
		t.Errorf("Unlink: %v", errno)
	}
	f, _ := lookup(t, root, "f")
	if _, _, errno := f.Open(bg, syscall.O_RDWR); errno != syscall.EROFS {
		t.Errorf("Open O_RDWR: %v", errno)
	}
	if errno := f.Setxattr(bg, "user.x", []byte("v"), 0); errno != syscall.EROFS {
		t.Errorf("Setxattr: %v", errno)
	}
	// The same options on a writable backend.
	root2, _ := newTestFS(t, b, hfs.Options{ReadOnly: true})
	if _, errno := root2.Mkdir(bg, "d", 0755, &out); errno != syscall.EROFS {
		t.Errorf("Mkdir with Options.ReadOnly: %v", errno)
	}
}

func TestNodeXattr(t *testing.T) {
	b := memback.New()
	b.WriteFile(bg, "/f", 0644, strings.NewReader("x"), 1)
	root, _ := newTestFS(t, b, hfs.Options{})
	f, _ := lookup(t, root, "f")
	if errno := f.Setxattr(bg, "user.b", []byte("two"), 0); errno != 0 {
		t.Fatal(errno)
	}
	if errno := f.Setxattr(bg, "user.a", []byte("one"), 0); errno != 0 {
		t.Fatal(errno)
	}
	if errno := f.Setxattr(bg, "trusted.a", []byte("one"), 0); errno != syscall.ENOTSUP {
		t.Errorf("Setxattr trusted.*: %v", errno)
	}
	if errno := f.Setxattr(bg, "user.a", []byte("x"), 1 /* XATTR_CREATE */); errno != syscall.EEXIST {
		t.Errorf("XATTR_CREATE of a set key: %v", errno)
	}
	if md, _ := b.Lstat(bg, "/f"); string(md.Metadata["user.a"]) != "one" {
		t.Errorf("metadata: %q", md.Metadata)
	}
	if n, errno := f.Getxattr(bg, "user.b", nil); errno != syscall.ERANGE || n != 3 {
		t.Errorf("Getxattr size: %d %v", n, errno)
	}
	buf := make([]byte, 10)
	if n, errno := f.Getxattr(bg, "user.b", buf); errno != 0 || string(buf[:n]) != "two" {
		t.Errorf("Getxattr: %q %v", buf[:n], errno)
	}
	if _, errno := f.Getxattr(bg, "security.selinux", buf); errno != syscall.ENODATA {
		t.Errorf("Getxattr security.*: %v", errno)
	}
	buf = make([]byte, 100)
	if n, errno := f.Listxattr(bg, buf); errno != 0 || string(buf[:n]) != "user.a\x00user.b\x00" {
		t.Errorf("Listxattr: %q %v", buf[:n], errno)
	}
	if errno := f.Removexattr(bg, "user.a"); errno != 0 {
		t.Fatal(errno)
	}
	if errno := f.Removexattr(bg, "user.a"); errno != syscall.ENODATA {
		t.Errorf("second Removexattr: %v", errno)
	}
}

func TestNodeMountsAndStatfs(t *testing.T) {
	b := memback.New()
	b.MkMount(bg, "/sub")
	b.WriteFile(bg, "/sub/f", 0644, bytes.NewReader(make([]byte, 10000)), 10000)
	uid := uint32(4242)
	root, _ := newTestFS(t, b, hfs.Options{UID: &uid, GID: &uid})
	_, out := lookup(t, root, "sub")
	if out.Mode&syscall.S_IFMT != syscall.S_IFDIR || out.Uid != uid {
		t.Errorf("mount: mode %o uid %d", out.Mode, out.Uid)
	}
	var st fuse.StatfsOut
	if errno := root.Statfs(bg, &st); errno != 0 || st.Bsize != 4096 || st.Blocks < 3 || st.Files == 0 {
		t.Errorf("Statfs: %+v %v", st, errno)
	}
}

// stallFile is a File whose reads wait for release, or fail with err.
type stallFile struct {
	size    int64
	release chan struct{}
	mu      sync.Mutex
	err     error   // guarded by mu: read-ahead reads while a test changes it
	reads   []int64 // guarded by mu: offsets asked for
}

func (f *stallFile) ReadAt(p []byte, off int64) (int, error) {
	return f.ReadAtContext(context.Background(), p, off)
}

// ReadAtContext is ReadAt that gives up when ctx ends.
func (f *stallFile) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	f.mu.Lock()
	f.reads = append(f.reads, off)
	err := f.err
	f.mu.Unlock()
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if err != nil {
		return 0, err
	}
	data := pattern(int(f.size), 9)
	n := copy(p, data[min(off, f.size):])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *stallFile) Size() int64  { return f.size }
func (f *stallFile) Close() error { return nil }

// stallBackend serves every file through f.
type stallBackend struct {
	*memback.Backend
	f *stallFile
}

func (b stallBackend) OpenFile(ctx context.Context, p string) (hfs.File, error) { return b.f, nil }

func newStall(t *testing.T, f *stallFile, opts hfs.Options) (fusefs.FileHandle, *testLog) {
	t.Helper()
	b := memback.New()
	b.WriteFile(bg, "/f", 0644, bytes.NewReader(make([]byte, f.size)), f.size)
	root, log := newTestFS(t, stallBackend{b, f}, opts)
	n, _ := lookup(t, root, "f")
	fh, _, errno := n.Open(bg, syscall.O_RDONLY)
	if errno != 0 {
		t.Fatal(errno)
	}
	return fh, log
}

func TestReadTimeout(t *testing.T) {
	f := &stallFile{size: 1 << 20, release: make(chan struct{})}
	defer close(f.release)
	fh, log := newStall(t, f, hfs.Options{ReadTimeout: 50 * time.Millisecond})
	log.allow = true
	start := time.Now()
	if _, errno := read(t, fh, 0, 4096); errno != syscall.EIO {
		t.Errorf("Read of a stalled file: %v, want EIO", errno)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Read took %v", d)
	}
	if w := log.warnings(); len(w) == 0 || !strings.Contains(w[0], "timed out") || !strings.Contains(w[0], "ino=") {
		t.Errorf("warnings: %q", w)
	}
}

func TestReadInterrupted(t *testing.T) {
	f := &stallFile{size: 1 << 20, release: make(chan struct{})}
	defer close(f.release)
	fh, _ := newStall(t, f, hfs.Options{})
	ctx, cancel := context.WithCancel(bg)
	go cancel()
	if _, errno := fh.(fusefs.FileReader).Read(ctx, make([]byte, 4096), 0); errno != syscall.EINTR {
		t.Errorf("interrupted Read: %v, want EINTR", errno)
	}
}

func TestReadIntegrityFailure(t *testing.T) {
	f := &stallFile{size: 1 << 20, err: &hfs.IntegrityError{Block: 7, Err: hypercore.ErrBadProof}}
	fh, log := newStall(t, f, hfs.Options{})
	log.allow = true
	if _, errno := read(t, fh, 0, 4096); errno != syscall.EIO {
		t.Errorf("Read of a bad block: %v, want EIO", errno)
	}
	w := log.warnings() // the read and its read-ahead
	if len(w) == 0 {
		t.Error("no warning")
	}
	for _, w := range w {
		if !strings.Contains(w, "integrity") || !strings.Contains(w, "block=7") || !strings.Contains(w, "ino=") {
			t.Errorf("warning: %q", w)
		}
	}
	// Errors from the drive itself are integrity failures too.
	f.mu.Lock()
	f.err = hypercore.ErrBadSignature
	f.mu.Unlock()
	if _, errno := read(t, fh, 8192, 4096); errno != syscall.EIO {
		t.Errorf("Read with a bad signature: %v, want EIO", errno)
	}
}

// TestReads checks sequential and random reads of a File that is neither
// spliced nor prefetched: one backend read per request, every byte right.
func TestReads(t *testing.T) {
	const size = 16<<20 + 5
	f := &stallFile{size: size}
	fh, _ := newStall(t, f, hfs.Options{ReadAhead: 4 << 20})
	want := pattern(size, 9)
	const req = 128 << 10
	reads := 0
	for off := int64(0); off < size; off += req {
		got, errno := read(t, fh, off, req)
		if errno != 0 || !bytes.Equal(got, want[off:min(off+req, size)]) {
			t.Fatalf("Read at %d: %v, data differs", off, errno)
		}
		reads++
	}
	f.mu.Lock()
	fetches := len(f.reads)
	f.mu.Unlock()
	if fetches != reads {
		t.Errorf("%d backend reads for %d reads: the file is read once per request, into its buffer", fetches, reads)
	}
	// Random: still right.
	for _, off := range []int64{size - 3, 12345, 9 << 20, 0, 3<<20 - 1} {
		got, errno := read(t, fh, off, 70000)
		if errno != 0 || !bytes.Equal(got, want[off:min(off+70000, size)]) {
			t.Errorf("random Read at %d: %v, data differs", off, errno)
		}
	}
	if got, errno := read(t, fh, size, 10); errno != 0 || len(got) != 0 {
		t.Errorf("Read at EOF: %q %v", got, errno)
	}
}

func TestErrnoOfDriveErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want syscall.Errno
	}{
		{hfs.ErrNotFound, syscall.ENOENT},
		{errors.Join(errors.New("x"), hfs.ErrReadOnly), syscall.EROFS},
	} {
		root, _ := newTestFS(t, errBackend{memback.New(), c.err}, hfs.Options{})
		var out fuse.EntryOut
		if _, errno := root.Lookup(bg, "x", &out); errno != c.want {
			t.Errorf("%v: %v, want %v", c.err, errno, c.want)
		}
	}
}

type errBackend struct {
	*memback.Backend
	err error
}

func (b errBackend) Lstat(ctx context.Context, p string) (*hfs.Attr, error) { return nil, b.err }

// ctxFile reads with a context: it waits for ctx unless released, and
// records prefetches.
type ctxFile struct {
	stallFile
	mu2        sync.Mutex
	prefetches [][2]int64
}

func (f *ctxFile) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	f.release = nil
	return f.stallFile.ReadAt(p, off)
}

func (f *ctxFile) Prefetch(ctx context.Context, off, n int64) error {
	f.mu2.Lock()
	defer f.mu2.Unlock()
	f.prefetches = append(f.prefetches, [2]int64{off, n})
	return nil
}

type ctxBackend struct {
	*memback.Backend
	f *ctxFile
}

func (b ctxBackend) OpenFile(ctx context.Context, p string) (hfs.File, error) { return b.f, nil }

func newCtxFile(t *testing.T, f *ctxFile, opts hfs.Options) (fusefs.FileHandle, *testLog) {
	t.Helper()
	b := memback.New()
	b.WriteFile(bg, "/f", 0644, bytes.NewReader(make([]byte, f.size)), f.size)
	root, log := newTestFS(t, ctxBackend{b, f}, opts)
	n, _ := lookup(t, root, "f")
	fh, _, errno := n.Open(bg, syscall.O_RDONLY)
	if errno != 0 {
		t.Fatal(errno)
	}
	return fh, log
}

// TestReadDirect covers Files that take a context: timeouts and
// interrupts end the read itself, and sequential reads prefetch.
func TestReadDirect(t *testing.T) {
	f := &ctxFile{stallFile: stallFile{size: 8 << 20, release: make(chan struct{})}}
	fh, log := newCtxFile(t, f, hfs.Options{ReadTimeout: 50 * time.Millisecond, ReadAhead: 1 << 20})
	log.allow = true
	if _, errno := read(t, fh, 0, 4096); errno != syscall.EIO {
		t.Errorf("stalled read: %v, want EIO", errno)
	}
	if w := log.warnings(); len(w) != 1 || !strings.Contains(w[0], "timed out") {
		t.Errorf("warnings: %q", w)
	}
	f.release = make(chan struct{})
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, errno := fh.(fusefs.FileReader).Read(ctx, make([]byte, 10), 0); errno != syscall.EINTR {
		t.Errorf("interrupted read: %v, want EINTR", errno)
	}
	f.release = nil
	want := pattern(8<<20, 9)
	for off := int64(0); off < 4<<20; off += 128 << 10 {
		got, errno := read(t, fh, off, 128<<10)
		if errno != 0 || !bytes.Equal(got, want[off:off+128<<10]) {
			t.Fatalf("read at %d: %v", off, errno)
		}
	}
	f.mu2.Lock()
	defer f.mu2.Unlock()
	if len(f.prefetches) == 0 || f.prefetches[len(f.prefetches)-1][0]+f.prefetches[len(f.prefetches)-1][1] <= 4<<20 {
		t.Errorf("prefetches %v: none ahead of the reader", f.prefetches)
	}
}
