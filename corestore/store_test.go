package corestore

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/internal/vectors"
)

func openStore(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDeriveSeedVector(t *testing.T) {
	var v struct{ MasterKey, Name, MessagePrefixHex, Seed, PublicKey string }
	vectors.Load(t, "crypto.corestoreDeriveSeed", &v)
	seed, err := DeriveSeed(vectors.Hex(t, v.MasterKey), []byte(v.Name))
	if err != nil || hex.EncodeToString(seed) != v.Seed {
		t.Errorf("seed %x, %v; want %s", seed, err, v.Seed)
	}
	kp, _ := DeriveKeyPair(vectors.Hex(t, v.MasterKey), []byte(v.Name))
	if hex.EncodeToString(kp.PublicKey) != v.PublicKey {
		t.Errorf("public key %x, want %s", kp.PublicKey, v.PublicKey)
	}
}

func TestNamedKeysVector(t *testing.T) {
	var v struct {
		MasterKey string
		Rows      []struct{ Name, Seed, PublicKey, DiscoveryKey, Folder string }
	}
	vectors.Load(t, "corestore.namedKeys", &v)
	mk := vectors.Hex(t, v.MasterKey)
	s := openStore(t, t.TempDir(), Options{MasterKey: mk})
	ns := s.Namespace("one")
	ctx := context.Background()
	for _, r := range v.Rows {
		c, err := s.Get(ctx, GetOptions{Name: r.Name})
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(c.Key()) != r.PublicKey {
			t.Errorf("%q: key %x, want %s", r.Name, c.Key(), r.PublicKey)
		}
		dk := c.DiscoveryKey()
		if hex.EncodeToString(dk[:]) != r.DiscoveryKey || Folder(dk) != filepath.FromSlash(r.Folder) {
			t.Errorf("%q: discovery key %x folder %s, want %s %s", r.Name, dk, Folder(dk), r.DiscoveryKey, r.Folder)
		}
		if _, err := os.Stat(filepath.Join(s.Dir(), r.Folder, "key")); err != nil {
			t.Errorf("%q: %v", r.Name, err)
		}
		c.Close()
	}
	// Namespaces only change what Default derives: "one", then "one:two".
	for _, c := range []struct {
		st   *Store
		want string
	}{{s, v.Rows[0].PublicKey}, {ns, v.Rows[1].PublicKey}, {ns.Namespace("two"), v.Rows[2].PublicKey}} {
		d, err := c.st.Default(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(d.Key()) != c.want {
			t.Errorf("default of %q: %x, want %s", c.st.Name(), d.Key(), c.want)
		}
		d.Close()
	}
}

// TestDriveLayout opens the two feeds hyperdrive 10 opens for a new drive
// and checks keys, files and name-file bytes against the reference.
func TestDriveLayout(t *testing.T) {
	var keys struct{ MasterKey, MetadataKey, ContentName, ContentKey, ContentDiscoveryKey string }
	vectors.Load(t, "hyperdrive.driveKeys", &keys)
	var layout struct {
		Files     []string
		NameFiles map[string]string
	}
	vectors.Load(t, "hyperdrive.diskLayout", &layout)
	dir := t.TempDir()
	s := openStore(t, dir, Options{MasterKey: vectors.Hex(t, keys.MasterKey)})
	ctx := context.Background()
	meta, err := s.Default(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(meta.Key()) != keys.MetadataKey {
		t.Fatalf("metadata key %x, want %s", meta.Key(), keys.MetadataKey)
	}
	content, err := s.Get(ctx, GetOptions{Name: hex.EncodeToString(meta.Key()) + "-content"})
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(content.Key()) != keys.ContentKey || !content.Writable() {
		t.Fatalf("content key %x (writable %v), want %s", content.Key(), content.Writable(), keys.ContentKey)
	}
	if _, err := meta.Append([]byte("header")); err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	slices.Sort(files)
	if !slices.Equal(files, layout.Files) {
		t.Errorf("files\n %q\nwant\n %q", files, layout.Files)
	}
	for f, want := range layout.NameFiles {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || hex.EncodeToString(b) != want {
			t.Errorf("%s = %x, %v; want %s", f, b, err, want)
		}
	}
}

func TestReopenRederivesSecretKey(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Get(ctx, GetOptions{Name: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	key := c.Key()
	if _, err := c.Append([]byte("a"), []byte("b")); err != nil {
		t.Fatal(err)
	}
	kp, _ := hcrypto.NewKeyPair()
	other, err := s.Get(ctx, GetOptions{KeyPair: &kp})
	if err != nil {
		t.Fatal(err)
	}
	other.Append([]byte("x"))
	otherDK := other.DiscoveryKey()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, Folder(c.DiscoveryKey()), "secret_key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("named feed has a secret_key file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, Folder(otherDK), "secret_key")); err != nil {
		t.Errorf("key pair feed has no secret_key file: %v", err)
	}

	s2 := openStore(t, dir, Options{})
	// By public key only: the name file gives the secret key back.
	c2, err := s2.Get(ctx, GetOptions{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if !c2.Writable() || c2.Length() != 2 {
		t.Errorf("reopened named feed: writable %v length %d", c2.Writable(), c2.Length())
	}
	if _, err := c2.Append([]byte("c")); err != nil {
		t.Fatal(err)
	}
	// Passively, by discovery key.
	p, ok, err := s2.LookupByDiscoveryKey(otherDK)
	if err != nil || !ok || !p.Writable() || p.Length() != 1 {
		t.Fatalf("lookup: %v %v %v", p, ok, err)
	}
	if _, ok, err := s2.LookupByDiscoveryKey([32]byte{1}); ok || err != nil {
		t.Errorf("lookup of an unknown feed: %v %v", ok, err)
	}
}

func TestWrongName(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	c, err := s.Get(context.Background(), GetOptions{Name: "right"})
	if err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, Folder(c.DiscoveryKey()))
	c.Close()
	os.WriteFile(filepath.Join(folder, "name"), EncodeName([]byte("wrong")), 0o644)
	if _, err := s.Get(context.Background(), GetOptions{Key: c.Key()}); !errors.Is(err, ErrWrongName) {
		t.Errorf("get with a wrong name file: %v", err)
	}
}

func TestRefCounting(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	ctx := context.Background()
	a, _ := s.Get(ctx, GetOptions{Name: "x"})
	b, _ := s.Get(ctx, GetOptions{Name: "x"})
	if a.Feed != b.Feed {
		t.Fatal("two handles to one name hold different feeds")
	}
	var opened, closing int
	cancel := s.OnFeed(func(f *hypercore.Feed) { opened++ })
	defer cancel()
	cancelClose := s.OnFeedClose(func(f *hypercore.Feed) {
		if f == b.Feed && f.Length() == 1 { // still open when the hook runs
			closing++
		}
	})
	a.Close()
	a.Close() // twice is harmless
	if closing != 0 {
		t.Error("OnFeedClose called with a handle left")
	}
	if _, err := b.Append([]byte("still open")); err != nil {
		t.Fatalf("feed closed with a handle left: %v", err)
	}
	if len(s.List()) != 1 {
		t.Errorf("list = %v", s.List())
	}
	b.Close()
	if _, err := b.Append([]byte("closed")); err == nil {
		t.Error("feed still open after its last handle closed")
	}
	if len(s.List()) != 0 {
		t.Errorf("list after closing = %v", s.List())
	}
	if closing != 1 {
		t.Errorf("OnFeedClose called %d times for one close", closing)
	}
	cancelClose()
	c, _ := s.Get(ctx, GetOptions{Name: "x"})
	defer c.Close()
	if opened != 1 || c.Length() != 1 {
		t.Errorf("reopen: %d OnFeed calls, length %d", opened, c.Length())
	}
	// A namespace's Close releases only its handles.
	ns := s.Namespace("n")
	d, _ := ns.Get(ctx, GetOptions{Name: "x"})
	_ = d
	ns.Close()
	if _, err := c.Append([]byte("ok")); err != nil {
		t.Errorf("namespace close closed a feed held by the root: %v", err)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	openStore(t, dir, Options{})
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Errorf("second open: %v", err)
	}
}

func TestMasterKeyFile(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mk := bytes.Clone(s.MasterKey())
	s.Close()
	b, err := os.ReadFile(filepath.Join(dir, MasterKeyFile))
	if err != nil || !bytes.Equal(b, mk) || len(b) != 32 {
		t.Fatalf("master_key %x, %v", b, err)
	}
	s2 := openStore(t, dir, Options{})
	if !bytes.Equal(s2.MasterKey(), mk) {
		t.Error("master key changed on reopen")
	}
}

// TestLockedAcrossProcesses opens the store in a child process (this test
// binary, re-run) while the parent holds it.
func TestLockedAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("CORESTORE_LOCK_CHILD"); dir != "" {
		_, err := Open(dir, Options{})
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("child open: %v", err)
		}
		t.Log(err)
		return
	}
	dir := t.TempDir()
	openStore(t, dir, Options{})
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockedAcrossProcesses$", "-test.v")
	cmd.Env = append(os.Environ(), "CORESTORE_LOCK_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("locked")) {
		t.Errorf("child: %v\n%s", err, out)
	}
}
