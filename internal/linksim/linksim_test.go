package linksim

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestStarBuiltShapedAndRemoved(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if err := Tools(); err != nil {
		t.Skip(err)
	}
	n, err := New(2)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Shape(1, "10mbit"); err != nil {
		t.Fatal(err)
	}
	if err := n.Shape(1, "20mbit"); err != nil { // replaces
		t.Fatal(err)
	}
	out, err := n.Command(n.Hosts[1].NS, "tc", "qdisc", "show", "dev", "eth0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "tbf") || !strings.Contains(string(out), "20Mbit") {
		t.Fatalf("tc qdisc show: %v: %s", err, out)
	}
	// Host 1 reaches the hub over its link.
	out, err = n.Command(n.Hosts[0].NS, "ip", "route", "get", n.Hosts[0].HubIP).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dev eth0") {
		t.Fatalf("ip route get: %v: %s", err, out)
	}
	names := append([]string{n.Hub}, n.Hosts[0].NS, n.Hosts[1].NS)
	n.Close()
	out, _ = exec.Command("ip", "netns", "list").CombinedOutput()
	for _, name := range names {
		if strings.Contains(string(out), name) {
			t.Fatalf("namespace %s left behind", name)
		}
	}
}
