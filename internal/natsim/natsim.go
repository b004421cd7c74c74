// Package natsim builds a small simulated internet in Linux network
// namespaces, for tests and benchmarks of reaching peers behind NATs: a
// "public" namespace whose bridge links two home routers, and behind each
// router a host on its own LAN.
//
//	            Pub (br0 10.X.0.1)
//	           /                  \
//	rA 10.X.0.2 (NAT)        rB 10.X.0.3 (NAT)
//	   10.X.1.1                 10.X.2.1
//	     |                        |
//	HA 10.X.1.2              HB 10.X.2.2
//
// A router masquerades its LAN behind its public address and, like a home
// router, lets in from outside only traffic of connections its LAN started
// (conntrack ESTABLISHED,RELATED), forwarded or addressed to itself. It
// needs root, ip (iproute2) and iptables.
package natsim

import (
	"fmt"
	"os/exec"

	"github.com/hyperfs/hyperfs/internal/netns"
)

// Kind is the routers' kind of NAT.
type Kind int

const (
	// Cone masquerades keeping source ports (Linux MASQUERADE): a UDP
	// holepunch through a third party gets through.
	Cone Kind = iota
	// Symmetric picks a random port per destination (MASQUERADE
	// --random-fully): no holepunch gets through.
	Symmetric
	// None routes without translation and lets everything in.
	None
)

// Net is a built simulation; Close removes it.
type Net struct {
	Pub, HA, HB string // namespace names
	PubIP       string // the public namespace's address on the bridge
	RouterA     string // router A's public address (B's is .3)
	RouterB     string
	routers     [2]string // router namespaces
	set         *netns.Set
}

// Tools returns an error naming what is missing to build a Net.
func Tools() error {
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("the NAT simulation needs %s", tool)
		}
	}
	return nil
}

// New builds a simulation with routers of the given kind.
func New(kind Kind) (n *Net, err error) {
	if err := Tools(); err != nil {
		return nil, err
	}
	set := netns.New()
	x := set.Pick(100, 100)
	ns := func(s string) string { return "hfs-" + s + "-" + set.Tag }
	rA, rB := ns("ra"), ns("rb")
	n = &Net{Pub: ns("pub"), HA: ns("ha"), HB: ns("hb"), PubIP: fmt.Sprintf("10.%d.0.1", x),
		RouterA: fmt.Sprintf("10.%d.0.2", x), RouterB: fmt.Sprintf("10.%d.0.3", x), routers: [2]string{rA, rB}, set: set}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	// Each step runs only while all before it succeeded.
	run := func(args ...string) {
		if err == nil {
			err = netns.Run(args...)
		}
	}
	in := func(ns string, args ...string) { run(append([]string{"ip", "netns", "exec", ns}, args...)...) }
	for _, name := range []string{n.Pub, rA, rB, n.HA, n.HB} {
		if err == nil {
			err = set.Add(name)
		}
	}
	run("ip", "-n", n.Pub, "link", "add", "br0", "type", "bridge")
	run("ip", "-n", n.Pub, "addr", "add", n.PubIP+"/24", "dev", "br0")
	run("ip", "-n", n.Pub, "link", "set", "br0", "up")
	link := func(a, aDev, b, bDev string) {
		if err == nil {
			err = set.Link(a, aDev, b, bDev)
		}
	}
	for i, r := range []struct{ router, host string }{{rA, n.HA}, {rB, n.HB}} {
		wanIP := fmt.Sprintf("10.%d.0.%d", x, i+2)
		lan := fmt.Sprintf("10.%d.%d", x, i+1)
		link(r.router, "wan", n.Pub, fmt.Sprintf("p%d", i))
		run("ip", "-n", n.Pub, "link", "set", fmt.Sprintf("p%d", i), "master", "br0")
		run("ip", "-n", r.router, "addr", "add", wanIP+"/24", "dev", "wan")
		link(r.router, "lan", r.host, "eth0")
		run("ip", "-n", r.router, "addr", "add", lan+".1/24", "dev", "lan")
		run("ip", "-n", r.host, "addr", "add", lan+".2/24", "dev", "eth0")
		run("ip", "-n", r.host, "route", "add", "default", "via", lan+".1")
		in(r.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		if kind == None {
			// Routed, not translated: the public side reaches the LAN.
			run("ip", "-n", r.router, "route", "add", fmt.Sprintf("10.%d.%d.0/24", x, 2-i), "via", fmt.Sprintf("10.%d.0.%d", x, 3-i))
			run("ip", "-n", n.Pub, "route", "add", lan+".0/24", "via", wanIP)
			continue
		}
		masq := []string{"iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"}
		if kind == Symmetric {
			masq = append(masq, "--random-fully")
		}
		in(r.router, masq...)
		in(r.router, "iptables", "-P", "FORWARD", "DROP")
		in(r.router, "iptables", "-A", "FORWARD", "-i", "lan", "-o", "wan", "-j", "ACCEPT")
		in(r.router, "iptables", "-A", "FORWARD", "-i", "wan", "-o", "lan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
		// Unsolicited packets to the router itself are dropped before
		// conntrack confirms them, so they leave no entry that would make
		// the NAT pick another port for the host's reply.
		in(r.router, "iptables", "-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
		in(r.router, "iptables", "-A", "INPUT", "-i", "wan", "-j", "DROP")
	}
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Shape limits the public side of both routers' links to rate (a tc rate,
// "100mbit") with a token bucket filter, in both directions.
func (n *Net) Shape(rate string) error {
	for _, dev := range []string{"p0", "p1"} {
		if out, err := exec.Command("ip", "netns", "exec", n.Pub, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate, "burst", "64kb", "latency", "200ms").CombinedOutput(); err != nil {
			return fmt.Errorf("tc on %s: %v: %s", dev, err, out)
		}
	}
	for _, r := range n.routers {
		if out, err := exec.Command("ip", "netns", "exec", r, "tc", "qdisc", "add", "dev", "wan", "root", "tbf", "rate", rate, "burst", "64kb", "latency", "200ms").CombinedOutput(); err != nil {
			return fmt.Errorf("tc on %s wan: %v: %s", r, err, out)
		}
	}
	return nil
}

// Command returns a command that runs argv in namespace ns.
func (n *Net) Command(ns string, argv ...string) *exec.Cmd { return netns.Command(ns, argv...) }

// Close deletes the namespaces (and with them the links).
func (n *Net) Close() { n.set.Close() }
