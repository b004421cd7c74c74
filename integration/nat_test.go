package integration

import (
	"context"
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
	"github.com/hyperfs/hyperfs/internal/natsim"
)

// The NAT simulation (package natsim): two hosts, each behind a router that
// masquerades it and drops unsolicited inbound traffic, and on the public
// side a DHT of a JS @hyperswarm/dht bootstrap node and a Go node.
type natNet struct {
	*natsim.Net
	bootstrap string // "jsnode,gonode"
}

func newNATNet(t *testing.T, kind natsim.Kind) *natNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: the NAT simulation needs root (ip netns, iptables); CI runs it as root")
	}
	sim, err := natsim.New(kind)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	n := &natNet{Net: sim}

	// The DHT on the public side: a JS bootstrap node and a Go node.
	jsref.Require(t)
	dir, err := jsref.Dir()
	if err != nil {
		t.Fatal(err)
	}
	js := startInNetns(t, n.Pub, nil, dir, "node", filepath.Join("scripts", "swarm-dht.js"), "--persistent", "--host", n.PubIP, "--port", "49737", "--timeout", "600000")
	js.waitFor("listening")
	js.waitFor("ready")
	jsAddr := n.PubIP + ":49737"
	wd, _ := os.Getwd()
	gon := startInNetns(t, n.Pub, []string{"HYPERFS_NAT_DHT=" + n.PubIP + ":49738", "HYPERFS_NAT_BOOTSTRAP=" + jsAddr}, wd, os.Args[0], "-test.run=^TestNATDHTHelper$", "-test.count=1")
	gon.waitFor("ready")
	n.bootstrap = jsAddr + "," + n.PubIP + ":49738"
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
	hyperfsBin(t) // built before the clock starts
	start := time.Now()
	msg, err := hyperfsIn(t, ns, cliEnv(t), append(append([]string{"export", "--no-mdns", "--timeout", timeout.String(), "--storage", filepath.Join(t.TempDir(), "go")}, n.bootstrapFlags()...), key, out)...)
	t.Logf("hyperfs export took %v", time.Since(start).Round(time.Millisecond))
	if os.Getenv("HYPERFS_NAT_LOG") != "" {
		t.Logf("started at %s\n%s", start.UTC().Format("15:04:05.000"), msg)
	}
	return out, msg, err
}

// TestNAT: peers behind two NATs that drop unsolicited traffic reach each
// other by holepunching and uTP, whichever side is JS or hyperfs, and
// every file's bytes arrive intact.
func TestNAT(t *testing.T) {
	n := newNATNet(t, natsim.Cone)

	t.Run("JS seeder, hyperfs reader", func(t *testing.T) {
		key, want, seeder := jsDriveSeeder(t, n, n.HA)
		out, msg, err := hyperfsExport(t, n, n.HB, key, 60*time.Second)
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
		hyperfsSeeder(t, n, n.HA, src, key)
		jsDir, _ := jsref.Dir()
		p := startInNetns(t, n.HB, nil, jsDir, "node", filepath.Join("scripts", "drive-swarm.js"), filepath.Join(t.TempDir(), "js"),
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
		hyperfsSeeder(t, n, n.HA, src, key)
		out, msg, err := hyperfsExport(t, n, n.HB, key, 60*time.Second)
		if err != nil {
			t.Fatalf("hyperfs export across two NATs: %v\n%s", err, msg)
		}
		big := make([]byte, 3<<20)
		fillPattern(big, 0)
		sb := sha256.Sum256(big)
		ss := sha256.Sum256([]byte("a small file in a big drive\n"))
		compareSums(t, exportedSums(t, out), map[string]string{"/big.bin": hex.EncodeToString(sb[:]), "/small.txt": hex.EncodeToString(ss[:])})
		// info shows how the peer was reached.
		info, err := hyperfsIn(t, n.HB, cliEnv(t), append(append([]string{"info", "--no-mdns", "--storage", filepath.Join(t.TempDir(), "go")}, n.bootstrapFlags()...), key)...)
		if err != nil || !strings.Contains(info, n.RouterA+":") || !strings.Contains(info, "utp (holepunched)") {
			t.Fatalf("hyperfs info across two NATs (%v):\n%s", err, info)
		}
		t.Logf("hyperfs info:\n%s", info)
	})
}

// TestNATSymmetric: behind NATs that pick a new port for every destination
// (where JS peers fail too), hyperfs says that peers were found but none
// could be reached, not that nobody is online.
func TestNATSymmetric(t *testing.T) {
	n := newNATNet(t, natsim.Symmetric)
	key, _, _ := jsDriveSeeder(t, n, n.HA)
	_, msg, err := hyperfsExport(t, n, n.HB, key, 20*time.Second)
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
	n := newNATNet(t, natsim.None)
	key, want, seeder := jsDriveSeeder(t, n, n.HA)
	out, msg, err := hyperfsExport(t, n, n.HB, key, 60*time.Second)
	if err != nil {
		t.Fatalf("hyperfs export without NATs: %v\n%s", err, msg)
	}
	compareSums(t, exportedSums(t, out), want)
	if c := seeder.waitFor("connection"); c.Type != "tcp" {
		t.Errorf("JS seeder got a %s connection, want tcp", c.Type)
	}
}
