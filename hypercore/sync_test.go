package hypercore

import (
	"path/filepath"
	"testing"

	"github.com/hyperfs/hyperfs/hypercore/storage"
)

// SyncFeeds reaches the files each append wrote (data, tree, signatures,
// bitfield) and no others: the key files once, after they are written,
// and nothing of a feed with no new appends.
func TestSyncFeedsSyncsOnlyChangedFiles(t *testing.T) {
	dir := t.TempDir()
	a := mustOpen(t, filepath.Join(dir, "a"), Options{})
	b := mustOpen(t, filepath.Join(dir, "b"), Options{})
	syncs := func() uint64 {
		t.Helper()
		before := storage.Syncs()
		if err := SyncFeeds(a, b); err != nil {
			t.Fatal(err)
		}
		return storage.Syncs() - before
	}
	mustAppend(t, a, []byte("one"))
	mustAppend(t, b, []byte("two"))
	// Per feed: data, tree, signatures, bitfield, key, secret key.
	if n := syncs(); n != 12 {
		t.Fatalf("first sync of two new feeds: %d fdatasyncs, want 12", n)
	}
	if n := syncs(); n != 0 {
		t.Fatalf("sync with nothing new: %d fdatasyncs, want 0", n)
	}
	mustAppend(t, a, []byte("three"), []byte("four"))
	if n := syncs(); n != 4 {
		t.Fatalf("sync after an append to one feed: %d fdatasyncs, want 4 (its data, tree, signatures, bitfield)", n)
	}
}
