// Package linksim builds a star of Linux network namespaces for benchmarks
// over slow links: a hub namespace joined to each host namespace by its own
// veth pair, on its own /24 (the hub is .1, the host .2), each link shaped
// by tc tbf in both directions. Hosts reach each other only through the
// hub, where a program (a delay proxy, say) forwards between them. It needs
// root, ip and tc (iproute2).
//
//	host 1  10.Y.1.2 ── 10.Y.1.1
//	host 2  10.Y.2.2 ── 10.Y.2.1   hub
//	...
package linksim

import (
	"fmt"
	"os/exec"

	"github.com/hyperfs/hyperfs/internal/netns"
)

// Host is one namespace at the end of a link.
type Host struct {
	NS    string // namespace name
	IP    string // its address
	HubIP string // the hub's address on its link
	dev   string // the hub's end of the link
}

// Net is a built star; Close removes it.
type Net struct {
	Hub   string
	Hosts []Host
	set   *netns.Set
}

// Tools returns an error naming what is missing to build a Net.
func Tools() error {
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("the link simulation needs %s (iproute2)", tool)
		}
	}
	return nil
}

// New builds a hub and n hosts, unshaped.
func New(n int) (net *Net, err error) {
	if err := Tools(); err != nil {
		return nil, err
	}
	if n < 1 || n > 250 {
		return nil, fmt.Errorf("linksim: %d hosts: want 1 to 250", n)
	}
	set := netns.New()
	y := set.Pick(200, 50) // natsim uses 10.100-199
	net = &Net{Hub: "hfl-hub-" + set.Tag, set: set}
	defer func() {
		if err != nil {
			net.Close()
			net = nil
		}
	}()
	if err := set.Add(net.Hub); err != nil {
		return nil, err
	}
	for i := 1; i <= n; i++ {
		h := Host{NS: fmt.Sprintf("hfl-h%d-%s", i, set.Tag), IP: fmt.Sprintf("10.%d.%d.2", y, i),
			HubIP: fmt.Sprintf("10.%d.%d.1", y, i), dev: fmt.Sprintf("l%d", i)}
		if err := set.Add(h.NS); err != nil {
			return nil, err
		}
		if err := set.Link(net.Hub, h.dev, h.NS, "eth0"); err != nil {
			return nil, err
		}
		for _, args := range [][]string{
			{"ip", "-n", net.Hub, "addr", "add", h.HubIP + "/24", "dev", h.dev},
			{"ip", "-n", h.NS, "addr", "add", h.IP + "/24", "dev", "eth0"},
		} {
			if err := netns.Run(args...); err != nil {
				return nil, err
			}
		}
		net.Hosts = append(net.Hosts, h)
	}
	return net, nil
}

// Shape limits host i's link (0-based) to rate (a tc rate, "100mbit") in
// both directions with a token bucket filter, replacing an earlier shape.
// The bucket holds a few milliseconds of traffic and the queue 100 ms, so a
// TCP sender finds the rate without the queue dominating the delay.
func (n *Net) Shape(i int, rate string) error {
	h := n.Hosts[i]
	for _, end := range [][2]string{{n.Hub, h.dev}, {h.NS, "eth0"}} {
		if err := netns.Run("ip", "netns", "exec", end[0], "tc", "qdisc", "replace", "dev", end[1], "root",
			"tbf", "rate", rate, "burst", "128kb", "latency", "100ms"); err != nil {
			return err
		}
	}
	return nil
}

// Command returns a command that runs argv in namespace ns.
func (n *Net) Command(ns string, argv ...string) *exec.Cmd { return netns.Command(ns, argv...) }

// Close deletes the namespaces, and with them the links.
func (n *Net) Close() { n.set.Close() }
