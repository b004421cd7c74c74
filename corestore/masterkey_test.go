package corestore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
)

// storeWithDrive makes a store with a default feed and a content-like named
// feed holding one block, and returns the default feed's key.
func storeWithDrive(t *testing.T) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	def, err := s.Default(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := def.Append([]byte("mine")); err != nil {
		t.Fatal(err)
	}
	content, err := s.Get(context.Background(), GetOptions{Name: "x-content"})
	if err != nil {
		t.Fatal(err)
	}
	content.Append([]byte("bytes"))
	key := append([]byte(nil), def.Key()...)
	s.Close()
	return dir, key
}

// A master_key that does not derive the feeds already stored must be
// refused, never replaced by a new key that opens new, empty drives.
func TestMasterKeyDamageIsRefused(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(p string)
	}{
		{"replaced", func(p string) { os.WriteFile(p, bytes.Repeat([]byte{7}, 32), 0o600) }},
		{"flipped", func(p string) {
			b, _ := os.ReadFile(p)
			b[5] ^= 1
			os.WriteFile(p, b, 0o600)
		}},
		{"truncated", func(p string) { os.Truncate(p, 16) }},
		{"emptied", func(p string) { os.Truncate(p, 0) }},
		{"deleted", func(p string) { os.Remove(p) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, _ := storeWithDrive(t)
			p := filepath.Join(dir, MasterKeyFile)
			c.damage(p)
			before, _ := os.ReadFile(p)
			_, err := Open(dir, Options{})
			if !errors.Is(err, ErrMasterKey) || !strings.Contains(err.Error(), p) {
				t.Fatalf("open: %v, want ErrMasterKey naming %s", err, p)
			}
			if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
				t.Fatal("the refused master key file was rewritten")
			}
			if _, err := Open(dir, Options{MasterKey: bytes.Repeat([]byte{9}, 32)}); !errors.Is(err, ErrMasterKey) {
				t.Fatalf("open with another key: %v", err)
			}
		})
	}
}

func TestMasterKeyOfFreshStore(t *testing.T) {
	dir := t.TempDir()
	// A store holding only feeds opened by public key needs no check.
	os.WriteFile(filepath.Join(dir, MasterKeyFile), []byte("short"), 0o600)
	s := openStore(t, dir, Options{})
	if len(s.MasterKey()) != 32 {
		t.Fatal("no key generated")
	}
}

// A damaged name file of a feed asked for by name is written again.
func TestDamagedNameIsRepaired(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(p string)
	}{
		{"flipped", func(p string) {
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 1
			os.WriteFile(p, b, 0o644)
		}},
		{"truncated", func(p string) { os.Truncate(p, 3) }},
		{"emptied", func(p string) { os.Truncate(p, 0) }},
		{"deleted", func(p string) { os.Remove(p) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, key := storeWithDrive(t)
			s := openStore(t, dir, Options{})
			kp, _ := DeriveKeyPair(s.MasterKey(), []byte(DefaultName))
			s.Close()
			folder := filepath.Join(dir, Folder(hcrypto.DiscoveryKey(kp.PublicKey)))
			c.damage(filepath.Join(folder, "name"))
			s = openStore(t, dir, Options{})
			def, err := s.Default(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(def.Key(), key) || def.Length() != 1 || !def.Writable() {
				t.Fatalf("default feed after name damage: length %d writable %v", def.Length(), def.Writable())
			}
			if name, _ := readName(filepath.Join(folder, "name")); string(name) != DefaultName {
				t.Fatalf("name file holds %q", name)
			}
		})
	}
}
