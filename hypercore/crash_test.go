package hypercore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hyperfs/hyperfs/hypercore/storage"
)

const crashChildEnv = "HYPERFS_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashBlock is the content of block i in the crash test.
func crashBlock(i uint64) []byte {
	return bytes.Repeat([]byte{byte(i), byte(i >> 8)}, int(i*7919%3000))
}

// crashChild appends forever, printing the feed's length after each append,
// until it is killed.
func crashChild(dir string) {
	f, err := Open(dir, Options{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(os.Stdout)
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	fmt.Fprintln(out, "ready")
	out.Flush()
	for {
		n := f.Length()
		batch := make([][]byte, 1+r.IntN(20))
		for k := range batch {
			batch[k] = crashBlock(n + uint64(k))
		}
		if _, err := f.Append(batch...); err != nil {
			fmt.Fprintln(out, "error", err)
			out.Flush()
			os.Exit(1)
		}
		fmt.Fprintln(out, f.Length())
		out.Flush()
	}
}

// TestSIGKILLDuringAppends kills a process appending to a feed at random
// points, many times, and checks after each that the feed reopens with a
// length at least what was acknowledged and that every block verifies.
func TestSIGKILLDuringAppends(t *testing.T) {
	rounds := 25
	if testing.Short() {
		rounds = 5
	}
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 7))
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		if l := <-lines; l != "ready" {
			t.Fatalf("child: %s", l)
		}
		// While the child holds the feed, another opener is refused.
		if _, err := Open(dir, Options{}); !errors.Is(err, storage.ErrLocked) {
			t.Fatalf("open while another process appends: %v, want ErrLocked", err)
		}
		deadline := time.After(time.Duration(1+r.IntN(60)) * time.Millisecond)
		var acked uint64
	wait:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("child exited early")
				}
				n, err := strconv.ParseUint(l, 10, 64)
				if err != nil {
					t.Fatalf("child: %s", l)
				}
				acked = n
			case <-deadline:
				break wait
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		for l := range lines {
			if n, err := strconv.ParseUint(l, 10, 64); err == nil {
				acked = n
			}
		}
		cmd.Wait()

		f, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if f.Length() < acked {
			t.Fatalf("round %d: length %d after acknowledging %d", round, f.Length(), acked)
		}
		rep, err := f.Audit()
		if err != nil || rep.Invalid != 0 || rep.Valid != f.Length() {
			t.Fatalf("round %d: audit %+v %v (length %d)", round, rep, err, f.Length())
		}
		for i := uint64(0); i < f.Length(); i++ {
			b, err := f.Get(ctx, i)
			if err != nil || !bytes.Equal(b, crashBlock(i)) {
				t.Fatalf("round %d: block %d: %v", round, i, err)
			}
		}
		if f.Length() > 0 {
			at, sig, err := f.Signature(f.Length() - 1)
			if err != nil || f.Verify(at, sig) != nil {
				t.Fatalf("round %d: head signature: %v", round, err)
			}
		}
		f.Close()
	}
}
