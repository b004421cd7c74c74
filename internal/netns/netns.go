// Package netns makes Linux network namespaces joined by veth pairs and
// removes them together: the part natsim's and linksim's simulated
// networks share. It needs root and ip (iproute2).
package netns

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
)

// Set is the namespaces of one simulated network. Its random tag goes into
// every name it makes, so sets built at the same time do not collide.
type Set struct {
	Tag   string
	seed  byte
	names []string
	links int
}

// New returns an empty set with a fresh tag.
func New() *Set {
	var r [3]byte
	rand.Read(r[:])
	return &Set{Tag: hex.EncodeToString(r[:]), seed: r[0]}
}

// Pick returns a number in [lo, lo+n) that depends on the tag: a subnet
// for the set that concurrent sets likely do not share.
func (s *Set) Pick(lo, n int) int { return lo + int(s.seed)%n }

// Add makes namespace name, with its loopback up; Close removes it.
func (s *Set) Add(name string) error {
	if err := Run("ip", "netns", "add", name); err != nil {
		return err
	}
	s.names = append(s.names, name)
	return Run("ip", "-n", name, "link", "set", "lo", "up")
}

// Link joins namespace a's device aDev to namespace b's device bDev with a
// veth pair, both ends up. The pair is made under temporary names in the
// root namespace (where names must be unique), then moved and renamed.
func (s *Set) Link(a, aDev, b, bDev string) error {
	s.links++
	tmpA, tmpB := fmt.Sprintf("hv%s%da", s.Tag, s.links), fmt.Sprintf("hv%s%db", s.Tag, s.links)
	for _, args := range [][]string{
		{"ip", "link", "add", tmpA, "type", "veth", "peer", "name", tmpB},
		{"ip", "link", "set", tmpA, "netns", a},
		{"ip", "link", "set", tmpB, "netns", b},
		{"ip", "-n", a, "link", "set", tmpA, "name", aDev},
		{"ip", "-n", b, "link", "set", tmpB, "name", bDev},
		{"ip", "-n", a, "link", "set", aDev, "up"},
		{"ip", "-n", b, "link", "set", bDev, "up"},
	} {
		if err := Run(args...); err != nil {
			return err
		}
	}
	return nil
}

// Command returns a command that runs argv in namespace ns.
func Command(ns string, argv ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
}

// Close deletes the namespaces, and with them their links.
func (s *Set) Close() {
	for _, name := range s.names {
		exec.Command("ip", "netns", "del", name).Run()
	}
	s.names = nil
}

// Run runs a command, with its output in the error when it fails.
func Run(args ...string) error {
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
