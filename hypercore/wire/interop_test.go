package wire

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
	"google.golang.org/protobuf/proto"
)

// These tests run integration/js/scripts/wire-peer.js, one end of a real
// simple-hypercore-protocol 2 session, against this package over TCP on
// 127.0.0.1. The script prints every message it receives as a JSON line.

const jsRelDir = "../../integration/js"

// jsDir returns the JS reference directory, failing (not skipping) the test
// when node or the installed reference is missing.
func jsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(jsRelDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not installed (%v): install Node.js and run `npm ci` in integration/js", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "simple-hypercore-protocol", "package.json")); err != nil {
		t.Fatalf("the JS reference is not installed (%v): run `npm ci` in integration/js", err)
	}
	return dir
}

// jsPeer is a running wire-peer.js.
type jsPeer struct {
	events chan map[string]any // every stdout line, closed at exit
	lines  []string            // raw stdout lines, for failure messages; read after exit
	stderr bytes.Buffer
	exited chan error
}

func startJSPeer(t *testing.T, ctx context.Context, args ...string) *jsPeer {
	t.Helper()
	cmd := exec.CommandContext(ctx, "node", append([]string{"scripts/wire-peer.js"}, args...)...)
	cmd.Dir = jsDir(t)
	p := &jsPeer{events: make(chan map[string]any, 100), exited: make(chan error, 1)}
	cmd.Stderr = &p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines = append(p.lines, sc.Text())
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = map[string]any{"event": "bad-json", "line": sc.Text()}
			}
			p.events <- ev
		}
		close(p.events)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		for range p.events {
		}
	})
	return p
}

// next returns the next event, failing on exit or timeout.
func (p *jsPeer) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case ev, ok := <-p.events:
		if !ok {
			t.Fatalf("wire-peer.js exited early; stderr:\n%s", p.stderr.String())
		}
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for wire-peer.js")
	}
	return nil
}

// wait collects the remaining events until the script exits.
func (p *jsPeer) wait(t *testing.T) []map[string]any {
	t.Helper()
	var evs []map[string]any
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-p.events:
			if !ok {
				if err := <-p.exited; err != nil {
					t.Fatalf("wire-peer.js: %v; stderr:\n%s", err, p.stderr.String())
				}
				return evs
			}
			evs = append(evs, ev)
		case <-timeout:
			t.Fatal("timed out waiting for wire-peer.js to exit")
		}
	}
}

// listenJS starts the script listening and dials it.
func listenJS(t *testing.T, ctx context.Context, args ...string) (*jsPeer, net.Conn) {
	t.Helper()
	p := startJSPeer(t, ctx, append([]string{"--listen"}, args...)...)
	ev := p.next(t)
	port, ok := ev["port"].(float64)
	if ev["event"] != "listening" || !ok {
		t.Fatalf("first event %v, want listening", ev)
	}
	nc, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return p, nc
}

// dialJS listens and has the script dial in as the initiator.
func dialJS(t *testing.T, ctx context.Context, args ...string) (*jsPeer, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	p := startJSPeer(t, ctx, append([]string{"--connect", port, "--initiator"}, args...)...)
	l.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
	nc, err := l.Accept()
	if err != nil {
		t.Fatalf("waiting for wire-peer.js to connect: %v; stderr:\n%s", err, p.stderr.String())
	}
	t.Cleanup(func() { nc.Close() })
	return p, nc
}

// TestInteropJS runs a session against simple-hypercore-protocol 2: the Go
// side handshakes, opens channel 1 with its capability, sends one batch with
// every message type (and a keep-alive and an unused type-12 frame the
// reference must skip), checks the JS side's Open capability and answers, and
// closes. The JS side's printout must show each message with the fields and
// defaults JS decoded.
func TestInteropJS(t *testing.T) {
	for _, goInitiator := range []bool{true, false} {
		name := "go initiator dials js"
		if !goInitiator {
			name = "js initiator dials go"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			feedKey := repeat(0x5a, 32)
			args := []string{"--key", hex.EncodeToString(feedKey)}
			var (
				p  *jsPeer
				nc net.Conn
			)
			if goInitiator {
				p, nc = listenJS(t, ctx, args...)
			} else {
				p, nc = dialJS(t, ctx, args...)
			}
			nc.SetDeadline(time.Now().Add(30 * time.Second))
			kp, err := NewNoiseKeyPair(nil)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := Handshake(ctx, nc, HandshakeConfig{Initiator: goInitiator, StaticKeyPair: &kp})
			if err != nil {
				t.Fatalf("handshake with JS: %v; stderr:\n%s", err, p.stderr.String())
			}
			runInteropSession(t, conn, feedKey)

			evs := p.wait(t)
			checkJSEvents(t, evs, kp, conn, feedKey)
		})
	}
}

// runInteropSession is the Go side of TestInteropJS.
func runInteropSession(t *testing.T, conn *Conn, feedKey []byte) {
	t.Helper()
	dk := hcrypto.DiscoveryKey(feedKey)
	fr := NewFramer(conn, conn)
	var b Batch
	for _, m := range []Message{
		NewOpen(dk[:], conn.Capability(feedKey)),
		NewOptions([]string{"ping"}, false),
		NewStatus(true, false),
		NewWant(0, 1048576),
	} {
		if err := b.Message(1, m); err != nil {
			t.Fatal(err)
		}
	}
	b.Extension(1, 0, []byte("hello"))
	b.KeepAlive()
	b.Frame(1, Type(12), []byte("ignored"))
	for _, m := range []Message{
		NewRequest(0, 0, false, 0),
		NewData(3, nil, nil, nil),
		NewHashData(4, []*Data_Node{NewNode(4, repeat(0xbb, 32), 1)}, repeat(0xdd, 64)),
		NewHave(2),
		NewUnhave(9),
		NewUnwant(0, 1048576),
		NewCancel(0, 0, false),
	} {
		if err := b.Message(1, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := fr.WriteBatch(&b); err != nil {
		t.Fatal(err)
	}

	// What JS sends: its queued Open, Options, Status, then the answers to
	// our Want, Extension and Request.
	want := []Message{
		NewOpen(dk[:], conn.RemoteCapability(feedKey)),
		NewOptions([]string{"echo"}, false),
		NewStatus(true, false),
		NewHaveRange(0, 1048576, []byte{0x02, 0xe0}),
		nil, // Extension "echo:hello"
		NewData(0, []byte("block 0"), []*Data_Node{NewNode(0, repeat(0xaa, 32), 7)}, repeat(0xdd, 64)),
	}
	for i, w := range want {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading JS frame %d: %v", i, err)
		}
		if f.Channel != 1 {
			t.Errorf("JS frame %d on channel %d, want 1", i, f.Channel)
		}
		if w == nil {
			id, payload, err := ParseExtension(f.Body)
			if f.Type != TypeExtension || err != nil || id != 0 || string(payload) != "echo:hello" {
				t.Errorf("JS frame %d: %v id %d %q %v, want Extension 0 \"echo:hello\"", i, f.Type, id, payload, err)
			}
			continue
		}
		m, err := DecodeMessage(f.Type, f.Body)
		if err != nil {
			t.Fatalf("JS frame %d: %v", i, err)
		}
		if o, ok := m.(*Open); ok && !conn.VerifyRemoteCapability(feedKey, o.Capability) {
			t.Errorf("JS Open capability %x does not verify", o.Capability)
		}
		if !proto.Equal(m, w) {
			t.Errorf("JS frame %d: %v %v, want %v %v", i, m.Type(), m, w.Type(), w)
		}
	}

	if err := fr.WriteMessage(1, NewClose(nil)); err != nil {
		t.Fatal(err)
	}
	f, err := fr.ReadFrame()
	if err != nil || f.Type != TypeClose || f.Channel != 1 {
		t.Fatalf("after our Close: %+v, %v; want JS's Close", f, err)
	}
	if _, err := fr.ReadFrame(); err != io.EOF {
		t.Fatalf("after JS's Close: %v, want io.EOF", err)
	}
	conn.Close()
}

// checkJSEvents compares what wire-peer.js printed with what Go sent, as
// decoded by the reference (defaults for absent fields included).
func checkJSEvents(t *testing.T, evs []map[string]any, kp NoiseKeyPair, conn *Conn, feedKey []byte) {
	t.Helper()
	dk := hcrypto.DiscoveryKey(feedKey)
	h := hex.EncodeToString
	want := []string{
		fmt.Sprintf(`{"event":"handshake","publicKey":%q,"remotePublicKey":%q}`, h(conn.RemoteStaticKey()), h(kp.PublicKey[:])),
		fmt.Sprintf(`{"event":"open","channel":1,"discoveryKey":%q,"capability":%q,"capabilityOk":true}`, h(dk[:]), h(conn.Capability(feedKey))),
		`{"event":"options","channel":1,"extensions":["ping"],"ack":false}`,
		`{"event":"status","channel":1,"uploading":true,"downloading":false}`,
		`{"event":"want","channel":1,"start":0,"length":1048576}`,
		`{"event":"extension","channel":1,"id":0,"payload":"68656c6c6f"}`,
		`{"event":"request","channel":1,"index":0,"bytes":0,"hash":false,"nodes":0}`,
		`{"event":"data","channel":1,"index":3,"value":"","nodes":[],"signature":null}`,
		fmt.Sprintf(`{"event":"data","channel":1,"index":4,"value":null,"nodes":[{"index":4,"hash":%q,"size":1}],"signature":%q}`,
			h(repeat(0xbb, 32)), h(repeat(0xdd, 64))),
		`{"event":"have","channel":1,"start":2,"length":1,"bitfield":null,"ack":false}`,
		`{"event":"unhave","channel":1,"start":9,"length":1}`,
		`{"event":"unwant","channel":1,"start":0,"length":1048576}`,
		`{"event":"cancel","channel":1,"index":0,"bytes":0,"hash":false}`,
		`{"event":"close","channel":1,"discoveryKey":null}`,
		`{"event":"end"}`,
	}
	if len(evs) != len(want) {
		t.Errorf("JS printed %d events, want %d", len(evs), len(want))
	}
	for i := 0; i < len(evs) || i < len(want); i++ {
		var got, exp map[string]any
		if i < len(evs) {
			got = evs[i]
		}
		if i < len(want) {
			if err := json.Unmarshal([]byte(want[i]), &exp); err != nil {
				t.Fatalf("bad expectation %s: %v", want[i], err)
			}
		}
		if !reflect.DeepEqual(got, exp) {
			g, _ := json.Marshal(got)
			t.Errorf("JS event %d:\n got %s\nwant %s", i, g, want[i])
		}
	}
}

// TestInteropJSWrongKey: a JS peer that knows the feed's discovery key but
// not its key. Its Open carries a capability for the wrong key, which the Go
// side rejects; our (correct) capability fails its check as well, and it
// destroys the stream as hypercore-protocol does.
func TestInteropJSWrongKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	feedKey := repeat(0x5a, 32)
	dk := hcrypto.DiscoveryKey(feedKey)
	p, nc := listenJS(t, ctx, "--key", hex.EncodeToString(repeat(0x66, 32)), "--discovery-key", hex.EncodeToString(dk[:]))
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	conn, err := Handshake(ctx, nc, HandshakeConfig{Initiator: true})
	if err != nil {
		t.Fatal(err)
	}
	fr := NewFramer(conn, conn)
	// JS sends its queued Open as soon as its handshake completes.
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeMessage(f.Type, f.Body)
	if err != nil {
		t.Fatal(err)
	}
	open, ok := m.(*Open)
	if !ok || !bytes.Equal(open.DiscoveryKey, dk[:]) {
		t.Fatalf("first JS message %v, want Open for the discovery key", m)
	}
	if conn.VerifyRemoteCapability(feedKey, open.Capability) {
		t.Fatal("a capability made with the wrong feed key verified")
	}

	if err := fr.WriteMessage(1, NewOpen(dk[:], conn.Capability(feedKey))); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := fr.ReadFrame(); err != nil {
			if errors.Is(err, ErrBadFrame) || errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("stream ended with %v, want a closed connection", err)
			}
			break // EOF or reset: JS destroyed the stream
		}
	}

	var sawOpen, sawDestroy bool
	for _, ev := range p.wait(t) {
		switch ev["event"] {
		case "open":
			sawOpen = true
			if ev["capabilityOk"] != false {
				t.Errorf("JS accepted our capability for another key: %v", ev)
			}
		case "destroy":
			sawDestroy = true
			if msg, _ := ev["error"].(string); !strings.Contains(msg, "Invalid remote channel capability") {
				t.Errorf("JS destroyed the stream with %q", msg)
			}
		case "options", "status", "data", "have":
			t.Errorf("JS processed %v after a failed capability check", ev)
		}
	}
	if !sawOpen || !sawDestroy {
		t.Errorf("JS events: open %v, destroy %v; want both; stdout:\n%s", sawOpen, sawDestroy, strings.Join(p.lines, "\n"))
	}
}
