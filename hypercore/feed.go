// Package hypercore is a signed, append-only log stored exactly as the
// JavaScript hypercore 9.12 stores it, so a feed written by either
// implementation can be opened, verified and extended by the other.
//
// A Feed keeps six files (key, secret_key, data, tree, signatures,
// bitfield) through a storage.Storage. Appends hash each block into a merkle
// tree whose roots are signed with Ed25519; replicas accept blocks only with a
// proof that hashes up to a trusted node or to signed roots (Put).
//
// # Crash safety
//
// As in the reference, the data, tree nodes and signature of an append are
// written first and the bitfield last, and the feed's length on open is
// derived from the tree bits of the bitfield. Unlike the reference, that
// length is then checked against the signatures file: a bitfield behind
// what was signed (a crash before its page was written, or a damaged
// bitfield) is rebuilt from the tree, so a writer never appends over
// blocks it already signed (see repair.go). Pages for blocks downloaded
// from peers are written at most 100 ms later (and on Close): a crash may
// lose those downloads, never an append or correctness. Sync makes all of
// it durable.
//
// # Verified reads
//
// Blocks read back from local storage are hashed against their leaf node
// once per open feed (verify.go); a mismatch is ErrCorrupt and clears the
// block so a peer can send it again.
package hypercore

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hyperfs/hyperfs/cache"
	"github.com/hyperfs/hyperfs/hypercore/bitfield"
	"github.com/hyperfs/hyperfs/hypercore/flat"
	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"github.com/hyperfs/hyperfs/hypercore/storage"
	"github.com/hyperfs/hyperfs/hypercore/treeindex"
)

// MaxBlockSize is the largest block a feed accepts, as the reference's.
const MaxBlockSize = 8 << 20

// Options configure Open. The zero value opens or creates a writable feed
// with a fresh key pair.
type Options struct {
	// PublicKey opens the feed with this key (a replica unless SecretKey or
	// stored secret key is present). Must match a stored key.
	PublicKey ed25519.PublicKey
	// SecretKey makes the feed writable with this key pair.
	SecretKey ed25519.PrivateKey
	// MustExist fails with ErrNoFeed instead of creating a feed.
	MustExist bool
	// Overwrite discards whatever feed is stored and starts empty.
	Overwrite bool
	// Sparse marks a replica that downloads only what is asked for;
	// otherwise replication fetches every block.
	Sparse bool
	// DontStoreSecretKey keeps the secret key out of storage.
	DontStoreSecretKey bool
	// NoVerifyReads turns off the check of blocks read from local storage
	// against their tree node. By default each stored block is hashed
	// (once per open feed) before it is handed out, so bit rot or a
	// damaged data file gives ErrCorrupt and clears the block for peers to
	// send again, rather than serving wrong bytes. The reference never
	// does this (its Audit finds such blocks); set it for disks you trust
	// to spare one BLAKE2b pass over everything read.
	NoVerifyReads bool
	// Cache holds decoded nodes and blocks; nil uses no cache.
	Cache *cache.Cache
	// Logger receives diagnostics; nil uses slog.Default().
	Logger *slog.Logger
}

// Feed is an open hypercore.
type Feed struct {
	key          ed25519.PublicKey
	secretKey    ed25519.PrivateKey // nil for read-only feeds
	discoveryKey [32]byte
	sparse       bool
	verifyReads  bool
	verified     verifiedSet // blocks whose stored bytes were checked
	log          *slog.Logger
	store        storage.Storage
	cache        *cache.Cache
	cacheID      uint64

	// files, opened once and immutable after Open
	keyFile, secretKeyFile, treeFile, dataFile, bitfieldFile, sigFile storage.File

	mu         sync.RWMutex
	length     uint64               // guarded by mu: blocks in the signed, verified prefix
	byteLength uint64               // guarded by mu: bytes in those blocks
	live       bool                 // guarded by mu: feed is signed (always, for feeds we write)
	bits       *bitfield.Bitfield   // guarded by mu: data, tree and index bits
	tree       *treeindex.TreeIndex // guarded by mu: view of bits' tree part
	roots      []hcrypto.Node       // guarded by mu: merkle roots of length, writers only
	closed     bool                 // guarded by mu
	appendErr  error                // guarded by mu: why appends are refused, nil if they are not
	held       error                // guarded by mu: HoldAppends' error
	lastSync   time.Time            // guarded by mu: when bitfield pages were last written
	syncTimer  *time.Timer          // guarded by mu: pending write of downloaded blocks' pages
	waiting    map[uint64][]chan struct{}
	listeners  map[int]func(Event)
	nextListen int
	fetcher    Fetcher

	seq seqHint // memo that makes sequential reads need no root lookups

	pageGens pageGens    // generations of cached tree pages (see treePageNodes)
	groups   groupStarts // offsets of block groups read lately
}

// Open opens (or creates) the feed stored in a directory.
func Open(dir string, opts Options) (*Feed, error) {
	return OpenStorage(storage.NewDir(dir), opts)
}

// OpenStorage opens (or creates) the feed kept in st.
func OpenStorage(st storage.Storage, opts Options) (_ *Feed, err error) {
	f := &Feed{
		store:       st,
		sparse:      opts.Sparse,
		verifyReads: !opts.NoVerifyReads,
		log:         opts.Logger,
		cache:       opts.Cache,
		waiting:     map[uint64][]chan struct{}{},
		listeners:   map[int]func(Event){},
	}
	if f.log == nil {
		f.log = slog.Default()
	}
	if f.cache != nil {
		f.cacheID = f.cache.NewFeedID()
	}
	if opts.MustExist {
		// Checked before any file is opened, so nothing is created.
		if ok, err := st.Exists("key"); err != nil || !ok {
			return nil, fmt.Errorf("opening feed in %s: %w", st.Location(), ErrNoFeed)
		}
	}
	defer func() {
		if err != nil {
			f.closeFiles()
		}
	}()
	// The bitfield is opened first: it carries the lock.
	for _, o := range []struct {
		name string
		dst  *storage.File
	}{{"bitfield", &f.bitfieldFile}, {"key", &f.keyFile}, {"secret_key", &f.secretKeyFile},
		{"tree", &f.treeFile}, {"data", &f.dataFile}, {"signatures", &f.sigFile}} {
		if *o.dst, err = st.Open(o.name); err != nil {
			return nil, fmt.Errorf("opening feed in %s: %w", st.Location(), err)
		}
	}
	if err := f.open(opts); err != nil {
		return nil, fmt.Errorf("opening feed in %s: %w", st.Location(), err)
	}
	return f, nil
}

func (f *Feed) open(opts Options) error {
	restoredKey := false
	storedKey, err := readOptional(f.keyFile, hcrypto.PublicKeySize)
	if err != nil {
		return err
	}
	storedSecret, err := readOptional(f.secretKeyFile, hcrypto.SecretKeySize)
	if err != nil {
		return err
	}
	pages, pageSize, err := f.readBitfield()
	if err != nil {
		return err
	}
	overwrite := opts.Overwrite
	if storedKey == nil && !overwrite {
		// A feed whose key file is gone keeps its data: it is opened with
		// the key the caller gives (and checked against the signatures
		// below), never silently started over.
		held, err := f.holdsData(pages)
		if err != nil {
			return err
		}
		if held && opts.PublicKey == nil && opts.SecretKey == nil {
			return fmt.Errorf("%s is missing or empty, but the feed holds data that needs its key to be verified: restore the file, or open the feed by its key: %w", f.keyFile.Name(), ErrCorrupt)
		}
		restoredKey = held
	}
	if overwrite {
		storedKey, storedSecret, pages = nil, nil, nil
	}

	key := opts.PublicKey
	secret := opts.SecretKey
	if secret != nil {
		if len(secret) != hcrypto.SecretKeySize {
			return fmt.Errorf("secret key has %d bytes, want %d", len(secret), hcrypto.SecretKeySize)
		}
		pub := secret.Public().(ed25519.PublicKey)
		if key != nil && !bytes.Equal(key, pub) {
			return errors.New("secret key does not belong to the public key")
		}
		key = pub
	}
	if key != nil && len(key) != hcrypto.PublicKeySize {
		return fmt.Errorf("public key has %d bytes, want %d", len(key), hcrypto.PublicKeySize)
	}
	if storedKey != nil && key != nil && !bytes.Equal(storedKey, key) {
		return fmt.Errorf("%w (%x, not %x)", ErrWrongKey, storedKey, []byte(key))
	}
	generated := false
	switch {
	case storedKey != nil:
		key = storedKey
	case key == nil && opts.MustExist:
		return ErrNoFeed
	case key == nil:
		kp, err := hcrypto.NewKeyPair()
		if err != nil {
			return err
		}
		key, secret, generated = kp.PublicKey, kp.SecretKey, true
	}
	if secret == nil && storedSecret != nil {
		if !bytes.Equal(ed25519.PrivateKey(storedSecret).Public().(ed25519.PublicKey), key) {
			return fmt.Errorf("%s: secret key does not match the public key", f.secretKeyFile.Name())
		}
		secret = storedSecret
	}
	f.key, f.secretKey = key, secret
	f.discoveryKey = hcrypto.DiscoveryKey(key)

	if f.bits, err = bitfield.Decode(pages); err != nil {
		return fmt.Errorf("%s: %w", f.bitfieldFile.Name(), err)
	}
	f.tree = treeindex.New(f.bits.Tree())

	if err := writeFull(f.bitfieldFile, fileHeader(headerBitfield, uint16(pageSize), ""), 0); err != nil {
		return err
	}
	if err := writeFull(f.sigFile, fileHeader(headerSignatures, signatureSize, "Ed25519"), 0); err != nil {
		return err
	}
	if err := writeFull(f.treeFile, fileHeader(headerTree, nodeRecordSize, "BLAKE2b"), 0); err != nil {
		return err
	}
	if overwrite {
		// Everything goes: signatures left behind would later look like
		// blocks signed beyond the feed's length.
		for _, t := range []struct {
			file storage.File
			size int64
		}{{f.bitfieldFile, headerSize}, {f.sigFile, headerSize}, {f.treeFile, headerSize}, {f.dataFile, 0}} {
			if err := t.file.Truncate(t.size); err != nil {
				return fmt.Errorf("%s: %w", t.file.Name(), err)
			}
		}
	}
	// The keys are written once the stored feed is known to verify with them.
	if err := f.settle(restoredKey); err != nil {
		return err
	}
	if generated || !bytes.Equal(storedKey, key) {
		if err := writeFull(f.keyFile, key, 0); err != nil {
			return err
		}
		if restoredKey {
			f.log.Warn("restored the missing key file: the stored feed verifies with the key it was opened with", "file", f.keyFile.Name())
		}
	}
	if secret != nil && !opts.DontStoreSecretKey && !bytes.Equal(storedSecret, secret) {
		if err := writeFull(f.secretKeyFile, secret, 0); err != nil {
			return err
		}
	}
	return nil
}

// settle takes the feed's length from the bitfield's tree bits, as the
// reference does, then checks it against the signatures (see repair.go):
// a bitfield behind the signed tree is rebuilt, and a writer whose stored
// signatures cannot be reconciled with its tree refuses to append.
func (f *Feed) settle(restoredKey bool) error {
	f.length = f.tree.Blocks()
	floor := uint64(0)
	if f.length > 0 {
		floor = f.length - 1
	}
	signed, highest, err := f.signedLength(floor)
	if err != nil {
		return err
	}
	if signed > f.length {
		f.log.Warn("the bitfield is behind the signed tree; rebuilding it",
			"file", f.bitfieldFile.Name(), "bitfield length", f.length, "signed length", signed)
		if err := f.rebuildBitfieldLocked(signed); err != nil {
			return err
		}
		f.length = signed
	}
	if restoredKey && f.length > 0 && signed == 0 {
		return fmt.Errorf("%s is missing and the stored feed does not verify with key %x: %w", f.keyFile.Name(), []byte(f.key), ErrWrongKey)
	}
	f.live = true
	for retry := true; ; retry = false {
		if f.length > 0 {
			_, err := f.readSignature(f.length - 1)
			f.live = err == nil
		}
		roots, err := f.loadRoots(f.length)
		if err != nil && retry && f.length > 0 {
			f.length-- // as the reference: a torn last append loses one block
			continue
		}
		if err != nil {
			// The bits name nodes the tree does not hold: go back to the
			// longest length the signatures prove, if there is one.
			if best, _, serr := f.signedLength(0); serr == nil && best > 0 {
				f.log.Warn("the bitfield names tree nodes that are not stored; rebuilding it",
					"file", f.bitfieldFile.Name(), "err", err, "signed length", best)
				if rerr := f.rebuildBitfieldLocked(best); rerr != nil {
					return fmt.Errorf("%w (rebuilding: %w)", err, rerr)
				}
				f.length = best
				signed = best
				continue
			}
			return err
		}
		f.byteLength = 0
		for _, r := range roots {
			f.byteLength += r.Size
		}
		if f.secretKey != nil {
			f.roots = roots
		}
		break
	}
	if f.secretKey == nil {
		return nil
	}
	if err := f.restoreBlocksLocked(4096); err != nil {
		return err
	}
	switch {
	case highest >= int64(f.length):
		// Signatures beyond the length we can prove: appending here would
		// sign other blocks at indexes peers may already have.
		f.appendErr = fmt.Errorf("%s holds a signature for block %d but the tree in %s proves only %d blocks; appending would fork the feed (restore the files or fetch the feed from a peer): %w",
			f.sigFile.Name(), highest, f.treeFile.Name(), f.length, ErrCorrupt)
		f.log.Error("refusing appends to a damaged feed", "err", f.appendErr)
	case f.live && signed != f.length && f.length > 0:
		f.appendErr = fmt.Errorf("the signature of block %d in %s does not verify against the tree in %s; appending would sign a damaged tree (restore the files or fetch the feed from a peer): %w",
			f.length-1, f.sigFile.Name(), f.treeFile.Name(), ErrCorrupt)
		f.log.Error("refusing appends to a damaged feed", "err", f.appendErr)
	case !f.live:
		// The reference turns such a feed unsigned; a writer here keeps
		// signing so peers can keep verifying it.
		f.log.Warn("writable feed has no signature for its head; signing from now on",
			"feed", fmt.Sprintf("%x", f.discoveryKey[:8]), "length", f.length)
		f.live = true
	}
	return nil
}

// holdsData reports whether the feed's files hold anything beyond headers.
func (f *Feed) holdsData(pages []byte) (bool, error) {
	if !isBlank(pages) {
		return true, nil
	}
	for _, file := range []interface{ Size() (int64, error) }{f.treeFile, f.sigFile} {
		n, err := file.Size()
		if err != nil {
			return false, err
		}
		if n > headerSize {
			return true, nil
		}
	}
	return false, nil
}

// readOptional reads a whole small file (key, secret_key); nil if absent.
func readOptional(file storage.File, size int) ([]byte, error) {
	n, err := file.Size()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file.Name(), err)
	}
	if n == 0 {
		return nil, nil
	}
	if n < int64(size) {
		return nil, fmt.Errorf("%s: %d bytes, want %d (file is truncated)", file.Name(), n, size)
	}
	buf := make([]byte, size)
	if err := readFull(file, buf, 0); err != nil {
		return nil, err
	}
	return buf, nil
}

// readBitfield returns the page bytes after the header and the page size the
// header declares (3584 unless an old feed says otherwise).
func (f *Feed) readBitfield() ([]byte, int, error) {
	size, err := f.bitfieldFile.Size()
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", f.bitfieldFile.Name(), err)
	}
	pageSize := bitfield.PageSize
	if size >= headerSize {
		hdr := make([]byte, headerSize)
		if err := readFull(f.bitfieldFile, hdr, 0); err != nil {
			return nil, 0, err
		}
		if ps := int(hdr[5])<<8 | int(hdr[6]); ps != bitfield.PageSize {
			// No writer uses another page size: this is a damaged header,
			// and pages behind it cannot be trusted either. The feed
			// starts from an empty bitfield, which settle rebuilds from
			// the tree and signatures.
			f.log.Warn("bitfield header is damaged; ignoring the bitfield", "file", f.bitfieldFile.Name(), "page size", ps)
			return nil, pageSize, nil
		}
	}
	if size <= headerSize {
		return nil, pageSize, nil
	}
	pages := make([]byte, size-headerSize)
	if err := readFull(f.bitfieldFile, pages, headerSize); err != nil {
		return nil, 0, err
	}
	return pages, pageSize, nil
}

// loadRoots reads the full roots of a feed of the given length from the tree.
func (f *Feed) loadRoots(length uint64) ([]hcrypto.Node, error) {
	idx := flat.FullRoots(2 * length)
	roots := make([]hcrypto.Node, len(idx))
	for i, n := range idx {
		node, err := f.getNode(n)
		if err != nil {
			return nil, err
		}
		roots[i] = node
	}
	return roots, nil
}

// Key is the feed's public key.
func (f *Feed) Key() ed25519.PublicKey { return f.key }

// SecretKey is the feed's secret key, nil for a read-only feed.
func (f *Feed) SecretKey() ed25519.PrivateKey { return f.secretKey }

// DiscoveryKey is the feed's name on the wire.
func (f *Feed) DiscoveryKey() [32]byte { return f.discoveryKey }

// Writable reports whether the feed has its secret key.
func (f *Feed) Writable() bool { return f.secretKey != nil }

// Sparse reports whether the feed downloads only what is asked for.
func (f *Feed) Sparse() bool { return f.sparse }

// Length is the number of blocks in the feed (downloaded or not).
func (f *Feed) Length() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.length
}

// ByteLength is the number of bytes in the feed's blocks.
func (f *Feed) ByteLength() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.byteLength
}

// Cache returns the cache the feed keeps its nodes and blocks in (nil if
// none) and the feed's id there, under which a layer above may keep
// decoded forms of the feed's blocks (GetDecoded, SetDecoded).
func (f *Feed) Cache() (*cache.Cache, uint64) { return f.cache, f.cacheID }

// Location describes where the feed is stored.
func (f *Feed) Location() string { return f.store.Location() }

// Close releases the feed's files and lock. Waiting reads fail with ErrClosed.
func (f *Feed) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	if f.syncTimer != nil {
		f.syncTimer.Stop()
		f.syncTimer = nil
	}
	syncErr := f.syncBitfieldLocked()
	for i, ws := range f.waiting {
		for _, w := range ws {
			close(w)
		}
		delete(f.waiting, i)
	}
	f.mu.Unlock()
	if err := f.closeFiles(); err != nil {
		return err
	}
	return syncErr
}

func (f *Feed) closeFiles() error {
	var first error
	for _, file := range []storage.File{f.keyFile, f.secretKeyFile, f.treeFile, f.dataFile, f.sigFile, f.bitfieldFile} {
		if file == nil {
			continue
		}
		if err := file.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Sync writes pending bitfield pages and commits the feed's data, tree,
// signatures, key and bitfield files to stable storage, so that what was
// appended or downloaded so far survives a power loss, not only a crash
// of the process. It is SyncFeeds of this one feed.
func (f *Feed) Sync() error { return SyncFeeds(f) }

// SyncFeeds makes several feeds durable together (a drive's metadata and
// content feeds). Only files written since their last sync are synced
// (storage.File.Sync skips the rest: the key files after their first),
// and those of every feed are synced at once: a journaling file system
// commits concurrent fdatasyncs in one journal transaction, so a round
// of them costs about one. The bitfield is synced in the same round as
// the files it describes: the kernel writes dirty pages back in any
// order anyway, so a bitfield ahead of the tree after a power loss must
// be (and is) recovered on open (see settle), and waiting for one more
// round would buy nothing.
//
// A failure of one feed or file does not keep the others from being
// synced; the errors are joined.
func SyncFeeds(feeds ...*Feed) error {
	var files []storage.File
	var errs []error
	for _, f := range feeds {
		fs, err := f.syncFiles()
		if err != nil {
			errs = append(errs, err)
		}
		files = append(files, fs...)
	}
	return errors.Join(append(errs, syncAll(files))...)
}

// syncFiles writes the feed's pending bitfield pages and returns the
// files a sync must reach.
func (f *Feed) syncFiles() ([]storage.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	if f.syncTimer != nil {
		f.syncTimer.Stop()
		f.syncTimer = nil
	}
	if err := f.syncBitfieldLocked(); err != nil {
		return nil, err
	}
	return []storage.File{f.dataFile, f.treeFile, f.sigFile, f.keyFile, f.secretKeyFile, f.bitfieldFile}, nil
}

// syncAll syncs files concurrently; each error names its file.
func syncAll(files []storage.File) error {
	for _, file := range files {
		if s, ok := file.(storage.Starter); ok {
			s.StartSync()
		}
	}
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, file := range files[1:] {
		wg.Go(func() { errs[i+1] = file.Sync() })
	}
	if len(files) > 0 {
		errs[0] = files[0].Sync()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			errs[i] = fmt.Errorf("%s: sync: %w", files[i].Name(), err)
		}
	}
	return errors.Join(errs...)
}
