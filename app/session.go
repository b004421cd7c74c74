package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hyperfs/hyperfs/daemonstore"
	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/hyperdrive"
	"github.com/hyperfs/hyperfs/peers"
)

// Options open a session.
type Options struct {
	Storage  string // storage folder; DefaultStorage() if empty
	CacheMiB int64  // DefaultCacheMiB if 0
	Net      NetOptions
	// OpenTimeout bounds the wait for peers to send a remote drive.
	OpenTimeout time.Duration
	// NoVerifyReads trusts the disk: blocks read back are not checked
	// against their feed's merkle tree (corestore.Options.NoVerifyReads).
	NoVerifyReads bool
	// LookupOnly is for one-shot commands: someone else's drive is looked
	// up on the DHT, not announced.
	LookupOnly bool
	// Force writes to a drive restored from its keys without learning its
	// length from peers first (hyperdrive.Options.Force): for when no peer
	// holds a newer version.
	Force bool
}

// Validate checks the options up front.
func (o *Options) Validate() error {
	if o.CacheMiB == 0 {
		o.CacheMiB = DefaultCacheMiB
	}
	if err := CheckCacheMiB(o.CacheMiB); err != nil {
		return &UsageError{err.Error()}
	}
	if o.OpenTimeout < 0 {
		return Usagef("--timeout %s: must not be negative", o.OpenTimeout)
	}
	return o.Net.Validate()
}

// Session is an open storage and, once a drive needs one, its network.
type Session struct {
	*Storage
	opts Options

	netCtx  context.Context
	stopNet context.CancelFunc
	mu      sync.Mutex
	net     *Network
	drives  map[string]*shared // open drives by "<key hex>+<version>" ("" key: the default drive)
	// closing counts the drives their last release is closing: Close
	// waits for them, or the store would close under their last writes.
	closing sync.WaitGroup
}

// Open opens the storage folder dir (o.Storage if empty).
func Open(o Options, dir string) (*Session, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if dir == "" {
		dir = o.Storage
	}
	if dir == "" {
		dir = DefaultStorage()
	}
	st, err := OpenStorage(dir, o.CacheMiB, o.NoVerifyReads)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Session{Storage: st, opts: o, netCtx: ctx, stopNet: stop}, nil
}

// Network returns the session's network, starting it on first use.
func (s *Session) Network() (*Network, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.net != nil {
		return s.net, nil
	}
	n, err := StartNetwork(s.netCtx, s.Storage, s.opts.Net)
	if err != nil {
		return nil, err
	}
	s.net = n
	return n, nil
}

// Running returns the network if it was started, else nil.
func (s *Session) Running() *Network {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.net
}

// Close closes the drives still open, waits for those their last user is
// closing, stops the network and closes the storage.
func (s *Session) Close() error {
	s.mu.Lock()
	var open []*shared
	for _, sh := range s.drives {
		if !sh.closed && sh.d != nil {
			sh.closed = true
			open = append(open, sh)
		}
	}
	s.drives = nil
	s.mu.Unlock()
	for _, sh := range open {
		sh.d.Close()
	}
	s.closing.Wait()
	s.stopNet()
	if n := s.Running(); n != nil {
		n.Close()
	}
	return s.Storage.Close()
}

// OpenDrive opens the drive t names: someone else's (by key) is first
// brought up to date from peers, waiting up to the open timeout; with
// t.Version, a read-only checkout of that version. withNet starts the
// network for the default drive too (to serve it).
func (s *Session) OpenDrive(ctx context.Context, t Target, withNet bool) (*hyperdrive.Drive, error) {
	key := t.Key
	if key == nil && s.Daemon {
		// hyperdrive-daemon's storage has no default drive: its root drive.
		k, err := daemonstore.RootKey(s.Dir)
		if err != nil {
			var ce *daemonstore.ChooseError
			if errors.As(err, &ce) {
				return nil, &UsageError{ce.Msg}
			}
			return nil, err
		}
		key = k
	}
	opts := hyperdrive.Options{Key: key, Sparse: true, Version: t.Version, GroupCommit: hyperdrive.DefaultGroupCommit, Force: s.opts.Force}
	var n *Network
	if key != nil || withNet {
		var err error
		if n, err = s.Network(); err != nil {
			return nil, err
		}
		opts.Update = n.Peers.Update
		opts.LearnLength = n.Peers.LearnLength // restored keys: never fork
	}
	if n != nil && key != nil {
		n.JoinWaiting(hcrypto.DiscoveryKey(key), !s.opts.LookupOnly)
	}
	timeout := s.opts.OpenTimeout
	if timeout == 0 {
		timeout = time.Minute
	}
	openCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, err := hyperdrive.Open(openCtx, s.Store, opts)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			if key != nil {
				if uerr := n.Unreachable(hcrypto.DiscoveryKey(key)); uerr != nil {
					return nil, fmt.Errorf("no peer sent the drive within %s: %w", timeout, uerr)
				}
			}
			return nil, fmt.Errorf("no peer sent the drive within %s (%s; is anyone online with it? --peer host:port connects to one directly, --timeout waits longer): %w", timeout, s.triedNote(), err)
		}
		return nil, fmt.Errorf("opening drive: %w", err)
	}
	if latest := d.Metadata().Length(); t.Version > latest {
		d.Close()
		return nil, &HintError{fmt.Sprintf("drive %x has no version %d: its latest is %d", d.Key(), t.Version, latest), hyperdrive.ErrNotFound}
	}
	if n != nil && key == nil {
		n.Join(d.DiscoveryKey())
	}
	return d, nil
}

func (s *Session) triedNote() string {
	n := s.Running()
	if n == nil {
		return "no network"
	}
	tried := n.Tried()
	if len(tried) == 0 {
		return "no peer found"
	}
	return "peers tried: " + strings.Join(tried, ", ")
}

// Transferred is the bytes d's feeds (metadata and content) have fetched
// from and sent to peers in this session.
func (s *Session) Transferred(ctx context.Context, d *hyperdrive.Drive) (down, up uint64, peers int) {
	n := s.Running()
	if n == nil {
		return 0, 0, 0
	}
	if r := n.Peers.Replicator(d.Metadata()); r != nil {
		st := r.Stats()
		down, up, peers = st.DownloadedBytes, st.UploadedBytes, len(r.Peers())
	}
	if c, err := d.Content(ctx); err == nil {
		if r := n.Peers.Replicator(c); r != nil {
			st := r.Stats()
			down += st.DownloadedBytes
			up += st.UploadedBytes
		}
	}
	return down, up, peers
}

// Conns describes the connections d's metadata is replicated on: each
// peer's address and transport.
func (s *Session) Conns(d *hyperdrive.Drive) []peers.ConnInfo {
	n := s.Running()
	if n == nil {
		return nil
	}
	return n.Peers.ConnsOf(d.Metadata())
}

// ErrStalled is the cause of a command's end when no data arrived for its
// stall timeout.
var ErrStalled = errors.New("stalled")

// WatchStall returns a context that ends with an error (ErrStalled, naming
// the peers tried and the bytes fetched) once neither d's feeds fetch a
// byte nor touch is called for timeout. A peer that comes back in time
// resumes the work. timeout <= 0 never stalls.
func (s *Session) WatchStall(ctx context.Context, d *hyperdrive.Drive, timeout time.Duration) (context.Context, func(), func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	if timeout <= 0 || d.Writable() {
		return ctx, func() {}, func() { cancel(nil) }
	}
	var mu sync.Mutex
	last := time.Now()
	touch := func() {
		mu.Lock()
		last = time.Now()
		mu.Unlock()
	}
	go func() {
		tick := time.NewTicker(min(timeout/4, time.Second))
		defer tick.Stop()
		var seen uint64
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			down, _, _ := s.Transferred(ctx, d)
			mu.Lock()
			if down != seen {
				seen, last = down, time.Now()
			}
			idle := time.Since(last)
			mu.Unlock()
			if idle >= timeout {
				cancel(fmt.Errorf("%w: no data from peers for %s (%s; %s fetched): is a peer with the drive online? --stall-timeout waits longer", ErrStalled, timeout, s.triedNote(), HumanBytes(seen)))
				return
			}
		}
	}()
	return ctx, touch, func() { cancel(nil) }
}

// Stalled returns the stall error behind err, if ctx ended by stalling.
func Stalled(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, ErrStalled) {
		return cause
	}
	return err
}

// HumanBytes formats a byte count with a binary unit.
func HumanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// shared is a drive opened once for every user in the session (a mount
// and the commands a service runs on it): two writers of one drive in one
// process would race their appends.
type shared struct {
	ready  chan struct{} // closed once d or err is set
	d      *hyperdrive.Drive
	err    error
	refs   int
	names  []string // its labels in Session.drives
	closed bool     // by the last release, or by Session.Close
}

// Drive opens the drive t names as OpenDrive does, or returns the one
// already open for it in this session. release gives it back; the last
// release closes it.
func (s *Session) Drive(ctx context.Context, t Target, withNet bool) (d *hyperdrive.Drive, release func(), err error) {
	label := fmt.Sprintf("%x+%d", []byte(t.Key), t.Version)
	s.mu.Lock()
	if s.drives == nil {
		s.drives = map[string]*shared{}
	}
	sh := s.drives[label]
	if sh == nil {
		sh = &shared{ready: make(chan struct{}), names: []string{label}}
		s.drives[label] = sh
		s.mu.Unlock()
		sh.d, sh.err = s.OpenDrive(ctx, t, withNet)
		s.mu.Lock()
		if sh.err != nil {
			delete(s.drives, label)
		} else if t.Key == nil {
			// The default drive is the same drive by its key.
			byKey := fmt.Sprintf("%x+%d", []byte(sh.d.Key()), t.Version)
			if s.drives[byKey] == nil {
				s.drives[byKey] = sh
				sh.names = append(sh.names, byKey)
			}
		}
		close(sh.ready)
	} else {
		s.mu.Unlock()
		select {
		case <-sh.ready:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		s.mu.Lock()
	}
	if sh.err != nil {
		s.mu.Unlock()
		return nil, nil, sh.err
	}
	if withNet && t.Key == nil {
		s.mu.Unlock()
		if n, err := s.Network(); err == nil { // serve a drive opened without
			n.Join(sh.d.DiscoveryKey())
		}
		s.mu.Lock()
	}
	sh.refs++
	s.mu.Unlock()
	var once sync.Once
	return sh.d, func() {
		once.Do(func() {
			s.mu.Lock()
			sh.refs--
			last := sh.refs == 0 && !sh.closed
			if last {
				sh.closed = true
				for _, n := range sh.names {
					if s.drives[n] == sh {
						delete(s.drives, n)
					}
				}
				s.closing.Add(1)
			}
			s.mu.Unlock()
			if last {
				defer s.closing.Done()
				sh.d.Close()
			}
		})
	}, nil
}

// AddPeers connects the session's network (started if needed) to the
// peers of addrs it is not connected to yet: a command run in a service
// may name peers the service was not started with. The swarm takes its
// --peer addresses when it starts, so these are dialled directly.
func (s *Session) AddPeers(addrs []string) error {
	if len(addrs) == 0 {
		return nil
	}
	n, err := s.Network()
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if !slices.Contains(n.Tried(), a) {
			n.addTried(a)
			n.Peers.Dial(s.netCtx, a)
		}
	}
	return nil
}
