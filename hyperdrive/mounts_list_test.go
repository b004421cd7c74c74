package hyperdrive

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// TestMountsNested lists mounts below paths at every depth of a chain of
// nested mounts, and leaves out a mount that was removed.
func TestMountsNested(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := openDrive(t, s, Options{Now: fixedNow})
	b := openDrive(t, s.Namespace("b"), Options{Now: fixedNow})
	c := openDrive(t, s.Namespace("c"), Options{Now: fixedNow})
	gone := openDrive(t, s.Namespace("gone"), Options{Now: fixedNow})
	for i := range 50 {
		must(t, a.WriteFile(ctx, fmt.Sprintf("/t/f%d", i), []byte("x"), 0))
	}
	must(t, c.WriteFile(ctx, "/in-c", []byte("c"), 0))
	must(t, b.Mount(ctx, "/x/c", c.Key(), MountOptions{}))
	must(t, a.Mount(ctx, "/t/m", b.Key(), MountOptions{Version: 0}))
	must(t, a.Mount(ctx, "/g", gone.Key(), MountOptions{}))
	must(t, a.Unmount(ctx, "/g"))
	for _, c := range []struct {
		p    string
		want []string
	}{
		{"/", []string{"/t/m", "/t/m/x/c"}},
		{"/t", []string{"/t/m", "/t/m/x/c"}},
		{"/t/m", []string{"/t/m", "/t/m/x/c"}},
		{"/t/m/x", []string{"/t/m/x/c"}},
		{"/t/m/x/c", []string{"/t/m/x/c"}},
		{"/t/f1", nil},
		{"/g", nil},
	} {
		ms, err := a.Mounts(ctx, c.p)
		must(t, err)
		var got []string
		for _, m := range ms {
			got = append(got, m.Path)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("mounts below %s = %q, want %q", c.p, got, c.want)
		}
	}
	if b, err := a.ReadFile(ctx, "/t/m/x/c/in-c"); err != nil || string(b) != "c" {
		t.Fatalf("read through two mounts: %q %v", b, err)
	}
}
