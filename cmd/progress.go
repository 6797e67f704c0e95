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
	p := &progress{w: w, on: on, total: len(hosts), start: time.Now(), pending: map[string]bool{},
		stop: make(chan struct{}), stopped: make(chan struct{})}
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
	if r.Status != fleet.StatusCompliant {
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
	line := fmt.Sprintf("%d/%d hosts, %d need attention, %s elapsed, ~%s left", p.done, p.total, p.failed, el.Round(time.Second), rem)
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
