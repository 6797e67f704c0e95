package winsim

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// The fmt-based renderings envelope, chunk.xml and newUUID had before they were written with
// appends; TestResponseRenderingUnchanged checks the new ones against them byte for byte.

func envelopeRef(lang, action, relatesTo, body, uuid string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<s:Envelope xml:lang="%s" xmlns:s="%s" xmlns:a="%s" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:w="%s" xmlns:rsp="%s" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">`,
		lang, nsSOAP, nsAddr, nsWSMan, nsShell)
	fmt.Fprintf(&b, `<s:Header><a:Action>%s</a:Action><a:MessageID>uuid:%s</a:MessageID><a:To>%s</a:To>`, action, uuid, anonymousRole)
	if relatesTo != "" {
		fmt.Fprintf(&b, `<a:RelatesTo>%s</a:RelatesTo>`, xmlText(relatesTo))
	}
	b.WriteString(`</s:Header><s:Body>`)
	b.WriteString(body)
	b.WriteString(`</s:Body></s:Envelope>`)
	return []byte(b.String())
}

func chunkXMLRef(ch chunk, id string) string {
	var b strings.Builder
	b.WriteString(`<rsp:ReceiveResponse>`)
	for i, name := range []string{"stdout", "stderr"} {
		if len(ch.data[i]) > 0 {
			fmt.Fprintf(&b, `<rsp:Stream Name="%s" CommandId="%s">%s</rsp:Stream>`, name, id, base64.StdEncoding.EncodeToString(ch.data[i]))
		}
	}
	if ch.done {
		fmt.Fprintf(&b, `<rsp:Stream Name="stdout" CommandId="%s" End="true"></rsp:Stream><rsp:Stream Name="stderr" CommandId="%s" End="true"></rsp:Stream>`, id, id)
		fmt.Fprintf(&b, `<rsp:CommandState CommandId="%s" State="%s"><rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState>`, id, stateDone, ch.exit)
	} else {
		fmt.Fprintf(&b, `<rsp:CommandState CommandId="%s" State="%s"></rsp:CommandState>`, id, stateRunning)
	}
	b.WriteString(`</rsp:ReceiveResponse>`)
	return b.String()
}

var uuidRE = regexp.MustCompile(`uuid:([0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12})<`)

func TestResponseRenderingUnchanged(t *testing.T) {
	for _, tc := range []struct{ lang, action, relatesTo, body string }{
		{"en-US", "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse", "uuid:0F0E0D0C-2222-4A3B-8C7D-0123456789AB", "<rsp:ReceiveResponse/>"},
		{"de-DE", "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", "", ""},
		{"en-US", "a", `uuid:<&>"'`, strings.Repeat("x", 3000)},
	} {
		got := envelope(tc.lang, tc.action, tc.relatesTo, tc.body)
		m := uuidRE.FindSubmatch(got)
		if m == nil {
			t.Fatalf("no upper-case version 4 UUID in %s", got)
		}
		if want := envelopeRef(tc.lang, tc.action, tc.relatesTo, tc.body, string(m[1])); string(got) != string(want) {
			t.Errorf("envelope\n%s\nwant\n%s", got, want)
		}
	}
	id := "8A5D3F0C-1111-4B2C-9D3E-0123456789AB"
	for _, ch := range []chunk{
		{},
		{data: [2][]byte{[]byte("out\r\n"), nil}},
		{data: [2][]byte{nil, []byte("err")}, done: true, exit: 9009},
		{data: [2][]byte{[]byte(strings.Repeat("é", 700)), []byte{0, 1, 2}}, done: true, exit: -1073741510},
		{done: true},
	} {
		if got, want := string(ch.appendXML([]byte(nil), id)), chunkXMLRef(ch, id); got != want {
			t.Errorf("chunk.xml\n%s\nwant\n%s", got, want)
		}
		// Receive renders the chunk straight into the envelope.
		got := envelopeTail(ch.appendXML(envelopeHead(nil, "en-US", "act", "uuid:x"), id))
		m := uuidRE.FindSubmatch(got)
		if m == nil {
			t.Fatalf("no message ID in %s", got)
		}
		if want := envelopeRef("en-US", "act", "uuid:x", chunkXMLRef(ch, id), string(m[1])); string(got) != string(want) {
			t.Errorf("Receive envelope\n%s\nwant\n%s", got, want)
		}
	}
	seen := map[string]bool{}
	for range 100 {
		u := newUUID()
		if !uuidRE.MatchString("uuid:"+u+"<") || seen[u] {
			t.Fatalf("newUUID %q: not an upper-case version 4 UUID, or repeated", u)
		}
		seen[u] = true
	}
}

// BenchmarkReceiveResponse renders a final Receive response carrying 2 KB of stdout, with the
// current code and with the fmt-based one it replaced.
func BenchmarkReceiveResponse(b *testing.B) {
	ch := chunk{data: [2][]byte{[]byte(strings.Repeat("@@dcproxy:x:ok\r\n", 128)), nil}, done: true, exit: 1}
	const id, rel = "8A5D3F0C-1111-4B2C-9D3E-0123456789AB", "uuid:0F0E0D0C-2222-4A3B-8C7D-0123456789AB"
	const action = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse"
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			env := envelopeHead(make([]byte, 0, envelopeRoom+len(action)+len(rel)+ch.xmlSize(id)), "en-US", action, rel)
			_ = envelopeTail(ch.appendXML(env, id))
		}
	})
	b.Run("ref", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = envelopeRef("en-US", action, rel, chunkXMLRef(ch, id), strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16])))
		}
	})
}

// FuzzXMLText: xmlText (with its fast path for text that needs no escaping) is xml.EscapeText.
func FuzzXMLText(f *testing.F) {
	for _, s := range []string{"", "uuid:0F0E0D0C-2222-4A3B-8C7D-0123456789AB", `a<b>&"c'`, "tab\there\r\n", "é€\x00\x7f\xff", "~ !"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		_ = xml.EscapeText(&want, []byte(s))
		if got := xmlText(s); got != want.String() {
			t.Fatalf("xmlText(%q) = %q, want %q", s, got, want.String())
		}
	})
}
