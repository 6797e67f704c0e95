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
		b.WriteString("| Host | Site | LOCAL_SYSTEM | LOCAL_SERVICE | Reason | Fix |\n|---|---|---|---|---|---|\n")
		for _, v := range action {
			fix := fmt.Sprintf("dcproxy fix -i %s --limit %s --apply", shellQuote(inv), shellQuote(v.h.Host))
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mdText(v.h.Host), mdText(v.h.Site), mdText(v.system.text),
				mdText(v.service.text), mdText(v.reason()), mdCode(fix))
		}
		b.WriteString("\n")
	}
	if len(broken) > 0 {
		fmt.Fprintf(&b, "### Hosts that could not be checked (%d)\n\n", len(broken))
		b.WriteString("| Host | Address | Site | Reason |\n|---|---|---|---|\n")
		for _, v := range broken {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdText(v.h.Host), mdText(v.h.Address), mdText(v.h.Site), mdText(v.reason()))
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
			rem = append(rem, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s |", mdText(h.Host), mdText(r.Account), mdText(r.Action),
				mdText(r.Outcome), mdText(remediationChange(r)), mdCode(r.Backup), mdText(r.Message)))
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

// shellQuote leaves s bare when it only holds characters no shell treats specially, and otherwise
// single-quotes it for a POSIX shell (an embedded ' becomes '\”). Host names and paths in
// practice are bare; PowerShell reads a single-quoted string without ' the same way.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/\\@%+=,", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
