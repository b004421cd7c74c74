package jsref

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingTB records failures instead of ending the test, so the failure
// paths of Run and Require can be checked. Fatal* end the calling goroutine
// as testing.T does; call the function under test from its own goroutine
// (see fails).
type recordingTB struct {
	testing.TB
	mu   sync.Mutex // guards msgs
	msgs []string
}

func (r *recordingTB) record(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, s)
}

func (r *recordingTB) Errorf(format string, args ...any) { r.record(fmt.Sprintf(format, args...)) }
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.record(fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (r *recordingTB) Fatal(args ...any) {
	r.record(fmt.Sprint(args...))
	runtime.Goexit()
}

// fails runs f with a recordingTB and returns the failure messages.
func fails(t *testing.T, f func(tb testing.TB)) string {
	t.Helper()
	r := &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

func TestDir(t *testing.T) {
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(dir) || filepath.Base(dir) != "js" {
		t.Errorf("Dir() = %s, want an absolute path ending in integration/js", dir)
	}
	for _, p := range []string{"package.json", "package-lock.json", "scripts/jsref-selftest.js"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Error(err)
		}
	}
}

func TestDirFromElsewhere(t *testing.T) {
	t.Chdir(t.TempDir())
	if dir, err := Dir(); err == nil {
		t.Errorf("Dir() outside the module = %s, want an error", dir)
	}
	cmd := Command(context.Background(), "jsref-selftest.js", "echo")
	if err := cmd.Run(); err == nil || !strings.Contains(err.Error(), "go.mod") {
		t.Errorf("Command outside the module ran with error %v, want one about go.mod", err)
	}
}

func TestRunJSON(t *testing.T) {
	var got struct{ Args []string }
	RunJSON(t, &got, "jsref-selftest", "echo", "a", "b c", "")
	if want := []string{"a", "b c", ""}; fmt.Sprint(got.Args) != fmt.Sprint(want) || len(got.Args) != 3 {
		t.Errorf("args = %q, want %q", got.Args, want)
	}
}

func TestRunFailureShowsStderr(t *testing.T) {
	msg := fails(t, func(tb testing.TB) { Run(tb, "jsref-selftest.js", "fail", "boom-from-js") })
	for _, want := range []string{"boom-from-js", "exit status 3", "scripts/jsref-selftest.js fail"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message %q lacks %q", msg, want)
		}
	}
}

func TestCommandContext(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := Command(ctx, "jsref-selftest.js", "hang")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := cmd.Wait(); err == nil {
		t.Error("hanging script ended cleanly after its context was cancelled")
	}
}

func TestRequireFailsWithoutNode(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	msg := fails(t, func(tb testing.TB) { Require(tb) })
	if !strings.Contains(msg, "run npm ci in integration/js") || !strings.Contains(msg, "node") {
		t.Errorf("Require without node failed with %q", msg)
	}
}

func TestStartServe(t *testing.T) {
	p := Start(t, "jsref-selftest.js", "serve")
	var ready struct{ Ready bool }
	p.Next(&ready)
	if !ready.Ready {
		t.Fatal("no ready line")
	}
	lines := []string{"one", "two", `{"three"}`}
	for _, l := range lines {
		fmt.Fprintln(p.Stdin(), l)
	}
	for _, want := range lines {
		var got struct{ Line string }
		p.Next(&got)
		if got.Line != want {
			t.Errorf("line = %q, want %q", got.Line, want)
		}
	}
	p.Stdin().Close()
	var bye struct{ Bye int }
	p.Next(&bye)
	if bye.Bye != len(lines) {
		t.Errorf("bye = %d, want %d", bye.Bye, len(lines))
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.ReadJSON(ctx, &bye); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("ReadJSON after exit = %v, want an error saying it exited", err)
	}
}

func TestStartFailureReported(t *testing.T) {
	p := Start(t, "jsref-selftest.js", "fail", "peer-broke")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var v any
	err := p.ReadJSON(ctx, &v)
	if err == nil || !strings.Contains(err.Error(), "peer-broke") {
		t.Errorf("ReadJSON from a failed script = %v, want its stderr", err)
	}
	if err := p.Wait(ctx); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Wait = %v, want exit status 3", err)
	}
}

func TestStartKilledOnCleanup(t *testing.T) {
	var p *Process
	t.Run("peer", func(t *testing.T) {
		p = Start(t, "jsref-selftest.js", "hang")
		var ready struct{ Ready bool }
		p.Next(&ready)
	})
	select {
	case <-p.Done():
	default:
		t.Fatal("process still running after its test's cleanup")
	}
}

func TestReadJSONContext(t *testing.T) {
	p := Start(t, "jsref-selftest.js", "hang")
	var v any
	p.Next(&v)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := p.ReadJSON(ctx, &v); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("ReadJSON with nothing to read = %v, want a deadline error", err)
	}
}
