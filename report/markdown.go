package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
)

// markdownRenderer writes a ticket body in GitHub-flavoured Markdown: a headline and the summary,
// a table of the noncompliant hosts with their reason and the exact command that fixes each one,
// the hosts that could not be checked, and the remediation rows if any.
//
// Text from hosts is escaped so it cannot break a table or turn into markup ("<local>" stays
// visible); commands are shell-quoted inside code spans.
type markdownRenderer struct {
	opt Options
}

// Render implements Renderer.
func (m markdownRenderer) Render(w io.Writer, rep *fleet.Report) error {
	if rep == nil {
		return ErrNilReport
	}
	var b strings.Builder
	sum := summarize(rep)
	views := make([]hostView, len(rep.Hosts))
	for i := range rep.Hosts {
		views[i] = viewHost(&rep.Hosts[i])
	}
	cmd := orDefault(oneLine(rep.Command), "audit")

	newOnly := m.opt.NewOnly && rep.Baseline != nil
	switch {
	case newOnly:
		n := 0
		for i := range rep.Hosts {
			if rep.Hosts[i].Drift == fleet.DriftNew {
				n++
			}
		}
		if n == 0 {
			fmt.Fprintf(&b, "## dcproxy %s: no new findings on %d %s\n\n", mdText(cmd), sum.Hosts, plural(sum.Hosts, "domain controller"))
		} else {
			fmt.Fprintf(&b, "## dcproxy %s: new findings on %d of %d %s\n\n", mdText(cmd), n, sum.Hosts, plural(sum.Hosts, "domain controller"))
		}
	case sum.Hosts == 0:
		fmt.Fprintf(&b, "## dcproxy %s: no hosts were checked\n\n", mdText(cmd))
	case sum.Hosts == 1 && sum.Compliant == 1:
		fmt.Fprintf(&b, "## dcproxy %s: the domain controller is compliant\n\n", mdText(cmd))
	case sum.Noncompliant == 0 && sum.Error == 0:
		fmt.Fprintf(&b, "## dcproxy %s: all %d domain controllers are compliant\n\n", mdText(cmd), sum.Hosts)
	default:
		fmt.Fprintf(&b, "## dcproxy %s: %d of %d domain controllers need action, %d could not be checked\n\n",
			mdText(cmd), sum.Noncompliant, sum.Hosts, sum.Error)
	}
	fmt.Fprintf(&b, "**%s**\n\n", summaryLine(sum))
	if d := driftLine(rep); d != "" {
		b.WriteString(mdText(upperFirst(d)) + ".\n\n")
	}
	var meta []string
	if rep.RunID != "" {
		meta = append(meta, "Run "+mdCode(rep.RunID))
	}
	if !rep.StartedAt.IsZero() {
		span := "started " + fmtTime(rep.StartedAt)
		if !rep.FinishedAt.IsZero() {
			span += ", finished " + fmtTime(rep.FinishedAt) + " (" + fmtDuration(rep.FinishedAt.Sub(rep.StartedAt)) + ")"
		}
		meta = append(meta, span)
	}
	if len(meta) > 0 {
		b.WriteString(strings.Join(meta, ", ") + ".\n\n")
	}
	if rep.Interrupted {
		b.WriteString("> **Warning:** " + interruptedNote + ".\n\n")
	}
	for _, m := range runMeta(rep, m.opt) {
		fmt.Fprintf(&b, "- %s: %s\n", mdText(m[0]), mdText(m[1]))
	}
	if m.opt.Run != nil {
		b.WriteString("\n")
	}
	headline := FleetHeadline(rep)
	if headline != nil {
		fmt.Fprintf(&b, "> **All hosts (%s):** %s\n\n", mdText(headline.Actor), mdText(headline.Text))
	}
	sensor := hasSensorData(rep)

	inv := m.opt.Inventory
	if inv == "" {
		inv = placeholderInv
	}
	var action, broken []hostView
	for _, v := range views {
		if newOnly && v.h.Drift != fleet.DriftNew {
			continue
		}
		switch v.h.Status {
		case fleet.StatusCompliant:
		case fleet.StatusNoncompliant:
			action = append(action, v)
		default:
			broken = append(broken, v)
		}
	}
	if len(action) > 0 {
		fmt.Fprintf(&b, "### Hosts needing action (%d)\n\n", len(action))
		b.WriteString("Who acts: **fix** (run the command in the Fix column), **proxy/firewall**, **sensor**, **host**, **credentials**.\n\n")
		if sensor {
			b.WriteString("| Host | Site | Acts | Route | LOCAL_SYSTEM | LOCAL_SERVICE | Reason | Fix |\n|---|---|---|---|---|---|---|---|\n")
		} else {
			b.WriteString("| Host | Site | Acts | LOCAL_SYSTEM | LOCAL_SERVICE | Reason | Fix |\n|---|---|---|---|---|---|---|\n")
		}
		for _, v := range action {
			fix := "-"
			if fixable(v.h) {
				if line, ok := fixLine(inv, v.h.Host); ok {
					fix = mdCode(line)
				} else {
					fix = "(name cannot be quoted safely: run dcproxy fix for this host by hand)"
				}
			}
			route := ""
			if sensor {
				route = " " + mdText(routeCell(v.h)) + " |"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |%s %s | %s | %s | %s |\n", mdText(v.h.Host), mdText(v.h.Site), mdText(strings.Join(hostActors(v.h), ", ")),
				route, mdText(v.system.text), mdText(v.service.text), mdText(v.reason()), fix)
		}
		b.WriteString("\n")
	}
	if len(broken) > 0 && headline != nil {
		fmt.Fprintf(&b, "### Hosts that could not be checked (%d)\n\n", len(broken))
		names := make([]string, len(broken))
		for i, v := range broken {
			names[i] = mdText(v.h.Host)
		}
		b.WriteString(strings.Join(names, ", ") + "\n\n")
	} else if len(broken) > 0 {
		fmt.Fprintf(&b, "### Hosts that could not be checked (%d)\n\n", len(broken))
		b.WriteString("| Host | Address | Site | Acts | Reason |\n|---|---|---|---|---|\n")
		for _, v := range broken {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdText(v.h.Host), mdText(v.h.Address), mdText(v.h.Site),
				mdText(strings.Join(hostActors(v.h), ", ")), mdText(v.reason()))
		}
		b.WriteString("\n")
	}
	if sensor {
		b.WriteString("### Routes the verdicts followed\n\n| Host | Sensor | Route | Decision |\n|---|---|---|---|\n")
		for _, v := range views {
			if newOnly && v.h.Drift != fleet.DriftNew {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdText(v.h.Host), mdText(sensorCell(v.h)), mdText(routeCell(v.h)), mdText(routeDecision(v.h)))
		}
		b.WriteString("\n")
	}
	if len(rep.Resolved) > 0 {
		fmt.Fprintf(&b, "### Resolved since the baseline (%d)\n\n", len(rep.Resolved))
		b.WriteString("| Host | Check | Was |\n|---|---|---|\n")
		for i := range rep.Resolved {
			f := &rep.Resolved[i]
			fmt.Fprintf(&b, "| %s | %s | %s |\n", mdText(f.Host), mdCode(f.Check), mdText(findingText(f)))
		}
		b.WriteString("\n")
	}
	var rem []string
	for i := range rep.Hosts {
		h := &rep.Hosts[i]
		for j := range h.Remediation {
			r := &h.Remediation[j]
			rem = append(rem, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s |", mdText(h.Host), mdText(r.Account), mdText(string(r.Action)),
				mdText(string(r.Outcome)), mdText(remediationChange(r)), mdCode(r.Backup), mdText(r.Message)))
		}
	}
	if len(rem) > 0 {
		fmt.Fprintf(&b, "### Remediation (%d)\n\n", len(rem))
		b.WriteString("| Host | Account | Action | Outcome | Change | Backup | Message |\n|---|---|---|---|---|---|---|\n")
		b.WriteString(strings.Join(rem, "\n") + "\n\n")
	}
	out := strings.TrimRight(b.String(), "\n") + "\n"
	_, err := io.WriteString(w, out)
	return writeErr(FormatMarkdown, err)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func fmtTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func fmtDuration(d time.Duration) string {
	if d < 0 {
		return "0s"
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// mdEscaper backslash-escapes what could start markup or end a table cell inside a line ("<local>"
// would vanish as an HTML tag). Underscores are left alone: GFM does not emphasise inside words
// (LOCAL_SYSTEM). '>' and '#' only act at the start of a line, which host text never is.
var mdEscaper = strings.NewReplacer(`\`, `\\`, "`", "\\`", "*", `\*`, "<", `\<`, "[", `\[`, "]", `\]`, "|", `\|`)

// mdText is one line of host text, safe inside a GFM table cell.
func mdText(s string) string {
	s = oneLine(s)
	if s == "" {
		return "-"
	}
	return mdEscaper.Replace(s)
}

// mdCode puts s in a code span that survives a GFM table cell.
func mdCode(s string) string {
	s = oneLine(s)
	if s == "" {
		return "-"
	}
	s = strings.ReplaceAll(s, "|", `\|`)
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.Contains(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

// fixLine is the command that fixes exactly one host: --host matches inventory names only (never a
// site or a tag). It is quoted so that bash, PowerShell and cmd.exe all read the same arguments;
// ok is false when the host name or the inventory path cannot be written that way.
func fixLine(inventory, host string) (string, bool) {
	inv, ok1 := shellQuote(inventory)
	h, ok2 := shellQuote(host)
	if !ok1 || !ok2 || strings.ContainsAny(host, "*?[]") {
		return "", false
	}
	return "dcproxy fix -i " + inv + " --host " + h + " --apply", true
}

// shellQuote writes s as one argument that bash, PowerShell 5.1 and cmd.exe read the same way: bare
// when it holds only letters, digits and . _ : / - (not leading -), else in double quotes, the one
// quoting all three share. ok is false for what no common quoting carries: " $ ` % ! ^ (expanded or
// escaping in one of them), a backslash before another or at the end (bash), the typographic
// quotes PowerShell treats as quotes (U+2018-U+201E), control and bidi characters.
func shellQuote(s string) (string, bool) {
	if s == "" {
		return `""`, true
	}
	bare := s[0] != '-'
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("._:/-", r):
		case strings.ContainsRune("\"$`%!^", r), r >= 0x2018 && r <= 0x201e, r < 0x20, r == 0x7f, isBidi(r), r >= 0x80 && r < 0xa0:
			return "", false
		case r == '\\':
			bare = false
			if i == len(s)-1 || s[i+1] == '\\' {
				return "", false
			}
		default:
			bare = false
		}
	}
	if bare {
		return s, true
	}
	return `"` + s + `"`, true
}
