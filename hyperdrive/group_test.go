package hyperdrive

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hypercore"
)

// TestGroupCommitDrive writes a burst of files, directories, renames and
// deletes with group commit: reads see each at once, Flush appends the
// metadata in one append, and the drive reopened from its storage after
// Close holds everything.
func TestGroupCommitDrive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := corestore.Open(dir, corestore.Options{MasterKey: seed(0x42)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(ctx, s, Options{Now: fixedNow, GroupCommit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	start := d.Metadata().Length()
	for i := range 20 {
		must(t, d.WriteFile(ctx, fmt.Sprintf("/d/f%d", i), []byte(fmt.Sprint(i)), 0))
	}
	must(t, d.Mkdir(ctx, "/e", 0))
	must(t, d.Rename(ctx, "/d/f0", "/e/moved"))
	must(t, d.Unlink(ctx, "/d/f1"))
	if got := d.Metadata().Length(); got != start {
		t.Fatalf("metadata feed grew from %d to %d before a flush", start, got)
	}
	if b, err := d.ReadFile(ctx, "/e/moved"); err != nil || string(b) != "0" {
		t.Fatalf("pending rename: %q %v", b, err)
	}
	if _, err := d.Stat(ctx, "/d/f1"); err == nil {
		t.Fatal("pending unlink not seen")
	}
	es, err := d.Readdir(ctx, "/d")
	if err != nil || len(es) != 18 {
		t.Fatalf("pending listing: %d entries, %v", len(es), err)
	}
	v := d.Version()
	appends := 0
	stop := d.Metadata().Subscribe(func(ev hypercore.Event) {
		if ev.Kind == hypercore.EventAppend {
			appends++
		}
	})
	must(t, d.Flush())
	stop()
	if got := d.Metadata().Length(); got != v || appends != 1 {
		t.Fatalf("after Flush: feed length %d (version %d), %d appends", got, v, appends)
	}
	// Writes after the flush are appended by Close.
	must(t, d.WriteFile(ctx, "/last", []byte("last"), 0))
	must(t, d.Close())
	must(t, s.Close())

	s, err = corestore.Open(dir, corestore.Options{MasterKey: seed(0x42)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := openDrive(t, s, Options{})
	for p, want := range map[string]string{"/e/moved": "0", "/d/f19": "19", "/last": "last"} {
		if b, err := r.ReadFile(ctx, p); err != nil || string(b) != want {
			t.Errorf("reopened %s: %q %v", p, b, err)
		}
	}
	if _, err := r.Stat(ctx, "/d/f1"); err == nil {
		t.Error("reopened drive has the unlinked file")
	}
}
