package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDownloadStallsAndResumes: a download whose only peer leaves ends
// after --stall-timeout with an error naming the peer and the bytes
// fetched; when the peer comes back within the timeout, the download
// resumes and completes.
func TestDownloadStallsAndResumes(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	key := writeBigDrive(t, src, 32<<20)
	addr := freePort(t)
	env := cliEnv(t)
	srcMnt := t.TempDir()
	writer := mountCLI(t, env, "--no-discovery", "--listen", addr, "--storage", src, srcMnt)
	dst := filepath.Join(t.TempDir(), "dst")
	// The metadata comes while the peer is there.
	if code, out := runCLIWithin(t, time.Minute, cliEnv(t), "cat", key, "/small.txt", "--no-discovery", "--peer", addr, "--storage", dst); code != 0 {
		t.Fatalf("cat: exit %d: %s", code, out)
	}
	if err := writer.stop(t, srcMnt); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, out := runCLIWithin(t, time.Minute, cliEnv(t), "download", key, "--no-discovery", "--peer", addr, "--storage", dst, "--stall-timeout", "3s")
	took := time.Since(start)
	if code != 1 || !strings.Contains(out, "no data from peers for 3s") || !strings.Contains(out, addr) || !strings.Contains(out, "fetched") {
		t.Fatalf("download without its peer: exit %d after %s: %s", code, took, out)
	}
	t.Logf("after %s: %s", took, out)
	if took > 20*time.Second {
		t.Errorf("the stall was reported after %s, want about 3 s", took)
	}
	if strings.Contains(out, "files,") {
		t.Errorf("a success summary after the error: %s", out)
	}
	// The peer comes back while the download waits.
	done := make(chan struct{})
	var code2 int
	var out2 string
	go func() {
		defer close(done)
		code2, out2 = runCLIWithin(t, 2*time.Minute, cliEnv(t), "download", key, "--no-discovery", "--peer", addr, "--storage", dst, "--stall-timeout", "30s")
	}()
	time.Sleep(2 * time.Second)
	mountCLI(t, env, "--no-discovery", "--listen", addr, "--storage", src, t.TempDir())
	<-done
	t.Logf("resumed: %s", out2)
	if code2 != 0 || !strings.Contains(out2, "fetched from peers") {
		t.Fatalf("download after the peer came back: exit %d: %s", code2, out2)
	}
}
