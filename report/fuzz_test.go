package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/dcproxy/dcproxy/fleet"
)

// FuzzRender feeds hostile text from a host (names, messages, decoded proxy strings) through every
// renderer and checks that each output still parses as its format and carries no terminal escape.
func FuzzRender(f *testing.F) {
	f.Add("dc01.corp.example", "Hamburg", "proxy-old:3128", "<local>", "FEHLER: Zugriff verweigert", uint8(0))
	f.Add("<script>x</script>", "", "=1+2", "|a|b|", "line1\r\nline2\x1b[2J", uint8(7))
	f.Add("", "]]>", "\xff\xfe", "\x00\x01", "``code``", uint8(255))
	f.Fuzz(func(t *testing.T, host, site, proxy, bypass, msg string, sel uint8) {
		statuses := []fleet.HostStatus{fleet.StatusCompliant, fleet.StatusNoncompliant, fleet.StatusError, "weird"}
		checkStatuses := []fleet.CheckStatus{fleet.CheckPass, fleet.CheckFail, fleet.CheckError, fleet.CheckInfo}
		act := &fleet.Settings{Present: sel&1 == 0, Mode: "proxy", Proxy: proxy, Bypass: bypass, RegCompare: msg, Raw: msg}
		if sel&2 != 0 {
			act.Mode = msg
		}
		h := fleet.HostResult{
			Host: host, Address: msg, Site: site, Tags: []string{site, msg},
			Status: statuses[int(sel)%len(statuses)],
			Checks: []fleet.Check{
				{ID: msg, Kind: fleet.KindRegCompare, Account: fleet.AccountLocalSystem, Status: checkStatuses[int(sel>>2)%4],
					Expected: reference(), Actual: act, Message: msg},
				{ID: host, Kind: fleet.KindEndpoint, Account: fleet.AccountLocalService, Status: checkStatuses[int(sel>>4)%4],
					Expected: expectProbe(), Actual: &fleet.Probe{Route: proxy, Error: msg, Status: int(sel)}, Approximate: sel&64 != 0, Message: msg},
			},
			Remediation: []fleet.Remediation{{Account: msg, Action: fleet.Action(proxy), Outcome: fleet.Outcome(bypass), Before: msg, After: proxy, Backup: msg, Message: msg}},
		}
		if sel&128 != 0 {
			h.Error = &fleet.HostError{Kind: fleet.ErrorKind(site), Message: msg}
		}
		rep := &fleet.Report{Schema: fleet.Schema, Command: msg, RunID: host, Hosts: []fleet.HostResult{h, h}}

		for _, format := range Formats() {
			for _, tty := range []bool{false, true} {
				if tty && format != FormatTable {
					continue
				}
				r, err := New(format, Options{TTY: tty, Color: tty, Width: int(sel), Inventory: site})
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if err := r.Render(&buf, rep); err != nil {
					t.Fatalf("%s: %v", format, err)
				}
				out := buf.String()
				switch format {
				case FormatJSON:
					var back fleet.Report
					if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
						t.Fatalf("json does not parse: %v", err)
					}
					if len(back.Hosts) != 2 {
						t.Fatalf("json hosts = %d", len(back.Hosts))
					}
				case FormatCSV:
					recs, err := csv.NewReader(&buf).ReadAll()
					if err != nil || len(recs) != 3 {
						t.Fatalf("wide csv: %d records, %v", len(recs), err)
					}
				case FormatCSVChecks:
					recs, err := csv.NewReader(&buf).ReadAll()
					if err != nil {
						t.Fatalf("csv does not parse: %v", err)
					}
					want := 1 + 2*len(h.Checks)
					if h.Error != nil {
						want += 2
					}
					if len(recs) != want {
						t.Fatalf("csv records = %d, want %d", len(recs), want)
					}
				case FormatJUnit:
					var doc junitDoc
					if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
						t.Fatalf("junit does not parse: %v\n%s", err, out)
					}
				case FormatHTML:
					doc, err := html.Parse(&buf)
					if err != nil {
						t.Fatal(err)
					}
					if n := len(findAll(doc, byAtom(atom.Script))); n != 1 {
						t.Fatalf("html has %d script elements", n)
					}
					if n := len(findAll(doc, byID("hosts"))); n != 1 {
						t.Fatalf("html has %d host tables", n)
					}
				case FormatTable, FormatMarkdown:
					clean := strings.NewReplacer("\x1b[0m", "", "\x1b[1m", "", "\x1b[31m", "", "\x1b[32m", "", "\x1b[33m", "").Replace(out)
					if strings.ContainsAny(clean, "\x1b\r\x00") {
						t.Fatalf("%s output carries control characters from the host: %q", format, out)
					}
				}
			}
		}
	})
}
