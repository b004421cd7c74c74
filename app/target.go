package app

import (
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path"
	"strconv"
	"strings"
)

// Target is what a command's drive argument names.
type Target struct {
	Key ed25519.PublicKey // nil: the default drive of Dir (or of the storage)
	Dir string            // a storage folder named instead of a key
	// Version is a version to check out read-only; 0 is the latest.
	Version uint64
	// Path is a path inside the drive given with the link
	// (hyper://KEY/path), "" if none.
	Path string
	// Browse asks for a browse folder (Session.MountBrowse) rather than a
	// drive.
	Browse bool
}

// ParseKey reads a drive key: 64 hex digits, optionally as a hyper:// or
// dat:// link (a version or path in the link is an error here).
func ParseKey(s string) (ed25519.PublicKey, error) {
	t, err := parseLink(s)
	if err != nil {
		return nil, err
	}
	if t.Version != 0 || (t.Path != "" && t.Path != "/") {
		return nil, Usagef("%q: give the drive key alone here, without a version or path", s)
	}
	return t.Key, nil
}

// parseLink reads KEY, KEY+VERSION and hyper://KEY[+VERSION][/path] (or
// dat://, hd://), as the JS tools' parse-dat-url does.
func parseLink(s string) (Target, error) {
	var t Target
	rest := s
	scheme := false
	for _, p := range []string{"hyper://", "dat://", "hd://"} {
		if len(rest) >= len(p) && strings.EqualFold(rest[:len(p)], p) {
			rest, scheme = rest[len(p):], true
			break
		}
	}
	host := rest
	if scheme {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			host, t.Path = rest[:i], path.Clean(rest[i:])
		}
	} else {
		host = strings.TrimSuffix(host, "/")
	}
	if k, v, ok := strings.Cut(host, "+"); ok {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return t, Usagef("%q: the version after + must be a number of 1 or more", s)
		}
		host, t.Version = k, n
	}
	b, err := hex.DecodeString(host)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return t, Usagef("%q is not a drive key (64 hex digits, KEY+VERSION, or hyper://KEY[+VERSION]/path)", s)
	}
	t.Key = b
	return t, nil
}

// ParseTarget reads "<key|link|storage-dir>"; "" is the default drive.
func ParseTarget(arg string) (Target, error) {
	if arg == "" {
		return Target{}, nil
	}
	if IsStorageDir(arg) {
		return Target{Dir: arg}, nil
	}
	t, err := parseLink(arg)
	if err != nil {
		if st, serr := os.Stat(arg); serr == nil && st.IsDir() {
			return Target{}, Usagef("%s holds no drive storage (no master_key); create one with hyperfs create %s", arg, arg)
		}
		return Target{}, err
	}
	return t, nil
}

// LooksLikeDrive reports whether arg can only be a drive argument (a key,
// a link or a storage folder) rather than a path inside a drive.
func LooksLikeDrive(arg string) bool {
	if IsStorageDir(arg) {
		return true
	}
	_, err := parseLink(arg)
	return err == nil
}
