package storage

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"testing"
)

func TestFiles(t *testing.T) {
	for name, st := range map[string]Storage{
		"dir":    NewDir(filepath.Join(t.TempDir(), "feed")),
		"memory": NewMemory(),
	} {
		t.Run(name, func(t *testing.T) {
			f, err := st.Open("data")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("hello world"), 4); err != nil {
				t.Fatal(err)
			}
			if n, _ := f.Size(); n != 15 {
				t.Fatalf("size %d", n)
			}
			buf := make([]byte, 15)
			if _, err := f.ReadAt(buf, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, []byte("\x00\x00\x00\x00hello world")) {
				t.Fatalf("read %q", buf)
			}
			if _, err := f.ReadAt(make([]byte, 4), 13); !errors.Is(err, io.EOF) {
				t.Fatalf("read past end: %v", err)
			}
			if err := f.Delete(4, 5); err != nil {
				t.Fatal(err)
			}
			f.ReadAt(buf, 0)
			if !bytes.Equal(buf, []byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00 world")) {
				t.Fatalf("after delete %q", buf)
			}
			if err := f.Delete(10, 100); err != nil {
				t.Fatal(err)
			}
			if n, _ := f.Size(); n != 10 {
				t.Fatalf("delete at end should truncate, size %d", n)
			}
			if ok, _ := st.Exists("data"); !ok {
				t.Fatal("data should exist")
			}
			if ok, _ := st.Exists("nothing"); ok {
				t.Fatal("nothing should not exist")
			}
		})
	}
}

func TestDirLocksBitfield(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "feed")
	a, err := NewDir(dir).Open("bitfield")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewDir(dir).Open("bitfield"); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	a.Close()
	b, err := NewDir(dir).Open("bitfield")
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	b.Close()
}

func TestHolePunchFreesSpace(t *testing.T) {
	f, err := NewDir(t.TempDir()).Open("data")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{7}, 1<<20)
	for i := range 8 {
		f.WriteAt(chunk, int64(i)<<20)
	}
	f.Sync()
	before := diskUsage(t, f.Name())
	if err := f.Delete(1<<20, 6<<20); err != nil {
		t.Fatal(err)
	}
	f.Sync()
	after := diskUsage(t, f.Name())
	if after >= before {
		t.Skipf("file system does not punch holes (%d → %d bytes)", before, after)
	}
	if n, _ := f.Size(); n != 8<<20 {
		t.Fatalf("size changed to %d", n)
	}
}

func TestWriteVecAt(t *testing.T) {
	for name, st := range map[string]Storage{"dir": NewDir(t.TempDir()), "memory": NewMemory()} {
		f, err := st.Open("data")
		if err != nil {
			t.Fatal(err)
		}
		bufs := make([][]byte, 3000) // more than one pwritev call
		var want []byte
		for i := range bufs {
			bufs[i] = bytes.Repeat([]byte{byte(i)}, i%7)
			want = append(want, bufs[i]...)
		}
		if err := WriteVecAt(f, bufs, 3); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if _, err := f.ReadAt(got, 3); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: read back differs (%v)", name, err)
		}
		f.Close()
	}
}
