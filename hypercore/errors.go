package hypercore

import "errors"

// Errors callers branch on.
var (
	// ErrNotAvailable: the block (or the tree nodes needed to find it) is not
	// stored locally and no peer is asked for it.
	ErrNotAvailable = errors.New("block not available locally")
	// ErrNotWritable: the feed has no secret key.
	ErrNotWritable = errors.New("feed is not writable (no secret key)")
	// ErrBlockTooLarge: a block over MaxBlockSize was appended.
	ErrBlockTooLarge = errors.New("block larger than 8 MiB")
	// ErrBadSignature: a signature did not verify against the feed key.
	ErrBadSignature = errors.New("signature does not verify")
	// ErrBadProof: a proof did not hash up to a trusted node or signed roots.
	ErrBadProof = errors.New("proof does not verify")
	// ErrNoFeed: MustExist was set and no feed is stored there.
	ErrNoFeed = errors.New("no hypercore is stored here")
	// ErrWrongKey: the storage holds a feed with another public key.
	ErrWrongKey = errors.New("another hypercore is stored here")
	// ErrClosed: the feed was closed.
	ErrClosed = errors.New("feed is closed")
	// ErrOutOfBounds: an index or byte offset beyond the feed.
	ErrOutOfBounds = errors.New("out of bounds")
	// ErrMayFork: appending could sign blocks at indexes peers already
	// hold with other content (a writer whose local copy may be behind).
	ErrMayFork = errors.New("appending could fork the feed")
	// ErrCorrupt: stored bytes do not match the merkle tree.
	ErrCorrupt = errors.New("stored data does not match its hash")
)
