package cmd

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"golang.org/x/term"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/remote/wininet"
	"github.com/dcproxy/dcproxy/report"
)

// planView is what fix and restore show before they write: one line per value written (host,
// account, key\value, current -> new), the notes of the hosts touched, and for every other host
// one count: already matching, or refused with the reasons grouped ("3 hosts refused: the sensor
// uses its own proxy (SensorConfiguration.json): dc10, dc15, dc16").
type planView struct {
	command, runID string
	writes         []planWrite
	notes          []string // refused or notable steps of touched hosts, one line each
	touched        map[string]bool
	match          int // hosts with nothing to write and nothing refused
	refused        []refusalGroup
	total          int
}

type planWrite struct {
	host, account, value, key string
	current, desired          []byte
	delete, forced            bool
}

type refusalGroup struct {
	reason string
	hosts  []string
}

// newPlanView sorts the plans (in report order) into writes, notes, matching and refused hosts.
func newPlanView(command, runID string, rep *fleet.Report, plans []fleet.HostPlan) *planView {
	v := &planView{command: command, runID: runID, touched: map[string]bool{}, total: len(plans)}
	groups := map[string]*refusalGroup{}
	for i, p := range plans {
		if p.Writes() == 0 {
			reason := ""
			for _, st := range p.Steps {
				if st.Action == fleet.ActionRefused {
					reason = refusalReason(&rep.Hosts[i], st)
					break
				}
			}
			if reason == "" {
				v.match++
				continue
			}
			g := groups[reason]
			if g == nil {
				g = &refusalGroup{reason: reason}
				groups[reason] = g
			}
			g.hosts = append(g.hosts, p.Host)
			continue
		}
		v.touched[p.Host] = true
		for _, st := range p.Steps {
			switch {
			case st.Action == fleet.ActionWrite || st.Action == fleet.ActionDelete:
				v.writes = append(v.writes, planWrite{host: p.Host, account: st.Account, value: st.Value, key: st.Key,
					current: st.Current, desired: st.Desired, delete: st.Action == fleet.ActionDelete, forced: st.Forced})
			case st.Action == fleet.ActionRefused || st.Notice:
				// The message says what: "not fixed: ...", "not written: ...".
				v.notes = append(v.notes, fmt.Sprintf("%s  %s  %s%s", p.Host, st.Account, otherValue(st.Value), report.OneLine(st.Message)))
			}
		}
	}
	for _, g := range groups {
		v.refused = append(v.refused, *g)
	}
	sort.Slice(v.refused, func(a, b int) bool {
		if x, y := len(v.refused[a].hosts), len(v.refused[b].hosts); x != y {
			return x > y
		}
		return v.refused[a].reason < v.refused[b].reason
	})
	return v
}

// hosts is the number of hosts the run writes to.
func (v *planView) hosts() int { return len(v.touched) }

// render writes the plan. width > 0 cuts every line to it with an ellipsis (a terminal); hex adds
// each value's current and new bytes under its line (a log or a pipe, where nothing is cut).
func (v *planView) render(w io.Writer, width int, hex bool) {
	var b strings.Builder
	line := func(s string) {
		if width > 0 {
			s = report.Truncate(s, width)
		}
		b.WriteString(s + "\n")
	}
	head := fmt.Sprintf("dcproxy %s plan (run %s): ", v.command, v.runID)
	if len(v.writes) == 0 {
		line(head + "nothing to write")
	} else {
		line(head + fmt.Sprintf("%d %s on %d %s", len(v.writes), plural(len(v.writes), "value", "values"), v.hosts(), plural(v.hosts(), "host", "hosts")))
	}
	cols := [3]int{}
	for _, x := range v.writes {
		cols[0] = max(cols[0], twwidth.Width(x.host))
		cols[1] = max(cols[1], len(x.account))
		cols[2] = max(cols[2], twwidth.Width(shortKey(x.key, x.value)))
	}
	for _, x := range v.writes {
		change := compactValue(x.current) + " -> " + compactValue(x.desired)
		if x.delete {
			change = compactValue(x.current) + " -> deleted (it was absent before the run)"
		}
		if x.forced {
			change += " [--force: overwrites a change made since the run]"
		}
		where := fmt.Sprintf("  %s  %s  %s", pad(report.OneLine(x.host), cols[0]), pad(x.account, cols[1]), pad(shortKey(x.key, x.value), cols[2]))
		if width > 0 && twwidth.Width(where)+2+twwidth.Width(change) > width {
			// Too narrow for one line: the change goes on its own line rather than being cut away,
			// and the columns are not padded (one long host name would push every line over).
			line(fmt.Sprintf("  %s  %s  %s", report.OneLine(x.host), x.account, shortKey(x.key, x.value)))
			line("      " + change)
		} else {
			line(where + "  " + change)
		}
		if hex {
			b.WriteString("      current hex: " + hexOr(x.current) + "\n")
			b.WriteString("      new hex:     " + hexOr(x.desired) + "\n")
		}
	}
	if len(v.writes) > 0 {
		line(`  (… = ` + fleet.ConnectionsKey + `)`)
	}
	for _, n := range v.notes {
		line("  " + n)
	}
	if others := v.total - v.hosts(); others > 0 && len(v.writes) > 0 {
		line(fmt.Sprintf("  %d other %s not touched:", others, plural(others, "host", "hosts")))
	}
	if v.match > 0 {
		line(fmt.Sprintf("    %d %s already %s", v.match, plural(v.match, "host", "hosts"), plural(v.match, "matches", "match")))
	}
	for _, g := range v.refused {
		names := make([]string, len(g.hosts))
		for i, h := range g.hosts {
			names[i] = report.OneLine(h)
		}
		line(fmt.Sprintf("    %d %s refused: %s: %s", len(g.hosts), plural(len(g.hosts), "host", "hosts"), g.reason, strings.Join(names, ", ")))
	}
	_, _ = io.WriteString(w, b.String())
}

// refusalReason is the reason a host was refused, in words shared by every host refused for it
// (the host-specific details, such as which proxy, stay in the report's rows).
func refusalReason(h *fleet.HostResult, st fleet.Step) string {
	if h.Error != nil {
		switch h.Error.Kind {
		case fleet.ErrorKindUnreachable:
			return "unreachable (WinRM did not accept a connection)"
		case fleet.ErrorKindTimeout:
			return "timed out during the audit"
		case fleet.ErrorKindAuth:
			return "logon refused (credentials)"
		case fleet.ErrorKindCanceled:
			return "not checked (the run was interrupted)"
		case fleet.ErrorKindReference:
			return "no usable reference value (HKCU)"
		}
		return "the audit could not check it (" + string(h.Error.Kind) + ")"
	}
	if strings.Contains(st.Message, "WinINet is not what the sensor uses") && h.Route != nil {
		switch h.Route.Source {
		case fleet.RouteSensorJSON:
			return "the sensor uses its own proxy (SensorConfiguration.json)"
		case fleet.RouteMDEStatic:
			return "the sensor uses Defender for Endpoint's static proxy (TelemetryProxyServer)"
		case fleet.RouteWinHTTP:
			return "the sensor uses WinHTTP's proxy (netsh winhttp)"
		case fleet.RouteWinINetMachine:
			return "the sensor reads the machine-wide WinINet settings (ProxySettingsPerUser=0)"
		case fleet.RouteDirect:
			return "the sensor connects directly (no proxy is configured for it)"
		}
		return "the sensor does not use the per-account WinINet settings (route " + report.OneLine(h.Route.Source) + ")"
	}
	msg := report.OneLine(st.Message)
	if strings.Contains(msg, " changed since run ") {
		return "changed since the run it restores (audit again, or restore the later run first; --force puts the recorded value back anyway)"
	}
	for _, p := range []string{"not fixed: ", "not restored: ", "not written: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	// The general part only: what follows names this host's values.
	if i := strings.IndexAny(msg, "(;:"); i > 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	return msg
}

// otherValue names a value other than DefaultConnectionSettings in a note ("SavedLegacySettings ").
func otherValue(v string) string {
	if v == fleet.ValueName {
		return ""
	}
	return v + " "
}

// shortKey is `HKU\S-1-5-18\…\DefaultConnectionSettings`: the key's root and SID, then the value.
func shortKey(key, value string) string {
	if k, ok := strings.CutSuffix(key, `\`+fleet.ConnectionsKey); ok {
		return k + `\…\` + value
	}
	return key + `\` + value
}

// compactValue is a value's decoded settings in a few words: "absent", "direct",
// "proxy.corp:8080 bypass <local>", "pac http://wpad/proxy.pac", "autodetect".
func compactValue(b []byte) string {
	if b == nil {
		return "absent"
	}
	s, err := wininet.Decode(b)
	if err != nil {
		return fmt.Sprintf("undecodable (%d bytes)", len(b))
	}
	var parts []string
	if s.Flags&wininet.FlagProxy != 0 {
		p := report.OneLine(s.Proxy)
		if s.Bypass != "" {
			p += " bypass " + report.OneLine(s.Bypass)
		}
		parts = append(parts, p)
	}
	if s.Flags&wininet.FlagAutoConfig != 0 {
		parts = append(parts, "pac "+report.OneLine(s.AutoConfigURL))
	}
	if s.Flags&wininet.FlagAutoDetect != 0 {
		parts = append(parts, "autodetect")
	}
	if len(parts) == 0 {
		return "direct"
	}
	return strings.Join(parts, ", ")
}

// touchedReport is rep cut to the hosts the plan writes to, for the terminal table; nil when it
// writes to every host or to none (the table then shows every host).
func touchedReport(rep *fleet.Report, v *planView) *fleet.Report {
	if v.hosts() == 0 || v.hosts() == len(rep.Hosts) {
		return nil
	}
	cut := *rep
	cut.Hosts = make([]fleet.HostResult, 0, v.hosts())
	for _, h := range rep.Hosts {
		if v.touched[h.Host] {
			cut.Hosts = append(cut.Hosts, h)
		}
	}
	return &cut
}

// notShownLine follows the cut table: how many hosts it left out and why (cut to width if > 0).
func (v *planView) notShownLine(width int) string {
	others := v.total - v.hosts()
	refused := 0
	for _, g := range v.refused {
		refused += len(g.hosts)
	}
	s := fmt.Sprintf("(%d other %s not shown: %d already %s, %d refused; --all shows every host)",
		others, plural(others, "host", "hosts"), v.match, plural(v.match, "matches", "match"), refused)
	if width > 0 {
		s = report.Truncate(s, width)
	}
	return s
}

// plural is one or many by n (the one word-form helper of cmd).
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func pad(s string, w int) string {
	if d := w - twwidth.Width(s); d > 0 {
		return s + strings.Repeat(" ", d)
	}
	return s
}

// stderrWidth is the width of the terminal on stderr (0 when unknown), where the plan goes.
var stderrWidth = func() int {
	w, _, err := term.GetSize(int(os.Stderr.Fd()))
	if err != nil {
		return 0
	}
	return w
}
