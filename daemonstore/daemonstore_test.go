package daemonstore

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// logRecord is a LevelDB log holding one write batch of puts (and
// deletes, for a nil value) starting at seq, as one full record.
func logRecord(seq uint64, kvs ...[]byte) []byte {
	batch := binary.LittleEndian.AppendUint64(nil, seq)
	batch = binary.LittleEndian.AppendUint32(batch, uint32(len(kvs)/2))
	for i := 0; i < len(kvs); i += 2 {
		if kvs[i+1] == nil {
			batch = append(batch, 0)
			batch = binary.AppendUvarint(batch, uint64(len(kvs[i])))
			batch = append(batch, kvs[i]...)
			continue
		}
		batch = append(batch, 1)
		batch = binary.AppendUvarint(batch, uint64(len(kvs[i])))
		batch = append(batch, kvs[i]...)
		batch = binary.AppendUvarint(batch, uint64(len(kvs[i+1])))
		batch = append(batch, kvs[i+1]...)
	}
	rec := make([]byte, 7, 7+len(batch))
	binary.LittleEndian.PutUint16(rec[4:], uint16(len(batch)))
	rec[6] = 1
	return append(rec, batch...)
}

// block is a LevelDB block of the entries (no prefix sharing), with its
// trailer of compression type (uncompressed) and an unchecked CRC.
func block(kvs ...[]byte) []byte {
	var b []byte
	for i := 0; i < len(kvs); i += 2 {
		b = binary.AppendUvarint(b, 0)
		b = binary.AppendUvarint(b, uint64(len(kvs[i])))
		b = binary.AppendUvarint(b, uint64(len(kvs[i+1])))
		b = append(b, kvs[i]...)
		b = append(b, kvs[i+1]...)
	}
	b = binary.LittleEndian.AppendUint32(b, 0) // restart at 0
	b = binary.LittleEndian.AppendUint32(b, 1)
	return b
}

func internalKey(k string, seq uint64, kind byte) []byte {
	return binary.LittleEndian.AppendUint64([]byte(k), seq<<8|uint64(kind))
}

// table is a LevelDB table with one data block.
func table(compression byte, data []byte) []byte {
	var t []byte
	t = append(t, data...)
	t = append(t, compression, 0, 0, 0, 0)
	handle := binary.AppendUvarint(nil, 0)
	handle = binary.AppendUvarint(handle, uint64(len(data)))
	index := block([]byte("zzz"), handle)
	indexOff := len(t)
	t = append(t, index...)
	t = append(t, 0, 0, 0, 0, 0)
	footer := binary.AppendUvarint(nil, 0) // metaindex (unused)
	footer = binary.AppendUvarint(footer, 0)
	footer = binary.AppendUvarint(footer, uint64(indexOff))
	footer = binary.AppendUvarint(footer, uint64(len(index)))
	footer = append(footer, make([]byte, 40-len(footer))...)
	footer = binary.LittleEndian.AppendUint64(footer, 0xdb4775248b80fb57)
	return append(t, footer...)
}

func TestLevelGetNewestWins(t *testing.T) {
	dir := t.TempDir()
	tbl := table(0, block(internalKey("!fuse!root-drive", 5, 1), []byte(`old`), internalKey("other", 6, 1), []byte("x")))
	os.WriteFile(filepath.Join(dir, "000005.ldb"), tbl, 0o644)
	log := logRecord(10, []byte("!fuse!root-drive"), []byte(`new`))
	os.WriteFile(filepath.Join(dir, "000007.log"), log, 0o644)
	os.WriteFile(filepath.Join(dir, "LOG"), []byte("not a log of records"), 0o644)
	v, found, err := LevelGet(dir, []byte("!fuse!root-drive"))
	if err != nil || !found || string(v) != "new" {
		t.Fatalf("got %q %v %v, want the log's newer value", v, found, err)
	}
	// A later delete hides it.
	os.WriteFile(filepath.Join(dir, "000009.log"), logRecord(11, []byte("!fuse!root-drive"), nil), 0o644)
	if _, found, err := LevelGet(dir, []byte("!fuse!root-drive")); err != nil || found {
		t.Fatalf("deleted key: found %v %v", found, err)
	}
	if v, found, _ := LevelGet(dir, []byte("other")); !found || string(v) != "x" {
		t.Fatalf("other: %q %v", v, found)
	}
	// A damaged table is an error naming the file, never a panic.
	os.WriteFile(filepath.Join(dir, "000011.ldb"), tbl[:len(tbl)-9], 0o644)
	if _, _, err := LevelGet(dir, []byte("other")); err == nil || !bytes.Contains([]byte(err.Error()), []byte("000011.ldb")) {
		t.Fatalf("damaged table: %v", err)
	}
}

func TestSnappyTable(t *testing.T) {
	raw := block(internalKey("k", 1, 1), []byte("hello hello hello"))
	// A literal of all bytes, then nothing: the simplest snappy stream.
	enc := binary.AppendUvarint(nil, uint64(len(raw)))
	enc = append(enc, 60<<2, byte(len(raw)-1))
	enc = append(enc, raw...)
	var got []byte
	if err := levelTableGet(table(1, enc), []byte("k"), func(_ uint64, _ byte, v []byte) { got = v }); err != nil || string(got) != "hello hello hello" {
		t.Fatalf("snappy table: %q %v", got, err)
	}
}

func TestSnappyDecode(t *testing.T) {
	// "hello " as a literal, then a copy of 11 bytes from 6 back.
	src := []byte{17, 5 << 2, 'h', 'e', 'l', 'l', 'o', ' ', 10<<2 | 2, 6, 0}
	if got, err := snappyDecode(src); err != nil || string(got) != "hello hello hello" {
		t.Fatalf("%q %v", got, err)
	}
	for _, bad := range [][]byte{{5, 1<<2 | 2, 9, 0}, {2, 10<<2 | 2, 0, 0}, {1, 5 << 2, 'a'}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if _, err := snappyDecode(bad); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
}

func FuzzLevelTable(f *testing.F) {
	f.Add(table(0, block(internalKey("k", 1, 1), []byte("v"))))
	raw := block(internalKey("k", 2, 1), []byte("vv"))
	enc := append(binary.AppendUvarint(nil, uint64(len(raw))), 60<<2, byte(len(raw)-1))
	f.Add(table(1, append(enc, raw...)))
	f.Fuzz(func(t *testing.T, b []byte) {
		levelTableGet(b, []byte("k"), func(uint64, byte, []byte) {})
	})
}

func FuzzLevelLog(f *testing.F) {
	f.Add(logRecord(1, []byte("k"), []byte("v")))
	f.Add(append(logRecord(1, []byte("k"), nil), logRecord(2, []byte("k"), []byte("v"))...))
	f.Fuzz(func(t *testing.T, b []byte) {
		levelLogGet(b, []byte("k"), func(uint64, byte, []byte) {})
	})
}

func FuzzSnappy(f *testing.F) {
	f.Add([]byte{17, 5 << 2, 'h', 'e', 'l', 'l', 'o', ' ', 10<<2 | 2, 6, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := snappyDecode(b)
		if err == nil {
			if n, _ := binary.Uvarint(b); uint64(len(out)) != n {
				t.Fatalf("decoded %d bytes, header says %d", len(out), n)
			}
		}
	})
}
