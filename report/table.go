package report

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/dcproxy/dcproxy/fleet"
)

// tableRenderer draws a plain table: one row per host, the remediation and resolved rows if any,
// then the fleet-wide headline if there is one and the summary line. Columns are separated by two
// spaces; there is no box, so nothing wraps.
//
// Piped (Options.TTY false) the table keeps inventory order, shows every host and cell in full and
// has no colour: it diffs and greps cleanly. On a terminal the hosts that need action come first;
// with Options.Width every line fits the width (ADDRESS is dropped first, then REASON and the
// widest columns are cut with an ellipsis); with Options.Height, when the hosts would not fit the
// screen, compliant hosts are left out (a line says how many; Options.All shows them).
type tableRenderer struct {
	opt Options
}

// Column headers.
const (
	colHost     = "HOST"
	colAddress  = "ADDRESS"
	colStatus   = "STATUS"
	colActs     = "ACTS"
	colSensor   = "SENSOR"
	colRoute    = "ROUTE"
	colSystem   = "LOCAL_SYSTEM"
	colService  = "LOCAL_SERVICE"
	colEndpoint = "ENDPOINT"
	colReason   = "REASON"
)

var resolvedHeader = []string{"HOST", "CHECK", "DRIFT", "WAS"}
var remediationHeader = []string{"HOST", "ACCOUNT", "ACTION", "OUTCOME", "CHANGE", "BACKUP", "MESSAGE"}

// ellipsis marks a cell cut to fit the terminal.
const ellipsis = "…"

// minReason is the narrowest REASON gets before other columns are cut; wantReason is the width
// REASON should have before columns that repeat it (ADDRESS, ENDPOINT, the accounts) are dropped.
const (
	minReason  = 16
	wantReason = 32
)

// Render implements Renderer.
func (t tableRenderer) Render(w io.Writer, rep *fleet.Report) error {
	if rep == nil {
		return ErrNilReport
	}
	color := t.opt.TTY && t.opt.Color
	var buf bytes.Buffer
	sensor := hasSensorData(rep)
	header := []string{colHost, colAddress, colStatus, colActs}
	if sensor {
		header = append(header, colSensor, colRoute)
	}
	header = append(header, colSystem, colService, colEndpoint, colReason)

	order := make([]int, len(rep.Hosts))
	for i := range order {
		order[i] = i
	}
	if t.opt.TTY {
		sort.SliceStable(order, func(a, b int) bool {
			return statusRank(rep.Hosts[order[a]].Status) < statusRank(rep.Hosts[order[b]].Status)
		})
	}
	headline := FleetHeadline(rep)
	hidden := 0
	if t.opt.TTY && !t.opt.All && t.opt.Height > 0 && len(rep.Hosts)+6 > t.opt.Height {
		hidden = countStatus(rep, fleet.StatusCompliant)
	}
	var rows []tableRow
	var rem [][]string
	var remOutcome []fleet.Outcome // rem's outcomes, for their tone
	for _, i := range order {
		h := &rep.Hosts[i]
		if hidden > 0 && h.Status == fleet.StatusCompliant {
			continue
		}
		v := viewHost(h)
		r := tableRow{cells: []cell{
			{orDefault(oneLine(h.Host), cellNone), toneNone},
			{orDefault(oneLine(h.Address), cellNone), toneNone},
			{orDefault(oneLine(string(h.Status)), cellNone), statusTone(h.Status)},
			{orDefault(strings.Join(hostActors(h), ","), cellNone), toneNone},
		}}
		if sensor {
			r.cells = append(r.cells, cell{sensorCell(h), toneNone}, cell{routeCell(h), toneNone})
		}
		r.cells = append(r.cells, v.system, v.service, v.endpoint, cell{orDefault(v.reason(), cellNone), toneNone})
		if headline == nil {
			rows = append(rows, r)
		}
		for j := range h.Remediation {
			m := &h.Remediation[j]
			rem = append(rem, []string{
				orDefault(oneLine(h.Host), cellNone),
				orDefault(oneLine(m.Account), cellNone),
				orDefault(oneLine(string(m.Action)), cellNone),
				orDefault(oneLine(string(m.Outcome)), cellNone),
				orDefault(remediationChange(m), cellNone),
				orDefault(oneLine(m.Backup), cellNone),
				orDefault(oneLine(m.Message), cellNone),
			})
			remOutcome = append(remOutcome, m.Outcome)
		}
	}
	if headline != nil {
		fmt.Fprintf(&buf, "%s %s\n", colorize("ALL HOSTS ("+headline.Actor+"):", toneBad, color), headline.Text)
		names := make([]string, 0, len(rep.Hosts))
		for i := range rep.Hosts {
			names = append(names, oneLine(rep.Hosts[i].Host))
		}
		line := "hosts: " + strings.Join(names, ", ")
		if t.opt.TTY && t.opt.Width > 0 {
			line = truncate(line, t.opt.Width)
		}
		buf.WriteString(line + "\n")
	} else {
		t.table(&buf, header, rows, color, true)
	}
	if hidden > 0 {
		fmt.Fprintf(&buf, "(%d compliant %s not shown: --all shows every host)\n", hidden, plural(hidden, "host"))
	}
	if len(rem) > 0 {
		buf.WriteString("\n")
		rrows := make([]tableRow, len(rem))
		for i, r := range rem {
			rrows[i] = plainRow(r)
			rrows[i].cells[3].tone = outcomeTone(remOutcome[i])
		}
		t.table(&buf, remediationHeader, rrows, color, false)
	}
	if len(rep.Resolved) > 0 {
		res := make([]tableRow, 0, len(rep.Resolved))
		for i := range rep.Resolved {
			f := &rep.Resolved[i]
			r := plainRow([]string{orDefault(oneLine(f.Host), cellNone), orDefault(oneLine(f.Check), cellNone), fleet.DriftResolved, orDefault(findingText(f), cellNone)})
			r.cells[2].tone = toneGood
			res = append(res, r)
		}
		buf.WriteString("\n")
		t.table(&buf, resolvedHeader, res, color, false)
	}
	if rep.Interrupted {
		buf.WriteString(colorize(interruptedNote, toneBad, color) + "\n")
	}
	buf.WriteString(summaryLine(summarize(rep)) + "\n")
	if d := driftLine(rep); d != "" {
		buf.WriteString(d + "\n")
	}
	_, err := w.Write(buf.Bytes())
	return writeErr(FormatTable, err)
}

type tableRow struct{ cells []cell }

func plainRow(s []string) tableRow {
	r := tableRow{cells: make([]cell, len(s))}
	for i, x := range s {
		r.cells[i] = cell{x, toneNone}
	}
	return r
}

func countStatus(rep *fleet.Report, status fleet.HostStatus) int {
	n := 0
	for i := range rep.Hosts {
		if rep.Hosts[i].Status == status {
			n++
		}
	}
	return n
}

// table writes header and rows as aligned columns. On a TTY with a width, the columns are fitted:
// for the host table, columns the REASON repeats are dropped (ADDRESS, ENDPOINT, LOCAL_SERVICE,
// LOCAL_SYSTEM, SENSOR, in that order) until REASON can be wantReason wide; then REASON and the
// widest other columns are cut with an ellipsis.
func (t tableRenderer) table(buf *bytes.Buffer, header []string, rows []tableRow, color, hosts bool) {
	n := len(header)
	keep := make([]bool, n)
	widths := make([]int, n)
	for c := range header {
		keep[c] = true
		widths[c] = twwidth.Width(header[c])
		for _, r := range rows {
			widths[c] = max(widths[c], twwidth.Width(r.cells[c].text))
		}
	}
	fit := t.opt.TTY && t.opt.Width > 0
	total := func() int {
		s, k := 0, 0
		for c := range widths {
			if keep[c] {
				s += widths[c]
				k++
			}
		}
		return s + 2*(k-1)
	}
	last := n - 1
	if fit && total() > t.opt.Width {
		if hosts {
			// Drop what the REASON column repeats, least useful first, until REASON can have
			// wantReason columns (or nothing is left to drop).
			for _, name := range []string{colAddress, colEndpoint, colService, colSystem, colSensor} {
				if total()-widths[last]+min(widths[last], wantReason) <= t.opt.Width {
					break
				}
				for c := range header {
					if header[c] == name {
						keep[c] = false
					}
				}
			}
		}
		if over := total() - t.opt.Width; over > 0 {
			widths[last] = max(min(minReason, widths[last]), widths[last]-over)
		}
		for total() > t.opt.Width {
			widest := -1
			for c := 0; c < last; c++ {
				if keep[c] && widths[c] > 4 && (widest < 0 || widths[c] > widths[widest]) {
					widest = c
				}
			}
			if widest < 0 {
				break // as narrow as a table can be
			}
			widths[widest]--
		}
	}
	line := func(cells []cell) {
		var b strings.Builder
		first := true
		for c, x := range cells {
			if !keep[c] {
				continue
			}
			if !first {
				b.WriteString("  ")
			}
			first = false
			text := x.text
			if fit {
				text = truncate(text, widths[c])
			}
			pad := widths[c] - twwidth.Width(text)
			b.WriteString(colorize(text, x.tone, color))
			if c < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", max(pad, 0)))
			}
		}
		buf.WriteString(strings.TrimRight(b.String(), " ") + "\n")
	}
	hdr := make([]cell, n)
	for c, h := range header {
		hdr[c] = cell{h, toneHeader}
	}
	line(hdr)
	for _, r := range rows {
		line(r.cells)
	}
}

// truncate cuts s to at most w display columns, ending in an ellipsis when it was cut.
// Truncate cuts s to w terminal columns with an ellipsis (wide characters count double). Used by
// cmd too.
func Truncate(s string, w int) string { return truncate(s, w) }

func truncate(s string, w int) string {
	if twwidth.Width(s) <= w {
		return s
	}
	if w <= 1 {
		return strings.Repeat(ellipsis, max(w, 0))
	}
	var b strings.Builder
	used := 0
	for _, r := range s {
		rw := twwidth.Width(string(r))
		if used+rw > w-1 {
			break
		}
		b.WriteRune(r)
		used += rw
	}
	return b.String() + ellipsis
}

func outcomeTone(outcome fleet.Outcome) tone {
	switch outcome {
	case fleet.OutcomeVerified:
		return toneGood
	case fleet.OutcomeRolledBack, fleet.OutcomeFailed:
		return toneBad
	case fleet.OutcomePlanned, fleet.OutcomeSkipped:
		return toneWarn
	}
	return toneNone
}

// colorize wraps s in the ANSI colour of tone when on is set.
func colorize(s string, t tone, on bool) string {
	if !on {
		return s
	}
	switch t {
	case toneGood:
		return "\x1b[32m" + s + "\x1b[0m"
	case toneWarn:
		return "\x1b[33m" + s + "\x1b[0m"
	case toneBad:
		return "\x1b[31m" + s + "\x1b[0m"
	case toneHeader:
		return "\x1b[1m" + s + "\x1b[0m"
	}
	return s
}

// toneHeader is the bold of the table's header row (terminal only; no CSS class).
const toneHeader tone = 100
