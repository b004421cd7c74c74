// Package app is hyperfs the application, under its commands: it opens a
// storage folder, opens drives in it (your own, someone else's by key, a
// version of one), runs the network that replicates them, and mounts them
// as folders. cmd/hyperfs is a thin layer of commands over it; the
// benchmarks and integration tests use it too.
package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/hyperfs/hyperfs/cache"
	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/daemonstore"
	"golang.org/x/sys/unix"
)

// Storage is an open storage folder (a corestore) and the cache under it.
type Storage struct {
	Dir   string // the corestore folder
	Store *corestore.Store
	Cache *cache.Cache
	// Daemon marks hyperdrive-daemon's storage (package daemonstore),
	// whose default drive is its root drive.
	Daemon bool
}

// DefaultCacheMiB is the default cache budget.
const DefaultCacheMiB = 256

// CheckCacheMiB validates a cache budget in MiB: at least 1, and less than
// the machine's memory.
func CheckCacheMiB(mib int64) error {
	if mib < 1 {
		return fmt.Errorf("--cache-size %d: must be at least 1 (MiB)", mib)
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		total := int64(si.Totalram) * int64(si.Unit) >> 20
		if total > 0 && mib >= total {
			return fmt.Errorf("--cache-size %d: this machine has %d MiB of memory; choose less", mib, total)
		}
	}
	return nil
}

// OpenStorage opens the storage folder dir with a cache of cacheMiB MiB.
// A hyperdrive-daemon folder (~/.hyperdrive) opens its corestore. Another
// process holding the folder is ErrInUse, with a message saying what to do.
func OpenStorage(dir string, cacheMiB int64, noVerifyReads bool) (*Storage, error) {
	if dir == "" {
		return nil, errors.New("no storage folder given")
	}
	if err := CheckCacheMiB(cacheMiB); err != nil {
		return nil, err
	}
	cores, daemon := daemonstore.Cores(dir)
	if daemon {
		dir = cores
	}
	c, err := cache.New(cache.Options{MaxBytes: cacheMiB << 20})
	if err != nil {
		return nil, err
	}
	// The heap may use the cache budget plus working room; the cache
	// holds what is worth keeping, so the rest is collected rather than
	// left to grow the process by the heap's size again.
	debug.SetMemoryLimit(cacheMiB<<20 + 48<<20)
	st, err := corestore.Open(dir, corestore.Options{Cache: c, NoVerifyReads: noVerifyReads})
	if err != nil {
		c.Close()
		if errors.Is(err, corestore.ErrLocked) {
			return nil, &HintError{fmt.Sprintf("storage %s is in use by another hyperfs that is not answering on its control socket: stop it, or pass --storage", dir), err}
		}
		return nil, fmt.Errorf("opening storage %s: %w", dir, err)
	}
	return &Storage{Dir: dir, Store: st, Cache: c, Daemon: daemon}, nil
}

// Close closes the store and its cache.
func (s *Storage) Close() error {
	err := s.Store.Close()
	s.Cache.Close()
	return err
}

// IsStorageDir reports whether path is a folder holding drive storage (or
// hyperdrive-daemon's storage).
func IsStorageDir(path string) bool {
	st, err := os.Stat(filepath.Join(path, "master_key"))
	if err == nil && !st.IsDir() {
		return true
	}
	_, daemon := daemonstore.Cores(path)
	return daemon
}

// HintError replaces an error's message with one that says what to do,
// keeping the error for errors.Is (and exit codes).
type HintError struct {
	Msg string
	Err error
}

func (e *HintError) Error() string { return e.Msg }
func (e *HintError) Unwrap() error { return e.Err }

// UsageError marks an error in how a command was called.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error { return &UsageError{fmt.Sprintf(format, args...)} }

// DefaultStorage is $XDG_DATA_HOME/hyperfs (~/.local/share/hyperfs).
func DefaultStorage() string { return xdg("XDG_DATA_HOME", ".local/share", "hyperfs") }

// StateDir is $XDG_STATE_HOME/hyperfs (~/.local/state/hyperfs): logs,
// staging, stats.
func StateDir() string { return xdg("XDG_STATE_HOME", ".local/state", "hyperfs-state") }

// ConfigDir is $XDG_CONFIG_HOME/hyperfs (~/.config/hyperfs).
func ConfigDir() string { return xdg("XDG_CONFIG_HOME", ".config", "hyperfs-config") }

func xdg(env, home, tmpName string) string {
	if d := os.Getenv(env); d != "" {
		return filepath.Join(d, "hyperfs")
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), tmpName)
	}
	return filepath.Join(h, filepath.FromSlash(home), "hyperfs")
}

func daemonStorage(dir string) (string, bool) { return daemonstore.Cores(dir) }
