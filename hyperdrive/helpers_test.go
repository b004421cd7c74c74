package hyperdrive

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hypertrie"
)

// fixedMS is the clock of the reference vectors (vectors-gen.js FIXED_MS).
const fixedMS = 1600000000000

func fixedNow() time.Time { return time.UnixMilli(fixedMS) }

func seed(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// newStore opens a store in a temporary folder with master key 0x42…
func newStore(t testing.TB) *corestore.Store {
	t.Helper()
	s, err := corestore.Open(t.TempDir(), corestore.Options{MasterKey: seed(0x42)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newDrive opens the default drive of a fresh store, on the vectors' clock.
func newDrive(t testing.TB) *Drive {
	t.Helper()
	return openDrive(t, newStore(t), Options{Now: fixedNow})
}

func openDrive(t testing.TB, s *corestore.Store, opts Options) *Drive {
	t.Helper()
	d, err := Open(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless err wraps target and names path.
func wantErr(t testing.TB, err, target error, path string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
	if path != "" && !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Fatalf("error %q does not name %s", err, path)
	}
}

func hiddenOpt() hypertrie.Option { return hypertrie.Hidden() }

func openStoreAt(t testing.TB, dir string) *corestore.Store {
	t.Helper()
	s, err := corestore.Open(dir, corestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func flagsOpt(f uint64) hypertrie.Option { return hypertrie.WithFlags(f) }

func mountOpts(value []byte) hypertrie.MountOptions { return hypertrie.MountOptions{Value: value} }
