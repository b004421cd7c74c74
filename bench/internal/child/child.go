// Package child runs one benchmark case in its own process, as every bench
// driver does, so each case's peak RSS is its own: it waits for the child,
// decodes the JSON object on its last line of output and reads its peak
// RSS from the kernel.
package child

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// Timeout bounds one case.
const Timeout = 30 * time.Minute

// Run runs prog with args, decodes its last output line into v and returns
// the child's peak RSS in bytes.
func Run(v any, prog string, args ...string) (peakRSS uint64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%v: %s", err, stderr.String())
	}
	lines := bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n"))
	if err := json.Unmarshal(lines[len(lines)-1], v); err != nil {
		return 0, fmt.Errorf("output %q: %w", stdout.String(), err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		peakRSS = uint64(ru.Maxrss) * 1024
	}
	return peakRSS, nil
}
