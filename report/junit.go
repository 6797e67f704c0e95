package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/dcproxy/dcproxy/fleet"
)

// junitRenderer writes JUnit XML for CI systems: one <testsuite> for the run, one <testcase> per
// host and check (classname = host, name = check id), a <failure> for a failed check, an <error>
// for a check that could not run, and a testcase named "host" carrying the <error> of a host that
// could not be checked. Informational checks are not test cases; a warning passes with its text in
// <system-out>. Every failure names who acts and the route the verdict followed.
type junitRenderer struct{}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string       `xml:"name,attr"`
	Classname string       `xml:"classname,attr"`
	Time      string       `xml:"time,attr,omitempty"`
	Failure   *junitResult `xml:"failure,omitempty"`
	Error     *junitResult `xml:"error,omitempty"`
	SystemOut *junitText   `xml:"system-out,omitempty"`
}

type junitText struct {
	Text string `xml:",cdata"`
}

type junitResult struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

// Render implements Renderer.
func (junitRenderer) Render(w io.Writer, rep *fleet.Report) error {
	if rep == nil {
		return ErrNilReport
	}
	cmd := orDefault(oneLine(rep.Command), "audit")
	suite := junitSuite{Name: "dcproxy " + cmd}
	if rep.RunID != "" {
		suite.Name += " " + oneLine(rep.RunID)
		suite.Properties = append(suite.Properties, junitProperty{"run_id", oneLine(rep.RunID)})
	}
	suite.Properties = append(suite.Properties, junitProperty{"command", cmd})
	if rep.Interrupted {
		suite.Properties = append(suite.Properties, junitProperty{"interrupted", "true"})
	}
	if !rep.StartedAt.IsZero() {
		suite.Timestamp = rep.StartedAt.UTC().Format("2006-01-02T15:04:05")
	}
	var d float64
	if !rep.StartedAt.IsZero() && rep.FinishedAt.After(rep.StartedAt) {
		d = rep.FinishedAt.Sub(rep.StartedAt).Seconds()
	}
	suite.Time = fmt.Sprintf("%.3f", d)

	for i := range rep.Hosts {
		h := &rep.Hosts[i]
		class := oneLine(h.Host)
		if h.Error != nil {
			suite.Cases = append(suite.Cases, junitCase{
				Name: "host", Classname: class, Time: fmt.Sprintf("%.3f", float64(h.DurationMS)/1000),
				Error: &junitResult{Message: hostErrorText(h.Error), Type: orDefault(oneLine(string(h.Error.Kind)), string(fleet.ErrorKindError)),
					Text: xmlText(fmt.Sprintf("host %s (%s) could not be checked: %s", h.Host, h.Address, h.Error.Message))},
			})
		}
		for j := range h.Checks {
			c := &h.Checks[j]
			if c.Status == fleet.CheckInfo || c.Kind == fleet.KindInfo {
				continue // information, not a test: nothing can pass or fail
			}
			tc := junitCase{Name: orDefault(oneLine(c.ID), oneLine(string(c.Kind)+"."+strings.ToLower(c.Account))), Classname: class}
			detail := xmlText(checkDetail(c))
			if a := checkActor(h, c); a != "" {
				detail = "acts: " + a + "\n" + detail
			}
			if r := routeCell(h); r != cellNone {
				detail += "route: " + r + "\n"
			}
			switch c.Status {
			case fleet.CheckFail:
				tc.Failure = &junitResult{Message: checkReason(c), Type: string(c.Kind), Text: detail}
			case fleet.CheckError:
				tc.Error = &junitResult{Message: checkReason(c), Type: string(c.Kind), Text: detail}
			default:
				tc.SystemOut = &junitText{detail}
			}
			suite.Cases = append(suite.Cases, tc)
		}
	}
	for _, c := range suite.Cases {
		suite.Tests++
		if c.Failure != nil {
			suite.Failures++
		}
		if c.Error != nil {
			suite.Errors++
		}
	}
	if suite.Cases == nil {
		suite.Cases = []junitCase{}
	}
	doc := junitSuites{Name: "dcproxy", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Time: suite.Time,
		Suites: []junitSuite{suite}}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode junit report: %w", err)
	}
	buf.WriteString("\n")
	_, err := w.Write(buf.Bytes())
	return writeErr(FormatJUnit, err)
}

// checkDetail is the multi-line body of a testcase: account, expected, actual, message.
func checkDetail(c *fleet.Check) string {
	var b strings.Builder
	if c.Account != "" {
		fmt.Fprintf(&b, "account: %s\n", c.Account)
	}
	if e := describeValue(c.Expected); e != "" {
		fmt.Fprintf(&b, "expected: %s\n", e)
	}
	if a := describeValue(c.Actual); a != "" {
		fmt.Fprintf(&b, "actual: %s\n", a)
	}
	if c.Approximate {
		b.WriteString("approximate: the probe used the connecting account's proxy resolution (PAC or auto-detect)\n")
	}
	if c.Message != "" {
		fmt.Fprintf(&b, "message: %s\n", c.Message)
	}
	return b.String()
}

// xmlText keeps line breaks and tabs but replaces what XML 1.0 cannot carry (other control
// characters, U+FFFE, U+FFFF, invalid UTF-8) with U+FFFD: CDATA sections are written verbatim.
func xmlText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r':
			return '\n'
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffe || r == 0xffff:
			return unicode.ReplacementChar
		}
		return r
	}, strings.ToValidUTF8(s, "\ufffd"))
}
