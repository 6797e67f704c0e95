package report

import (
	"bytes"
	"encoding/csv"
	"io"
	"strings"

	"github.com/dcproxy/dcproxy/fleet"
)

// csvHeader is the first record of the csv-checks format.
var csvHeader = []string{"host", "address", "site", "host_status", "check_id", "kind", "account", "status", "expected", "actual", "message", "drift"}

// csvRenderer (format csv-checks) writes RFC 4180 CSV: one record per host and check. A host without checks (it could
// not be reached) gets one record with empty check fields and its error as the message; a host
// error next to checks gets its own record with check_id "host".
//
// expected and actual are one-line summaries of the decoded values ("proxy:8080 bypass <local>",
// "HTTP 407 via proxy-old:3128"); the json format has every field. drift is new or persisting for a
// failing or erroring record of a report compared with a baseline, else empty. Cells that a spreadsheet would
// take for a formula (leading =, +, -, @, tab or CR) are prefixed with an apostrophe.
type csvRenderer struct{}

// Render implements Renderer.
func (csvRenderer) Render(w io.Writer, rep *fleet.Report) error {
	if rep == nil {
		return ErrNilReport
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	write := func(rec []string) {
		for i, f := range rec {
			rec[i] = csvSafe(f)
		}
		_ = cw.Write(rec) // writes to a bytes.Buffer cannot fail; cw.Error is checked below
	}
	write(append([]string(nil), csvHeader...))
	for i := range rep.Hosts {
		h := &rep.Hosts[i]
		base := []string{h.Host, h.Address, h.Site, string(h.Status)}
		if h.Error != nil {
			id := "host"
			write(append(base[:4:4], id, "", "", string(fleet.CheckError), "", "", hostErrorText(h.Error), h.Error.Drift))
		} else if len(h.Checks) == 0 {
			write(append(base[:4:4], "", "", "", "", "", "", "", ""))
		}
		for j := range h.Checks {
			c := &h.Checks[j]
			msg := c.Message
			if c.Approximate {
				msg = strings.TrimSpace(msg + " (approximate)")
			}
			write(append(base[:4:4], c.ID, string(c.Kind), c.Account, string(c.Status), describeValue(c.Expected), describeValue(c.Actual), msg, c.Drift))
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return writeErr(FormatCSV, err)
	}
	_, err := w.Write(buf.Bytes())
	return writeErr(FormatCSV, err)
}

// csvSafe defuses spreadsheet formula injection (OWASP "CSV Injection"): text from a remote host
// must not run as a formula when the file is opened in Excel.
func csvSafe(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// csvWideHeader is the first record of the csv format (one record per host).
var csvWideHeader = []string{"run_id", "started_at", "host", "address", "site", "status", "acts", "sensor", "route", "route_decision",
	"local_system", "local_service", "endpoint", "reason", "drift", "tool_version"}

// csvWideRenderer writes one RFC 4180 record per host with the run id and start time on every
// record, so that daily files can be appended to one another (or loaded into one table) and still
// be told apart. acts is who acts (fix, proxy/firewall, sensor, host, credentials; several joined by
// ","), route the source and proxy the verdict followed. The per-check form is FormatCSVChecks.
// Cells a spreadsheet would take for a formula are defused as in csvRenderer.
type csvWideRenderer struct{ opt Options }

// Render implements Renderer.
func (c csvWideRenderer) Render(w io.Writer, rep *fleet.Report) error {
	if rep == nil {
		return ErrNilReport
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	write := func(rec []string) {
		for i, f := range rec {
			rec[i] = csvSafe(f)
		}
		_ = cw.Write(rec)
	}
	write(append([]string(nil), csvWideHeader...))
	started := ""
	if !rep.StartedAt.IsZero() {
		started = rep.StartedAt.UTC().Format("2006-01-02T15:04:05Z")
	}
	tool := ""
	if c.opt.Run != nil {
		tool = c.opt.Run.ToolVersion
	}
	for i := range rep.Hosts {
		h := &rep.Hosts[i]
		v := viewHost(h)
		write([]string{rep.RunID, started, h.Host, h.Address, h.Site, string(h.Status), strings.Join(hostActors(h), ","),
			strings.TrimPrefix(sensorCell(h), cellNone), strings.TrimPrefix(routeCell(h), cellNone), routeDecision(h),
			v.system.text, v.service.text, v.endpoint.text, v.reason(), h.Drift, tool})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return writeErr(FormatCSV, err)
	}
	_, err := w.Write(buf.Bytes())
	return writeErr(FormatCSV, err)
}
