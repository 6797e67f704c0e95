package cmd

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/report"
)

// progress draws "done/total, failures, elapsed, remaining" on one stderr line of a terminal. It is
// silent when stderr is not a terminal or with --quiet.
type progress struct {
	w       io.Writer
	on      bool
	total   int
	start   time.Time
	mu      sync.Mutex
	done    int
	failed  int
	lastOut time.Time
}

func newProgress(w io.Writer, on bool, total int) *progress {
	return &progress{w: w, on: on, total: total, start: time.Now()}
}

func (p *progress) update(done int, r fleet.HostResult) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if r.Status != fleet.StatusCompliant {
		p.failed++
	}
	now := time.Now()
	if now.Sub(p.lastOut) < 100*time.Millisecond && p.done < p.total {
		return
	}
	p.lastOut = now
	el := now.Sub(p.start)
	rem := "?"
	if p.done > 0 {
		rem = (time.Duration(float64(el) / float64(p.done) * float64(p.total-p.done))).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r\x1b[K%d/%d hosts, %d need attention, %s elapsed, ~%s left", p.done, p.total, p.failed, el.Round(time.Second), rem)
}

func (p *progress) finish() {
	if p.on && p.done > 0 {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func formatNames() []string { return report.Formats() }

func otherFormat(f string) bool {
	for _, n := range report.Formats() {
		if n == f {
			return true
		}
	}
	return false
}
