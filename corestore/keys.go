package corestore

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/blake2b"

	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
)

// deriveNamespace is the derive-key namespace corestore 5 uses; the
// message hashed is ASCII(len(ns)) ‖ "\n" ‖ ns ‖ name (trap 14).
const deriveNamespace = "corestore"

// DeriveSeed returns the Ed25519 seed corestore 5 derives for name:
// BLAKE2b-256 keyed with the master key over "9\ncorestore" ‖ name.
func DeriveSeed(masterKey, name []byte) ([]byte, error) {
	h, err := blake2b.New256(masterKey)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	fmt.Fprintf(h, "%d\n%s", len(deriveNamespace), deriveNamespace)
	h.Write(name)
	return h.Sum(nil), nil
}

// DeriveKeyPair returns the key pair of the core named name.
func DeriveKeyPair(masterKey, name []byte) (hcrypto.KeyPair, error) {
	seed, err := DeriveSeed(masterKey, name)
	if err != nil {
		return hcrypto.KeyPair{}, err
	}
	return hcrypto.KeyPairFromSeed(seed)
}

// keys says which core a Get means (corestore's _generateKeys).
type keys struct {
	publicKey    ed25519.PublicKey
	secretKey    ed25519.PrivateKey
	discoveryKey [32]byte
	name         []byte // non-nil for named cores
}

// chooseKeys applies corestore's order: a key pair, then a public key,
// then a name, then a discovery key alone (passive), else a random name.
func chooseKeys(masterKey []byte, o GetOptions) (keys, error) {
	switch {
	case o.KeyPair != nil:
		if len(o.KeyPair.SecretKey) != ed25519.PrivateKeySize {
			return keys{}, fmt.Errorf("key pair: secret key has %d bytes", len(o.KeyPair.SecretKey))
		}
		pub := o.KeyPair.SecretKey.Public().(ed25519.PublicKey)
		return keys{publicKey: pub, secretKey: o.KeyPair.SecretKey, discoveryKey: hcrypto.DiscoveryKey(pub)}, nil
	case o.Key != nil:
		if len(o.Key) != ed25519.PublicKeySize {
			return keys{}, fmt.Errorf("key %x: %d bytes, want 32", []byte(o.Key), len(o.Key))
		}
		return keys{publicKey: o.Key, discoveryKey: hcrypto.DiscoveryKey(o.Key)}, nil
	case o.Name != "":
		return namedKeys(masterKey, []byte(o.Name))
	case o.DiscoveryKey != nil:
		if len(o.DiscoveryKey) != 32 {
			return keys{}, fmt.Errorf("discovery key %x: %d bytes, want 32", o.DiscoveryKey, len(o.DiscoveryKey))
		}
		var k keys
		copy(k.discoveryKey[:], o.DiscoveryKey)
		return k, nil
	}
	name := make([]byte, 32)
	if _, err := rand.Read(name); err != nil {
		return keys{}, err
	}
	return namedKeys(masterKey, name)
}

func namedKeys(masterKey, name []byte) (keys, error) {
	kp, err := DeriveKeyPair(masterKey, name)
	if err != nil {
		return keys{}, err
	}
	return keys{publicKey: kp.PublicKey, secretKey: kp.SecretKey, discoveryKey: hcrypto.DiscoveryKey(kp.PublicKey), name: name}, nil
}

// Folder returns where a core is kept below the store root:
// <dk[0:2]>/<dk[2:4]>/<dk> with dk the lowercase hex discovery key.
func Folder(discoveryKey [32]byte) string {
	dk := hex.EncodeToString(discoveryKey[:])
	return filepath.Join(dk[0:2], dk[2:4], dk)
}

// EncodeName is the content of a named core's "name" file:
// varint(len(name)) ‖ name (derived-key-storage writeName).
func EncodeName(name []byte) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(name))), name...)
}

// readName reads a core's name file as derived-key-storage does: a file
// under 2 bytes, or whose varint does not match its length, names nothing.
func readName(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b) < 2 {
		return nil, nil
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) != n {
		return nil, nil
	}
	return b[k:], nil
}

// resolveStored settles the keys of a core folder as derived-key-storage
// does on load: a stored name wins (and re-derives the secret key, which is
// never written), else a stored secret key, else the public key alone.
// A folder without a key file is created for k, or, for a passive open by
// discovery key, is not there: ok is false.
func resolveStored(masterKey []byte, folder string, k keys) (_ keys, ok bool, err error) {
	storedKey, err := os.ReadFile(filepath.Join(folder, "key"))
	if errors.Is(err, os.ErrNotExist) && k.publicKey != nil && exists(filepath.Join(folder, "bitfield")) {
		err = nil // a feed whose key file is gone: written again below
	}
	if err == nil && k.publicKey != nil && (len(storedKey) < 32 || hcrypto.DiscoveryKey(storedKey[:32]) != k.discoveryKey) {
		// The folder is named after the discovery key of the key asked
		// for, so a key file that does not hash to it is damaged (a
		// replaced key is caught by the feed's signatures): write it again.
		if err := os.WriteFile(filepath.Join(folder, "key"), k.publicKey, 0o644); err != nil {
			return k, false, err
		}
		storedKey = append([]byte(nil), k.publicKey...)
	}
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(storedKey) < 32) {
		if k.publicKey == nil {
			return k, false, nil
		}
		if k.name != nil {
			if err := os.MkdirAll(folder, 0o755); err != nil {
				return k, false, err
			}
			// The key is written before the name, as the reference does.
			if err := os.WriteFile(filepath.Join(folder, "key"), k.publicKey, 0o644); err != nil {
				return k, false, err
			}
			if err := os.WriteFile(filepath.Join(folder, "name"), EncodeName(k.name), 0o644); err != nil {
				return k, false, err
			}
		}
		return k, true, nil
	}
	if err != nil {
		return k, false, err
	}
	storedKey = storedKey[:32]
	name, err := readName(filepath.Join(folder, "name"))
	if err != nil {
		return k, false, err
	}
	if k.name != nil && bytes.Equal(storedKey, k.publicKey) && !bytes.Equal(name, k.name) {
		// Asked for by its name, and the key file agrees: the name file is
		// missing or damaged. Write it again.
		if err := os.WriteFile(filepath.Join(folder, "name"), EncodeName(k.name), 0o644); err != nil {
			return k, false, err
		}
		return k, true, nil
	}
	if name != nil {
		d, err := namedKeys(masterKey, name)
		if err != nil {
			return k, false, err
		}
		if d.discoveryKey != k.discoveryKey {
			return k, false, fmt.Errorf("%s: %w (name %q derives discovery key %x)", folder, ErrWrongName, name, d.discoveryKey)
		}
		return d, true, nil
	}
	if k.publicKey != nil && !bytes.Equal(k.publicKey, storedKey) {
		return k, false, fmt.Errorf("%s: stores key %x, not %x", folder, storedKey, []byte(k.publicKey))
	}
	// A stored secret_key, if any, is read by the feed itself.
	out := keys{publicKey: storedKey, discoveryKey: hcrypto.DiscoveryKey(storedKey), secretKey: k.secretKey}
	if out.discoveryKey != k.discoveryKey {
		return k, false, fmt.Errorf("%s: stored key %x has discovery key %x", folder, storedKey, out.discoveryKey)
	}
	return out, true, nil
}
