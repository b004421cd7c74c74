package hyperdrive

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestDirectoriesReportTheirOwnStat: a directory's Stat, by Lstat and in
// its parent's listing (what hyperfs ls -l and the mount show), is its own
// entry's, never a child's; an implicit directory has no child's size,
// times or owner; SetAttr and Rename set ctime.
func TestDirectoriesReportTheirOwnStat(t *testing.T) {
	ctx := context.Background()
	d := newDrive(t)
	clock := fixedNow()
	d.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	must(t, d.Mkdir(ctx, "/d", ModeDir|0o700))
	dirTime := time.Date(2005, 5, 5, 0, 0, 0, 0, time.UTC)
	must(t, d.SetAttr(ctx, "/d", Attr{Mtime: &dirTime}))
	// Many children, so the trie lists some below /d before /d's own entry.
	for i := range 20 {
		must(t, d.WriteFile(ctx, fmt.Sprintf("/d/f%d", i), []byte("123456789\n"), 0o644))
		must(t, d.WriteFile(ctx, fmt.Sprintf("/implicit/g%d", i), []byte("0123456789abcdef"), 0o600))
	}
	ents, err := d.Readdir(ctx, "/")
	must(t, err)
	for _, e := range ents {
		st := e.Stat
		switch e.Name {
		case "d":
			if st.Mode != ModeDir|0o700 || st.Size != 0 || !st.Mtime.Equal(dirTime) {
				t.Errorf("listing of d: mode %o size %d mtime %v", st.Mode, st.Size, st.Mtime)
			}
		case "implicit":
			if st.Mode != ModeDir|DefaultDirMode || st.Size != 0 || st.Blocks != 0 {
				t.Errorf("listing of implicit: mode %o size %d blocks %d", st.Mode, st.Size, st.Blocks)
			}
		}
	}
	st, err := d.Lstat(ctx, "/implicit")
	must(t, err)
	if st.Size != 0 || st.Mode != ModeDir|DefaultDirMode {
		t.Errorf("Lstat of implicit: mode %o size %d", st.Mode, st.Size)
	}

	before, err := d.Lstat(ctx, "/d/f0")
	must(t, err)
	mode := uint32(0)
	must(t, d.SetAttr(ctx, "/d/f0", Attr{Mode: &mode}))
	after, err := d.Lstat(ctx, "/d/f0")
	must(t, err)
	if !after.Ctime.After(before.Ctime) || after.Mode != ModeRegular {
		t.Errorf("chmod 0: ctime %v → %v, mode %o", before.Ctime, after.Ctime, after.Mode)
	}
	must(t, d.Rename(ctx, "/d/f0", "/d/moved"))
	moved, err := d.Lstat(ctx, "/d/moved")
	must(t, err)
	if !moved.Ctime.After(after.Ctime) || !moved.Mtime.Equal(after.Mtime) {
		t.Errorf("rename: ctime %v → %v, mtime %v → %v", after.Ctime, moved.Ctime, after.Mtime, moved.Mtime)
	}
	// Mode 0 with the type bits is kept, a bare 0 is the default.
	must(t, d.WriteFile(ctx, "/zero", nil, ModeRegular))
	must(t, d.WriteFile(ctx, "/default", nil, 0))
	for p, want := range map[string]uint32{"/zero": ModeRegular, "/default": ModeRegular | DefaultFileMode} {
		st, err := d.Lstat(ctx, p)
		must(t, err)
		if st.Mode != want {
			t.Errorf("%s: mode %o, want %o", p, st.Mode, want)
		}
	}
}
