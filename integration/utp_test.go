package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	utp "github.com/anacrolix/go-libutp"

	"github.com/hyperfs/hyperfs/integration/jsref"
)

// uTP against utp-native (the JavaScript stack's uTP), without hyperswarm:
// bulk transfers both ways compared byte for byte, a clean close each way,
// and a reset.

const utpBulk = 32 << 20

// utpEvent is a line of utp-peer.js.
type utpEvent struct {
	Event   string
	Port    int
	Bytes   int64
	SHA256  string
	Code    string
	Message string
}

func nextUTP(t *testing.T, p *jsref.Process, name string) utpEvent {
	t.Helper()
	for {
		var ev utpEvent
		p.Next(&ev)
		if ev.Event == name {
			return ev
		}
		if ev.Event == "error" && name != "error" {
			t.Fatalf("utp-native: %s %s (waiting for %q)", ev.Code, ev.Message, name)
		}
	}
}

func patternSum(n int) string {
	h := sha256.New()
	b := make([]byte, 1<<20)
	for off := 0; off < n; off += len(b) {
		k := min(len(b), n-off)
		fillPattern(b[:k], int64(off))
		h.Write(b[:k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writePattern(w io.Writer, n int) error {
	b := make([]byte, 64<<10)
	for off := 0; off < n; off += len(b) {
		k := min(len(b), n-off)
		fillPattern(b[:k], int64(off))
		if _, err := w.Write(b[:k]); err != nil {
			return err
		}
	}
	return nil
}

func readPattern(t *testing.T, r io.Reader, n int) {
	t.Helper()
	h := sha256.New()
	got, err := io.CopyN(h, r, int64(n))
	if err != nil {
		t.Fatalf("read %d of %d bytes over uTP: %v", got, n, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != patternSum(n) {
		t.Fatalf("bytes over uTP differ: sha256 %s", sum)
	}
}

func goUTPSocket(t *testing.T) *utp.Socket {
	t.Helper()
	s, err := utp.NewSocket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestUTPGoDialsUTPNative: Go dials utp-native, sends, reads the reply
// and sees utp-native's clean end as EOF.
func TestUTPGoDialsUTPNative(t *testing.T) {
	jsref.Require(t)
	js := jsref.Start(t, "utp-peer.js", "listen", "--expect", fmt.Sprint(utpBulk), "--reply", fmt.Sprint(utpBulk/2))
	port := nextUTP(t, js, "listening").Port
	s := goUTPSocket(t)
	c, err := s.DialTimeout(fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	go writePattern(c, utpBulk)
	if ev := nextUTP(t, js, "received"); ev.Bytes != utpBulk || ev.SHA256 != patternSum(utpBulk) {
		t.Fatalf("utp-native received %d bytes, sha256 %s", ev.Bytes, ev.SHA256)
	}
	readPattern(t, c, utpBulk/2)
	t.Logf("%d MiB to utp-native and %d MiB back in %v", utpBulk>>20, utpBulk>>21, time.Since(start).Round(time.Millisecond))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after utp-native ended: %d bytes, %v; want EOF", n, err)
	}
}

// TestUTPNativeDialsGo: utp-native dials Go, sends, reads the reply and
// sees Go's Close as a clean end.
func TestUTPNativeDialsGo(t *testing.T) {
	jsref.Require(t)
	s := goUTPSocket(t)
	js := jsref.Start(t, "utp-peer.js", "connect", s.Addr().String(), "--send", fmt.Sprint(utpBulk), "--expect", fmt.Sprint(utpBulk/2))
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := s.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	var c net.Conn
	select {
	case c = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("no uTP connection from utp-native in 10 s")
	}
	readPattern(t, c, utpBulk)
	if err := writePattern(c, utpBulk/2); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if ev := nextUTP(t, js, "received"); ev.Bytes != utpBulk/2 || ev.SHA256 != patternSum(utpBulk/2) {
		t.Fatalf("utp-native received %d bytes, sha256 %s", ev.Bytes, ev.SHA256)
	}
	if ev := nextUTP(t, js, "end"); ev.Bytes != utpBulk/2 {
		t.Fatalf("utp-native saw the end after %d bytes, want %d", ev.Bytes, utpBulk/2)
	}
}

// TestUTPReset: utp-native drops its side of a connection without a FIN;
// libutp there answers Go's next packets with ST_RESET, and Go's writes
// and reads fail with a reset instead of hanging.
func TestUTPReset(t *testing.T) {
	jsref.Require(t)
	js := jsref.Start(t, "utp-peer.js", "listen", "--reset-after", fmt.Sprint(1<<20))
	port := nextUTP(t, js, "listening").Port
	s := goUTPSocket(t)
	c, err := s.DialTimeout(fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	failed := make(chan error, 1)
	go func() {
		failed <- writePattern(c, 1<<30)
	}()
	nextUTP(t, js, "reset")
	select {
	case err := <-failed:
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "reset") {
			t.Fatalf("write after the remote reset: %v, want a reset error", err)
		}
		t.Logf("write after reset: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("writes did not fail within 20 s of the remote's reset")
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("read after reset: %v, want an error", err)
	}
}
