package hypertrie

import "errors"

// Errors callers branch on.
var (
	// ErrNotFound: no node with that key.
	ErrNotFound = errors.New("key not found")
	// ErrUnsupportedHeader: block 0 is not a hypertrie header.
	ErrUnsupportedHeader = errors.New("unsupported header type")
	// ErrCorrupt: a block does not decode as a node or header.
	ErrCorrupt = errors.New("malformed hypertrie block")
	// ErrReadOnly: a write on a checkout or a feed without a secret key.
	ErrReadOnly = errors.New("hypertrie is read-only")
	// ErrInMount: a write under a mountpoint of this trie, which has to go
	// to the mounted trie instead (returned with StopAtMounts).
	ErrInMount = errors.New("path is inside a mount")
)
