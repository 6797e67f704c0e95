package cmd

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/report"
)

// pendingShown is how few hosts must remain before the progress line names them.
const pendingShown = 3

// progress draws "done/total hosts, N need attention, elapsed, ~remaining" on one stderr line of
// a terminal, and once only a few hosts remain, which ones ("waiting for dc07, dc12"). A ticker
// redraws it every second, so the elapsed time keeps moving while a slow host holds the run. It is
// silent when stderr is not a terminal or with --quiet.
type progress struct {
	w       io.Writer
	on      bool
	label   string                      // "hosts", or "hosts written"
	badWord string                      // what the second count counts: "need attention", "not verified"
	bad     func(fleet.HostResult) bool // the host counts towards badWord
	total   int
	start   time.Time
	mu      sync.Mutex
	done    int
	failed  int
	pending map[string]bool
	lastOut time.Time
	stop    chan struct{}
	stopped chan struct{}
}

func newProgress(w io.Writer, on bool, hosts []string) *progress {
	return startProgress(&progress{w: w, on: on, label: "hosts", badWord: "need attention",
		bad: func(r fleet.HostResult) bool { return r.Status != fleet.StatusCompliant }}, hosts)
}

// newWriteProgress is the progress line of fix and restore while they write: "2/5 hosts written,
// 0 not verified, ..." where a host is not verified when any of its writes was rolled back, failed
// or skipped.
func newWriteProgress(w io.Writer, on bool, hosts []string) *progress {
	return startProgress(&progress{w: w, on: on, label: "hosts written", badWord: "not verified", bad: writeNotVerified}, hosts)
}

func writeNotVerified(r fleet.HostResult) bool {
	for _, m := range r.Remediation {
		if (m.Action == fleet.ActionWrite || m.Action == fleet.ActionDelete) && m.Outcome != fleet.OutcomeVerified {
			return true
		}
	}
	return false
}

func startProgress(p *progress, hosts []string) *progress {
	p.total, p.start, p.pending = len(hosts), time.Now(), map[string]bool{}
	p.stop, p.stopped = make(chan struct{}), make(chan struct{})
	on := p.on
	for _, h := range hosts {
		p.pending[h] = true
	}
	if !on {
		close(p.stopped)
		return p
	}
	go func() {
		defer close(p.stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.mu.Lock()
				p.draw()
				p.mu.Unlock()
			}
		}
	}()
	return p
}

func (p *progress) update(done int, r fleet.HostResult) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	delete(p.pending, r.Host)
	if p.bad(r) {
		p.failed++
	}
	// Throttled: 10,000 hosts finishing need not mean 10,000 redraws; the ticker catches up.
	if time.Since(p.lastOut) < 100*time.Millisecond && p.done < p.total && len(p.pending) > pendingShown {
		return
	}
	p.draw()
}

// draw writes the line; p.mu is held.
func (p *progress) draw() {
	p.lastOut = time.Now()
	el := time.Since(p.start)
	rem := "?"
	if p.done > 0 {
		rem = (time.Duration(float64(el) / float64(p.done) * float64(p.total-p.done))).Round(time.Second).String()
	}
	line := fmt.Sprintf("%d/%d %s, %d %s, %s elapsed, ~%s left", p.done, p.total, p.label, p.failed, p.badWord, el.Round(time.Second), rem)
	if n := len(p.pending); n > 0 && n <= pendingShown {
		names := make([]string, 0, n)
		for h := range p.pending {
			names = append(names, h)
		}
		sort.Strings(names)
		line += "; waiting for " + strings.Join(names, ", ")
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s", line)
}

func (p *progress) finish() {
	if !p.on {
		return
	}
	close(p.stop)
	<-p.stopped
	fmt.Fprint(p.w, "\r\x1b[K")
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
