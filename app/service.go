package app

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// The first hyperfs that mounts or serves a storage becomes its service:
// it keeps the storage open and listens on a control socket, and later
// commands on that storage run inside it (they could not open the locked
// storage themselves). A request carries a command line and the client's
// working folder; the service streams the command's standard output and
// error back, then its exit code.
//
// Frames on the socket: the request is one JSON line; each response frame
// is a kind byte (frameStdout, frameStderr, frameExit), a 4-byte
// big-endian length, and that many bytes (for frameExit, the exit code as
// a 4-byte big-endian integer).

const (
	frameStdout byte = 1
	frameStderr byte = 2
	frameExit   byte = 3
)

// Request is a command line a client hands to the service.
type Request struct {
	Args []string `json:"args"`
	Cwd  string   `json:"cwd"`
}

// Handler runs a request in the service, writing to stdout and stderr, and
// returns the exit code. ctx ends when the client goes away.
type Handler func(ctx context.Context, req Request, stdout, stderr io.Writer) int

// SocketPath is the control socket of the storage folder dir:
// $XDG_RUNTIME_DIR/hyperfs/<hash of dir>.sock (or /tmp/hyperfs-<uid>/…),
// short enough for a Unix socket whatever the storage path.
func SocketPath(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if cores, daemon := daemonStorage(dir); daemon {
		dir = cores
	}
	sum := sha256.Sum256([]byte(filepath.Clean(dir)))
	base := os.Getenv("XDG_RUNTIME_DIR")
	if base == "" {
		base = filepath.Join(os.TempDir(), fmt.Sprintf("hyperfs-%d", os.Getuid()))
	} else {
		base = filepath.Join(base, "hyperfs")
	}
	return filepath.Join(base, hex.EncodeToString(sum[:12])+".sock")
}

// Service is the running service of one storage.
type Service struct {
	S        *Session
	ln       net.Listener
	path     string
	handler  Handler
	ctx      context.Context
	stop     context.CancelFunc
	mu       sync.Mutex
	mounts   map[string]*Mount // by mountpoint
	requests sync.WaitGroup
	changed  chan struct{} // signalled when a mount ends or KeepRunning is called
	keep     bool          // serving seeds: stay without mounts
}

// Context ends when the service closes: the lifetime of what it serves
// beyond a request (seeded drives).
func (svc *Service) Context() context.Context { return svc.ctx }

// KeepRunning makes the service stay after its last mount (it serves
// seeded drives).
func (svc *Service) KeepRunning() {
	svc.mu.Lock()
	svc.keep = true
	svc.mu.Unlock()
}

func (svc *Service) idle() bool {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	return len(svc.mounts) == 0 && !svc.keep
}

// ErrServiceRunning is returned by Serve when another process already
// answers on the storage's control socket.
var ErrServiceRunning = errors.New("a hyperfs service already runs on this storage")

// Serve makes this process the service of s's storage: it listens on the
// control socket (mode 0600, in a 0700 folder) and runs each request with
// handler until Close. A socket that cannot be made costs only a warning:
// the service then serves its own mounts, and later commands on the
// storage find it locked. Another live service is ErrServiceRunning.
func Serve(s *Session, handler Handler) (*Service, error) {
	ctx, stop := context.WithCancel(context.Background())
	svc := &Service{S: s, handler: handler, ctx: ctx, stop: stop, mounts: map[string]*Mount{}, changed: make(chan struct{}, 1)}
	ln, path, err := listen(SocketPath(s.Dir))
	if errors.Is(err, ErrServiceRunning) {
		stop()
		return nil, err
	}
	if err != nil {
		slog.Warn("no control socket: later commands on this storage cannot reach this process", "err", err)
		return svc, nil
	}
	svc.ln, svc.path = ln, path
	go svc.accept()
	return svc, nil
}

func listen(path string) (net.Listener, string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, "", err
	}
	if err := checkPrivate(filepath.Dir(path)); err != nil {
		return nil, "", err
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, "", ErrServiceRunning
	}
	os.Remove(path) // left by a process that died
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, "", fmt.Errorf("control socket %s: %w", path, err)
	}
	// Its folder is 0700, so it is never reachable wider than this.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, "", err
	}
	return ln, path, nil
}

func (svc *Service) accept() {
	for {
		c, err := svc.ln.Accept()
		if err != nil {
			return
		}
		svc.requests.Add(1)
		go func() {
			defer svc.requests.Done()
			defer c.Close()
			svc.serveConn(c)
		}()
	}
}

// frameWriter writes one kind of frame; safe for concurrent use with the
// other writers of its connection.
type frameWriter struct {
	mu   *sync.Mutex
	w    io.Writer
	kind byte
}

func (f *frameWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var hdr [5]byte
	hdr[0] = f.kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, err := f.w.Write(hdr[:]); err != nil {
		return 0, err
	}
	return f.w.Write(p)
}

func (svc *Service) serveConn(c net.Conn) {
	line, err := bufio.NewReaderSize(c, 64<<10).ReadBytes('\n')
	if err != nil {
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		return
	}
	ctx, cancel := context.WithCancel(svc.ctx)
	defer cancel()
	go func() {
		// The client closing its end (^C) ends the command.
		io.Copy(io.Discard, c)
		cancel()
	}()
	var mu sync.Mutex
	code := svc.handler(ctx, req, &frameWriter{&mu, c, frameStdout}, &frameWriter{&mu, c, frameStderr})
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(code))
	(&frameWriter{&mu, c, frameExit}).Write(b[:])
}

// AddMount records a mount the service serves; it is dropped once
// unmounted.
func (svc *Service) AddMount(m *Mount) {
	svc.mu.Lock()
	svc.mounts[m.Dir] = m
	svc.mu.Unlock()
	go func() {
		<-m.Done()
		svc.mu.Lock()
		delete(svc.mounts, m.Dir)
		svc.mu.Unlock()
		select {
		case svc.changed <- struct{}{}:
		default:
		}
	}()
}

// Mounts lists the mounts the service serves.
func (svc *Service) Mounts() []*Mount {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	out := make([]*Mount, 0, len(svc.mounts))
	for _, m := range svc.mounts {
		out = append(out, m)
	}
	return out
}

// WaitIdle returns once the service serves no mount and no seeds (or ctx
// ends).
func (svc *Service) WaitIdle(ctx context.Context) {
	for !svc.idle() {
		select {
		case <-ctx.Done():
			return
		case <-svc.changed:
		}
	}
}

// UnmountAll unmounts every mount the service serves.
func (svc *Service) UnmountAll() {
	for _, m := range svc.Mounts() {
		if err := m.Unmount(); err != nil {
			slog.Warn("unmount", "dir", m.Dir, "err", err)
		}
	}
}

// Close stops listening, ends the requests in flight and waits for them.
func (svc *Service) Close() error {
	var err error
	if svc.ln != nil {
		err = svc.ln.Close()
		os.Remove(svc.path)
	}
	svc.stop()
	svc.requests.Wait()
	return err
}

// Dial connects to the service of the storage folder dir; ok is false
// when none runs.
func Dial(dir string) (net.Conn, bool) {
	path := SocketPath(dir)
	if checkPrivate(filepath.Dir(path)) != nil {
		return nil, false
	}
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, false
	}
	return c, true
}

// Forward runs req in the service at the other end of c, copying its
// output to stdout and stderr, and returns its exit code.
func Forward(c net.Conn, req Request, stdout, stderr io.Writer) (int, error) {
	defer c.Close()
	b, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	if _, err := c.Write(append(b, '\n')); err != nil {
		return 0, fmt.Errorf("talking to the hyperfs service: %w", err)
	}
	r := bufio.NewReader(c)
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 0, fmt.Errorf("the hyperfs service ended the command without an exit code (see its log): %w", err)
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > 16<<20 {
			return 0, errors.New("the hyperfs service sent a frame of more than 16 MiB")
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return 0, fmt.Errorf("reading from the hyperfs service: %w", err)
		}
		switch hdr[0] {
		case frameStdout:
			stdout.Write(buf)
		case frameStderr:
			stderr.Write(buf)
		case frameExit:
			if len(buf) != 4 {
				return 0, errors.New("the hyperfs service sent a bad exit code")
			}
			return int(binary.BigEndian.Uint32(buf)), nil
		}
	}
}

// checkPrivate makes sure the socket folder is ours and closed to others:
// in a shared /tmp another user could have made it first, to listen in our
// place.
func checkPrivate(dir string) error {
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		return err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != os.Getuid() || st.Mode&0o077 != 0 {
		return fmt.Errorf("%s is not a private folder of this user (owner %d, mode %o): remove it", dir, st.Uid, st.Mode&0o7777)
	}
	return nil
}
