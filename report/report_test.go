package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestMain(m *testing.M) {
	// tablewriter guesses East Asian widths from the locale; pin it so goldens do not depend on LANG.
	twwidth.SetEastAsian(false)
	os.Exit(m.Run())
}

func fixedOptions() Options {
	return Options{Now: func() time.Time { return fixedNow }}
}

func render(t *testing.T, format string, opt Options, rep *fleet.Report) string {
	t.Helper()
	r, err := New(format, opt)
	if err != nil {
		t.Fatalf("New(%q): %v", format, err)
	}
	var buf bytes.Buffer
	if err := r.Render(&buf, rep); err != nil {
		t.Fatalf("Render(%q): %v", format, err)
	}
	return buf.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test ./report -update): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden file (run go test ./report -update and review the diff)\n--- got ---\n%s", path, got)
	}
}

func TestGolden(t *testing.T) {
	inv := fixedOptions()
	inv.Inventory = "inventories/prod dcs.yaml"
	cases := []struct {
		name   string
		format string
		opt    Options
	}{
		{"table_piped", "table", fixedOptions()},
		{"table_tty", "table", Options{TTY: true}},
		{"table_tty_color", "table", Options{TTY: true, Color: true}},
		{"table_tty_width80", "table", Options{TTY: true, Width: 80}},
		{"table_tty_width120", "table", Options{TTY: true, Width: 120}},
		{"table_tty_width120_height8", "table", Options{TTY: true, Width: 120, Height: 8}},
		{"table_tty_width120_height8_all", "table", Options{TTY: true, Width: 120, Height: 8, All: true}},
		{"json", "json", fixedOptions()},
		{"csv", "csv", fixedOptions()},
		{"csv_checks", "csv-checks", fixedOptions()},
		{"markdown", "markdown", fixedOptions()},
		{"markdown_inventory", "markdown", inv},
		{"junit", "junit", fixedOptions()},
		{"html", "html", fixedOptions()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, tc.name, render(t, tc.format, tc.opt, fixture()))
		})
	}
}

func TestGoldenSmallReports(t *testing.T) {
	fx := fixture()
	allGood := &fleet.Report{Schema: fleet.Schema, Command: "audit", StartedAt: fixedNow, FinishedAt: fixedNow.Add(1500 * time.Millisecond),
		Hosts: []fleet.HostResult{*host(t, fx, "dc01.corp.example")}}
	allGood.Hosts[0].Remediation = nil
	// Hand-made (no audit here produces it): an audit interrupted while dc07 was being checked.
	interrupted := fixture()
	interrupted.Command = "audit"
	interrupted.Interrupted = true
	interrupted.Hosts = []fleet.HostResult{*host(t, fx, "dc06.corp.example"), *host(t, fx, "dc07.corp.example")}
	interrupted.Hosts[1].Error = &fleet.HostError{Kind: fleet.ErrorKindCanceled, Message: "run interrupted", Actor: fleet.ActorHost}
	for i := range interrupted.Hosts {
		interrupted.Hosts[i].Remediation = nil
	}
	// Hand-made: a report without hosts.
	empty := &fleet.Report{}
	for _, format := range []string{"table", "markdown", "junit"} {
		golden(t, "small_allgood_"+format, render(t, format, fixedOptions(), allGood))
		golden(t, "small_interrupted_"+format, render(t, format, fixedOptions(), interrupted))
		golden(t, "small_empty_"+format, render(t, format, fixedOptions(), empty))
	}
}

func TestNewAndFormats(t *testing.T) {
	want := []string{"csv", "csv-checks", "html", "json", "junit", "markdown", "table"}
	if got := Formats(); !slices.Equal(got, want) {
		t.Fatalf("Formats() = %v, want %v", got, want)
	}
	Formats()[0] = "mutated"
	if Formats()[0] != "csv" {
		t.Fatal("Formats returns shared state")
	}
	for _, name := range append(want, "TABLE", " Json ", "md", "Markdown") {
		if _, err := New(name, Options{}); err != nil {
			t.Errorf("New(%q): %v", name, err)
		}
	}
	_, err := New("yaml", Options{})
	if !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("New(yaml) error = %v, want ErrUnknownFormat", err)
	}
	for _, f := range want {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not list %q", err, f)
		}
	}
}

func TestNilReport(t *testing.T) {
	for _, f := range Formats() {
		r, _ := New(f, Options{})
		if err := r.Render(&bytes.Buffer{}, nil); !errors.Is(err, ErrNilReport) {
			t.Errorf("%s: Render(nil) = %v, want ErrNilReport", f, err)
		}
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriteErrorIsWrapped(t *testing.T) {
	sentinel := errors.New("disk full")
	for _, f := range Formats() {
		r, _ := New(f, fixedOptions())
		err := r.Render(failWriter{sentinel}, fixture())
		if !errors.Is(err, sentinel) {
			t.Errorf("%s: Render to failing writer = %v, want wrapped %v", f, err, sentinel)
		}
	}
}

// Rendering must not modify the report and must give the same bytes every time, also concurrently.
func TestRenderIsPureAndDeterministic(t *testing.T) {
	for _, f := range Formats() {
		rep := fixture()
		first := render(t, f, fixedOptions(), rep)
		if !reflect.DeepEqual(rep, fixture()) {
			t.Errorf("%s: Render modified the report", f)
		}
		var wg sync.WaitGroup
		outs := make([]string, 8)
		for i := range outs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, _ := New(f, fixedOptions())
				var b bytes.Buffer
				if err := r.Render(&b, rep); err != nil {
					t.Error(err)
				}
				outs[i] = b.String()
			}()
		}
		wg.Wait()
		for i, o := range outs {
			if o != first {
				t.Errorf("%s: concurrent render %d differs", f, i)
			}
		}
	}
}

// A report read back from its JSON renders the same as the original: fleet.Check decodes Expected
// and Actual by Kind into the types the audit made.
func TestRenderFromDecodedJSON(t *testing.T) {
	js := render(t, "json", fixedOptions(), fixture())
	var back fleet.Report
	if err := json.Unmarshal([]byte(js), &back); err != nil {
		t.Fatal(err)
	}
	for _, h := range back.Hosts {
		for _, c := range h.Checks {
			for _, v := range []any{c.Expected, c.Actual} {
				if _, isMap := v.(map[string]any); isMap {
					t.Fatalf("%s %s: decoded as a map, want the typed value of kind %s", h.Host, c.ID, c.Kind)
				}
			}
		}
	}
	for _, f := range []string{"table", "csv", "markdown", "junit", "html"} {
		if got, want := render(t, f, fixedOptions(), &back), render(t, f, fixedOptions(), fixture()); got != want {
			t.Errorf("%s: rendering the decoded JSON differs from the original", f)
		}
	}
}

func TestTablePiped(t *testing.T) {
	opt := fixedOptions()
	opt.Color = true // ignored without a TTY
	out := render(t, "table", opt, fixture())
	if out != render(t, "table", fixedOptions(), fixture()) {
		t.Error("Color changed the output without a TTY")
	}
	if strings.Contains(out, "\x1b") {
		t.Error("piped table contains an escape sequence")
	}
	for _, r := range "│─┌└├" {
		if strings.ContainsRune(out, r) {
			t.Errorf("piped table contains box character %q", r)
		}
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if last := lines[len(lines)-1]; last != "16 hosts: 6 compliant, 6 noncompliant, 4 error" {
		t.Errorf("summary line = %q", last)
	}
	nHosts := len(fixture().Hosts)
	// Columns are aligned: every column of the host table starts at the header's offset.
	header := lines[0]
	for _, col := range []string{"ADDRESS", "STATUS", "ACTS", "SENSOR", "ROUTE", "LOCAL_SYSTEM", "LOCAL_SERVICE", "ENDPOINT", "REASON"} {
		at := strings.Index(header, col)
		for _, l := range lines[1 : 1+nHosts] {
			if at >= len(l) || l[at-1] != ' ' || l[at] == ' ' {
				t.Errorf("column %s not aligned in %q", col, l)
			}
		}
	}
	for _, l := range lines {
		if strings.HasSuffix(l, " ") || strings.HasPrefix(l, " ") {
			t.Errorf("line has surrounding space: %q", l)
		}
	}
	for _, want := range []string{
		"LOCAL_SERVICE: no value",                                                                // dc-fra-01
		"LOCAL_SERVICE: old.lab.test:3128 != proxy.lab.test:8080",                                // dc04
		"LOCAL_SERVICE endpoint: proxy old.lab.test:3128 refused the connection or is down",      // dc04: the old proxy is down
		"auth: logon refused",                                                                    // dc06
		"unreachable: WinRM did not accept a connection",                                         // dc07
		"timeout: the host did not finish within the host timeout",                               // dc08
		"counter differs only",                                                                   // dc02
		"LOCAL_SYSTEM endpoint: TLS interception by CN=Contoso TLS Inspection CA",                // dc09
		"LOCAL_SERVICE endpoint: the proxy wants credentials (407) via proxy auth.lab.test:8080", // dc10
		"sensor-json json.lab.test:3128",                                                         // dc11
		"mde-static proxy.lab.test:8080",                                                         // dc12
		"tls.root: the sensor's trusted root DigiCert Global Root G2",                            // dc13
		"dcproxy cannot probe a SOCKS route",                                                     // dc14
		"ok (approx.)",                                                                           // dc05
		"verified", "skipped", "rolled_back",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

func TestTableTTYColorAndWidth(t *testing.T) {
	out := render(t, "table", Options{TTY: true, Color: true}, fixture())
	for _, want := range []string{"\x1b[31merror\x1b[0m", "\x1b[33mnoncompliant\x1b[0m", "\x1b[32mcompliant\x1b[0m", "\x1b[1mHOST\x1b[0m"} {
		if !strings.Contains(out, want) {
			t.Errorf("coloured TTY table lacks %q", want)
		}
	}
	plain := render(t, "table", Options{TTY: true}, fixture())
	if strings.Contains(plain, "\x1b") {
		t.Error("TTY table without Color contains escapes")
	}
	for _, r := range "│─┌└├" {
		if strings.ContainsRune(plain, r) {
			t.Errorf("TTY table draws a box (%q), which wraps on a narrow terminal", r)
		}
	}
	// Problems first on a terminal: every error and noncompliant host before the first compliant one.
	lines := strings.Split(plain, "\n")
	firstOK, lastBad := -1, -1
	for i, l := range lines[1 : 1+len(fixture().Hosts)] {
		switch {
		case strings.Contains(l, " compliant "):
			if firstOK < 0 {
				firstOK = i
			}
		case strings.Contains(l, "noncompliant") || strings.Contains(l, " error "):
			lastBad = i
		}
	}
	if firstOK < lastBad {
		t.Errorf("a compliant host comes before a problem:\n%s", plain)
	}
	// Every line fits the width, with and without colour; cut cells end in an ellipsis.
	for _, w := range []int{60, 80, 120} {
		for _, c := range []bool{false, true} {
			got := render(t, "table", Options{TTY: true, Width: w, Color: c}, fixture())
			for _, l := range strings.Split(got, "\n") {
				if lw := twwidth.Width(stripANSI(l)); lw > w {
					t.Errorf("width %d colour %v: line of %d columns: %q", w, c, lw, l)
				}
			}
			if !strings.Contains(got, ellipsis) {
				t.Errorf("width %d: nothing was cut", w)
			}
		}
	}
	// Piped: every cell in full, nothing cut.
	if strings.Contains(render(t, "table", Options{Width: 40}, fixture()), ellipsis) {
		t.Error("piped table was cut")
	}
	// More hosts than the screen: compliant hosts are hidden and counted; --all shows them.
	short := render(t, "table", Options{TTY: true, Height: 8}, fixture())
	if strings.Contains(short, "dc01.corp.example") || !strings.Contains(short, "(6 compliant hosts not shown: --all shows every host)") {
		t.Errorf("height 8:\n%s", short)
	}
	if all := render(t, "table", Options{TTY: true, Height: 8, All: true}, fixture()); !strings.Contains(all, "dc01.corp.example") || strings.Contains(all, "not shown") {
		t.Errorf("--all:\n%s", all)
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Text from a host must not smuggle terminal escapes or break lines in the human formats.
func TestHostilTextIsNeutralised(t *testing.T) {
	rep := fixture()
	// Hand-made: hostile text where a host's error message goes (what a server might echo).
	host(t, rep, "dc06.corp.example").Error.Message = "401\x1b[2J\r\nFAKE ROW | x |"
	for _, f := range []string{"table", "markdown"} {
		out := render(t, f, Options{TTY: true, Color: true}, rep)
		if strings.Contains(out, "\x1b[2J") {
			t.Errorf("%s: terminal escape from host text reached the output", f)
		}
		if strings.Contains(out, "\nFAKE ROW") {
			t.Errorf("%s: host text started a new line", f)
		}
	}
	md := render(t, "markdown", Options{}, rep)
	if !strings.Contains(md, `FAKE ROW \| x \|`) {
		t.Errorf("markdown did not escape the pipe: %s", md)
	}
}

func TestJSON(t *testing.T) {
	out := render(t, "json", fixedOptions(), fixture())
	if !strings.HasSuffix(out, "}\n") || strings.HasSuffix(out, "\n\n") {
		t.Error("JSON does not end in exactly one newline")
	}
	if !strings.HasPrefix(out, "{\n  \"schema\": \""+fleet.Schema+"\",\n  \"command\"") {
		t.Errorf("JSON does not start with the schema: %.60q", out)
	}
	if !strings.Contains(out, `"bypass": "<local>"`) {
		t.Error("JSON escapes <local>")
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	if n := len(m["hosts"].([]any)); n != 16 {
		t.Errorf("hosts = %d, want 16", n)
	}
	rep := fixture()
	rep.Schema = ""
	rep.Hosts = nil
	out = render(t, "json", fixedOptions(), rep)
	if !strings.Contains(out, `"schema": "`+fleet.Schema+`"`) || !strings.Contains(out, `"hosts": []`) {
		t.Errorf("empty report JSON lacks schema or hosts: %s", out)
	}
}

func TestCSV(t *testing.T) {
	out := render(t, "csv-checks", fixedOptions(), fixture())
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], csvHeader) {
		t.Fatalf("header = %v", recs[0])
	}
	want := 0
	for _, h := range fixture().Hosts {
		want += len(h.Checks)
		if h.Error != nil {
			want++
		}
	}
	if len(recs)-1 != want {
		t.Errorf("records = %d, want %d", len(recs)-1, want)
	}
	var dc06 []string
	for _, r := range recs {
		if r[0] == "dc06.corp.example" {
			dc06 = r
		}
	}
	if dc06 == nil || dc06[4] != "host" || dc06[7] != "error" || !strings.HasPrefix(dc06[10], "auth: logon refused") {
		t.Errorf("auth-refused host record = %v", dc06)
	}

	// Hand-made: formula-like text in a message and a site.
	rep := fixture()
	dc04 := host(t, rep, "dc04.corp.example")
	check(t, dc04, "registry.local_service").Message = "=HYPERLINK(\"http://evil\")"
	dc04.Site = "-2+3"
	for _, f := range []string{"csv", "csv-checks"} {
		recs, _ = csv.NewReader(strings.NewReader(render(t, f, Options{}, rep))).ReadAll()
		for _, r := range recs {
			for _, f := range r {
				if f != "" && strings.ContainsRune("=+-@", rune(f[0])) {
					t.Errorf("formula-like cell %q not defused", f)
				}
			}
		}
	}
}

func TestMarkdown(t *testing.T) {
	out := render(t, "markdown", fixedOptions(), fixture())
	// A fix line only where a fix alone acts: dc15, and dc04 and dc-fra-01, whose endpoint failures
	// come from a missing or different value while the reference route works; not where the proxy,
	// the sensor or the host must act too, nor on compliant or errored hosts.
	for _, h := range []string{"dc15.corp.example", "dc04.corp.example", "dc-fra-01.corp.example"} {
		if !strings.Contains(out, "`dcproxy fix -i INVENTORY --host "+h+" --apply`") {
			t.Errorf("no fix command for %s", h)
		}
	}
	for _, h := range []string{"dc01", "dc06", "dc09", "dc13", "dc14"} {
		if strings.Contains(out, "--host "+h) {
			t.Errorf("fix command for %s, which a fix alone does not repair", h)
		}
	}
	could := out[strings.Index(out, "### Hosts that could not be checked"):]
	for _, want := range []string{"dc06.corp.example", "auth: logon refused", "dc07.corp.example", "dc08.corp.example", "dc14.corp.example", "SOCKS"} {
		if !strings.Contains(could, want) {
			t.Errorf("could-not-check section lacks %q", want)
		}
	}
	if !strings.Contains(out, `bypass "\<local>"`) {
		t.Error("<local> not escaped")
	}
	quoted := render(t, "markdown", Options{Inventory: "prod dcs.yaml"}, fixture())
	if !strings.Contains(quoted, `dcproxy fix -i "prod dcs.yaml" --host dc15.corp.example --apply`) {
		t.Error("inventory path with a space is not quoted")
	}
}

// The fix line's arguments read the same in bash, PowerShell and cmd.exe, or are refused.
func TestShellQuote(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"dc01.corp.example", "dc01.corp.example", true},
		{"inventories/prod-eu.yml", "inventories/prod-eu.yml", true},
		{`C:\inv\dcs.yaml`, `"C:\inv\dcs.yaml"`, true},
		{"prod dcs.yaml", `"prod dcs.yaml"`, true},
		{"it's.yaml", `"it's.yaml"`, true},
		{"", `""`, true},
		{"-rf", `"-rf"`, true},
		{"a,b", `"a,b"`, true},     // PowerShell: bare a,b is an array
		{"@x", `"@x"`, true},       // PowerShell: splatting
		{"a&b", `"a&b"`, true},     // cmd: & separates commands outside quotes
		{"$(rm -rf /)", "", false}, // bash and PowerShell expand $ inside double quotes
		{"a`b", "", false},         // bash command substitution, PowerShell escape
		{"%PATH%", "", false},      // cmd expands %VAR% inside quotes
		{"a!b", "", false},         // cmd delayed expansion, bash history
		{"a^b", "", false},         // cmd escape
		{`a"b`, "", false},
		{"dc\u2018x", "", false}, // PowerShell reads U+2018-U+201B as a single quote
		{"dc\u201cx", "", false}, // and U+201C-U+201E as a double quote
		{"dc\u202ex", "", false}, // bidi override
		{"dc\nx", "", false},
		{`C:\dir\`, "", false}, // bash: \" would escape the closing quote
		{`\\server\share\inv.yaml`, "", false},
	} {
		got, ok := shellQuote(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("shellQuote(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	// What is accepted, bash reads back unchanged (the real shell, when it is installed).
	bash, err := exec.LookPath("bash")
	if err != nil {
		testenv.SkipOrFail(t, "no bash to check the quoting with")
	}
	for _, in := range []string{"dc01.corp.example", `C:\inv\dcs.yaml`, "prod dcs.yaml", "it's.yaml", "a&b;c|d<e>f(g)", "-rf", "ö ü.yaml"} {
		q, ok := shellQuote(in)
		if !ok {
			t.Fatalf("%q refused", in)
		}
		out, err := exec.Command(bash, "-c", "printf %s "+q).Output()
		if err != nil || string(out) != in {
			t.Errorf("bash reads %s as %q (%v), want %q", q, out, err, in)
		}
	}
}

type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Suites   []struct {
		Name  string `xml:"name,attr"`
		Tests int    `xml:"tests,attr"`
		Cases []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestJUnit(t *testing.T) {
	out := render(t, "junit", fixedOptions(), fixture())
	var doc junitDoc
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("suites = %d, want 1", len(doc.Suites))
	}
	s := doc.Suites[0]
	wantCases, wantFail, wantErr := 0, 0, 0
	for _, h := range fixture().Hosts {
		if h.Error != nil {
			wantCases++
			wantErr++
		}
		for _, c := range h.Checks {
			if c.Status == fleet.CheckInfo {
				continue // informational checks are not test cases
			}
			wantCases++
			switch c.Status {
			case fleet.CheckFail:
				wantFail++
			case fleet.CheckError:
				wantErr++
			}
		}
	}
	if len(s.Cases) != wantCases || s.Tests != wantCases || doc.Tests != wantCases {
		t.Errorf("testcases = %d (attr %d/%d), want %d", len(s.Cases), s.Tests, doc.Tests, wantCases)
	}
	if doc.Failures != wantFail || doc.Errors != wantErr {
		t.Errorf("failures/errors = %d/%d, want %d/%d", doc.Failures, doc.Errors, wantFail, wantErr)
	}
	found := false
	for _, c := range s.Cases {
		if c.Classname == "dc07.corp.example" && c.Name == "host" && c.Error != nil && c.Error.Type == "unreachable" &&
			strings.HasPrefix(c.Error.Message, "unreachable: WinRM did not accept a connection") {
			found = true
		}
		if c.Classname == "dc04.corp.example" && c.Name == "registry.local_service" &&
			(c.Failure == nil || c.Failure.Message != "LOCAL_SERVICE: old.lab.test:3128 != proxy.lab.test:8080") {
			t.Errorf("dc04 LOCAL_SERVICE testcase = %+v", c)
		}
	}
	if !found {
		t.Error("no host error testcase for dc07")
	}
}

func TestSettingsDiff(t *testing.T) {
	ref := reference()
	withProxy := func(p string) *fleet.Settings { s := reference(); s.Proxy = p; return s }
	bypass := reference()
	bypass.Bypass = "<local>;*.corp"
	pac := &fleet.Settings{Present: true, Mode: "pac", AutoConfigURL: "http://a/p.pac"}
	pac2 := &fleet.Settings{Present: true, Mode: "pac", AutoConfigURL: "http://b/p.pac"}
	noMode := &fleet.Settings{Present: true, Flags: 0x01}
	cases := []struct {
		name     string
		act, exp *fleet.Settings
		want     string
	}{
		{"missing", &fleet.Settings{}, ref, "no value"},
		{"undecodable", &fleet.Settings{Present: true, DecodeError: "short"}, ref, "undecodable value"},
		{"other proxy", withProxy("proxy-old:3128"), ref, "proxy-old:3128 != proxy:8080"},
		{"proxy case only", withProxy("PROXY:8080"), ref, ""},
		{"empty proxy", withProxy(""), ref, `"" != proxy:8080`},
		{"bypass", bypass, ref, "bypass <local>;*.corp != <local>"},
		{"direct vs proxy (mode from flags)", noMode, ref, "direct != proxy:8080 bypass <local>"},
		{"pac url", pac, pac2, "pac http://a/p.pac != http://b/p.pac"},
		{"no reference", withProxy("x:1"), nil, "x:1 bypass <local>"},
		{"same", reference(), ref, ""},
	}
	for _, tc := range cases {
		if got := settingsDiff(tc.act, tc.exp); got != tc.want {
			t.Errorf("%s: settingsDiff = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestHostErrorText(t *testing.T) {
	for _, tc := range []struct {
		e    fleet.HostError
		want string
	}{
		{fleet.HostError{Kind: fleet.ErrorKindAuth, Message: "401"}, "auth: 401"},
		{fleet.HostError{Kind: fleet.ErrorKindAuth, Message: "auth: 401"}, "auth: 401"},
		{fleet.HostError{Kind: fleet.ErrorKindTimeout}, "timeout"},
		{fleet.HostError{Message: "boom\nsecond line"}, "boom second line"},
	} {
		if got := hostErrorText(&tc.e); got != tc.want {
			t.Errorf("hostErrorText(%+v) = %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            "plain",
		"  trim  ":         "trim",
		"a\r\nb\tc":        "a b c",
		"esc\x1b[31m":      "esc\ufffd[31m",
		"bad\xffutf8":      "bad\ufffdutf8",
		"Schlüssel":        "Schlüssel",
		"c1\u0085x\u2028y": "c1\ufffdx y",
		"nul\x00byte":      "nul\ufffdbyte",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestViewHostCells(t *testing.T) {
	rep := fixture()
	// Informational probes (CURRENT_USER, routes the sensor does not use) are not counted.
	want := map[string][3]string{
		"dc01.corp.example":      {"ok", "ok", "ok"},
		"dc02.corp.example":      {"ok (counter)", "ok", "ok"},
		"dc03.corp.example":      {"ok", "ok", "ok"}, // fixed: the re-check after the write
		"dc04.corp.example":      {"ok", "differs", "fail 1/2"},
		"dc05.corp.example":      {"ok", "ok", "ok (approx.)"},
		"dc06.corp.example":      {"-", "-", "-"},
		"dc09.corp.example":      {"ok", "ok", "fail 2/2"},
		"dc10.corp.example":      {"ok", "ok", "fail 1/2"}, // LOCAL_SYSTEM's 407 is a warning
		"dc11.corp.example":      {"warn", "warn", "ok"},   // the JSON proxy decides
		"dc12.corp.example":      {"info", "info", "ok"},   // MDE's static proxy decides
		"dc14.corp.example":      {"ok", "ok", "error"},
		"dc15.corp.example":      {"differs", "ok", "ok"},
		"dc-fra-01.corp.example": {"ok", "missing", "fail 1/2"},
	}
	seen := 0
	for i := range rep.Hosts {
		h := &rep.Hosts[i]
		w, ok := want[h.Host]
		if !ok {
			continue
		}
		seen++
		v := viewHost(h)
		if got := [3]string{v.system.text, v.service.text, v.endpoint.text}; got != w {
			t.Errorf("%s: cells = %v, want %v", h.Host, got, w)
		}
	}
	if seen != len(want) {
		t.Errorf("%d of the %d hosts named are in the fixture", seen, len(want))
	}
	// A noncompliant verdict without a failing check still gets a reason.
	h := fleet.HostResult{Host: "x", Status: fleet.StatusNoncompliant, Checks: []fleet.Check{{Status: "odd", Message: "verdict: drift"}}}
	if got := viewHost(&h).reason(); got != "verdict: drift" {
		t.Errorf("fallback reason = %q", got)
	}
}

func TestShorten(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"Berlin", 24, "Berlin"},
		{"Frankfurt-am-Main-Rechenzentrum-Nord", 10, "Frankfur" + "t…"},
		{"Düsseldorf", 5, "Düss…"},
	} {
		if got := shorten(tc.in, tc.n); got != tc.want {
			t.Errorf("shorten(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
