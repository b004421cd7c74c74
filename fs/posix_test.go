package fs_test

import (
	"sort"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
	hfs "github.com/hyperfs/hyperfs/fs"
)

// posixSkipped are the posixtest cases a drive cannot pass, and why.
var posixSkipped = map[string]string{
	"Link":             "a drive has no hard links: link(2) fails with EPERM",
	"LinkUnlinkRename": "uses link(2); a drive has no hard links",
	"Tmpfile":          "O_TMPFILE files have no name to commit to the drive",
	"SymlinkReadlink": "an absolute target means the drive's root, so readlink shows it under the " +
		"mountpoint (as hyperdrive-fuse does); TestAbsoluteSymlinks checks it",
	"FcntlFlockLocksFile": "locks are the kernel's local POSIX locks, which never conflict " +
		"within one process; the test expects per-descriptor (OFD) conflicts, which only a lock table " +
		"in the daemon could give",
}

// TestPosix runs go-fuse's conformance suite against a writable mount.
func TestPosix(t *testing.T) {
	names := make([]string, 0, len(posixtest.All))
	for name := range posixtest.All {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, name := range names {
				t.Run(name, func(t *testing.T) {
					if why, ok := posixSkipped[name]; ok {
						t.Skip(why)
					}
					dir := testMount(t, b.new(t), hfs.Options{})
					posixtest.All[name](t, dir)
				})
			}
		})
	}
}
