package report

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/remote/wininet"
)

// Cell texts of the per-account columns.
const (
	cellNone       = "-"
	cellOK         = "ok"
	cellOKCounter  = "ok (counter)"
	cellMissing    = "missing"
	cellDiffers    = "differs"
	cellUndecoded  = "invalid"
	cellFail       = "fail"
	cellError      = "error"
	cellOKApprox   = "ok (approx.)"
	noteCounter    = "counter differs only"
	placeholderInv = "INVENTORY"
)

// tone classifies a cell for colour and CSS: good, warn, bad or none.
type tone int

const (
	toneNone tone = iota
	toneGood
	toneWarn
	toneBad
)

func (t tone) class() string {
	switch t {
	case toneGood:
		return "good"
	case toneWarn:
		return "warn"
	case toneBad:
		return "bad"
	}
	return "none"
}

// cell is a short table value with its tone.
type cell struct {
	text string
	tone tone
}

// hostView is the digest of one HostResult that the human formats share.
type hostView struct {
	h        *fleet.HostResult
	system   cell
	service  cell
	endpoint cell
	problems []string // why the host is noncompliant or in error, in check order
	notes    []string // remarks on a compliant host (counter-only difference, approximate probes)
}

// reason is the host's REASON text: its problems, else its notes, joined by "; ".
func (v hostView) reason() string {
	if len(v.problems) > 0 {
		return strings.Join(v.problems, "; ")
	}
	return strings.Join(v.notes, "; ")
}

func statusTone(status fleet.HostStatus) tone {
	switch status {
	case fleet.StatusCompliant:
		return toneGood
	case fleet.StatusNoncompliant:
		return toneWarn
	case fleet.StatusError:
		return toneBad
	}
	return toneNone
}

// viewHost digests one host. It never fails: unexpected shapes fall back to the check messages.
func viewHost(h *fleet.HostResult) hostView {
	v := hostView{h: h}
	v.system = accountCell(h, fleet.AccountLocalSystem)
	v.service = accountCell(h, fleet.AccountLocalService)
	v.endpoint = endpointCell(h)
	if h.Error != nil {
		v.problems = append(v.problems, driftPrefix(h.Error.Drift)+hostErrorText(h.Error))
	}
	counterOnly := false
	for i := range h.Checks {
		c := &h.Checks[i]
		switch c.Status {
		case fleet.CheckFail, fleet.CheckError:
			v.problems = append(v.problems, driftPrefix(c.Drift)+checkReason(c))
		case fleet.CheckPass:
			if isCounterOnly(c) {
				counterOnly = true
			}
			if c.Kind == fleet.KindEndpoint && c.Approximate {
				v.notes = append(v.notes, accountLabel(c)+" endpoint: approximate")
			}
		}
	}
	if counterOnly {
		v.notes = append([]string{noteCounter}, v.notes...)
	}
	if len(v.problems) == 0 && h.Status != fleet.StatusCompliant {
		// The verdict says something is wrong but no check says what: show the first message.
		msg := string(h.Status)
		for _, c := range h.Checks {
			if c.Status != fleet.CheckPass && c.Status != fleet.CheckInfo && c.Message != "" {
				msg = c.Message
				break
			}
		}
		v.problems = append(v.problems, oneLine(msg))
	}
	return v
}

// hostErrorText is the short "kind: message" form, e.g. "auth: 401".
func hostErrorText(e *fleet.HostError) string {
	kind := oneLine(string(e.Kind))
	msg := oneLine(e.Message)
	switch {
	case kind == "":
		return msg
	case msg == "":
		return kind
	case strings.HasPrefix(strings.ToLower(msg), strings.ToLower(kind)+":"):
		return msg
	}
	return kind + ": " + msg
}

func accountLabel(c *fleet.Check) string {
	if c.Account != "" {
		return oneLine(c.Account)
	}
	return oneLine(c.ID)
}

// isCounterOnly reports a passing registry comparison that reg compare would still call different:
// only the change counter (or other ignored bytes) differs.
func isCounterOnly(c *fleet.Check) bool {
	if c.Kind != fleet.KindRegCompare || c.Status != fleet.CheckPass {
		return false
	}
	s, ok := settingsOf(c.Actual)
	return ok && strings.EqualFold(s.RegCompare, "different")
}

// checkReason is the short text of a failed or errored check.
func checkReason(c *fleet.Check) string {
	label := accountLabel(c)
	switch c.Kind {
	case fleet.KindRegCompare:
		if c.Status == fleet.CheckFail {
			act, okA := settingsOf(c.Actual)
			exp, _ := settingsOf(c.Expected)
			if okA {
				if d := settingsDiff(act, exp); d != "" {
					return label + ": " + d
				}
			}
		}
	case fleet.KindEndpoint:
		r := label + " endpoint: "
		if c.Message != "" {
			// fleet says it in plain words; the status and .NET error stay in the JSON.
			r += oneLine(c.Message)
		} else if p, ok := probeOf(c.Actual); ok && (p.Status != 0 || p.Error != "") {
			exp, _ := probeOf(c.Expected)
			r += probeOutcome(p, exp)
		} else {
			r += orDefault(oneLine(c.Message), string(c.Status))
		}
		if c.Approximate {
			r += " (approx.)"
		}
		return r
	}
	return label + ": " + orDefault(oneLine(c.Message), string(c.Status))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// probeOutcome is e.g. "HTTP 407 via proxy:8080" or "ConnectFailure via direct", with a note when
// the status did not come from the endpoint: "(no TLS)" (the proxy's own answer) or "(issuer X
// unexpected)" (TLS interception; exp gives the expected issuers, nil when unknown).
func probeOutcome(p, exp *fleet.Probe) string {
	var parts []string
	if p.Error != "" {
		parts = append(parts, oneLine(p.Error))
	}
	if p.Status != 0 {
		parts = append(parts, "HTTP "+strconv.Itoa(p.Status))
	}
	s := strings.Join(parts, " ")
	if p.Route != "" {
		s += " via " + strings.TrimPrefix(oneLine(p.Route), "proxy ")
	}
	switch {
	case p.Status == 0:
	case p.TLS != nil && !*p.TLS:
		s += " (no TLS)"
	case p.Issuer != "" && exp != nil && len(exp.ExpectedIssuers) > 0 && !containsAnyFold(p.Issuer, exp.ExpectedIssuers):
		s += " (issuer " + oneLine(p.Issuer) + " unexpected)"
	}
	return s
}

func containsAnyFold(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(strings.ToLower(s), strings.ToLower(x)) {
			return true
		}
	}
	return false
}

// settingsDiff says how act differs from exp in the fewest words, e.g. "proxy-old:3128 != proxy:8080".
// It returns "" when it cannot name a difference.
func settingsDiff(act, exp *fleet.Settings) string {
	switch {
	case !act.Present:
		return "no value"
	case act.DecodeError != "":
		return "undecodable value"
	case exp == nil || !exp.Present:
		return describeSettings(act)
	}
	am, em := settingsMode(act), settingsMode(exp)
	if am != em {
		return describeSettings(act) + " != " + describeSettings(exp)
	}
	if hasMode(am, "proxy") {
		if !strings.EqualFold(strings.TrimSpace(act.Proxy), strings.TrimSpace(exp.Proxy)) {
			return quoteEmpty(act.Proxy) + " != " + quoteEmpty(exp.Proxy)
		}
		if act.Bypass != exp.Bypass {
			return "bypass " + quoteEmpty(act.Bypass) + " != " + quoteEmpty(exp.Bypass)
		}
	}
	if hasMode(am, "pac") && strings.TrimSpace(act.AutoConfigURL) != strings.TrimSpace(exp.AutoConfigURL) {
		return "pac " + quoteEmpty(act.AutoConfigURL) + " != " + quoteEmpty(exp.AutoConfigURL)
	}
	return ""
}

func quoteEmpty(s string) string {
	s = oneLine(s)
	if s == "" {
		return `""`
	}
	return s
}

func hasMode(mode, part string) bool {
	for _, p := range strings.Split(mode, "+") {
		if p == part {
			return true
		}
	}
	return false
}

// settingsMode is s.Mode, or the mode derived from the flags when the producer left it empty.
func settingsMode(s *fleet.Settings) string {
	if s.Mode != "" {
		return s.Mode
	}
	flags := s.Flags
	if s.AutoDetect {
		flags |= wininet.FlagAutoDetect
	}
	return wininet.Settings{Flags: flags}.Mode()
}

// describeSettings is a one-line summary, e.g. "proxy:8080 bypass <local>", "pac http://x/p.pac",
// "direct", "no value".
func describeSettings(s *fleet.Settings) string {
	if !s.Present {
		return "no value"
	}
	if s.DecodeError != "" {
		return "undecodable value"
	}
	mode := settingsMode(s)
	var parts []string
	if hasMode(mode, "proxy") {
		p := quoteEmpty(s.Proxy)
		if s.Bypass != "" {
			p += " bypass " + oneLine(s.Bypass)
		}
		parts = append(parts, p)
	}
	if hasMode(mode, "pac") {
		parts = append(parts, "pac "+quoteEmpty(s.AutoConfigURL))
	}
	if hasMode(mode, "autodetect") {
		parts = append(parts, "autodetect")
	}
	if len(parts) == 0 {
		return oneLine(mode)
	}
	return strings.Join(parts, " + ")
}

// describeProbe is a one-line summary of an expected or actual probe.
func describeProbe(p *fleet.Probe) string {
	if p.Status == 0 && p.Error == "" && len(p.Accepted) > 0 {
		// An expectation: the URL and the accepted statuses.
		codes := make([]string, len(p.Accepted))
		for i, a := range p.Accepted {
			codes[i] = strconv.Itoa(a)
		}
		s := "HTTP " + strings.Join(codes, "/")
		if p.URL != "" {
			s = oneLine(p.URL) + " -> " + s
		}
		if p.Route != "" {
			s += " via " + strings.TrimPrefix(oneLine(p.Route), "proxy ")
		}
		return s
	}
	out := probeOutcome(p, nil)
	if p.Status == 0 && p.Error == "" {
		out = "no response" + out
	}
	return out
}

// describeSensor summarises the sensor found on a host in one line.
func describeSensor(sn *fleet.Sensor) string {
	parts := []string{"kind " + sn.Kind}
	if sn.Version != "" {
		parts = append(parts, "version "+sn.Version)
	}
	for _, svc := range []*fleet.Service{sn.Service, sn.Updater} {
		if svc != nil {
			parts = append(parts, svc.Name+" "+svc.Start)
		}
	}
	if sn.MDEOnboarded {
		parts = append(parts, "MDE onboarded")
	}
	if c := sn.Config; c != nil {
		switch {
		case !c.Found:
			parts = append(parts, "SensorConfiguration.json "+c.Error)
		case c.ProxyURL != "":
			p := "JSON proxy " + c.ProxyURL
			if c.Credentials {
				p += " (credentials for " + c.ProxyUser + ")"
			}
			parts = append(parts, p)
		default:
			parts = append(parts, "no JSON proxy")
		}
	}
	return oneLine(strings.Join(parts, ", "))
}

// describeValue summarises a Check's Expected or Actual.
func describeValue(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := settingsOf(v); ok {
		return describeSettings(s)
	}
	if p, ok := probeOf(v); ok {
		return describeProbe(p)
	}
	if sn, ok := v.(*fleet.Sensor); ok && sn != nil {
		return describeSensor(sn)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return oneLine(fmt.Sprint(v))
	}
	return oneLine(string(b))
}

// settingsOf returns v as *fleet.Settings (fleet.Check decodes Expected and Actual by Kind, so a
// report read back from a file carries the same types as one made in this process).
func settingsOf(v any) (*fleet.Settings, bool) {
	x, ok := v.(*fleet.Settings)
	return x, ok && x != nil
}

// probeOf returns v as *fleet.Probe.
func probeOf(v any) (*fleet.Probe, bool) {
	x, ok := v.(*fleet.Probe)
	return x, ok && x != nil
}

// accountCell summarises the registry comparison of one account.
func accountCell(h *fleet.HostResult, account string) cell {
	best := cell{text: cellNone}
	rank := -1
	for i := range h.Checks {
		c := &h.Checks[i]
		if c.Kind != fleet.KindRegCompare || c.Account != account {
			continue
		}
		var cl cell
		r := 0
		switch c.Status {
		case fleet.CheckPass:
			cl = cell{cellOK, toneGood}
			if isCounterOnly(c) {
				cl.text = cellOKCounter
			}
		case fleet.CheckFail:
			r = 1
			cl = cell{cellDiffers, toneWarn}
			if s, ok := settingsOf(c.Actual); ok {
				switch {
				case !s.Present:
					cl.text = cellMissing
				case s.DecodeError != "":
					cl.text = cellUndecoded
				}
			}
		case fleet.CheckError:
			r = 2
			cl = cell{cellError, toneBad}
		default:
			cl = cell{oneLine(string(c.Status)), toneNone}
		}
		if r > rank {
			best, rank = cl, r
		}
	}
	return best
}

// endpointCell summarises the endpoint probes of a host.
func endpointCell(h *fleet.HostResult) cell {
	n, pass, fail, errs, approx := 0, 0, 0, 0, false
	for i := range h.Checks {
		c := &h.Checks[i]
		if c.Kind != fleet.KindEndpoint || c.Status == fleet.CheckInfo {
			continue // informational probes (not the sensor's route, the reference account) are not judged
		}
		n++
		switch c.Status {
		case fleet.CheckPass:
			pass++
			approx = approx || c.Approximate
		case fleet.CheckFail:
			fail++
		case fleet.CheckError:
			errs++
		}
	}
	switch {
	case n == 0:
		return cell{cellNone, toneNone}
	case errs > 0:
		return cell{cellError, toneBad}
	case fail > 0:
		return cell{fmt.Sprintf("%s %d/%d", cellFail, fail, n), toneWarn}
	case approx:
		return cell{cellOKApprox, toneGood}
	case pass == n:
		return cell{cellOK, toneGood}
	}
	return cell{cellNone, toneNone}
}

// summarize counts hosts by status. It recounts rather than trusting rep.Summary so the human
// formats always agree with the rows they show.
func summarize(rep *fleet.Report) fleet.Summary {
	s := fleet.Summary{Hosts: len(rep.Hosts)}
	for _, h := range rep.Hosts {
		switch h.Status {
		case fleet.StatusCompliant:
			s.Compliant++
		case fleet.StatusNoncompliant:
			s.Noncompliant++
		default:
			s.Error++
		}
	}
	return s
}

// SummaryLine is the one-line count of rep's hosts by status, as the table's last line shows it:
// "4 hosts: 1 compliant, 2 noncompliant, 1 error".
func SummaryLine(rep *fleet.Report) string { return summaryLine(summarize(rep)) }

// summaryLine is e.g. "4 hosts: 1 compliant, 2 noncompliant, 1 error".
func summaryLine(s fleet.Summary) string {
	noun := "hosts"
	if s.Hosts == 1 {
		noun = "host"
	}
	return fmt.Sprintf("%d %s: %d compliant, %d noncompliant, %d error", s.Hosts, noun, s.Compliant, s.Noncompliant, s.Error)
}

const interruptedNote = "run interrupted: some hosts were not checked"

// driftPrefix marks a problem that a baseline comparison found new ("new: "); persisting problems
// and reports without a baseline get no prefix.
func driftPrefix(drift string) string {
	if drift == fleet.DriftNew {
		return "new: "
	}
	return ""
}

// driftLine is e.g. "since baseline of 2024-05-13 09:30:00 UTC: 2 new, 3 persisting, 1 resolved
// finding; new on 1 noncompliant host, 1 host in error", or "" when the report has no baseline.
// It recounts from the hosts so that it always agrees with the rows shown.
func driftLine(rep *fleet.Report) string {
	if rep.Baseline == nil {
		return ""
	}
	d := countDrift(rep)
	since := "since the baseline"
	switch {
	case rep.Baseline.Missing:
		since = "no baseline yet (first run)"
	case !rep.Baseline.StartedAt.IsZero():
		since += " of " + fmtTime(rep.Baseline.StartedAt)
	}
	noun := "findings"
	if d.New+d.Persisting+d.Resolved == 1 {
		noun = "finding"
	}
	s := fmt.Sprintf("%s: %d new, %d persisting, %d resolved %s", since, d.New, d.Persisting, d.Resolved, noun)
	if d.NewFail+d.NewError > 0 {
		s += fmt.Sprintf("; new on %d noncompliant %s, %d %s in error", d.NewFail, plural(d.NewFail, "host"), d.NewError, plural(d.NewError, "host"))
	}
	return s
}

func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}

// countDrift counts the drift classes of rep's findings as ApplyBaseline would summarise them.
func countDrift(rep *fleet.Report) fleet.DriftSummary {
	d := fleet.DriftSummary{Resolved: len(rep.Resolved)}
	for i := range rep.Hosts {
		h := &rep.Hosts[i]
		newFail, newErr := false, false
		tally := func(drift string, status fleet.CheckStatus) {
			switch drift {
			case fleet.DriftNew:
				d.New++
				if status == fleet.CheckFail {
					newFail = true
				} else {
					newErr = true
				}
			case fleet.DriftPersisting:
				d.Persisting++
			}
		}
		if h.Error != nil {
			tally(h.Error.Drift, fleet.CheckError)
		}
		for j := range h.Checks {
			tally(h.Checks[j].Drift, h.Checks[j].Status)
		}
		if newFail {
			d.NewFail++
		}
		if newErr {
			d.NewError++
		}
	}
	return d
}

// findingText is one resolved finding's "what it was", e.g. "LOCAL_SYSTEM: fail: no value".
func findingText(f *fleet.Finding) string {
	parts := []string{}
	if f.Account != "" {
		parts = append(parts, oneLine(f.Account))
	}
	parts = append(parts, orDefault(oneLine(string(f.Status)), "?"))
	if m := oneLine(f.Message); m != "" {
		parts = append(parts, m)
	}
	return strings.Join(parts, ": ")
}

// remediationChange is "before -> after" of one remediation, or whichever side is known.
func remediationChange(r *fleet.Remediation) string {
	b, a := oneLine(r.Before), oneLine(r.After)
	switch {
	case b != "" && a != "":
		return b + " -> " + a
	case a != "":
		return "-> " + a
	}
	return b
}

// oneLine makes text from a host safe for one line of terminal or Markdown output: line breaks and
// tabs become spaces, other control characters (ESC included, so no terminal escape gets through)
// become U+FFFD, bidirectional controls (U+202A-U+202E, U+2066-U+2069, which can make a line read
// differently from what it holds) are shown escaped as <U+202E>, and surrounding space is trimmed.
// OneLine is s made safe for one line of a terminal or a table cell: line breaks and tabs become
// spaces, control characters (C0, C1) and bidi controls are shown escaped. Used by cmd too.
func OneLine(s string) string { return oneLine(s) }

func oneLine(s string) string {
	clean := true
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' || r == unicode.ReplacementChar || isBidi(r) {
			clean = false
			break
		}
	}
	if clean {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n' || r == '\t' || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			b.WriteRune(unicode.ReplacementChar)
		case isBidi(r):
			fmt.Fprintf(&b, "<U+%04X>", r)
		default:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// isBidi reports the bidirectional embedding, override and isolate controls.
func isBidi(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}
