package main

import (
	"crypto/sha256"
	"os"
	"os/exec"
)

// The -load option: CPU-bound processes that run for the whole benchmark,
// so both file systems are measured on a machine that is also busy, as a
// user's is. Each burns one core hashing until it is killed.

var loadProcs []*exec.Cmd

// startLoad starts n burning children of this binary.
func startLoad(n int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for range n {
		c := exec.Command(self, "-child", "burn")
		if err := c.Start(); err != nil {
			stopLoad()
			return err
		}
		loadProcs = append(loadProcs, c)
	}
	return nil
}

// stopLoad kills the burning children it started.
func stopLoad() {
	for _, c := range loadProcs {
		c.Process.Kill()
		c.Wait()
	}
	loadProcs = nil
}

// burn hashes forever; the parent kills it.
func burn() {
	var sum [32]byte
	for {
		sum = sha256.Sum256(sum[:])
	}
}
