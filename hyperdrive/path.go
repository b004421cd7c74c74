package hyperdrive

import (
	"path"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Paths: callers pass slash-separated paths, absolute or not. They are
// turned into hyperdrive's form as its fixName does (unixify: runs of "/"
// or "\" become one "/", a leading "X:" or "./" goes, a leading "/" is
// added), then cleaned, so "." and ".." components are resolved against the
// drive's root and can never name anything outside it. The trie key is the
// clean path without its leading "/" (mountable-hypertrie's normalize).

var (
	separators = regexp.MustCompile(`[\\/]+`)
	drivePart  = regexp.MustCompile(`^([a-zA-Z]+:|\./)`)
)

// unixify is the unixify package: separators normalized, a trailing one
// dropped (only from strings of 3 or more characters, as
// remove-trailing-separator does), a leading drive letter or "./" removed.
func unixify(p string) string {
	p = separators.ReplaceAllString(p, "/")
	if len(p) >= 3 {
		p = strings.TrimRight(p, "/")
		if p == "" {
			p = "/"
		}
	}
	return drivePart.ReplaceAllString(p, "")
}

// cleanPath returns the drive path "/a/b" for p.
func cleanPath(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 || !utf8.ValidString(p) {
		return "", ErrInvalidPath
	}
	if len(p) > 0 && p[0] == '/' && strings.IndexByte(p, '\\') < 0 {
		// The common case (the mount passes absolute paths): unixify
		// would only merge runs of "/" and drop a trailing one, which
		// Clean does as well, without the regular expressions' cost (a
		// tenth of an untar's CPU).
		return path.Clean(p), nil
	}
	return path.Clean("/" + unixify(p)), nil
}

// trieKey is the key of a clean path: no leading "/", "" for the root.
func trieKey(p string) string { return p[1:] }

// fromKey is the clean path of a trie key.
func fromKey(k string) string { return path.Clean("/" + k) }

// resolveLink returns the path a symlink at linkPath with target points
// to: an absolute target from the drive's root, a relative one from the
// link's directory (hyperdrive's stat). Cleaning keeps it inside the drive.
func resolveLink(linkPath, target string) string {
	if strings.HasPrefix(target, "/") {
		return path.Clean(target)
	}
	return path.Join(path.Dir(linkPath), target)
}
