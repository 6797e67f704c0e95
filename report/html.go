package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/remote/wininet"
)

// htmlRenderer writes one self-contained HTML page: inline CSS and JavaScript, no external assets,
// no network access when opened. It shows the summary figures, a bar chart (inline SVG) of
// compliance per site (per tag when no host has a site), a per-host table that sorts when a header
// is clicked (or activated with Enter/Space), and per host the decoded settings of every check,
// expected beside actual, with differing fields highlighted.
//
// All report text goes through html/template's contextual escaping. Without JavaScript the page
// is complete except for sorting.
type htmlRenderer struct {
	opt Options
}

//go:embed html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Parse(htmlSource))

// Bar chart geometry, in SVG user units.
const (
	chartLabelW = 170
	chartBarW   = 420
	chartCountW = 90
	chartRowH   = 24
	chartBarH   = 16
	chartTop    = 8
	// chartLabelMax is how many characters of a group name fit the label column at 12px.
	chartLabelMax = 24
)

type htmlPage struct {
	Title       string
	Command     string
	RunID       string
	Started     string
	Finished    string
	Duration    string
	Generated   string
	Interrupted bool
	Summary     fleet.Summary
	Pct         map[string]string // status -> share of hosts, e.g. "30%"
	Chart       htmlChart
	Hosts       []htmlHost
	Drift       string // the baseline comparison line, "" without a baseline
	Resolved    []htmlResolved
	Headline    *Headline // a fleet-wide cause, nil without one
	Meta        []htmlMeta
}

type htmlMeta struct{ Name, Value string }

type htmlResolved struct {
	Host, Check, Was string
}

type htmlChart struct {
	By     string // "site" or "tag"
	Width  int
	Height int
	LabelW int
	Rows   []htmlChartRow
}

type htmlChartRow struct {
	Label string // possibly shortened to fit the label column
	Name  string // the full group name
	Y     int
	TextY int
	Total int
	Segs  []htmlSeg
	Text  string // "3/5"
	TextX int
}

type htmlSeg struct {
	Class string
	X, W  int
	Title string
}

type htmlHost struct {
	Index       int
	Anchor      string
	Host        string
	Address     string
	Site        string
	Tags        string
	Status      string
	StatusRank  int
	StatusClass string
	System      htmlCell
	Service     htmlCell
	Endpoint    htmlCell
	Reason      string
	Acts        string
	Route       string // the route the verdict followed: source and proxy
	Decision    string // why that route, in plain words
	Sensor      string
	NeedsAction bool
	DurationMS  int64
	Duration    string
	Error       string
	Stats       string
	Open        bool
	Checks      []htmlCheck
	Remediation []htmlRemediation
}

type htmlCell struct {
	Text  string
	Class string
}

func htmlCellOf(c cell) htmlCell { return htmlCell{Text: c.text, Class: c.tone.class()} }

type htmlCheck struct {
	ID          string
	Kind        string
	Account     string
	Status      string
	StatusClass string
	Message     string
	Approximate bool
	HasExpected bool
	Rows        []htmlField
}

type htmlField struct {
	Name     string
	Expected string
	Actual   string
	Class    string // "diff" for a difference that matters, "soft" for one that does not, else ""
	Mono     bool
}

type htmlRemediation struct {
	Account, Key, Value, Action, Outcome, OutcomeClass, Change, Backup, Message string
}

// Render implements Renderer.
func (r htmlRenderer) Render(w io.Writer, rep *fleet.Report) error {
	if rep == nil {
		return ErrNilReport
	}
	page := r.page(rep)
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, page); err != nil {
		return fmt.Errorf("execute html template: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return writeErr(FormatHTML, err)
}

func (r htmlRenderer) page(rep *fleet.Report) htmlPage {
	sum := summarize(rep)
	cmd := orDefault(oneLine(rep.Command), "audit")
	p := htmlPage{
		Title:       "dcproxy " + cmd + " report",
		Command:     cmd,
		RunID:       oneLine(rep.RunID),
		Generated:   fmtTime(r.opt.now()),
		Interrupted: rep.Interrupted,
		Summary:     sum,
		Pct: map[string]string{
			string(fleet.StatusCompliant):    pct(sum.Compliant, sum.Hosts),
			string(fleet.StatusNoncompliant): pct(sum.Noncompliant, sum.Hosts),
			string(fleet.StatusError):        pct(sum.Error, sum.Hosts),
		},
	}
	if p.RunID != "" {
		p.Title += " " + p.RunID
	}
	if !rep.StartedAt.IsZero() {
		p.Started = fmtTime(rep.StartedAt)
	}
	if !rep.FinishedAt.IsZero() {
		p.Finished = fmtTime(rep.FinishedAt)
		if !rep.StartedAt.IsZero() {
			p.Duration = fmtDuration(rep.FinishedAt.Sub(rep.StartedAt))
		}
	}
	p.Chart = buildChart(rep)
	p.Headline = FleetHeadline(rep)
	for _, m := range runMeta(rep, r.opt) {
		p.Meta = append(p.Meta, htmlMeta{m[0], m[1]})
	}
	p.Drift = upperFirst(driftLine(rep))
	for i := range rep.Resolved {
		f := &rep.Resolved[i]
		p.Resolved = append(p.Resolved, htmlResolved{Host: oneLine(f.Host), Check: oneLine(f.Check), Was: findingText(f)})
	}
	for i := range rep.Hosts {
		p.Hosts = append(p.Hosts, htmlHostOf(i, &rep.Hosts[i]))
	}
	return p
}

func pct(n, total int) string {
	if total == 0 {
		return "0%"
	}
	return strconv.Itoa((n*100+total/2)/total) + "%"
}

func statusRank(status fleet.HostStatus) int {
	switch status {
	case fleet.StatusError:
		return 0
	case fleet.StatusNoncompliant:
		return 1
	case fleet.StatusCompliant:
		return 2
	}
	return 0
}

func checkClass(status fleet.CheckStatus) string {
	switch status {
	case fleet.CheckPass:
		return "good"
	case fleet.CheckFail:
		return "warn"
	case fleet.CheckError:
		return "bad"
	}
	return "none"
}

func htmlHostOf(i int, h *fleet.HostResult) htmlHost {
	v := viewHost(h)
	hh := htmlHost{
		Index:       i + 1,
		Anchor:      "host-" + strconv.Itoa(i+1),
		Host:        oneLine(h.Host),
		Address:     oneLine(h.Address),
		Site:        oneLine(h.Site),
		Tags:        oneLine(strings.Join(h.Tags, ", ")),
		Status:      oneLine(string(h.Status)),
		StatusRank:  statusRank(h.Status),
		StatusClass: statusTone(h.Status).class(),
		System:      htmlCellOf(v.system),
		Service:     htmlCellOf(v.service),
		Endpoint:    htmlCellOf(v.endpoint),
		Reason:      v.reason(),
		Acts:        strings.Join(hostActors(h), ", "),
		Sensor:      sensorCell(h),
		Route:       routeCell(h),
		Decision:    routeDecision(h),
		NeedsAction: h.Status != fleet.StatusCompliant,
		DurationMS:  h.DurationMS,
		Duration:    fmtDuration(msDuration(h.DurationMS)),
		Open:        h.Status != fleet.StatusCompliant,
	}
	if h.Error != nil {
		hh.Error = hostErrorText(h.Error)
	}
	if s := h.Stats; s != nil {
		hh.Stats = fmt.Sprintf("%d requests, %d handshakes, %d attempts, %s waiting", s.Requests, s.Handshakes, s.Attempts,
			fmtDuration(msDuration(s.WaitMS)))
	}
	for j := range h.Checks {
		hh.Checks = append(hh.Checks, htmlCheckOf(&h.Checks[j]))
	}
	for j := range h.Remediation {
		rm := &h.Remediation[j]
		hh.Remediation = append(hh.Remediation, htmlRemediation{
			Account: oneLine(rm.Account), Key: oneLine(rm.Key), Value: oneLine(rm.Value), Action: oneLine(string(rm.Action)),
			Outcome: oneLine(string(rm.Outcome)), OutcomeClass: outcomeTone(rm.Outcome).class(), Change: remediationChange(rm),
			Backup: oneLine(rm.Backup), Message: oneLine(rm.Message),
		})
	}
	return hh
}

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

func htmlCheckOf(c *fleet.Check) htmlCheck {
	hc := htmlCheck{
		ID: oneLine(c.ID), Kind: oneLine(string(c.Kind)), Account: oneLine(c.Account), Status: oneLine(string(c.Status)),
		StatusClass: checkClass(c.Status), Message: oneLine(c.Message), Approximate: c.Approximate,
		HasExpected: c.Expected != nil,
	}
	es, eok := settingsOf(c.Expected)
	as, aok := settingsOf(c.Actual)
	if eok || aok {
		hc.Rows = settingsRows(es, as)
		return hc
	}
	ep, eok := probeOf(c.Expected)
	ap, aok := probeOf(c.Actual)
	if eok || aok {
		hc.Rows = probeRows(ep, ap)
		return hc
	}
	if c.Expected != nil || c.Actual != nil {
		hc.Rows = []htmlField{{Name: "value", Expected: describeValue(c.Expected), Actual: describeValue(c.Actual), Mono: true}}
	}
	return hc
}

// settingsRows lays out two decoded values field by field. Rows empty on both sides are left out.
func settingsRows(e, a *fleet.Settings) []htmlField {
	type getter func(*fleet.Settings) string
	fields := []struct {
		name  string
		get   getter
		class string // class when the values differ
		mono  bool
	}{
		{"present", func(s *fleet.Settings) string { return yesNo(s.Present) }, "diff", false},
		{"source", func(s *fleet.Settings) string { return s.Source }, "", true},
		{"mode", func(s *fleet.Settings) string {
			if !s.Present {
				return ""
			}
			return settingsMode(s)
		}, "diff", false},
		{"proxy", func(s *fleet.Settings) string { return s.Proxy }, "diff", true},
		{"bypass", func(s *fleet.Settings) string { return s.Bypass }, "diff", true},
		{"auto-config URL", func(s *fleet.Settings) string { return s.AutoConfigURL }, "diff", true},
		{"auto-detect", func(s *fleet.Settings) string {
			if !s.Present {
				return ""
			}
			return yesNo(s.AutoDetect || s.Flags&wininet.FlagAutoDetect != 0)
		}, "diff", false},
		{"flags", func(s *fleet.Settings) string {
			if !s.Present || s.Flags == 0 {
				return ""
			}
			return fmt.Sprintf("0x%02X %s", s.Flags, wininet.FlagNames(s.Flags))
		}, "diff", true},
		{"version", func(s *fleet.Settings) string {
			if s.Version == 0 {
				return ""
			}
			return fmt.Sprintf("0x%X", s.Version)
		}, "soft", true},
		{"counter", func(s *fleet.Settings) string {
			if !s.Present || s.Source == "config" {
				return ""
			}
			return strconv.FormatUint(uint64(s.Counter), 10)
		}, "soft", true},
		{"reg compare", func(s *fleet.Settings) string { return s.RegCompare }, "", false},
		{"decode error", func(s *fleet.Settings) string { return s.DecodeError }, "diff", false},
		{"raw", func(s *fleet.Settings) string { return s.Raw }, "soft", true},
	}
	var rows []htmlField
	for _, f := range fields {
		var ev, av string
		if e != nil {
			ev = oneLine(f.get(e))
		}
		if a != nil {
			av = oneLine(f.get(a))
		}
		if ev == "" && av == "" {
			continue
		}
		row := htmlField{Name: f.name, Expected: ev, Actual: av, Mono: f.mono}
		if e != nil && a != nil && f.class != "" && !sameField(f.name, ev, av) {
			row.Class = f.class
		}
		rows = append(rows, row)
	}
	return rows
}

// sameField compares as WinINet does where it matters: proxy strings case-insensitively.
func sameField(name, a, b string) bool {
	if name == "proxy" || name == "bypass" {
		return strings.EqualFold(a, b)
	}
	return a == b
}

func probeRows(e, a *fleet.Probe) []htmlField {
	fields := []struct {
		name string
		get  func(*fleet.Probe) string
		mono bool
	}{
		{"URL", func(p *fleet.Probe) string { return p.URL }, true},
		{"route", func(p *fleet.Probe) string { return p.Route }, true},
		{"HTTP status", func(p *fleet.Probe) string {
			if len(p.Accepted) > 0 {
				codes := make([]string, len(p.Accepted))
				for i, c := range p.Accepted {
					codes[i] = strconv.Itoa(c)
				}
				s := strings.Join(codes, " or ")
				if p.Status != 0 {
					s = strconv.Itoa(p.Status) + " (accepted: " + s + ")"
				}
				return s
			}
			if p.Status == 0 {
				return ""
			}
			return strconv.Itoa(p.Status)
		}, false},
		{"error", func(p *fleet.Probe) string { return p.Error }, false},
		{"time", func(p *fleet.Probe) string {
			if p.Millis == 0 {
				return ""
			}
			return strconv.Itoa(p.Millis) + " ms"
		}, false},
	}
	var rows []htmlField
	for _, f := range fields {
		var ev, av string
		if e != nil {
			ev = oneLine(f.get(e))
		}
		if a != nil {
			av = oneLine(f.get(a))
		}
		if ev == "" && av == "" {
			continue
		}
		rows = append(rows, htmlField{Name: f.name, Expected: ev, Actual: av, Mono: f.mono})
	}
	return rows
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// buildChart groups hosts by site, or by tag when no host has a site (a host then counts once per
// tag), and lays out one 100%-stacked bar per group, least compliant first, ties by name.
func buildChart(rep *fleet.Report) htmlChart {
	by := "site"
	hasSite := false
	for _, h := range rep.Hosts {
		if strings.TrimSpace(h.Site) != "" {
			hasSite = true
			break
		}
	}
	if !hasSite {
		by = "tag"
	}
	type group struct {
		name           string
		ok, warn, fail int
	}
	idx := map[string]int{}
	var groups []*group
	add := func(name string, status fleet.HostStatus) {
		i, ok := idx[name]
		if !ok {
			i = len(groups)
			idx[name] = i
			groups = append(groups, &group{name: name})
		}
		g := groups[i]
		switch status {
		case fleet.StatusCompliant:
			g.ok++
		case fleet.StatusNoncompliant:
			g.warn++
		default:
			g.fail++
		}
	}
	for _, h := range rep.Hosts {
		if by == "site" {
			add(orDefault(oneLine(h.Site), "(no site)"), h.Status)
			continue
		}
		if len(h.Tags) == 0 {
			add("(no tag)", h.Status)
		}
		seen := map[string]bool{}
		for _, t := range h.Tags {
			t = orDefault(oneLine(t), "(empty tag)")
			if !seen[t] {
				seen[t] = true
				add(t, h.Status)
			}
		}
	}
	slices.SortStableFunc(groups, func(a, b *group) int {
		// a.ok/at < b.ok/bt  <=>  a.ok*bt < b.ok*at
		at, bt := a.ok+a.warn+a.fail, b.ok+b.warn+b.fail
		if l, r := a.ok*bt, b.ok*at; l != r {
			return l - r
		}
		return strings.Compare(a.name, b.name)
	})
	ch := htmlChart{By: by, LabelW: chartLabelW, Width: chartLabelW + chartBarW + chartCountW}
	for i, g := range groups {
		total := g.ok + g.warn + g.fail
		y := chartTop + i*chartRowH
		row := htmlChartRow{Label: shorten(g.name, chartLabelMax), Name: g.name, Y: y, TextY: y + chartBarH - 3, Total: total,
			Text: fmt.Sprintf("%d/%d", g.ok, total), TextX: chartLabelW + chartBarW + 8}
		x := chartLabelW
		acc := 0
		for _, s := range []struct {
			n     int
			class string
			what  fleet.HostStatus
		}{{g.ok, "good", fleet.StatusCompliant}, {g.warn, "warn", fleet.StatusNoncompliant}, {g.fail, "bad", fleet.StatusError}} {
			if s.n == 0 {
				continue
			}
			// Cumulative rounding so the segments always add up to the full bar.
			acc += s.n
			end := chartLabelW + acc*chartBarW/total
			row.Segs = append(row.Segs, htmlSeg{Class: s.class, X: x, W: end - x,
				Title: fmt.Sprintf("%s: %d %s of %d", g.name, s.n, s.what, total)})
			x = end
		}
		ch.Rows = append(ch.Rows, row)
	}
	ch.Height = chartTop*2 + len(groups)*chartRowH
	return ch
}

// shorten cuts s to at most n runes, marking the cut with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
