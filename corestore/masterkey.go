package corestore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// ErrMasterKey: the store's master key does not derive the named feeds the
// store holds.
var ErrMasterKey = errors.New("master key does not match this storage")

// maxNameChecks bounds how many feed folders checkMasterKey reads.
const maxNameChecks = 64

// checkMasterKey checks that key derives the named feeds kept in dir (each
// named feed's folder is its derived discovery key), so a replaced,
// truncated or missing master_key is refused instead of opening new, empty
// drives in place of the user's. A nil key stands for a key about to be
// generated: any named feed is then a conflict. It succeeds when a named
// feed derives from key or when the store holds none; feeds opened by
// public key need no master key. One name file that does not derive (a
// damaged name) is not enough to refuse: only when none does.
func checkMasterKey(dir string, key []byte) error {
	if key != nil {
		// The common case: the default feed is where the key says.
		k, err := namedKeys(key, []byte(DefaultName))
		if err != nil {
			return err
		}
		folder := filepath.Join(dir, Folder(k.discoveryKey))
		if name, _ := readName(filepath.Join(folder, "name")); string(name) == DefaultName {
			return nil
		}
		if pub, err := os.ReadFile(filepath.Join(folder, "key")); err == nil && bytes.Equal(pub, k.publicKey) {
			return nil // its name file is damaged; the feed repairs it
		}
	}
	var first error
	checked := 0
	for _, folder := range feedFolders(dir, maxNameChecks) {
		name, err := readName(filepath.Join(folder, "name"))
		if err != nil || name == nil {
			continue
		}
		checked++
		if key != nil {
			k, err := namedKeys(key, name)
			if err != nil {
				return err
			}
			if filepath.Base(folder) == fmt.Sprintf("%x", k.discoveryKey) {
				return nil
			}
		}
		if first == nil {
			first = fmt.Errorf("%w: the feed in %s is named %q, which this key does not derive (restore the master key the storage was made with, e.g. hyperfs key import)", ErrMasterKey, folder, name)
		}
	}
	return first
}

// feedFolders lists up to limit feed folders (<2 hex>/<2 hex>/<64 hex>) of
// the store in dir, in name order.
func feedFolders(dir string, limit int) []string {
	var out []string
	hex2 := func(p string) []string {
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil
		}
		var names []string
		for _, e := range ents {
			if e.IsDir() {
				names = append(names, e.Name())
			}
		}
		slices.Sort(names)
		return names
	}
	for _, a := range hex2(dir) {
		if len(a) != 2 {
			continue
		}
		for _, b := range hex2(filepath.Join(dir, a)) {
			if len(b) != 2 {
				continue
			}
			for _, c := range hex2(filepath.Join(dir, a, b)) {
				if len(c) == 64 && c[:2] == a && c[2:4] == b {
					out = append(out, filepath.Join(dir, a, b, c))
					if len(out) >= limit {
						return out
					}
				}
			}
		}
	}
	return out
}
