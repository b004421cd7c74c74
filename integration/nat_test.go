package integration

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/discovery/dht"
	"github.com/hyperfs/hyperfs/integration/jsref"
)

// The NAT simulation: a "public" network namespace whose bridge links two
// home routers and carries a DHT (a JS @hyperswarm/dht bootstrap node and
// a Go node); behind each router, a host on its own LAN. A router
// masquerades its LAN behind its public address and, like a home router,
// lets in from the outside only traffic of connections its LAN started
// (conntrack ESTABLISHED,RELATED), both forwarded and addressed to itself.
//
//	            pub (br0 10.X.0.1: DHT nodes)
//	           /                             \
//	rA 10.X.0.2 (NAT)                  rB 10.X.0.3 (NAT)
//	   10.X.1.1                           10.X.2.1
//	     |                                  |
//	hA 10.X.1.2                        hB 10.X.2.2
type natNet struct {
	pub, hA, hB string // namespace names
	pubIP       string // the DHT's address
	routerA     string // rA's public address
	bootstrap   string // "jsnode,gonode"
}

type natKind int

const (
	natCone      natKind = iota // MASQUERADE keeps source ports: holepunchable
	natSymmetric                // MASQUERADE --random-fully: a new port per destination
	natNone                     // plain routing, inbound allowed
)

func newNATNet(t *testing.T, kind natKind) *natNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: the NAT simulation needs root (ip netns, iptables); CI runs it as root")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the NAT simulation needs %s (scripts/test installs it)", tool)
		}
	}
	var r [3]byte
	rand.Read(r[:])
	tag := hex.EncodeToString(r[:])
	x := 100 + int(r[0])%100
	ns := func(n string) string { return "hfs-" + n + "-" + tag }
	n := &natNet{pub: ns("pub"), hA: ns("ha"), hB: ns("hb"), pubIP: fmt.Sprintf("10.%d.0.1", x), routerA: fmt.Sprintf("10.%d.0.2", x)}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	in := func(ns string, args ...string) {
		t.Helper()
		run(append([]string{"ip", "netns", "exec", ns}, args...)...)
	}
	rA, rB := ns("ra"), ns("rb")
	for _, name := range []string{n.pub, rA, rB, n.hA, n.hB} {
		run("ip", "netns", "add", name)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
		run("ip", "-n", name, "link", "set", "lo", "up")
	}
	run("ip", "-n", n.pub, "link", "add", "br0", "type", "bridge")
	run("ip", "-n", n.pub, "addr", "add", n.pubIP+"/24", "dev", "br0")
	run("ip", "-n", n.pub, "link", "set", "br0", "up")
	link := func(a, aDev, b, bDev string) {
		t.Helper()
		tmpA, tmpB := "hv"+tag+aDev, "hv"+tag+bDev
		run("ip", "link", "add", tmpA, "type", "veth", "peer", "name", tmpB)
		run("ip", "link", "set", tmpA, "netns", a)
		run("ip", "link", "set", tmpB, "netns", b)
		run("ip", "-n", a, "link", "set", tmpA, "name", aDev)
		run("ip", "-n", b, "link", "set", tmpB, "name", bDev)
		run("ip", "-n", a, "link", "set", aDev, "up")
		run("ip", "-n", b, "link", "set", bDev, "up")
	}
	for i, r := range []struct{ router, host string }{{rA, n.hA}, {rB, n.hB}} {
		wanIP := fmt.Sprintf("10.%d.0.%d", x, i+2)
		lan := fmt.Sprintf("10.%d.%d", x, i+1)
		link(r.router, "wan", n.pub, fmt.Sprintf("p%d", i))
		run("ip", "-n", n.pub, "link", "set", fmt.Sprintf("p%d", i), "master", "br0")
		run("ip", "-n", r.router, "addr", "add", wanIP+"/24", "dev", "wan")
		link(r.router, "lan", r.host, "eth0")
		run("ip", "-n", r.router, "addr", "add", lan+".1/24", "dev", "lan")
		run("ip", "-n", r.host, "addr", "add", lan+".2/24", "dev", "eth0")
		run("ip", "-n", r.host, "route", "add", "default", "via", lan+".1")
		in(r.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		switch kind {
		case natNone:
			// Routed, not translated: the public side reaches the LAN.
			other := fmt.Sprintf("10.%d.%d.0/24", x, 2-i)
			otherRouter := fmt.Sprintf("10.%d.0.%d", x, 3-i)
			run("ip", "-n", r.router, "route", "add", other, "via", otherRouter)
			run("ip", "-n", n.pub, "route", "add", lan+".0/24", "via", wanIP)
		default:
			masq := []string{"iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"}
			if kind == natSymmetric {
				masq = append(masq, "--random-fully")
			}
			in(r.router, masq...)
			in(r.router, "iptables", "-P", "FORWARD", "DROP")
			in(r.router, "iptables", "-A", "FORWARD", "-i", "lan", "-o", "wan", "-j", "ACCEPT")
			in(r.router, "iptables", "-A", "FORWARD", "-i", "wan", "-o", "lan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
			// Unsolicited packets to the router itself are dropped before
			// conntrack confirms them, so they leave no entry that would
			// make the NAT pick another port for the host's reply.
			in(r.router, "iptables", "-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
			in(r.router, "iptables", "-A", "INPUT", "-i", "wan", "-j", "DROP")
		}
	}

	// The DHT on the public side: a JS bootstrap node and a Go node.
	jsref.Require(t)
	dir, err := jsref.Dir()
	if err != nil {
		t.Fatal(err)
	}
	js := startInNetns(t, n.pub, nil, dir, "node", filepath.Join("scripts", "swarm-dht.js"), "--persistent", "--host", n.pubIP, "--port", "49737", "--timeout", "600000")
	js.waitFor("listening")
	js.waitFor("ready")
	jsAddr := n.pubIP + ":49737"
	wd, _ := os.Getwd()
	gon := startInNetns(t, n.pub, []string{"HYPERFS_NAT_DHT=" + n.pubIP + ":49738", "HYPERFS_NAT_BOOTSTRAP=" + jsAddr}, wd, os.Args[0], "-test.run=^TestNATDHTHelper$", "-test.count=1")
	gon.waitFor("ready")
	n.bootstrap = jsAddr + "," + n.pubIP + ":49738"
	return n
}

// TestNATDHTHelper is the Go DHT node of the NAT simulation, run in its
// public namespace by re-executing the test binary.
func TestNATDHTHelper(t *testing.T) {
	addr := os.Getenv("HYPERFS_NAT_DHT")
	if addr == "" {
		t.Skip("helper process of the NAT tests")
	}
	n, err := dht.Listen(context.Background(), dht.Config{Addr: addr, Bootstrap: []string{os.Getenv("HYPERFS_NAT_BOOTSTRAP")}, Persistent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	fmt.Println(`{"event":"ready"}`)
	buf := make([]byte, 1)
	os.Stdin.Read(buf) // until the test closes stdin
}

func (n *natNet) bootstrapFlags() []string {
	var out []string
	for _, b := range strings.Split(n.bootstrap, ",") {
		out = append(out, "--bootstrap", b)
	}
	return out
}

// hyperfsIn runs hyperfs in a namespace to completion.
func hyperfsIn(t *testing.T, ns string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, hyperfsBin(t)}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// hyperfsSeeder serves the drive of storage dir from namespace ns.
func hyperfsSeeder(t *testing.T, n *natNet, ns, dir, key string) {
	t.Helper()
	env := cliEnv(t)
	if out, err := hyperfsIn(t, ns, env, "seed", "--storage", dir, key); err != nil {
		t.Fatalf("hyperfs seed: %v\n%s", err, out)
	}
	startInNetns(t, ns, env, "", append([]string{hyperfsBin(t), "serve", "--no-mdns", "--storage", dir}, n.bootstrapFlags()...)...)
	// serve prints "serving 1 drives" (not JSON) once announced; give the
	// first DHT round a moment, the readers look up again anyway.
	time.Sleep(time.Second)
}

// exportedSums returns the sha256 of every file under dir, by drive path.
func exportedSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := sha256.Sum256(b)
		rel, _ := filepath.Rel(dir, p)
		sums["/"+filepath.ToSlash(rel)] = hex.EncodeToString(s[:])
		return nil
	})
	return sums
}

// jsDriveSeeder writes a sample drive with the JS stack and serves it from
// namespace ns; it returns the drive's key and its files' digests.
func jsDriveSeeder(t *testing.T, n *natNet, ns string) (string, map[string]string, *nsProc) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "js")
	var rep driveReport
	jsref.RunJSON(t, &rep, "drive-write.js", dir, "--big-size", fmt.Sprint(3<<20), "--small", "5")
	jsDir, _ := jsref.Dir()
	p := startInNetns(t, ns, nil, jsDir, "node", filepath.Join("scripts", "drive-swarm.js"), dir, "--bootstrap", n.bootstrap, "--connections")
	p.waitFor("joined")
	want := map[string]string{}
	for path, e := range rep.Entries {
		if e.SHA256 != "" {
			want[path] = e.SHA256
		}
	}
	return rep.Key, want, p
}

func compareSums(t *testing.T, got, want map[string]string) {
	t.Helper()
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: sha256 %q, want %s", p, got[p], w)
		}
	}
	if len(want) == 0 {
		t.Fatal("nothing to compare")
	}
}

// hyperfsExport fetches a drive by key from namespace ns into a folder.
func hyperfsExport(t *testing.T, n *natNet, ns, key string, timeout time.Duration) (string, string, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	msg, err := hyperfsIn(t, ns, cliEnv(t), append(append([]string{"export", "--no-mdns", "--timeout", timeout.String(), "--storage", filepath.Join(t.TempDir(), "go")}, n.bootstrapFlags()...), key, out)...)
	t.Logf("hyperfs export took %v", time.Since(start).Round(time.Millisecond))
	if os.Getenv("HYPERFS_NAT_LOG") != "" {
		t.Log(msg)
	}
	return out, msg, err
}

// TestNAT: peers behind two NATs that drop unsolicited traffic reach each
// other by holepunching and uTP, whichever side is JS or hyperfs, and
// every file's bytes arrive intact.
func TestNAT(t *testing.T) {
	n := newNATNet(t, natCone)

	t.Run("JS seeder, hyperfs reader", func(t *testing.T) {
		key, want, seeder := jsDriveSeeder(t, n, n.hA)
		out, msg, err := hyperfsExport(t, n, n.hB, key, 60*time.Second)
		if err != nil {
			t.Fatalf("hyperfs export across two NATs: %v\n%s", err, msg)
		}
		compareSums(t, exportedSums(t, out), want)
		if c := seeder.waitFor("connection"); c.Type != "utp" {
			t.Errorf("JS seeder got a %s connection, want utp", c.Type)
		}
	})

	t.Run("hyperfs seeder, JS reader", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "src")
		key := writeBigDrive(t, src, 3<<20)
		hyperfsSeeder(t, n, n.hA, src, key)
		jsDir, _ := jsref.Dir()
		p := startInNetns(t, n.hB, nil, jsDir, "node", filepath.Join("scripts", "drive-swarm.js"), filepath.Join(t.TempDir(), "js"),
			"--bootstrap", n.bootstrap, "--key", key, "--read", "/small.txt,/big.bin", "--connections")
		if c := p.waitFor("connection"); c.Type != "utp" {
			t.Errorf("JS reader got a %s connection, want utp", c.Type)
		}
		read := p.waitForRaw("read")
		var r struct{ Files map[string]string }
		json.Unmarshal(read, &r)
		big := make([]byte, 3<<20)
		fillPattern(big, 0)
		sb := sha256.Sum256(big)
		ss := sha256.Sum256([]byte("a small file in a big drive\n"))
		compareSums(t, r.Files, map[string]string{"/big.bin": hex.EncodeToString(sb[:]), "/small.txt": hex.EncodeToString(ss[:])})
	})

	t.Run("hyperfs seeder, hyperfs reader", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "src")
		key := writeBigDrive(t, src, 3<<20)
		hyperfsSeeder(t, n, n.hA, src, key)
		out, msg, err := hyperfsExport(t, n, n.hB, key, 60*time.Second)
		if err != nil {
			t.Fatalf("hyperfs export across two NATs: %v\n%s", err, msg)
		}
		big := make([]byte, 3<<20)
		fillPattern(big, 0)
		sb := sha256.Sum256(big)
		ss := sha256.Sum256([]byte("a small file in a big drive\n"))
		compareSums(t, exportedSums(t, out), map[string]string{"/big.bin": hex.EncodeToString(sb[:]), "/small.txt": hex.EncodeToString(ss[:])})
		// info shows how the peer was reached.
		info, err := hyperfsIn(t, n.hB, cliEnv(t), append(append([]string{"info", "--no-mdns", "--storage", filepath.Join(t.TempDir(), "go")}, n.bootstrapFlags()...), key)...)
		if err != nil || !strings.Contains(info, n.routerA+":") || !strings.Contains(info, "utp (holepunched)") {
			t.Fatalf("hyperfs info across two NATs (%v):\n%s", err, info)
		}
		t.Logf("hyperfs info:\n%s", info)
	})
}

// TestNATSymmetric: behind NATs that pick a new port for every destination
// (where JS peers fail too), hyperfs says that peers were found but none
// could be reached, not that nobody is online.
func TestNATSymmetric(t *testing.T) {
	n := newNATNet(t, natSymmetric)
	key, _, _ := jsDriveSeeder(t, n, n.hA)
	_, msg, err := hyperfsExport(t, n, n.hB, key, 20*time.Second)
	if err == nil {
		t.Fatalf("hyperfs export across symmetric NATs succeeded:\n%s", msg)
	}
	if !strings.Contains(msg, "none could be reached") || !strings.Contains(msg, "holepunch") {
		t.Fatalf("hyperfs export across symmetric NATs: %v\n%s", err, msg)
	}
	t.Logf("error: %s", msg)
}

// TestNATNone: without NATs the same peers connect over TCP.
func TestNATNone(t *testing.T) {
	n := newNATNet(t, natNone)
	key, want, seeder := jsDriveSeeder(t, n, n.hA)
	out, msg, err := hyperfsExport(t, n, n.hB, key, 60*time.Second)
	if err != nil {
		t.Fatalf("hyperfs export without NATs: %v\n%s", err, msg)
	}
	compareSums(t, exportedSums(t, out), want)
	if c := seeder.waitFor("connection"); c.Type != "tcp" {
		t.Errorf("JS seeder got a %s connection, want tcp", c.Type)
	}
}
