// Package corestore keeps many hypercore feeds in one folder, laid out and
// keyed exactly as the JavaScript corestore 5 keeps them, so a store
// written by either implementation (including hyperdrive-daemon's) opens in
// the other. It is how hyperdrive names its metadata and content feeds and
// how mounts find the drives they point at.
//
// # Layout
//
// A store folder holds master_key (32 random bytes, created if missing) and
// one folder per feed, <dk[0:2]>/<dk[2:4]>/<dk>/, where dk is the feed's
// hex discovery key. A named feed's key pair is derived from the master key
// and its name (keyed BLAKE2b, see DeriveSeed); its folder keeps the name
// in a "name" file and never its secret key, which is derived again on
// every open. Feeds opened by key pair keep a secret_key file; feeds opened
// by public key only a key file.
//
// # Lifetime
//
// Get returns a *Core handle; the feed stays open while any handle does
// and closes with the last one. Each feed folder is locked (flock on its
// bitfield, as the reference does), and the store itself by a flock on its
// master_key file, so a second process opening the same store gets
// ErrLocked.
package corestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/hyperfs/hyperfs/cache"
	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/hypercore/storage"
)

// Errors callers branch on.
var (
	// ErrNotFound: a passive open (by discovery key) of a feed not stored.
	ErrNotFound = errors.New("feed not stored")
	// ErrLocked: another process (or Store) has the store or a feed open.
	ErrLocked = storage.ErrLocked
	// ErrWrongName: a name file that does not derive the folder's key.
	ErrWrongName = errors.New("stored an incorrect name")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("corestore is closed")
)

// MasterKeyFile is the name of the master key file at the store root.
const MasterKeyFile = "master_key"

// DefaultName is the name of the root store, whose Default feed is derived
// from it.
const DefaultName = "default"

// Options configure Open.
type Options struct {
	// MasterKey replaces the master_key file (which is then neither read
	// nor written, as in the reference).
	MasterKey []byte
	// NoVerifyReads turns off the check of blocks read back from disk
	// against their feed's merkle tree (hypercore.Options.NoVerifyReads).
	NoVerifyReads bool
	// Cache is shared by every feed of the store; nil uses none.
	Cache *cache.Cache
	// Logger receives diagnostics; nil uses slog.Default().
	Logger *slog.Logger
}

// GetOptions choose the feed Get opens, in corestore's order of
// precedence: KeyPair, Key, Name, DiscoveryKey; none opens a new feed with
// a random name.
type GetOptions struct {
	KeyPair      *hcrypto.KeyPair
	Key          []byte // a public key
	Name         string // any bytes; derives the key pair
	DiscoveryKey []byte // open passively: only a feed already stored
	// Sparse marks a replica that downloads only what is read.
	Sparse bool
}

// Store is a corestore, or a namespace of one (which only changes the name
// Default derives from).
type Store struct {
	*inner
	name       string
	namespaced bool
}

// inner is the state shared by a store and its namespaces.
type inner struct {
	dir       string
	masterKey []byte
	cache     *cache.Cache
	log       *slog.Logger
	noVerify  bool
	lock      *os.File // master_key, flocked; nil with Options.MasterKey

	mu      sync.Mutex
	cores   map[[32]byte]*entry // guarded by mu: open feeds by discovery key
	onFeed  map[int]func(*hypercore.Feed)
	onClose map[int]func(*hypercore.Feed)
	nextFn  int
	closed  bool // guarded by mu
}

// entry is one open feed and its handles.
type entry struct {
	feed *hypercore.Feed
	refs int            // guarded by inner.mu
	by   map[*Store]int // guarded by inner.mu: handles per namespace
	name []byte         // the name of a named feed
	// restored: a writable feed whose folder held its key but no blocks
	// when it was opened (keys imported into a new storage).
	restored bool
}

// Open opens (creating if needed) the store kept in dir.
func Open(dir string, opts Options) (*Store, error) {
	in := &inner{dir: dir, cache: opts.Cache, log: opts.Logger, noVerify: opts.NoVerifyReads, cores: map[[32]byte]*entry{}, onFeed: map[int]func(*hypercore.Feed){}, onClose: map[int]func(*hypercore.Feed){}}
	if in.log == nil {
		in.log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("corestore %s: %w", dir, err)
	}
	if opts.MasterKey != nil {
		if len(opts.MasterKey) != 32 {
			return nil, fmt.Errorf("corestore %s: master key has %d bytes, want 32", dir, len(opts.MasterKey))
		}
		in.masterKey = append([]byte(nil), opts.MasterKey...)
		if err := checkMasterKey(dir, in.masterKey); err != nil {
			return nil, fmt.Errorf("corestore %s: the master key given does not derive the feeds stored here: %w", dir, err)
		}
	} else if err := in.loadMasterKey(); err != nil {
		return nil, fmt.Errorf("corestore %s: %w", dir, err)
	}
	return &Store{inner: in, name: DefaultName}, nil
}

// loadMasterKey reads master_key, writing 32 random bytes if it is missing
// or shorter (InnerCorestore#_open), and keeps it flocked.
func (in *inner) loadMasterKey() error {
	p := filepath.Join(in.dir, MasterKeyFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%s: %w (close the other program using this store)", p, ErrLocked)
		}
		return fmt.Errorf("locking %s: %w", p, err)
	}
	key := make([]byte, 32)
	n, err := f.ReadAt(key, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return fmt.Errorf("%s: %w", p, err)
	}
	if n < 32 {
		// The reference replaces a missing or short key with a new one.
		// That is only safe in a store without feeds derived from the old
		// key: otherwise the user's drives would silently give way to new,
		// empty ones.
		if err := checkMasterKey(in.dir, nil); err != nil {
			f.Close()
			if n == 0 {
				return fmt.Errorf("%s is missing or empty, but %w", p, err)
			}
			return fmt.Errorf("%s has %d bytes, not 32 (it is truncated), and %w", p, n, err)
		}
		if _, err := rand.Read(key); err != nil {
			f.Close()
			return err
		}
		if _, err := f.WriteAt(key, 0); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", p, err)
		}
	} else if err := checkMasterKey(in.dir, key); err != nil {
		f.Close()
		return fmt.Errorf("%s does not derive the feeds stored here (was it replaced or damaged?): %w", p, err)
	}
	in.masterKey, in.lock = key, f
	return nil
}

// Dir is the store's folder.
func (s *Store) Dir() string { return s.dir }

// Name is the name Default derives its key pair from: "default", or the
// namespace.
func (s *Store) Name() string { return s.name }

// MasterKey returns the store's master key.
func (s *Store) MasterKey() []byte { return s.masterKey }

// Namespace returns a view of the store whose Default feed is derived from
// name (nested namespaces join names with ":"). Feeds are shared with the
// parent; Get by name ignores namespaces.
func (s *Store) Namespace(name string) *Store {
	if s.namespaced {
		name = s.name + ":" + name
	}
	return &Store{inner: s.inner, name: name, namespaced: true}
}

// Default opens the feed named after the store (Name).
func (s *Store) Default(ctx context.Context) (*Core, error) {
	return s.Get(ctx, GetOptions{Name: s.name})
}

// Close closes every handle opened through s; for the root store, every
// feed, and the store lock.
func (s *Store) Close() error {
	s.mu.Lock()
	var toClose []*hypercore.Feed
	for dk, e := range s.cores {
		if s.namespaced {
			n := e.by[s]
			if n == 0 {
				continue
			}
			delete(e.by, s)
			if e.refs -= n; e.refs > 0 {
				continue
			}
		}
		toClose = append(toClose, e.feed)
		delete(s.cores, dk)
	}
	if !s.namespaced {
		s.closed = true
	}
	closing := s.closeHooksLocked()
	s.mu.Unlock()
	var errs []error
	for _, f := range toClose {
		for _, fn := range closing {
			fn(f)
		}
		if err := f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if !s.namespaced && s.lock != nil {
		errs = append(errs, s.lock.Close())
		s.lock = nil
	}
	return errors.Join(errs...)
}

// Get opens the feed o chooses and returns a handle to it.
func (s *Store) Get(ctx context.Context, o GetOptions) (*Core, error) {
	k, err := chooseKeys(s.masterKey, o)
	if err != nil {
		return nil, fmt.Errorf("corestore %s: %w", s.dir, err)
	}
	c, err := s.open(k, o.Sparse)
	if err != nil {
		return nil, fmt.Errorf("corestore %s: feed %x: %w", s.dir, k.discoveryKey, err)
	}
	return c, nil
}

// open returns a handle to the feed of k, opening it if it is not open.
func (s *Store) open(k keys, sparse bool) (*Core, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	e, ok := s.cores[k.discoveryKey]
	if !ok {
		folder := filepath.Join(s.dir, Folder(k.discoveryKey))
		hadKey := false
		if st, err := os.Stat(filepath.Join(folder, "key")); err == nil && st.Size() >= 32 {
			hadKey = true
		}
		k, stored, err := resolveStored(s.masterKey, folder, k)
		if err != nil {
			return nil, err
		}
		if !stored {
			return nil, ErrNotFound
		}
		st := &coreStorage{Dir: storage.NewDir(folder), memSecret: k.name != nil || (k.secretKey == nil && !exists(filepath.Join(folder, "secret_key")))}
		feed, err := hypercore.OpenStorage(st, hypercore.Options{
			PublicKey:          k.publicKey,
			SecretKey:          k.secretKey,
			DontStoreSecretKey: k.name != nil,
			Sparse:             sparse,
			NoVerifyReads:      s.noVerify,
			Cache:              s.cache,
			Logger:             s.log,
		})
		if err != nil {
			return nil, err
		}
		e = &entry{feed: feed, by: map[*Store]int{}, name: k.name,
			restored: hadKey && feed.Writable() && feed.Length() == 0}
		s.cores[k.discoveryKey] = e
		for _, fn := range s.onFeed {
			fn(feed)
		}
	}
	e.refs++
	e.by[s]++
	return &Core{Feed: e.feed, store: s, dk: k.discoveryKey, restored: e.restored}, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// release drops one handle of dk opened through s, closing the feed with
// the last.
func (s *Store) release(dk [32]byte) error {
	s.mu.Lock()
	e, ok := s.cores[dk]
	if !ok {
		s.mu.Unlock()
		return nil // the store was closed under the handle
	}
	if e.by[s]--; e.by[s] <= 0 {
		delete(e.by, s)
	}
	e.refs--
	last := e.refs <= 0
	if last {
		delete(s.cores, dk)
	}
	closing := s.closeHooksLocked()
	s.mu.Unlock()
	if last {
		for _, fn := range closing {
			fn(e.feed)
		}
		return e.feed.Close()
	}
	return nil
}

// closeHooksLocked snapshots the OnFeedClose hooks, to call unlocked.
func (s *Store) closeHooksLocked() []func(*hypercore.Feed) {
	fns := make([]func(*hypercore.Feed), 0, len(s.onClose))
	for _, fn := range s.onClose {
		fns = append(fns, fn)
	}
	return fns
}

// OnFeedClose calls fn with every feed just before the store closes it (its
// last handle was released, or the store closed), so what OnFeed attached
// can be detached. fn runs without the store locked.
func (s *Store) OnFeedClose(fn func(*hypercore.Feed)) (cancel func()) {
	s.mu.Lock()
	id := s.nextFn
	s.nextFn++
	s.onClose[id] = fn
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.onClose, id)
		s.mu.Unlock()
	}
}

// Core is a handle to an open feed of a store. It is the feed (every
// hypercore.Feed method works on it) except that Close releases the handle;
// the feed closes when its last handle does.
type Core struct {
	*hypercore.Feed
	store    *Store
	dk       [32]byte
	once     sync.Once
	restored bool
}

// Restored reports whether the feed is writable and was opened empty from
// a folder that already held its key: keys restored into a new storage
// (hyperfs key import) without the blocks. Peers may hold a longer
// history of such a feed, signed with the same key; appending before
// learning its length from them would fork it.
func (c *Core) Restored() bool { return c.restored }

// Close releases the handle.
func (c *Core) Close() error {
	var err error
	c.once.Do(func() { err = c.store.release(c.dk) })
	return err
}

// OnFeed calls fn with every feed the store opens from now on (the hook
// replication uses to offer each feed on every connection). fn runs with
// the store locked and must not call back into it.
func (s *Store) OnFeed(fn func(*hypercore.Feed)) (cancel func()) {
	s.mu.Lock()
	id := s.nextFn
	s.nextFn++
	s.onFeed[id] = fn
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.onFeed, id)
		s.mu.Unlock()
	}
}

// List returns the feeds open through s (for the root store, every open
// feed), by hex discovery key.
func (s *Store) List() map[string]*hypercore.Feed {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*hypercore.Feed{}
	for dk, e := range s.cores {
		if !s.namespaced || e.by[s] > 0 {
			out[hex.EncodeToString(dk[:])] = e.feed
		}
	}
	return out
}

// LookupByDiscoveryKey returns a handle to the feed with discovery key dk,
// opening it passively (key read from its folder) if it is stored but not
// open; ok is false if the store does not have it. This is what the
// replication layer calls when a peer opens a channel for a feed: the
// caller closes the handle when the channel closes.
func (s *Store) LookupByDiscoveryKey(dk [32]byte) (c *Core, ok bool, err error) {
	c, err = s.Get(context.Background(), GetOptions{DiscoveryKey: dk[:], Sparse: true})
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return c, true, nil
}

// coreStorage is a feed folder. A named feed's secret key (and the absent
// secret key of a read-only feed) lives in memory only, so no secret_key
// file is written, as with derived-key-storage.
type coreStorage struct {
	*storage.Dir
	memSecret bool
	mem       *storage.Memory
}

func (c *coreStorage) Open(name string) (storage.File, error) {
	if name == "secret_key" && c.memSecret {
		if c.mem == nil {
			c.mem = storage.NewMemory()
		}
		return c.mem.Open(name)
	}
	return c.Dir.Open(name)
}

func (c *coreStorage) Exists(name string) (bool, error) {
	if name == "secret_key" && c.memSecret {
		return false, nil
	}
	return c.Dir.Exists(name)
}
