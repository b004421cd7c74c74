package integration

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/discovery"
	"github.com/hyperfs/hyperfs/integration/jsref"
)

// LAN discovery between two network namespaces joined by a veth pair, made
// and torn down by the test: Go and JS peers on either side find each
// other by multicast DNS only (no DHT) and exchange a line.

// netnsPair creates namespaces a and b with 10.77.x.1 and 10.77.x.2 on a
// veth pair and a multicast route, deleted at cleanup.
func netnsPair(t *testing.T) (a, b string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: LAN discovery test needs root to create network namespaces (ip netns); CI runs it as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("LAN discovery test needs the ip command (iproute2)")
	}
	var r [3]byte
	rand.Read(r[:])
	tag := hex.EncodeToString(r[:])
	a, b = "hfs-a-"+tag, "hfs-b-"+tag
	va, vb := "hfa"+tag, "hfb"+tag
	subnet := fmt.Sprintf("10.77.%d", r[0])
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", a)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", a).Run() })
	run("netns", "add", b)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", b).Run() })
	run("link", "add", va, "type", "veth", "peer", "name", vb)
	run("link", "set", va, "netns", a)
	run("link", "set", vb, "netns", b)
	for _, s := range []struct{ ns, dev, ip string }{{a, va, subnet + ".1"}, {b, vb, subnet + ".2"}} {
		run("-n", s.ns, "link", "set", "lo", "up")
		run("-n", s.ns, "addr", "add", s.ip+"/24", "dev", s.dev)
		run("-n", s.ns, "link", "set", s.dev, "up")
		run("-n", s.ns, "route", "add", "224.0.0.0/4", "dev", s.dev)
	}
	return a, b
}

// nsProc is a process in a namespace printing JSON lines.
type nsProc struct {
	t     *testing.T
	name  string
	lines chan []byte
	stdin io.WriteCloser
	errb  *strings.Builder
	mu    *sync.Mutex
}

func startInNetns(t *testing.T, ns string, env []string, dir string, argv ...string) *nsProc {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	p := &nsProc{t: t, name: ns + ": " + strings.Join(argv, " "), lines: make(chan []byte, 100), errb: &strings.Builder{}, mu: &sync.Mutex{}}
	cmd.Stderr = writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.errb.Write(b)
	})
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = stdin
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if b := s.Bytes(); len(b) > 0 && b[0] == '{' {
				p.lines <- append([]byte(nil), b...)
			}
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			p.mu.Lock()
			t.Logf("%s stderr:\n%s", p.name, p.errb.String())
			p.mu.Unlock()
		}
	})
	return p
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// waitFor reads events until one named name, within 30 s.
func (p *nsProc) waitFor(name string) swarmEvent {
	p.t.Helper()
	var ev swarmEvent
	json.Unmarshal(p.waitForRaw(name), &ev)
	return ev
}

// waitForRaw reads events until one named name, within 30 s, and returns
// its JSON line.
func (p *nsProc) waitForRaw(name string) []byte {
	p.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("%s exited before %q", p.name, name)
			}
			var ev swarmEvent
			if err := json.Unmarshal(line, &ev); err != nil {
				p.t.Fatalf("%s: %q: %v", p.name, line, err)
			}
			if ev.Event == name {
				return line
			}
		case <-timeout:
			p.t.Fatalf("%s: no %q event in 30 s", p.name, name)
		}
	}
}

// goPeer starts this test binary as a Go LAN peer (TestLANPeerHelper).
func goPeer(t *testing.T, ns, role string, topic [32]byte, name string) *nsProc {
	wd, _ := os.Getwd()
	return startInNetns(t, ns, []string{"HYPERFS_LAN_ROLE=" + role, "HYPERFS_LAN_TOPIC=" + hex.EncodeToString(topic[:]), "HYPERFS_LAN_NAME=" + name},
		wd, os.Args[0], "-test.run=^TestLANPeerHelper$", "-test.count=1")
}

func jsPeer(t *testing.T, ns, role string, topic [32]byte, name string) *nsProc {
	jsref.Require(t)
	dir, err := jsref.Dir()
	if err != nil {
		t.Fatal(err)
	}
	return startInNetns(t, ns, nil, dir, "node", filepath.Join("scripts", "swarm-peer.js"),
		"--topic", hex.EncodeToString(topic[:]), "--"+role, "--bootstrap", "", "--name", name, "--timeout", "30000")
}

func TestLANDiscovery(t *testing.T) {
	a, b := netnsPair(t)
	type starter func(t *testing.T, ns, role string, topic [32]byte, name string) *nsProc
	for _, c := range []struct {
		name                string
		announcer, looker   starter
		announcerN, lookerN string
	}{
		{"JS announces, Go finds", jsPeer, goPeer, "js", "go"},
		{"Go announces, JS finds", goPeer, jsPeer, "go", "js"},
		{"Go announces, Go finds", goPeer, goPeer, "go1", "go2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			topic := newTopic()
			ann := c.announcer(t, a, "announce", topic, c.announcerN)
			ann.waitFor("listening")
			ann.waitFor("joined")
			look := c.looker(t, b, "lookup", topic, c.lookerN)
			if got := look.waitFor("line"); got.Text != c.announcerN {
				t.Fatalf("looker read %q, want %q", got.Text, c.announcerN)
			}
			if got := ann.waitFor("line"); got.Text != c.lookerN {
				t.Fatalf("announcer read %q, want %q", got.Text, c.lookerN)
			}
		})
	}
}

// TestLANPeerHelper is the Go peer of TestLANDiscovery, run in a network
// namespace by re-executing the test binary; it does nothing otherwise.
func TestLANPeerHelper(t *testing.T) {
	role := os.Getenv("HYPERFS_LAN_ROLE")
	if role == "" {
		t.Skip("helper process of TestLANDiscovery")
	}
	var topic [32]byte
	if _, err := hex.Decode(topic[:], []byte(os.Getenv("HYPERFS_LAN_TOPIC"))); err != nil {
		t.Fatal(err)
	}
	emit := func(v map[string]any) {
		b, _ := json.Marshal(v)
		fmt.Printf("%s\n", b)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := discovery.Listen(ctx, discovery.Options{NoDHT: true, Logger: discoveryLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	emit(map[string]any{"event": "listening", "port": s.Addr().Port()})
	s.Join(topic, discovery.JoinOptions{Announce: role == "announce", Lookup: role == "lookup"})
	emit(map[string]any{"event": "joined"})
	c, err := s.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	emit(map[string]any{"event": "connection", "client": c.Initiator, "remoteAddress": c.RemoteAddr().String()})
	c.Write([]byte(os.Getenv("HYPERFS_LAN_NAME") + "\n"))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	emit(map[string]any{"event": "line", "text": strings.TrimSuffix(line, "\n")})
	io.Copy(io.Discard, os.Stdin)
}
