package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hyperfs/hyperfs/app"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// meter shows a transfer's progress: on a terminal a bar with bytes, files,
// rate and ETA (progressbar); otherwise a plain line every few seconds; with
// -q nothing. Bytes already local are counted apart from bytes fetched.
type meter struct {
	label  string
	w      io.Writer
	bar    *progressbar.ProgressBar // nil: plain lines
	quiet  bool
	total  int64
	start  time.Time
	last   time.Time
	every  time.Duration // between plain lines
	status string
}

// plainEvery is how often a meter prints when stderr is not a terminal.
const plainEvery = 5 * time.Second

func (c *cli) newMeter(label string, total int64) *meter {
	m := &meter{label: label, w: c.std.stderr, quiet: c.quiet, total: total, start: time.Now(), every: plainEvery}
	m.last = m.start
	if m.quiet {
		return m
	}
	if f, ok := c.std.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		m.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(f),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionFullWidth(),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	return m
}

// update reports done of total bytes over files files, of which local
// bytes were stored already and fetched came from peers.
func (m *meter) update(done int64, files int, detail string) {
	if m.quiet {
		return
	}
	m.status = detail
	if m.bar != nil {
		if done > m.total {
			m.total = done
			m.bar.ChangeMax64(done)
		}
		m.bar.Describe(fmt.Sprintf("%s: %d files%s", m.label, files, detail))
		m.bar.Set64(done)
		return
	}
	if time.Since(m.last) < m.every {
		return
	}
	m.last = time.Now()
	fmt.Fprintf(m.w, "%s: %s\n", m.label, m.line(done, files))
}

func (m *meter) line(done int64, files int) string {
	elapsed := time.Since(m.start)
	rate := float64(done) / max(elapsed.Seconds(), 0.001)
	s := fmt.Sprintf("%s of %s, %d files%s, %s/s", app.HumanBytes(uint64(done)), app.HumanBytes(uint64(max(m.total, done))), files, m.status, app.HumanBytes(uint64(rate)))
	if rate > 0 && m.total > done {
		s += fmt.Sprintf(", %s left", time.Duration(float64(m.total-done)/rate*float64(time.Second)).Round(time.Second))
	}
	return s
}

// finish ends the display: on success a summary line is printed by the
// command, not here; on failure the bar is left where it stopped.
func (m *meter) finish(err error) {
	if m.quiet {
		return
	}
	if m.bar != nil {
		if err == nil {
			m.bar.Finish()
		}
		fmt.Fprintln(m.w)
	}
}
