package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestMeterPlainLines: off a terminal the meter prints plain lines (bytes,
// total, files, rate, time left), never a carriage return; -q prints
// nothing.
func TestMeterPlainLines(t *testing.T) {
	var buf bytes.Buffer
	c := &cli{std: &streams{stderr: &buf}}
	m := c.newMeter("downloading /", 4<<20)
	m.every = 0
	m.start = time.Now().Add(-time.Second)
	m.update(1<<20, 3, " (1.0 MiB fetched, 0 B already local)")
	out := buf.String()
	for _, want := range []string{"downloading /: 1.0 MiB of 4.0 MiB", "3 files", "fetched", "already local", "/s", "left"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("a carriage return off a terminal: %q", out)
	}
	// Lines come every few seconds, not on every update.
	m.every = time.Hour
	m.update(2<<20, 4, "")
	if buf.String() != out {
		t.Errorf("printed again before its interval: %q", buf.String())
	}
	var quiet bytes.Buffer
	q := (&cli{std: &streams{stderr: &quiet}, quiet: true}).newMeter("x", 10)
	q.every = 0
	q.update(5, 1, "")
	q.finish(nil)
	if quiet.Len() != 0 {
		t.Errorf("-q printed %q", quiet.String())
	}
}
