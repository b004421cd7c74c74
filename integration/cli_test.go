package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/app"
	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/integration/jsref"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// hyperfsBin builds cmd/hyperfs once for the tests that run the program.
func hyperfsBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hyperfs-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "hyperfs")
		js, err := jsref.Dir()
		if err != nil {
			buildErr = err
			return
		}
		out, err := exec.Command("go", "build", "-o", binPath, filepath.Join(js, "..", "..", "cmd", "hyperfs")).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// cliEnv keeps every XDG folder of a test's hyperfs inside the test.
func cliEnv(t *testing.T) []string {
	home := t.TempDir()
	return append(os.Environ(),
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_STATE_HOME="+filepath.Join(home, "state"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"))
}

// runCLI runs hyperfs to completion and returns its exit code and output.
func runCLI(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(hyperfsBin(t), args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// cliMount is a running "hyperfs mount".
type cliMount struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	once   sync.Once
	err    error
}

// stop interrupts the mount as a user's ^C does and waits for it to end.
func (m *cliMount) stop(t *testing.T, mountpoint string) error {
	m.once.Do(func() {
		m.cmd.Process.Signal(syscall.SIGINT)
		start := time.Now()
		defer func() { t.Logf("hyperfs mount on %s ended %s after SIGINT", mountpoint, time.Since(start)) }()
		done := make(chan error, 1)
		go func() { done <- m.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				m.err = fmt.Errorf("hyperfs mount exited with %v: %s", err, m.stderr.String())
			}
		case <-time.After(20 * time.Second):
			// A hang: the goroutine dump SIGQUIT makes shows where, and
			// whether the folder is still mounted tells which side of
			// the unmount it is on.
			mounted := inMountTable(mountpoint)
			m.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				m.cmd.Process.Kill()
				<-done
			}
			exec.Command("fusermount3", "-u", "-z", mountpoint).Run()
			m.err = fmt.Errorf("hyperfs mount did not stop within 20 s of SIGINT (folder still mounted: %v): %s", mounted, m.stderr.String())
		}
	})
	return m.err
}

// inMountTable reports whether dir is in the kernel's mount table, without
// touching the mount (a stat would wait on a hung server).
func inMountTable(dir string) bool {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}

// mountCLI runs "hyperfs mount args..." until it reports the folder
// mounted, and stops it at cleanup.
func mountCLI(t *testing.T, env []string, args ...string) *cliMount {
	t.Helper()
	cmd := exec.Command(hyperfsBin(t), append([]string{"mount"}, args...)...)
	cmd.Env = append(env[:len(env):len(env)], "GOTRACEBACK=all") // a SIGQUIT dumps every goroutine
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second // nothing it started may hold up Wait once it has ended
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "mounted ") {
				ready <- nil
				io.Copy(io.Discard, out)
				return
			}
		}
		ready <- errors.New("hyperfs exited before mounting")
	}()
	mountpoint := args[len(args)-1]
	m := &cliMount{cmd: cmd, stderr: &stderr}
	t.Cleanup(func() {
		if err := m.stop(t, mountpoint); err != nil {
			t.Error(err)
		}
	})
	select {
	case err := <-ready:
		if err != nil {
			cmd.Wait()
			t.Fatalf("%v: %s", err, stderr.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("hyperfs mount not ready after 90 s: %s", stderr.String())
	}
	return m
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestMountJSWrittenDrive mounts a drive JS hyperdrive 10 wrote and reads
// every file through the folder, into its nested mount.
func TestMountJSWrittenDrive(t *testing.T) {
	jsref.Require(t)
	dir := filepath.Join(t.TempDir(), "js")
	var rep driveReport
	jsref.RunJSON(t, &rep, "drive-write.js", dir, "--big-size", fmt.Sprint(8<<20), "--small", "40")
	mnt := t.TempDir()
	mountCLI(t, cliEnv(t), "--no-discovery", dir, mnt)
	files := 0
	for p, e := range rep.Entries {
		local := filepath.Join(mnt, filepath.FromSlash(p))
		switch {
		case e.Names != nil || e.Mode&0o170000 == 0o040000:
			ents, err := os.ReadDir(local)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if len(ents) != len(e.Names) {
				t.Errorf("%s: %d entries through the mount, JS listed %d", p, len(ents), len(e.Names))
			}
		case e.Linkname != "":
			// An absolute target is shown under the mountpoint, so that
			// the link keeps pointing into the drive.
			want := e.Linkname
			if filepath.IsAbs(want) {
				want = filepath.Join(mnt, want)
			}
			if target, err := os.Readlink(local); err != nil || target != want {
				t.Errorf("%s: link to %q (%v), want %q", p, target, err, want)
			}
		case e.SHA256 != "":
			if got := sha256File(t, local); got != e.SHA256 {
				t.Errorf("%s: sha256 %s through the mount, JS wrote %s", p, got, e.SHA256)
			}
			st, _ := os.Stat(local)
			if uint64(st.Size()) != e.Size || st.ModTime().UnixMilli() != e.Mtime {
				t.Errorf("%s: size %d mtime %d, want %d %d", p, st.Size(), st.ModTime().UnixMilli(), e.Size, e.Mtime)
			}
			files++
		}
	}
	if files < 40 {
		t.Fatalf("only %d files compared", files)
	}
}

// writeBigDrive makes a drive with a 1 GiB file and a small one, in a
// storage folder of its own, with the Go library.
func writeBigDrive(t *testing.T, dir string, size int64) (key string) {
	t.Helper()
	ctx := context.Background()
	s, err := app.Open(app.Options{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, release, err := s.Drive(ctx, app.Target{}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := d.WriteFile(ctx, "/small.txt", []byte("a small file in a big drive\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := d.Create(ctx, "/big.bin", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(chunk)) {
		fillPattern(chunk, off)
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(d.Key())
}

// fillPattern fills b with the bytes of the big file at offset off.
func fillPattern(b []byte, off int64) {
	for i := range b {
		p := off + int64(i)
		b[i] = byte(p*7 + p>>12)
	}
}

// TestRemoteMountFetchesOnlyWhatIsRead: a second hyperfs mounts a 1 GiB
// drive by key over a direct connection, reads one small file and 1 MiB of
// the big one, and stores only the blocks those reads needed.
func TestRemoteMountFetchesOnlyWhatIsRead(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	src := filepath.Join(t.TempDir(), "src")
	start := time.Now()
	key := writeBigDrive(t, src, size)
	t.Logf("wrote the drive in %s", time.Since(start))
	addr := freePort(t)
	mountCLI(t, cliEnv(t), "--no-discovery", "--listen", addr, src, t.TempDir())
	t.Logf("writer mounted after %s", time.Since(start))

	dst := filepath.Join(t.TempDir(), "dst")
	mnt := t.TempDir()
	reader := mountCLI(t, cliEnv(t), "--no-discovery", "--storage", dst, "--peer", addr, key, mnt)
	t.Logf("reader mounted after %s", time.Since(start))
	b, err := os.ReadFile(filepath.Join(mnt, "small.txt"))
	if err != nil || string(b) != "a small file in a big drive\n" {
		t.Fatalf("small file: %q %v", b, err)
	}
	f, err := os.Open(filepath.Join(mnt, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 1<<20)
	off := size / 2
	if _, err := f.ReadAt(got, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := make([]byte, len(got))
	fillPattern(want, off)
	if !bytes.Equal(got, want) {
		t.Fatal("bytes read through the remote mount differ")
	}
	// Stop the reader and count what it stored.
	t.Logf("read after %s", time.Since(start))
	if err := reader.stop(t, mnt); err != nil {
		t.Fatal(err)
	}
	t.Logf("reader stopped after %s", time.Since(start))
	s, err := corestore.Open(dst, corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := hyperdrive.Open(context.Background(), s, hyperdrive.Options{Key: mustHex(t, key), Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	content, err := d.Content(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stored := content.Downloaded(0, content.Length())
	var bytesStored uint64
	for i := range content.Length() {
		if content.Has(i) {
			b, _ := content.Get(context.Background(), i)
			bytesStored += uint64(len(b))
		}
	}
	t.Logf("drive of %d content blocks (%d MiB): %d blocks (%d KiB) fetched for 1 MiB + a small file", content.Length(), size>>20, stored, bytesStored>>10)
	// 1 MiB of 64 KiB blocks is 16-17 blocks; read-ahead may add up to 8 MiB.
	if stored == 0 || bytesStored > 16<<20 {
		t.Fatalf("fetched %d blocks (%d bytes) for a 1 MiB read", stored, bytesStored)
	}
}

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestJSReadsDriveHyperfsServes: JS hyperdrive 10 fetches files from a
// drive a hyperfs mount serves on --listen.
func TestJSReadsDriveHyperfsServes(t *testing.T) {
	jsref.Require(t)
	src := filepath.Join(t.TempDir(), "src")
	key := writeBigDrive(t, src, 4<<20)
	addr := freePort(t)
	mnt := t.TempDir()
	mountCLI(t, cliEnv(t), "--no-discovery", "--listen", addr, src, mnt)
	// Written through the mount, then read by JS over the wire.
	if err := os.WriteFile(filepath.Join(mnt, "through-fuse.txt"), []byte("written with FUSE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Files map[string]string `json:"files"`
	}
	jsref.RunJSON(t, &out, "drive-fetch.js", filepath.Join(t.TempDir(), "js"), key, addr, "/small.txt", "/through-fuse.txt", "/big.bin")
	for _, p := range []string{"small.txt", "through-fuse.txt", "big.bin"} {
		if want := sha256File(t, filepath.Join(mnt, p)); out.Files["/"+p] != want {
			t.Errorf("JS read /%s as %s, want %s", p, out.Files["/"+p], want)
		}
	}
}

// TestMountDriveJSServes: hyperfs mounts a drive by key from a JS peer.
func TestMountDriveJSServes(t *testing.T) {
	jsref.Require(t)
	dir := filepath.Join(t.TempDir(), "js")
	var rep driveReport
	jsref.RunJSON(t, &rep, "drive-write.js", dir, "--big-size", fmt.Sprint(2<<20), "--small", "10")
	peer := jsref.Start(t, "drive-serve.js", dir)
	var ev struct {
		Port int    `json:"port"`
		Key  string `json:"key"`
	}
	peer.Next(&ev)
	mnt := t.TempDir()
	mountCLI(t, cliEnv(t), "--no-discovery", "--storage", filepath.Join(t.TempDir(), "go"), "--peer", fmt.Sprintf("127.0.0.1:%d", ev.Port), ev.Key, mnt)
	checked := 0
	for p, e := range rep.Entries {
		if e.SHA256 == "" || strings.HasPrefix(p, "/mnt") {
			continue
		}
		if got := sha256File(t, filepath.Join(mnt, filepath.FromSlash(p))); got != e.SHA256 {
			t.Errorf("%s: %s, want %s", p, got, e.SHA256)
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d files checked", checked)
	}
	if err := os.WriteFile(filepath.Join(mnt, "x"), []byte("no"), 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write to a remote drive: %v, want EROFS", err)
	}
}

// TestCLIErrors: bad input gets one clear line and its own exit code.
func TestCLIErrors(t *testing.T) {
	env := cliEnv(t)
	code, out := runCLI(t, env, "mount", "--no-discovery", "not-a-key", t.TempDir())
	if code != 2 || !strings.Contains(out, "not a drive key") {
		t.Errorf("bad key: exit %d: %s", code, out)
	}
	code, out = runCLI(t, env, "mount", "--no-discovery", filepath.Join(t.TempDir(), "no", "such", "parent"))
	if code == 0 || !strings.Contains(out, "mkdir -p") {
		t.Errorf("missing mountpoint: exit %d: %s", code, out)
	}
	noFuse := append(append([]string(nil), env...), "PATH=/nonexistent")
	code, out = runCLI(t, noFuse, "mount", "--no-discovery", t.TempDir())
	if code == 0 || !strings.Contains(out, "fuse3") {
		t.Errorf("no FUSE: exit %d: %s", code, out)
	}
	// A storage another process holds (not a hyperfs service) is locked.
	storage := filepath.Join(t.TempDir(), "st")
	held, err := corestore.Open(storage, corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// A folder something is mounted on is refused.
	used := t.TempDir()
	mountCLI(t, env, "--no-discovery", "--storage", filepath.Join(t.TempDir(), "st2"), used)
	code, out = runCLI(t, env, "mount", "--no-discovery", "--storage", filepath.Join(t.TempDir(), "st3"), used)
	if code == 0 || !strings.Contains(out, "already a mountpoint") {
		t.Errorf("mountpoint in use: exit %d: %s", code, out)
	}
	code, out = runCLI(t, env, "info", "--storage", storage)
	if code != 3 || !strings.Contains(out, "in use") {
		t.Errorf("locked storage: exit %d: %s", code, out)
	}
	if n := strings.Count(strings.TrimSpace(out), "\n"); n != 0 {
		t.Errorf("locked storage: %d lines of error, want one: %s", n+1, out)
	}
}

// TestDaemonMountAndUnmount: --daemon returns once mounted; hyperfs
// unmount ends the background process.
func TestDaemonMountAndUnmount(t *testing.T) {
	env := cliEnv(t)
	mnt := t.TempDir()
	code, out := runCLI(t, env, "mount", "--daemon", "--no-discovery", "--storage", filepath.Join(t.TempDir(), "st"), mnt)
	if code != 0 || !strings.Contains(out, "mounted "+mnt) {
		t.Fatalf("daemon mount: exit %d: %s", code, out)
	}
	if err := os.WriteFile(filepath.Join(mnt, "f"), []byte("daemon"), 0o644); err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscanf(out[strings.Index(out, "process ")+len("process "):], "%d", &pid)
	if code, out := runCLI(t, env, "unmount", mnt); code != 0 {
		t.Fatalf("unmount: exit %d: %s", code, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("background hyperfs %d still running after unmount", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(mnt, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("still mounted: %v", err)
	}
}

// TestMountFindsJSPeerThroughDHT: a JS hyperswarm peer announces a drive;
// hyperfs, given only the key and a (local) bootstrap node, finds it
// through the DHT and mounts it.
func TestMountFindsJSPeerThroughDHT(t *testing.T) {
	jsref.Require(t)
	bootstrap := jsBootstrap(t)
	dir := filepath.Join(t.TempDir(), "js")
	var rep driveReport
	jsref.RunJSON(t, &rep, "drive-write.js", dir, "--big-size", fmt.Sprint(1<<20), "--small", "5")
	peer := jsref.Start(t, "drive-swarm.js", dir, "--bootstrap", bootstrap)
	var joined struct{ Key string }
	peer.Next(&joined)
	mnt := t.TempDir()
	start := time.Now()
	mountCLI(t, cliEnv(t), "--open-timeout", "30s", "--no-mdns", "--bootstrap", bootstrap, "--storage", filepath.Join(t.TempDir(), "go"), joined.Key, mnt)
	got := sha256File(t, filepath.Join(mnt, "big.bin"))
	t.Logf("first byte through the DHT after %s", time.Since(start))
	if want := rep.Entries["/big.bin"].SHA256; want == "" || got != want {
		t.Fatalf("big.bin through a DHT-found peer: %s, want %s", got, want)
	}
}

// TestJSFindsHyperfsThroughDHT: hyperfs serves a drive it announces on the
// DHT; a JS hyperswarm peer finds it there and reads it.
func TestJSFindsHyperfsThroughDHT(t *testing.T) {
	jsref.Require(t)
	bootstrap := jsBootstrap(t)
	src := filepath.Join(t.TempDir(), "src")
	key := writeBigDrive(t, src, 2<<20)
	mnt := t.TempDir()
	mountCLI(t, cliEnv(t), "--no-mdns", "--bootstrap", bootstrap, src, mnt)
	peer := jsref.Start(t, "drive-swarm.js", filepath.Join(t.TempDir(), "js"), "--bootstrap", bootstrap, "--key", key, "--read", "/small.txt,/big.bin")
	var joined, read struct {
		Event string
		Files map[string]string
		Ms    int
	}
	peer.Next(&joined)
	peer.Next(&read)
	for _, p := range []string{"small.txt", "big.bin"} {
		if want := sha256File(t, filepath.Join(mnt, p)); read.Files["/"+p] != want {
			t.Errorf("JS read /%s as %q through the DHT, want %s", p, read.Files["/"+p], want)
		}
	}
}
