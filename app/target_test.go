package app

import (
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	hfs "github.com/hyperfs/hyperfs/fs"
)

func TestParseTarget(t *testing.T) {
	key := strings.Repeat("ab", 32)
	cases := []struct {
		in      string
		version uint64
		path    string
		bad     bool
	}{
		{in: key},
		{in: key + "/"},
		{in: key + "+5", version: 5},
		{in: "hyper://" + key, path: ""},
		{in: "hyper://" + key + "/", path: "/"},
		{in: "hyper://" + key + "+12/docs/a.txt", version: 12, path: "/docs/a.txt"},
		{in: "HYPER://" + key + "/x/../y", path: "/y"},
		{in: "dat://" + key + "+3", version: 3},
		{in: key + "+0", bad: true},
		{in: key + "+x", bad: true},
		{in: key + "+", bad: true},
		{in: "hyper://" + key[:62], bad: true},
		{in: "not-a-key", bad: true},
	}
	for _, c := range cases {
		tg, err := ParseTarget(c.in)
		if c.bad {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Errorf("%q: %v, want a usage error", c.in, err)
			}
			continue
		}
		if err != nil || hex.EncodeToString(tg.Key) != key || tg.Version != c.version || tg.Path != c.path {
			t.Errorf("%q: %+v %v", c.in, tg, err)
		}
	}
	if _, err := ParseKey(key + "+5"); err == nil {
		t.Error("ParseKey took a version")
	}
}

func TestSocketFolderMustBePrivate(t *testing.T) {
	dir := t.TempDir()
	if err := checkPrivate(dir); err == nil {
		// t.TempDir is 0700 on most systems; make it wider.
		os.Chmod(dir, 0o755)
	}
	if err := checkPrivate(dir); err == nil {
		t.Fatal("a folder others can enter was accepted")
	}
	os.Chmod(dir, 0o700)
	if err := checkPrivate(dir); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	if p := SocketPath("/some/storage"); len(p) > 100 || p == SocketPath("/other/storage") {
		t.Fatalf("socket path %q", p)
	}
}

func TestParseMountOptions(t *testing.T) {
	var fo hfs.Options
	err := ParseMountOptions([]string{"ro,allow_other,uid=5,gid=6,umask=022", "max_background=12,sync_read,noexec,_netdev,x-systemd.automount,read_timeout=5,nosync_close"}, &fo)
	if err != nil {
		t.Fatal(err)
	}
	if !fo.ReadOnly || !fo.AllowOther || *fo.UID != 5 || *fo.GID != 6 || *fo.Umask != 0o22 || fo.ReadTimeout != 5*time.Second || len(fo.KernelOptions) != 1 || !fo.NoSyncOnClose {
		t.Fatalf("%+v", fo)
	}
	var mo fuse.MountOptions
	fo.Tune(&mo)
	if mo.MaxBackground != 12 || !mo.SyncRead {
		t.Fatalf("go-fuse options %+v", mo)
	}
	for _, bad := range []string{"frob", "uid=-1", "umask=99999", "ro=1", "max_background=0", "fsname=", "read_timeout=x"} {
		if err := ParseMountOptions([]string{bad}, &hfs.Options{}); err == nil {
			t.Errorf("-o %s accepted", bad)
		}
	}
}
