package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// storedCore is a feed folder of a corestore.
type storedCore struct {
	key  []byte
	name []byte // nil: not a named (derived) feed
}

// storedCores lists the feeds kept in the corestore folder dir.
func storedCores(dir string) ([]storedCore, error) {
	keys, err := filepath.Glob(filepath.Join(dir, "??", "??", "*", "key"))
	if err != nil {
		return nil, err
	}
	var out []storedCore
	for _, kf := range keys {
		k, err := os.ReadFile(kf)
		if err != nil || len(k) < 32 {
			continue
		}
		sc := storedCore{key: k[:32]}
		if b, err := os.ReadFile(filepath.Join(filepath.Dir(kf), "name")); err == nil && len(b) >= 2 {
			if n, m := binary.Uvarint(b); m > 0 && uint64(len(b)-m) == n {
				sc.name = b[m:]
			}
		}
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].key, out[j].key) < 0 })
	return out, nil
}

// DriveEntry is one drive of a storage, as hyperfs drives lists it.
type DriveEntry struct {
	Key      string `json:"key"`
	Name     string `json:"name,omitempty"` // the name its keys derive from, for your own drives
	Writable bool   `json:"writable"`
	Version  uint64 `json:"version"`
	Size     uint64 `json:"size"`  // bytes of content stored
	Files    uint64 `json:"files"` // content blocks stored
}

// Drives lists every drive kept in the storage: your own and those fetched
// by key. Feeds that are not a drive's metadata (content feeds, plain
// feeds) are left out.
func (s *Session) Drives(ctx context.Context) ([]DriveEntry, error) {
	cores, err := storedCores(s.Dir)
	if err != nil {
		return nil, err
	}
	content := map[string]bool{}
	var out []DriveEntry
	for _, sc := range cores {
		if bytes.HasSuffix(sc.name, []byte("-content")) {
			continue
		}
		d, err := hyperdrive.Open(ctx, s.Store, hyperdrive.Options{Key: ed25519.PublicKey(sc.key), Sparse: true})
		if err != nil {
			slog.Debug("not a drive", "feed", hex.EncodeToString(sc.key), "err", err)
			continue
		}
		e := DriveEntry{Key: hex.EncodeToString(sc.key), Name: string(sc.name), Writable: d.Writable(), Version: d.Version()}
		if c, err := d.Content(ctx); err == nil {
			content[hex.EncodeToString(c.Key())] = true
			e.Size = c.ByteLength()
			if e.Size > 0 {
				// ByteLength counts what the feed holds; report what is stored.
				e.Files = c.Downloaded(0, c.Length())
			}
		}
		d.Close()
		out = append(out, e)
	}
	kept := out[:0]
	for _, e := range out {
		if !content[e.Key] {
			kept = append(kept, e)
		}
	}
	return kept, nil
}

// keyFile is the format of hyperfs key export: the master key and the
// names of every feed the storage derives from it, so that key import
// makes all of them writable again (not only the default drive).
type keyFile struct {
	Format    string        `json:"format"` // "hyperfs-keys-1"
	MasterKey string        `json:"masterKey"`
	Cores     []keyFileCore `json:"cores"`
}

type keyFileCore struct {
	Key  string `json:"key"`
	Name string `json:"name"` // hex of the name bytes
}

const keyFileFormat = "hyperfs-keys-1"

// ExportKeys returns the key file of the storage folder dir (not open):
// its master key and the name of every writable feed.
func ExportKeys(dir string) ([]byte, int, error) {
	if cores, daemon := daemonStorage(dir); daemon {
		dir = cores
	}
	mk, err := os.ReadFile(filepath.Join(dir, corestore.MasterKeyFile))
	if err != nil {
		return nil, 0, fmt.Errorf("no master key in %s: create a drive first: %w", dir, err)
	}
	cores, err := storedCores(dir)
	if err != nil {
		return nil, 0, err
	}
	kf := keyFile{Format: keyFileFormat, MasterKey: hex.EncodeToString(mk), Cores: []keyFileCore{}}
	drives := 0
	for _, sc := range cores {
		if sc.name == nil {
			continue
		}
		kf.Cores = append(kf.Cores, keyFileCore{hex.EncodeToString(sc.key), hex.EncodeToString(sc.name)})
		if !bytes.HasSuffix(sc.name, []byte("-content")) {
			drives++
		}
	}
	b, err := json.MarshalIndent(kf, "", "  ")
	return append(b, '\n'), drives, err
}

// ImportKeys starts the storage folder dir (which must have no master key
// yet) from a key file: ExportKeys' format, or a bare 32-byte master key.
// Every named feed is recorded again, so each drive is writable here. It
// returns the number of feeds recorded.
func ImportKeys(dir string, b []byte, source string) (int, error) {
	var kf keyFile
	var mk []byte
	switch {
	case len(b) == 32:
		mk = b
	case json.Unmarshal(b, &kf) == nil && kf.Format == keyFileFormat:
		var err error
		if mk, err = hex.DecodeString(kf.MasterKey); err != nil || len(mk) != 32 {
			return 0, fmt.Errorf("%s: the master key is not 32 bytes of hex", source)
		}
	default:
		return 0, fmt.Errorf("%s is neither a hyperfs key file nor a 32-byte master key (%d bytes)", source, len(b))
	}
	type rec struct {
		folder string
		key    []byte
		name   []byte
	}
	var recs []rec
	for _, c := range kf.Cores {
		key, err1 := hex.DecodeString(c.Key)
		name, err2 := hex.DecodeString(c.Name)
		if err1 != nil || err2 != nil || len(key) != 32 || len(name) == 0 {
			return 0, fmt.Errorf("%s: a damaged entry (key %q)", source, c.Key)
		}
		kp, err := corestore.DeriveKeyPair(mk, name)
		if err != nil {
			return 0, err
		}
		if !bytes.Equal(kp.PublicKey, key) {
			return 0, fmt.Errorf("%s: the name of feed %s does not derive its key from this master key (a damaged or mixed-up key file)", source, c.Key)
		}
		recs = append(recs, rec{filepath.Join(dir, corestore.Folder(hcrypto.DiscoveryKey(key))), key, name})
	}
	dst := filepath.Join(dir, corestore.MasterKeyFile)
	if _, err := os.Stat(dst); err == nil {
		return 0, fmt.Errorf("%s already has a master key: import into a new folder (--storage)", dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	for _, r := range recs {
		if err := os.MkdirAll(r.folder, 0o755); err != nil {
			return 0, err
		}
		// As corestore does for a new named feed: the key, then the name.
		if err := os.WriteFile(filepath.Join(r.folder, "key"), r.key, 0o644); err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(r.folder, "name"), corestore.EncodeName(r.name), 0o644); err != nil {
			return 0, err
		}
	}
	// The master key last: a storage without one is not yet a storage.
	if err := os.WriteFile(dst, mk, 0o600); err != nil {
		return 0, err
	}
	return len(recs), nil
}
