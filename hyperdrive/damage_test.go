package hyperdrive_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// damageFiles are the drive's files, by name: the names in it and what
// each holds.
func damageFiles() map[string][]byte {
	files := map[string][]byte{}
	for i := range 12 {
		files[fmt.Sprintf("/f%02d", i)] = bytes.Repeat([]byte(fmt.Sprintf("file %d;", i)), 1+i*9000)
	}
	return files
}

var damages = []struct {
	name string
	do   func(p string) error
}{
	{"flipped byte", func(p string) error {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			return fmt.Errorf("nothing to flip: %v", err)
		}
		b[len(b)/2] ^= 0x55
		return os.WriteFile(p, b, 0o644)
	}},
	{"truncated", func(p string) error {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		return os.Truncate(p, st.Size()/2)
	}},
	{"emptied", func(p string) error { return os.Truncate(p, 0) }},
	{"deleted", os.Remove},
}

// TestStorageDamage damages each file of a drive's feeds, and the store's
// master_key, in each of four ways, then opens, reads and writes the drive.
// Whatever the damage: no read returns wrong bytes; a refusal names the
// damaged file; a write never destroys older data. The outcome of every
// case is logged (go test -v -run TestStorageDamage) as a table.
func TestStorageDamage(t *testing.T) {
	ctx := context.Background()
	want := damageFiles()
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	type target struct{ feed, file string }
	var targets []target
	for _, feed := range []string{"metadata", "content"} {
		for _, file := range []string{"data", "tree", "signatures", "bitfield", "key", "name"} {
			targets = append(targets, target{feed, file})
		}
	}
	targets = append(targets, target{"store", corestore.MasterKeyFile})

	var table []string
	for _, tg := range targets {
		for _, dmg := range damages {
			t.Run(tg.feed+"/"+tg.file+"/"+dmg.name, func(t *testing.T) {
				dir := t.TempDir()
				s, err := corestore.Open(dir, corestore.Options{})
				if err != nil {
					t.Fatal(err)
				}
				d, err := hyperdrive.Open(ctx, s, hyperdrive.Options{})
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range names {
					if err := d.WriteFile(ctx, n, want[n], 0o644); err != nil {
						t.Fatal(err)
					}
				}
				c, err := d.Content(ctx)
				if err != nil {
					t.Fatal(err)
				}
				folders := map[string]string{"metadata": d.Metadata().Location(), "content": c.Location(), "store": dir}
				d.Close()
				s.Close()
				path := filepath.Join(folders[tg.feed], tg.file)
				if err := dmg.do(path); err != nil {
					t.Skipf("damage: %v", err)
				}

				outcome := func() string {
					s, err := corestore.Open(dir, corestore.Options{})
					if err != nil {
						if !strings.Contains(err.Error(), path) {
							t.Errorf("store refused without naming %s: %v", path, err)
						}
						return "store refused, naming the file"
					}
					defer s.Close()
					d, err := hyperdrive.Open(ctx, s, hyperdrive.Options{})
					if err != nil {
						if !strings.Contains(err.Error(), tg.file) {
							t.Errorf("drive refused without naming %s: %v", tg.file, err)
						}
						return "drive refused, naming the file"
					}
					defer d.Close()
					good, failed := 0, 0
					var firstErr error
					readable := map[string]bool{}
					for _, n := range names {
						b, err := d.ReadFile(ctx, n)
						switch {
						case err != nil:
							failed++
							if firstErr == nil {
								firstErr = err
							}
						case !bytes.Equal(b, want[n]):
							t.Fatalf("%s: wrong bytes (%d, want %d) with no error", n, len(b), len(want[n]))
						default:
							good++
							readable[n] = true
						}
					}
					werr := d.WriteFile(ctx, "/new", []byte("written after the damage"), 0o644)
					// No write may destroy what read back before it.
					for n := range readable {
						if b, err := d.ReadFile(ctx, n); err == nil && !bytes.Equal(b, want[n]) {
							t.Fatalf("%s: wrong bytes after a write", n)
						} else if err != nil {
							t.Fatalf("%s: lost after a write: %v", n, err)
						}
					}
					res := fmt.Sprintf("%d/%d files read back", good, len(names))
					if failed > 0 {
						res += fmt.Sprintf(", %d fail (%s)", failed, shortErr(firstErr))
					}
					if werr != nil {
						res += "; write refused (" + shortErr(werr) + ")"
					} else {
						res += "; write ok"
					}
					return res
				}()
				table = append(table, fmt.Sprintf("%-8s %-10s %-12s -> %s", tg.feed, tg.file, dmg.name, outcome))
			})
		}
	}
	t.Log("damage table:\n" + strings.Join(table, "\n"))
	if p := os.Getenv("DAMAGE_TABLE"); p != "" {
		os.WriteFile(p, []byte(strings.Join(table, "\n")+"\n"), 0o644)
	}
}

// shortErr keeps the gist of an error for the table.
func shortErr(err error) string {
	s := err.Error()
	for _, k := range []string{"stored data does not match its hash", "block not available locally", "no node found", "appending could fork the feed", "file is truncated", "malformed", "does not match"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	if len(s) > 80 {
		s = s[len(s)-80:]
	}
	return s
}
