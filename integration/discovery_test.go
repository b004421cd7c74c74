package integration

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/discovery"
	"github.com/hyperfs/hyperfs/discovery/dht"
	"github.com/hyperfs/hyperfs/integration/jsref"
)

// swarmEvent is a line of swarm-peer.js or swarm-dht.js.
type swarmEvent struct {
	Event         string
	Host          string
	Port          int
	Client        bool
	Type          string
	Text          string
	RemoteAddress string
	RemotePort    int
	Ms            float64
}

// waitFor reads events of p until one named name.
func waitFor(t *testing.T, p *jsref.Process, name string) swarmEvent {
	t.Helper()
	for {
		var ev swarmEvent
		p.Next(&ev)
		if ev.Event == name {
			return ev
		}
	}
}

func discoveryLogger() *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// jsBootstrap starts a persistent JS DHT node on 127.0.0.1 and returns its
// address.
func jsBootstrap(t *testing.T) string {
	t.Helper()
	p := jsref.Start(t, "swarm-dht.js", "--persistent")
	ev := waitFor(t, p, "listening")
	waitFor(t, p, "ready")
	return fmt.Sprintf("%s:%d", ev.Host, ev.Port)
}

// goSwarm starts a Go swarm on 127.0.0.1 with DHT only.
func goSwarm(t *testing.T, bootstrap string) *discovery.Swarm {
	t.Helper()
	s, err := discovery.Listen(t.Context(), discovery.Options{
		Host: "127.0.0.1", Bootstrap: []string{bootstrap}, NoMDNS: true,
		DHTTimeout: 300 * time.Millisecond, Logger: discoveryLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newTopic() (k [32]byte) {
	rand.Read(k[:])
	return k
}

// goHello accepts connections until one carries a line back: it sends
// "go" and returns the line read. A connection the dialer drops unread is
// skipped: @hyperswarm/network dials a peer found through a DHT node over
// TCP and, after a holepunch, over uTP at once, and destroys whichever
// connects second, which this side has already accepted.
func goHello(t *testing.T, s *discovery.Swarm) (*discovery.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		c, err := s.Accept(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("go\n")); err != nil {
			t.Logf("skipping a connection the dialer dropped (%s): %v", c.PeerTransport(), err)
			continue
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Logf("skipping a connection the dialer dropped (%s): %v", c.PeerTransport(), err)
			continue
		}
		return c, strings.TrimSuffix(line, "\n")
	}
}

// TestSwarmJSAnnouncesGoFinds: a JS hyperswarm peer announces a topic on a
// DHT of one JS bootstrap node; a Go swarm looks it up, dials it over TCP
// and they exchange a line each way.
func TestSwarmJSAnnouncesGoFinds(t *testing.T) {
	boot := jsBootstrap(t)
	topic := newTopic()
	js := jsref.Start(t, "swarm-peer.js", "--topic", hex.EncodeToString(topic[:]), "--announce", "--bootstrap", boot)
	l := waitFor(t, js, "listening")
	waitFor(t, js, "joined")

	g := goSwarm(t, boot)
	if err := g.Join(topic, discovery.JoinOptions{Lookup: true}); err != nil {
		t.Fatal(err)
	}
	c, line := goHello(t, g)
	if line != "js" || !c.Initiator || c.Peer.Addr.Port() != uint16(l.Port) || c.Peer.Local {
		t.Fatalf("Go read %q from %+v (initiator %v), want js from port %d via the DHT", line, c.Peer, c.Initiator, l.Port)
	}
	if got := waitFor(t, js, "connection"); got.Client {
		t.Fatalf("JS connection %+v, want one received", got)
	}
	if got := waitFor(t, js, "line"); got.Text != "go" {
		t.Fatalf("JS read %q", got.Text)
	}
}

// TestSwarmGoAnnouncesJSFinds: the reverse.
func TestSwarmGoAnnouncesJSFinds(t *testing.T) {
	boot := jsBootstrap(t)
	topic := newTopic()
	g := goSwarm(t, boot)
	if err := g.Join(topic, discovery.JoinOptions{Announce: true}); err != nil {
		t.Fatal(err)
	}
	if err := g.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	js := jsref.Start(t, "swarm-peer.js", "--topic", hex.EncodeToString(topic[:]), "--lookup", "--bootstrap", boot)
	c, line := goHello(t, g)
	if line != "js" || c.Initiator {
		t.Fatalf("Go read %q (initiator %v), want js on a received connection", line, c.Initiator)
	}
	// The JS dialer races TCP against uTP after a holepunch through the
	// DHT node that referred it (@hyperswarm/network's connect) and keeps
	// the first to connect: either is right, on the swarm's one port.
	conn := waitFor(t, js, "connection")
	if !conn.Client || conn.RemotePort != int(g.Addr().Port()) || conn.Type != c.Transport.Name {
		t.Fatalf("JS connection %+v, want a client connection to port %d over %s, as Go received it", conn, g.Addr().Port(), c.Transport.Name)
	}
	if got := waitFor(t, js, "line"); got.Text != "go" {
		t.Fatalf("JS read %q", got.Text)
	}
}

// TestSwarmGoBootstrapServesJS: two JS hyperswarm peers find each other
// through a Go bootstrap node, and a Go peer finds them there too.
func TestSwarmGoBootstrapServesJS(t *testing.T) {
	n, err := dht.Listen(t.Context(), dht.Config{Addr: "127.0.0.1:0", Bootstrap: []string{}, Persistent: true, Logger: discoveryLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	boot := n.Addr().String()
	topic := newTopic()
	a := jsref.Start(t, "swarm-peer.js", "--topic", hex.EncodeToString(topic[:]), "--announce", "--bootstrap", boot, "--name", "a")
	waitFor(t, a, "joined")
	b := jsref.Start(t, "swarm-peer.js", "--topic", hex.EncodeToString(topic[:]), "--lookup", "--bootstrap", boot, "--name", "b")
	if got := waitFor(t, b, "line"); got.Text != "a" {
		t.Fatalf("JS lookup peer read %q, want a", got.Text)
	}
	if got := waitFor(t, a, "line"); got.Text != "b" {
		t.Fatalf("JS announcer read %q, want b", got.Text)
	}
	g := goSwarm(t, boot)
	g.Join(topic, discovery.JoinOptions{Lookup: true})
	if _, line := goHello(t, g); line != "a" {
		t.Fatalf("Go read %q, want a", line)
	}
}
