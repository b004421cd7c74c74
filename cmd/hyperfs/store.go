package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/hyperfs/hyperfs/cache"
	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// storeFlags are the flags of every command that opens drives.
type storeFlags struct {
	storage  string
	cacheMiB int64
}

func (sf *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sf.storage, "storage", defaultStorage(), "storage `folder` (a corestore, readable by the JS stack; or hyperdrive-daemon's ~/.hyperdrive)")
	fs.Int64Var(&sf.cacheMiB, "cache-size", 256, "`MiB` of memory for cached tree nodes and blocks")
}

// session is an open store and the cache under it.
type session struct {
	store  *corestore.Store
	cache  *cache.Cache
	daemon bool // the store is hyperdrive-daemon's (daemonstore.go)
}

// open opens the store at dir (sf.storage when dir is empty).
func (sf *storeFlags) open(dir string) (*session, error) {
	if dir == "" {
		dir = sf.storage
	}
	cores, daemon := daemonCores(dir)
	if daemon {
		dir = cores
	}
	c, err := cache.New(cache.Options{MaxBytes: sf.cacheMiB << 20})
	if err != nil {
		return nil, err
	}
	// The heap may use the cache budget plus working room.
	debug.SetMemoryLimit(sf.cacheMiB<<20 + 128<<20)
	st, err := corestore.Open(dir, corestore.Options{Cache: c})
	if err != nil {
		c.Close()
		if errors.Is(err, corestore.ErrLocked) {
			return nil, hintError{fmt.Sprintf("storage %s is in use by another hyperfs (a running mount?): stop it, or pass --storage", dir), err}
		}
		return nil, fmt.Errorf("opening storage %s: %w", dir, err)
	}
	return &session{store: st, cache: c, daemon: daemon}, nil
}

func (s *session) Close() error {
	err := s.store.Close()
	s.cache.Close()
	return err
}

// parseKey reads a drive key: 64 hex digits, optionally as a hyper:// or
// dat:// link.
func parseKey(s string) (ed25519.PublicKey, error) {
	for _, scheme := range []string{"hyper://", "dat://", "hd://"} {
		s = strings.TrimPrefix(s, scheme)
	}
	s = strings.TrimSuffix(s, "/")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, usageError{fmt.Sprintf("%q is not a drive key (64 hex digits, or hyper://<key>)", s)}
	}
	return b, nil
}

// isStorageDir reports whether path is a folder holding a drive's storage
// (or hyperdrive-daemon's storage).
func isStorageDir(path string) bool {
	st, err := os.Stat(filepath.Join(path, "master_key"))
	if err == nil && !st.IsDir() {
		return true
	}
	_, daemon := daemonCores(path)
	return daemon
}

// target is what a command's drive argument named.
type target struct {
	key ed25519.PublicKey // nil: the default drive of dir (or of --storage)
	dir string            // a storage folder named instead of a key
}

// parseTarget reads "<key|dir>"; "" is the default drive.
func parseTarget(arg string) (target, error) {
	if arg == "" {
		return target{}, nil
	}
	if isStorageDir(arg) {
		return target{dir: arg}, nil
	}
	k, err := parseKey(arg)
	if err != nil {
		if st, serr := os.Stat(arg); serr == nil && st.IsDir() {
			return target{}, usageError{fmt.Sprintf("%s holds no drive storage (no master_key); create one with hyperfs create %s", arg, arg)}
		}
		return target{}, err
	}
	return target{key: k}, nil
}

// openDrive opens the drive t names in s; with a network, feeds of someone
// else's drive are first brought up to date from peers.
func openDrive(ctx context.Context, s *session, t target, n *network) (*hyperdrive.Drive, error) {
	if t.key == nil && s.daemon {
		// hyperdrive-daemon's storage has no default drive: its root drive.
		k, err := daemonRootKey(s.store.Dir())
		if err != nil {
			return nil, err
		}
		t.key = k
	}
	opts := hyperdrive.Options{Key: t.key, Sparse: true}
	if n != nil {
		opts.Update = n.peers.Update
	}
	d, err := hyperdrive.Open(ctx, s.store, opts)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("no peer sent the drive in time (is anyone online with it? --peer host:port connects to one directly): %w", err)
		}
		return nil, fmt.Errorf("opening drive: %w", err)
	}
	return d, nil
}
