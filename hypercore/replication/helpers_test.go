package replication

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/hypercore"
	"github.com/hyperfs/hyperfs/hypercore/storage"
)

// testLogger logs to t and counts warnings, so a test can assert a peer was
// dropped with a logged reason (and that healthy runs log none).
type testLogger struct {
	t  testing.TB
	mu sync.Mutex
	// warnings holds the message and attributes of every warning.
	warnings []string
}

func (l *testLogger) Enabled(context.Context, slog.Level) bool { return true }
func (l *testLogger) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Level >= slog.LevelWarn {
		l.warnings = append(l.warnings, b.String())
	}
	l.t.Log(r.Level, b.String())
	return nil
}
func (l *testLogger) WithAttrs(as []slog.Attr) slog.Handler { return &attrHandler{l, as} }
func (l *testLogger) WithGroup(string) slog.Handler         { return l }

func (l *testLogger) Warnings() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.warnings...)
}

type attrHandler struct {
	*testLogger
	attrs []slog.Attr
}

func (h *attrHandler) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(h.attrs...)
	return h.testLogger.Handle(ctx, r)
}
func (h *attrHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrHandler{h.testLogger, append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func newLogger(t testing.TB) (*slog.Logger, *testLogger) {
	l := &testLogger{t: t}
	return slog.New(l), l
}

// block returns deterministic test block i.
func block(i int) []byte {
	return []byte(fmt.Sprintf("block %d %s", i, bytes.Repeat([]byte{byte(i)}, i%50)))
}

// writer returns an in-memory writable feed holding n blocks.
func writer(t testing.TB, n int) *hypercore.Feed {
	t.Helper()
	f, err := hypercore.OpenStorage(storage.NewMemory(), hypercore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	appendBlocks(t, f, 0, n)
	return f
}

func appendBlocks(t testing.TB, f *hypercore.Feed, from, to int) {
	t.Helper()
	var batch [][]byte
	for i := from; i < to; i++ {
		batch = append(batch, block(i))
		if len(batch) == 100 || i == to-1 {
			if _, err := f.Append(batch...); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
}

// replica returns an in-memory replica of f.
func replica(t testing.TB, f *hypercore.Feed, sparse bool) *hypercore.Feed {
	t.Helper()
	r, err := hypercore.OpenStorage(storage.NewMemory(), hypercore.Options{PublicKey: f.Key(), Sparse: sparse})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// pair connects two streams over a pipe (TCP on loopback if tcp is set).
func pair(t testing.TB, tcp bool, a, b Config) (*Stream, *Stream) {
	t.Helper()
	var ca, cb io.ReadWriteCloser
	if tcp {
		ca, cb = tcpPair(t)
	} else {
		ca, cb = net.Pipe()
	}
	return connect(t, ca, cb, a, b)
}

// connect runs the handshake of a over ca (the initiator) and b over cb.
func connect(t testing.TB, ca, cb io.ReadWriteCloser, a, b Config) (*Stream, *Stream) {
	t.Helper()
	a.Initiator, b.Initiator = true, false
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var sb *Stream
	var errb error
	done := make(chan struct{})
	go func() {
		sb, errb = NewStream(ctx, cb, b)
		close(done)
	}()
	sa, err := NewStream(ctx, ca, a)
	<-done
	if err != nil || errb != nil {
		t.Fatalf("handshake: %v / %v", err, errb)
	}
	t.Cleanup(func() { sa.Close(); sb.Close() })
	return sa, sb
}

func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		ch <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-ch
	if b == nil {
		t.Fatal("accept failed")
	}
	return a, b
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustReplicate(t testing.TB, s *Stream, r *Replicator, opts PeerOptions) *Peer {
	t.Helper()
	p, err := s.Replicate(r, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkBlocks asserts that f holds blocks [from, to) with the test contents.
func checkBlocks(t testing.TB, f *hypercore.Feed, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		b, err := f.GetLocal(uint64(i))
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if !bytes.Equal(b, block(i)) {
			t.Fatalf("block %d: got %q", i, b)
		}
	}
}
