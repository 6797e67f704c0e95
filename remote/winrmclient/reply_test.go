package winrmclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/masterzen/winrm"

	"github.com/dcproxy/dcproxy/remote"
)

// receiveReply is a typical Receive reply of dcproxy's registry command (shape of a Windows
// Server 2016 reply: two stdout chunks, an empty stderr End, Done with exit code 0).
func receiveReply() string {
	chunk := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("    DefaultConnectionSettings    REG_BINARY    4600000003000000\r\n", 8)))
	return `<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">` +
		`<s:Header><a:Action>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse</a:Action><a:MessageID>uuid:9F1D7A4B-1C6C-4C35-9B3B-6C0B4B8F0C11</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><a:RelatesTo>uuid:0DA0CEB6-3A4C-4B4F-9D3E-7B0E3F0C4D21</a:RelatesTo></s:Header>` +
		`<s:Body><rsp:ReceiveResponse>` +
		`<rsp:Stream Name="stdout" CommandId="1A2B3C4D-0000-4000-8000-000000000001">` + chunk + `</rsp:Stream>` +
		`<rsp:Stream Name="stdout" CommandId="1A2B3C4D-0000-4000-8000-000000000001">` + chunk + `</rsp:Stream>` +
		`<rsp:Stream Name="stdout" CommandId="1A2B3C4D-0000-4000-8000-000000000001" End="true"></rsp:Stream>` +
		`<rsp:Stream Name="stderr" CommandId="1A2B3C4D-0000-4000-8000-000000000001" End="true"></rsp:Stream>` +
		`<rsp:CommandState CommandId="1A2B3C4D-0000-4000-8000-000000000001" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState>` +
		`</rsp:ReceiveResponse></s:Body></s:Envelope>`
}

func TestParseReceiveReply(t *testing.T) {
	rep, err := parseReply(context.Background(), []byte(receiveReply()))
	if err != nil {
		t.Fatal(err)
	}
	// Compare with masterzen's XPath parser, which the client used before.
	var so, se bytes.Buffer
	done, code, err := winrm.ParseSlurpOutputErrResponse(receiveReply(), &so, &se)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rep.Stdout, so.Bytes()) || !bytes.Equal(rep.Stderr, se.Bytes()) || rep.Done != done || rep.ExitCode != code || !rep.HasExit {
		t.Errorf("ours: done=%v exit=%d %q; masterzen: done=%v exit=%d %q", rep.Done, rep.ExitCode, rep.Stdout[:20], done, code, so.Bytes()[:20])
	}
	if rep.Action != "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse" {
		t.Errorf("action %q", rep.Action)
	}
}

// nested returns a reply whose body nests n elements.
func nested(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>`)
	for range n {
		b.WriteString("<a>")
	}
	for range n {
		b.WriteString("</a>")
	}
	b.WriteString(`</s:Body></s:Envelope>`)
	return b.Bytes()
}

// TestDeepXML: 30,000 and 200,000 nested elements are refused as a protocol error at the depth
// limit, after reading only the first few levels.
func TestDeepXML(t *testing.T) {
	for _, n := range []int{30000, 200000} {
		body := nested(n)
		if n == 200000 {
			body = body[:maxReplySize] // the size bound alone would refuse the whole of it
		}
		_, err := parseReply(context.Background(), body)
		if !errors.Is(err, remote.ErrProtocol) || !errors.Is(err, errReplyTooDeep) {
			t.Errorf("%d levels: %v, want ErrProtocol (too deep)", n, err)
		}
	}
	if _, err := parseReply(context.Background(), nested(200000)); !errors.Is(err, errReplyTooLarge) {
		t.Errorf("200000 levels, whole: %v, want too large", err)
	}
	// Depth exactly at the limit is accepted (Envelope and Body are two levels).
	if _, err := parseReply(context.Background(), nested(maxReplyDepth-2)); err != nil {
		t.Errorf("depth %d: %v", maxReplyDepth, err)
	}
}

// TestParseHonoursContext: a cancelled context stops the parse between tokens (a wide reply, which
// no depth limit stops, of many small elements).
func TestParseHonoursContext(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>`)
	for b.Len() < maxReplySize-64 {
		b.WriteString("<a/>")
	}
	b.WriteString(`</s:Body></s:Envelope>`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := parseReply(ctx, b.Bytes()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := parseReply(context.Background(), b.Bytes()); err != nil {
		t.Errorf("wide reply: %v", err)
	}
	if _, err := parseReply(ctx, nested(30000)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled deep: %v", err)
	}
}

func TestParseReplyRefusals(t *testing.T) {
	for name, body := range map[string]string{
		"empty":        "",
		"garbage":      "\x00\x01garbage<<<",
		"html":         "<html><body>hi</body></html>",
		"two roots":    `<Envelope/><Envelope/>`,
		"unclosed":     `<s:Envelope xmlns:s="x"><s:Body>`,
		"mismatch":     `<Envelope><Body></Header></Envelope>`,
		"bad base64":   `<Envelope><Body><ReceiveResponse><Stream Name="stdout">!!!</Stream></ReceiveResponse></Body></Envelope>`,
		"bad encoding": `<?xml version="1.0" encoding="ISO-2022-JP"?><Envelope/>`,
		"late decl":    `<Envelope><?xml version="1.0"?></Envelope>`,
		"no version":   `<?xml encoding="utf-8"?><Envelope/>`,
		"doctype":      `<!DOCTYPE Envelope [<!ENTITY a "b">]><Envelope>&a;</Envelope>`,
		"undeclared":   `<s:Envelope><s:Body/></s:Envelope>`,
	} {
		if _, err := parseReply(context.Background(), []byte(body)); !errors.Is(err, remote.ErrProtocol) {
			t.Errorf("%s: %v, want ErrProtocol", name, err)
		}
	}
}

// TestParseFaultFields: a fault's codes, reason, WSManFault code and message, and ProviderFault.
func TestParseFaultFields(t *testing.T) {
	body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><a:Action xmlns:a="x">http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action></s:Header><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:InvalidParameter</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="">The parameter is incorrect. </s:Text><s:Text xml:lang="de">Falsch</s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="87" Machine="win"><f:Message><f:ProviderFault provider="Shell cmd plugin" path="%systemroot%\system32\winrscmd.dll">The parameter is incorrect. </f:ProviderFault></f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`
	rep, err := parseReply(context.Background(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := wsFault{Code: "s:Sender", Subcode: "w:InvalidParameter", Reason: "The parameter is incorrect.", WSManCode: "87",
		Message: "The parameter is incorrect.", Provider: "Shell cmd plugin", Path: `%systemroot%\system32\winrscmd.dll`}
	if rep.Fault == nil || *rep.Fault != want {
		t.Errorf("fault = %+v\nwant %+v", rep.Fault, want)
	}
}

func TestUTF16Reply(t *testing.T) {
	// Windows declares the encoding it used: UTF-16 in a UTF-16 reply (utf8Reply drops that
	// declaration with the conversion), UTF-8 in a UTF-8 one.
	src := `<?xml version="1.0" encoding="utf-8"?>` + receiveReply()
	le := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(`<?xml version="1.0" encoding="utf-16"?>` + receiveReply())) {
		le = append(le, byte(u), byte(u>>8))
	}
	for _, tc := range []struct {
		ct   string
		body []byte
	}{
		{soapContentType, le},                                       // BOM
		{"application/soap+xml;charset=UTF-16", le[2:]},             // label, no BOM
		{"application/soap+xml;charset=utf-16le", le[2:]},           // label
		{"application/soap+xml;charset=UTF-8", []byte(src)},         // plain
		{soapContentType, append([]byte{0xEF, 0xBB, 0xBF}, src...)}, // UTF-8 BOM
	} {
		u8, err := utf8Reply(tc.ct, tc.body)
		if err != nil {
			t.Fatalf("%s: %v", tc.ct, err)
		}
		rep, err := parseReply(context.Background(), u8)
		if err != nil || !rep.Done || len(rep.Stdout) == 0 {
			t.Errorf("%s: %+v, %v", tc.ct, rep, err)
		}
	}
	if _, err := utf8Reply("application/soap+xml;charset=UTF-16", []byte{1, 2, 3}); err == nil {
		t.Error("odd UTF-16 accepted")
	}
	raw := []byte("--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-16;Length=1234\r\n--Encrypted Boundary\r\n")
	if got := originalCharset(raw); got != ";charset=UTF-16" {
		t.Errorf("originalCharset = %q", got)
	}
	// Header names are case-insensitive; the binary part after the headers is not text.
	for _, tc := range []struct{ raw, want string }{
		{"--B\r\n\tORIGINALCONTENT: type=application/soap+xml;charset=utf-8;Length=9\r\n--B\r\n\xff\xfe\x80", ";charset=utf-8"},
		{"--B\r\n\toriginalContent:type=application/soap+xml;Length=9\r\n", ""},
		{"--B\r\n\x80\xff OriginalContent", ""},
		{"\xef\xbf\xbdOriginalContent: type=x;charset=UTF-16", ";charset=UTF-16"},
		{"", ""},
	} {
		if got := originalCharset([]byte(tc.raw)); got != tc.want {
			t.Errorf("originalCharset(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func FuzzParseReply(f *testing.F) {
	f.Add([]byte(receiveReply()))
	f.Add(nested(100))
	f.Add([]byte(timedOutFault))
	f.Fuzz(func(t *testing.T, body []byte) {
		rep, err := parseReply(context.Background(), body)
		if err != nil && !errors.Is(err, remote.ErrProtocol) {
			t.Errorf("unclassified error %v", err)
		}
		if err == nil && rep == nil {
			t.Error("nil reply without error")
		}
	})
}

// BenchmarkParseReceive compares the client's reply parser with masterzen's XPath parser (used
// before) on a typical Receive reply.
func BenchmarkParseReceive(b *testing.B) {
	body := receiveReply()
	b.Run("own", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseReply(context.Background(), []byte(body)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("masterzen", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := winrm.ParseSlurpOutputErrResponse(body, io.Discard, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkParseDeep: the cost of refusing a 30,000-level reply (masterzen's parser needed over a
// minute for it).
func BenchmarkParseDeep(b *testing.B) {
	body := nested(30000)
	for b.Loop() {
		if _, err := parseReply(context.Background(), body); err == nil {
			b.Fatal("accepted")
		}
	}
}

// TestParseReplyAppendKeepsOutputSoFar: the streams are decoded onto the output so far (with room
// to spare or none), giving what parseReply decodes after it; a reply that fails to parse leaves
// the output so far as it was.
func TestParseReplyAppendKeepsOutputSoFar(t *testing.T) {
	alone, err := parseReply(context.Background(), []byte(receiveReply()))
	if err != nil {
		t.Fatal(err)
	}
	for _, room := range []int{0, 100, 1 << 16} {
		so := append(make([]byte, 0, 6+room), "before"...)
		se := append(make([]byte, 0, 3+room), "err"...)
		rep, err := parseReplyAppend(context.Background(), []byte(receiveReply()), so, se)
		if err != nil {
			t.Fatal(err)
		}
		if string(rep.Stdout) != "before"+string(alone.Stdout) || string(rep.Stderr) != "err"+string(alone.Stderr) {
			t.Fatalf("room %d: stdout %.30q..., stderr %q", room, rep.Stdout, rep.Stderr)
		}
		broken := strings.Replace(receiveReply(), "</rsp:ReceiveResponse>", "</rsp:Other>", 1)
		if _, err := parseReplyAppend(context.Background(), []byte(broken), so, se); err == nil {
			t.Fatal("a broken reply parsed")
		}
		if string(so) != "before" || string(se) != "err" {
			t.Fatalf("room %d: output so far changed to %q, %q", room, so, se)
		}
	}
}
