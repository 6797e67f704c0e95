package report

import (
	"bytes"
	"io"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/dcproxy/dcproxy/fleet"
)

// tableRenderer draws one row per host, the remediation rows if any, then the summary line.
//
// On a TTY it uses box-drawing characters, optional ANSI colour and fits Options.Width by wrapping
// long cells; otherwise it writes plain aligned ASCII columns (no borders, no colour, no wrapping)
// that survive being pasted into a ticket.
type tableRenderer struct {
	opt Options
}

var hostHeader = []string{"HOST", "ADDRESS", "STATUS", "LOCAL_SYSTEM", "LOCAL_SERVICE", "ENDPOINT", "REASON"}
var resolvedHeader = []string{"HOST", "CHECK", "DRIFT", "WAS"}
var remediationHeader = []string{"HOST", "ACCOUNT", "ACTION", "OUTCOME", "CHANGE", "BACKUP", "MESSAGE"}

// Render implements Renderer.
func (t tableRenderer) Render(w io.Writer, rep *fleet.Report) error {
	if rep == nil {
		return ErrNilReport
	}
	color := t.opt.TTY && t.opt.Color
	paint := func(c cell) string { return colorize(c.text, c.tone, color) }

	// Render into a buffer first: tablewriter logs rather than returns some write errors.
	var buf bytes.Buffer
	hosts := make([][]string, 0, len(rep.Hosts))
	var rem [][]string
	for i := range rep.Hosts {
		h := &rep.Hosts[i]
		v := viewHost(h)
		hosts = append(hosts, []string{
			orDefault(oneLine(h.Host), cellNone),
			orDefault(oneLine(h.Address), cellNone),
			paint(cell{oneLine(h.Status), statusTone(h.Status)}),
			paint(v.system),
			paint(v.service),
			paint(v.endpoint),
			orDefault(v.reason(), cellNone),
		})
		for j := range h.Remediation {
			r := &h.Remediation[j]
			rem = append(rem, []string{
				orDefault(oneLine(h.Host), cellNone),
				orDefault(oneLine(r.Account), cellNone),
				orDefault(oneLine(r.Action), cellNone),
				paint(cell{orDefault(oneLine(r.Outcome), cellNone), outcomeTone(r.Outcome)}),
				orDefault(remediationChange(r), cellNone),
				orDefault(oneLine(r.Backup), cellNone),
				orDefault(oneLine(r.Message), cellNone),
			})
		}
	}
	if err := t.table(&buf, hostHeader, hosts, color); err != nil {
		return err
	}
	if len(rem) > 0 {
		buf.WriteString("\n")
		if err := t.table(&buf, remediationHeader, rem, color); err != nil {
			return err
		}
	}
	if len(rep.Resolved) > 0 {
		res := make([][]string, 0, len(rep.Resolved))
		for i := range rep.Resolved {
			f := &rep.Resolved[i]
			res = append(res, []string{orDefault(oneLine(f.Host), cellNone), orDefault(oneLine(f.Check), cellNone),
				paint(cell{fleet.DriftResolved, toneGood}), orDefault(findingText(f), cellNone)})
		}
		buf.WriteString("\n")
		if err := t.table(&buf, resolvedHeader, res, color); err != nil {
			return err
		}
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

// minFlex is the narrowest the last (wrapping) column gets when fitting a table to the terminal.
const minFlex = 24

func (t tableRenderer) table(w io.Writer, header []string, rows [][]string, color bool) error {
	rend := tw.Rendition{Symbols: tw.NewSymbols(tw.StyleLight)}
	if !t.opt.TTY {
		rend = tw.Rendition{
			Symbols: tw.NewSymbols(tw.StyleASCII),
			Borders: tw.Border{Left: tw.Off, Right: tw.Off, Top: tw.Off, Bottom: tw.Off},
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off, ShowHeader: tw.Off, ShowFooter: tw.Off},
				Lines:      tw.Lines{ShowTop: tw.Off, ShowBottom: tw.Off, ShowHeaderLine: tw.Off, ShowFooterLine: tw.Off},
			},
		}
	}
	cfg := tablewriter.Config{
		Header: tw.CellConfig{
			Formatting: tw.CellFormatting{AutoFormat: tw.Off, AutoWrap: tw.WrapNone},
			Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
		},
		Row: tw.CellConfig{
			Formatting: tw.CellFormatting{AutoFormat: tw.Off, AutoWrap: tw.WrapNone},
			Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
		},
		Behavior: tw.Behavior{TrimSpace: tw.On},
	}
	if t.opt.TTY && t.opt.Width > 0 {
		// Fit the terminal by wrapping only the last column (REASON, MESSAGE): the short status
		// columns stay on one line so the table can still be scanned by eye.
		last := len(header) - 1
		used := 3*len(header) + 1 // "│ " before every cell, " " after it, and the closing "│"
		for col := 0; col < last; col++ {
			wmax := twwidth.Width(header[col])
			for _, r := range rows {
				wmax = max(wmax, twwidth.Width(r[col]))
			}
			used += wmax
		}
		flex := max(t.opt.Width-used, minFlex, twwidth.Width(header[last]))
		cfg.Row.Formatting.AutoWrap = tw.WrapNormal
		cfg.Row.ColMaxWidths = tw.CellWidth{PerColumn: tw.NewMapper[int, int]().Set(last, flex)}
	}
	var buf bytes.Buffer
	tbl := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(rend)),
		tablewriter.WithConfig(cfg),
	)
	hdr := make([]any, len(header))
	for i, h := range header {
		if color {
			h = "\x1b[1m" + h + "\x1b[0m"
		}
		hdr[i] = h
	}
	tbl.Header(hdr...)
	if err := tbl.Bulk(rows); err != nil {
		return fmtErr(err)
	}
	if err := tbl.Render(); err != nil {
		return fmtErr(err)
	}
	out := buf.Bytes()
	if !t.opt.TTY {
		out = trimPlain(out)
	}
	_, err := w.Write(out)
	return err
}

// trimPlain removes the padding the borderless table leaves: one leading space on every line and
// all trailing spaces, so piped output diffs and greps cleanly.
func trimPlain(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		l = bytes.TrimPrefix(l, []byte(" "))
		lines[i] = bytes.TrimRight(l, " ")
	}
	return bytes.Join(lines, []byte("\n"))
}

func fmtErr(err error) error {
	return writeErr(FormatTable, err)
}

func outcomeTone(outcome string) tone {
	switch outcome {
	case "written", "verified":
		return toneGood
	case "rolled_back", "failed":
		return toneBad
	case "planned", "skipped":
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
	}
	return s
}
