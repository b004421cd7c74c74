package hyperdrive_test

import (
	"context"
	"fmt"
	"os"

	"github.com/hyperfs/hyperfs/corestore"
	"github.com/hyperfs/hyperfs/hyperdrive"
)

// A store's default drive: write, list, read back, mount another drive.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "drive")
	defer os.RemoveAll(dir)
	store, err := corestore.Open(dir, corestore.Options{})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	d, err := hyperdrive.Open(ctx, store, hyperdrive.Options{})
	if err != nil {
		panic(err)
	}
	defer d.Close()
	other, _ := hyperdrive.Open(ctx, store.Namespace("other"), hyperdrive.Options{})
	defer other.Close()

	_ = d.WriteFile(ctx, "/docs/hello.txt", []byte("hello"), 0o644)
	_ = other.WriteFile(ctx, "/inside.txt", []byte("mounted"), 0)
	_ = d.Mount(ctx, "/other", other.Key(), hyperdrive.MountOptions{})

	entries, _ := d.Readdir(ctx, "/")
	for _, e := range entries {
		fmt.Println(e.Name, e.Stat.IsDir(), e.Stat.IsMount())
	}
	b, _ := d.ReadFile(ctx, "/other/inside.txt")
	fmt.Println(string(b))
	_, err = d.Stat(ctx, "/missing")
	fmt.Println(err)
	// Unordered output:
	// docs true false
	// other true true
	// mounted
	// stat /missing: no such file or directory: file does not exist
}
