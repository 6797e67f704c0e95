package winsim

import (
	"crypto/rand"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/internal/xmlscan"
	"github.com/masterzen/winrm"
	"go.yaml.in/yaml/v3"
)

// parseRequestUnmarshal is the parser winsim used before internal/xmlscan, kept as the oracle:
// parseRequest must fill request exactly as it does.
func parseRequestUnmarshal(body []byte) (*request, error) {
	var r request
	if err := xml.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

const (
	testShellID = "8A5D3F0C-1111-4B2C-9D3E-0123456789AB"
	testCmdID   = "0F0E0D0C-2222-4A3B-8C7D-0123456789AB"
)

// pywinrmStyle is a request as pywinrm writes it: XML declaration, env/a/w/p/rsp prefixes,
// CRLF line ends and indentation (whitespace the callers TrimSpace), mustUnderstand attributes.
func pywinrmStyle(header, body string) string {
	return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<env:Envelope xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:env=\"" + nsSOAP + "\" xmlns:a=\"" + nsAddr + "\" xmlns:b=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\" xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" xmlns:x=\"http://schemas.xmlsoap.org/ws/2004/09/transfer\" xmlns:w=\"" + nsWSMan + "\" xmlns:p=\"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd\" xmlns:rsp=\"" + nsShell + "\" xmlns:cfg=\"http://schemas.microsoft.com/wbem/wsman/1/config\">\r\n" +
		"\t<env:Header>\r\n\t\t<a:To>http://dc01:5985/wsman</a:To>\r\n\t\t<a:ReplyTo>\r\n\t\t\t<a:Address mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>\r\n\t\t</a:ReplyTo>\r\n" +
		"\t\t<w:MaxEnvelopeSize mustUnderstand=\"true\">153600</w:MaxEnvelopeSize>\r\n\t\t<a:MessageID>uuid:11111111-2222-3333-4444-555555555555</a:MessageID>\r\n" +
		"\t\t<w:Locale mustUnderstand=\"false\" xml:lang=\"en-US\"></w:Locale>\r\n\t\t<p:DataLocale mustUnderstand=\"false\" xml:lang=\"en-US\"></p:DataLocale>\r\n" +
		"\t\t<w:OperationTimeout>PT20S</w:OperationTimeout>\r\n\t\t<w:ResourceURI mustUnderstand=\"true\">" + resourceCmd + "</w:ResourceURI>\r\n" +
		header + "\t</env:Header>\r\n\t<env:Body>\r\n" + body + "\t</env:Body>\r\n</env:Envelope>\r\n"
}

// defaultNS is a request written with default namespaces only (no prefixes at all).
func defaultNS(action, body string) string {
	return `<Envelope xmlns="` + nsSOAP + `"><Header>` +
		`<Action xmlns="` + nsAddr + `">` + action + `</Action>` +
		`<MessageID xmlns="` + nsAddr + `">uuid:AAAA</MessageID>` +
		`<ResourceURI xmlns="` + nsWSMan + `">` + resourceCmd + `</ResourceURI>` +
		`<SelectorSet xmlns="` + nsWSMan + `"><Selector Name="ShellId">` + testShellID + `</Selector></SelectorSet>` +
		`</Header><Body>` + body + `</Body></Envelope>`
}

// prefixed wraps a body in a request using the s/a/w/rsp prefixes of this repository's tests.
func prefixed(header, body string) string {
	return `<s:Envelope xmlns:s="` + nsSOAP + `" xmlns:a="` + nsAddr + `" xmlns:w="` + nsWSMan + `" xmlns:rsp="` + nsShell + `">` +
		`<s:Header><a:Action>` + actionCommand + `</a:Action><a:MessageID>uuid:1</a:MessageID><w:ResourceURI>` + resourceCmd + `</w:ResourceURI>` + header +
		`</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
}

// requestCorpus returns requests as the clients winsim serves write them, plus cases that pin
// xml.Unmarshal's rules (repeated elements, mixed content, attributes in other namespaces, ...).
func requestCorpus(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	files, err := filepath.Glob(filepath.Join("testdata", "pypsrp", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("pypsrp captures: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c capture
		if err := yaml.Unmarshal(raw, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, m := range c.Messages {
			if m.Request != "" {
				out[filepath.Base(f)+"#"+string(rune('a'+i%26))+strings.Repeat("'", i/26)] = []byte(m.Request)
			}
		}
	}
	p := winrm.NewParameters("PT60S", "en-US", 153600)
	const uri = "http://dc01:5985/wsman"
	in := make([]byte, 6144)
	_, _ = rand.Read(in)
	line := `reg query "HKU\S-1-5-18\Software\Größe" /v Name && echo @@dcproxy:x:ok || echo "<&>'" & echo 日本語 `
	for name, s := range map[string]string{
		"masterzen/open":    winrm.NewOpenShellRequest(uri, p).String(),
		"masterzen/command": winrm.NewExecuteCommandRequest(uri, testShellID, line, []string{"a&b", "<c>", " d "}, p).String(),
		"masterzen/send":    winrm.NewSendInputRequest(uri, testShellID, testCmdID, in, true, p).String(),
		"masterzen/receive": winrm.NewGetOutputRequest(uri, testShellID, testCmdID, "stdout stderr", p).String(),
		"masterzen/signal":  winrm.NewSignalRequest(uri, testShellID, testCmdID, p).String(),
		"masterzen/delete":  winrm.NewDeleteShellRequest(uri, testShellID, p).String(),
		"pywinrm/create": pywinrmStyle("\t\t<a:Action mustUnderstand=\"true\">"+actionCreate+"</a:Action>\r\n\t\t<w:OptionSet>\r\n\t\t\t<w:Option Name=\"WINRS_NOPROFILE\">FALSE</w:Option>\r\n\t\t\t<w:Option Name=\"WINRS_CODEPAGE\">65001</w:Option>\r\n\t\t</w:OptionSet>\r\n",
			"\t\t<rsp:Shell>\r\n\t\t\t<rsp:InputStreams>stdin</rsp:InputStreams>\r\n\t\t\t<rsp:OutputStreams>stdout stderr</rsp:OutputStreams>\r\n\t\t\t<rsp:WorkingDirectory>C:\\Users\\Jürgen</rsp:WorkingDirectory>\r\n\t\t\t<rsp:Environment>\r\n\t\t\t\t<rsp:Variable Name=\"A\">1</rsp:Variable>\r\n\t\t\t\t<rsp:Variable Name=\"PATH\">C:\\x;C:\\y</rsp:Variable>\r\n\t\t\t</rsp:Environment>\r\n\t\t</rsp:Shell>\r\n"),
		"pywinrm/command": pywinrmStyle("\t\t<a:Action mustUnderstand=\"true\">"+actionCommand+"</a:Action>\r\n\t\t<w:SelectorSet>\r\n\t\t\t<w:Selector Name=\"ShellId\">"+testShellID+"</w:Selector>\r\n\t\t</w:SelectorSet>\r\n\t\t<w:OptionSet>\r\n\t\t\t<w:Option Name=\"WINRS_CONSOLEMODE_STDIN\">TRUE</w:Option>\r\n\t\t\t<w:Option Name=\"WINRS_SKIP_CMD_SHELL\">FALSE</w:Option>\r\n\t\t</w:OptionSet>\r\n",
			"\t\t<rsp:CommandLine>\r\n\t\t\t<rsp:Command>echo &quot;café 日本&quot; &amp;&amp; whoami &#x1F600;</rsp:Command>\r\n\t\t\t<rsp:Arguments>/all</rsp:Arguments>\r\n\t\t</rsp:CommandLine>\r\n"),
		"pywinrm/signal": pywinrmStyle("\t\t<a:Action mustUnderstand=\"true\">"+actionSignal+"</a:Action>\r\n\t\t<w:SelectorSet>\r\n\t\t\t<w:Selector Name=\"ShellId\">"+testShellID+"</w:Selector>\r\n\t\t</w:SelectorSet>\r\n",
			"\t\t<rsp:Signal CommandId=\""+testCmdID+"\">\r\n\t\t\t<rsp:Code>"+signalTerm+"</rsp:Code>\r\n\t\t</rsp:Signal>\r\n"),
		"default-namespaces/receive": defaultNS(actionReceive, `<Receive xmlns="`+nsShell+`"><DesiredStream CommandId="`+testCmdID+`">stdout stderr</DesiredStream></Receive>`),
		"default-namespaces/send":    defaultNS(actionSend, `<Send xmlns="`+nsShell+`"><Stream Name="stdin" CommandId="`+testCmdID+`" End="true">ZGly</Stream></Send>`),
		// xml.Unmarshal's rules, pinned:
		"repeated-elements": prefixed(`<a:Action>`+actionSend+`</a:Action><w:SelectorSet><w:Selector Name="ShellId">one</w:Selector></w:SelectorSet><w:SelectorSet><w:Selector Name="X">two</w:Selector><w:Other/></w:SelectorSet>`,
			`<rsp:Send><rsp:Stream Name="stdin">AA</rsp:Stream></rsp:Send><rsp:Send><rsp:Stream Name="stdin" End="true">BB</rsp:Stream></rsp:Send>`+
				`<rsp:Receive><rsp:DesiredStream CommandId="c1">stdout</rsp:DesiredStream><rsp:DesiredStream>stderr</rsp:DesiredStream></rsp:Receive>`),
		"repeated-header": prefixed(`</s:Header><s:Header><a:Action>`+actionReceive+`</a:Action>`, ``),
		"mixed-content": prefixed(``, `<rsp:CommandLine><rsp:Command> a<x>IGNORED<rsp:Command>nested</rsp:Command></x>b<!-- c -->c<![CDATA[<&>]]>d </rsp:Command>`+
			`<rsp:Arguments></rsp:Arguments><rsp:Arguments>x<y/>y</rsp:Arguments><rsp:Command>second wins</rsp:Command></rsp:CommandLine>`),
		"attr-namespaces": prefixed(`<w:SelectorSet xmlns:q="urn:q"><w:Selector q:Name="InQ">v</w:Selector><w:Selector Name="first" q:Name="last">v2</w:Selector><w:Selector xmlns:Name="urn:n">v3</w:Selector></w:SelectorSet>`,
			`<rsp:Signal CommandId="A" rsp:CommandId="B"><rsp:Code>x</rsp:Code><rsp:Code>y</rsp:Code></rsp:Signal><rsp:Signal/>`),
		"wrong-namespaces": prefixed(`<w:Action>no</w:Action><a:SelectorSet><a:Selector Name="ShellId">no</a:Selector></a:SelectorSet><w:SelectorSet><a:Selector Name="ShellId">no</a:Selector></w:SelectorSet>`,
			`<w:Shell/><rsp:Shell xmlns:rsp="urn:other"><rsp:InputStreams>no</rsp:InputStreams></rsp:Shell><Receive/>`),
		"empty-and-whitespace": prefixed(`<w:MaxEnvelopeSize>  </w:MaxEnvelopeSize><w:OperationTimeout/>`,
			"<rsp:Shell><rsp:WorkingDirectory/><rsp:Environment/><rsp:InputStreams>\n\tstdin\n</rsp:InputStreams></rsp:Shell>"),
		"redeclared-prefixes": `<x:Envelope xmlns:x="` + nsSOAP + `"><x:Body xmlns:x="` + nsShell + `"><x:Receive><x:DesiredStream xmlns:x="` + nsSOAP + `" CommandId="no"/></x:Receive></x:Body></x:Envelope>`,
		"prolog-epilog":       "\uFEFF<?xml version=\"1.0\"?>\n<!-- before -->" + prefixed(``, ``) + "\n<!-- after --><?pi after?>\n",
	} {
		out[name] = []byte(s)
	}
	return out
}

func TestParseRequestMatchesUnmarshal(t *testing.T) {
	corpus := requestCorpus(t)
	if len(corpus) < 40 {
		t.Fatalf("only %d requests in the corpus", len(corpus))
	}
	for name, body := range corpus {
		want, err := parseRequestUnmarshal(body)
		if err != nil {
			t.Fatalf("%s: the oracle refuses it: %v", name, err)
		}
		got, err := parseRequest(body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, *got, *want)
		}
	}
	// Spot checks that the corpus exercises what matters (the comparison alone would pass on two
	// parsers that both read nothing).
	cmd, _ := parseRequest(corpus["masterzen/command"])
	if cmd.Body.CommandLine == nil || !strings.Contains(cmd.Body.CommandLine.Command, "Größe") || !strings.Contains(cmd.Body.CommandLine.Command, `"<&>'"`) ||
		len(cmd.Body.CommandLine.Arguments) != 3 || cmd.selector("ShellId") != testShellID {
		t.Errorf("masterzen command: %+v", cmd.Body.CommandLine)
	}
	py, _ := parseRequest(corpus["pywinrm/command"])
	if py.Header.Action != actionCommand || strings.TrimSpace(py.Body.CommandLine.Command) != "echo \"café 日本\" && whoami 😀" {
		t.Errorf("pywinrm command: %q %q", py.Header.Action, py.Body.CommandLine.Command)
	}
	mixed, _ := parseRequest(corpus["mixed-content"])
	if mixed.Body.CommandLine.Command != "second wins" || mixed.Body.CommandLine.Arguments[1] != "xy" {
		t.Errorf("mixed content: %q", mixed.Body.CommandLine)
	}
	rep, _ := parseRequest(corpus["repeated-elements"])
	if len(rep.Header.Selectors) != 2 || len(rep.Body.Send.Streams) != 2 || rep.Body.Receive.DesiredStream.CommandID != "c1" || rep.Body.Receive.DesiredStream.Value != "stderr" {
		t.Errorf("repeated elements: %+v %+v %+v", rep.Header.Selectors, rep.Body.Send, rep.Body.Receive)
	}
}

// TestParseRequestStricter lists what xml.Unmarshal let through and parseRequest now refuses
// (the body is not one well-formed namespace-valid XML document); serveWSMan answers all of
// them with the fault it sends for any unparsable body.
func TestParseRequestStricter(t *testing.T) {
	ok := prefixed(``, ``)
	for name, body := range map[string]string{
		"trailing content":    ok + "<junk",
		"second root":         ok + "<s:Envelope/>",
		"text before root":    "hello" + ok,
		"doctype":             "<!DOCTYPE s:Envelope>" + ok,
		"duplicate attribute": strings.Replace(ok, `<s:Header>`, `<s:Header a="1" a="2">`, 1),
		"undeclared prefix":   strings.Replace(ok, `<s:Body>`, `<s:Body><q:x/>`, 1),
	} {
		if _, err := parseRequestUnmarshal([]byte(body)); err != nil {
			t.Errorf("%s: the oracle refuses it too (%v); move it to TestParseRequestRefusesMalformed", name, err)
		}
		var se *xmlscan.SyntaxError
		if _, err := parseRequest([]byte(body)); !errors.As(err, &se) {
			t.Errorf("%s: parseRequest = %v, want an xmlscan.SyntaxError", name, err)
		}
	}
}

func TestParseRequestRefusesMalformed(t *testing.T) {
	ok := prefixed(``, `<rsp:Receive/>`)
	for name, body := range map[string]string{
		"empty":          "",
		"truncated":      ok[:len(ok)-3],
		"mismatched":     strings.Replace(ok, `</s:Body>`, `</s:Header>`, 1),
		"wrong root":     `<Envelope xmlns="urn:not-soap"/>`,
		"bad entity":     strings.Replace(ok, `uuid:1`, `&nbsp;`, 1),
		"invalid utf-8":  strings.Replace(ok, `uuid:1`, "\xff", 1),
		"lt in attr":     strings.Replace(ok, `<rsp:Receive/>`, `<rsp:Receive a="<"/>`, 1),
		"unknown prefix": strings.Replace(ok, `s:Envelope xmlns:s`, `s:Envelope xmlns:t`, 1),
	} {
		if _, err := parseRequestUnmarshal([]byte(body)); err == nil {
			t.Errorf("%s: the oracle accepts it", name)
		}
		if r, err := parseRequest([]byte(body)); err == nil {
			t.Errorf("%s: parseRequest accepts it: %+v", name, r)
		}
	}
}

// attrNorm maps the attribute values of r as XML 1.0 attribute-value normalization does (tab,
// newline, CR to space): parseRequest gets normalized values, xml.Unmarshal raw ones.
func attrNorm(r *request) {
	n := strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace
	for i := range r.Header.Selectors {
		r.Header.Selectors[i].Name = n(r.Header.Selectors[i].Name)
	}
	for i := range r.Header.Options {
		r.Header.Options[i].Name = n(r.Header.Options[i].Name)
	}
	if b := r.Body.Shell; b != nil {
		for i := range b.Environment {
			b.Environment[i].Name = n(b.Environment[i].Name)
		}
	}
	if b := r.Body.Receive; b != nil {
		b.DesiredStream.CommandID = n(b.DesiredStream.CommandID)
	}
	if b := r.Body.Send; b != nil {
		for i := range b.Streams {
			st := &b.Streams[i]
			st.Name, st.CommandID, st.End = n(st.Name), n(st.CommandID), n(st.End)
		}
	}
	if b := r.Body.Signal; b != nil {
		b.CommandID = n(b.CommandID)
	}
}

// FuzzParseRequest: whatever parseRequest accepts, the oracle accepts with the same result;
// whatever it refuses, either the oracle refuses too or the scanner found the body not
// well-formed (the documented stricter classes, differential-tested in internal/xmlscan).
func FuzzParseRequest(f *testing.F) {
	for _, body := range requestCorpus(f) {
		if len(body) < 4096 {
			f.Add(body)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := parseRequest(body)
		want, werr := parseRequestUnmarshal(body)
		if err != nil {
			var se *xmlscan.SyntaxError
			if werr != nil || errors.As(err, &se) {
				return
			}
			t.Fatalf("parseRequest refuses (%v) what the oracle accepts, and the scanner did not", err)
		}
		if werr != nil {
			t.Fatalf("parseRequest accepts what the oracle refuses (%v)", werr)
		}
		attrNorm(got)
		attrNorm(want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("\n got %+v\nwant %+v", *got, *want)
		}
	})
}

// BenchmarkParseRequestOldVsNew compares the xml.Unmarshal parser with parseRequest on the
// requests a host receives most per audit (masterzen/winrm's Receive, the Command carrying the
// audit's batch line, and a Send with an 8 KB base64 stream).
func BenchmarkParseRequestOldVsNew(b *testing.B) {
	params := winrm.NewParameters("PT60S", "en-US", 153600)
	line := strings.Repeat(`reg query "HKU\S-1-5-18\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections" /v DefaultConnectionSettings && echo @@dcproxy:x:ok || echo @@dcproxy:x:fail & `, 4)
	in := make([]byte, 6144)
	_, _ = rand.Read(in)
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"receive", []byte(winrm.NewGetOutputRequest("http://dc01:5985/wsman", testShellID, testCmdID, "stdout stderr", params).String())},
		{"command", []byte(winrm.NewExecuteCommandRequest("http://dc01:5985/wsman", testShellID, line, nil, params).String())},
		{"send8k", []byte(winrm.NewSendInputRequest("http://dc01:5985/wsman", testShellID, testCmdID, in, false, params).String())},
	} {
		for _, p := range []struct {
			name  string
			parse func([]byte) (*request, error)
		}{{"unmarshal", parseRequestUnmarshal}, {"xmlscan", parseRequest}} {
			b.Run(bc.name+"/"+p.name, func(b *testing.B) {
				b.SetBytes(int64(len(bc.body)))
				b.ReportAllocs()
				for b.Loop() {
					r, err := p.parse(bc.body)
					if err != nil || r.selector("ShellId") != testShellID {
						b.Fatalf("parse: %v", err)
					}
				}
			})
		}
	}
}
