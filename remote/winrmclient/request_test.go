package winrmclient

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"regexp"
	"strings"
	"testing"

	"github.com/masterzen/winrm"
)

var messageIDRe = regexp.MustCompile(`uuid:[0-9a-fA-F-]{36}`)

// TestRequestsMatchMasterzen: for inputs masterzen can carry (nothing to escape), every request is
// byte for byte what github.com/masterzen/winrm builds, apart from the random MessageID, which is a
// version 4 UUID in both.
func TestRequestsMatchMasterzen(t *testing.T) {
	const url = "http://dc01.contoso.test:5985/wsman"
	for _, locale := range []string{"en-US", "de-DE"} {
		p := winrm.NewParameters("PT16S", locale, envelopeSize)
		rb := requestBuilder{url: url, timeout: "PT16S", locale: locale, maxSize: envelopeSize}
		line := `cmd /c reg query "HKU\S-1-5-19\Software" /v X & echo <done> 1>&2`
		data := []byte("$x = 'äöü'\n" + strings.Repeat("Write-Output 1\n", 100))
		for _, tc := range []struct {
			name    string
			ours    request
			mz      interface{ String() string }
			cleanup bool
		}{
			{"create", rb.createShell(), winrm.NewOpenShellRequest(url, p), false},
			{"command", rb.command("SH-1", line), winrm.NewExecuteCommandRequest(url, "SH-1", line, nil, p), false},
			{"receive", rb.receive("SH-1", "C-1"), winrm.NewGetOutputRequest(url, "SH-1", "C-1", "stdout stderr", p), false},
			{"send-end", rb.send("SH-1", "C-1", data, true), winrm.NewSendInputRequest(url, "SH-1", "C-1", data, true, p), false},
			{"send", rb.send("SH-1", "C-1", data, false), winrm.NewSendInputRequest(url, "SH-1", "C-1", data, false, p), false},
			{"send-empty", rb.send("SH-1", "C-1", nil, true), winrm.NewSendInputRequest(url, "SH-1", "C-1", nil, true, p), false},
			{"signal", rb.signal("SH-1", "C-1"), winrm.NewSignalRequest(url, "SH-1", "C-1", p), true},
			{"delete", rb.deleteShell("SH-1"), winrm.NewDeleteShellRequest(url, "SH-1", p), true},
		} {
			want := tc.mz.String()
			got := string(tc.ours.body)
			if n := len(messageIDRe.FindAllString(got, -1)); n != 1 {
				t.Fatalf("%s: %d MessageIDs in %s", tc.name, n, got)
			}
			id := messageIDRe.FindString(got)
			if id[5+14] != '4' || !strings.ContainsRune("89ab", rune(id[5+19])) {
				t.Errorf("%s: MessageID %s is not a version 4 UUID", tc.name, id)
			}
			norm := func(s string) string { return messageIDRe.ReplaceAllString(s, "uuid:ID") }
			if norm(got) != norm(want) {
				t.Errorf("%s (%s):\n got %s\nwant %s", tc.name, locale, norm(got), norm(want))
			}
			if tc.ours.cleanup != tc.cleanup {
				t.Errorf("%s: cleanup %v, want %v", tc.name, tc.ours.cleanup, tc.cleanup)
			}
		}
	}
}

// TestRequestsEscape: values masterzen would send unescaped (and so produce malformed XML or a
// different command) reach a strict XML reader unchanged.
func TestRequestsEscape(t *testing.T) {
	rb := requestBuilder{url: "http://h:5985/wsman?a=1&b=<2>", timeout: "PT16S", locale: `x"y`, maxSize: envelopeSize}
	shell, cmdID := `S&H<"1">`, `C&'"<>`+"\t\n"
	line := `echo ]]> & echo "<&>" ]]]]> end` + "\x01"
	data := []byte("stdin ]]> <&>")
	type attr struct {
		Name  string `xml:",attr"`
		Value string `xml:",chardata"`
	}
	type parsed struct {
		Header struct {
			To     string `xml:"To"`
			Locale struct {
				Lang string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
			} `xml:"Locale"`
			Selector attr   `xml:"SelectorSet>Selector"`
			ID       string `xml:"MessageID"`
		} `xml:"Header"`
		Body struct {
			Command string `xml:"CommandLine>Command"`
			Stream  struct {
				CommandID string `xml:"CommandId,attr"`
				End       string `xml:"End,attr"`
				Value     string `xml:",chardata"`
			} `xml:"Send>Stream"`
			Receive struct {
				CommandID string `xml:"CommandId,attr"`
			} `xml:"Receive>DesiredStream"`
			Signal struct {
				CommandID string `xml:"CommandId,attr"`
			} `xml:"Signal"`
		} `xml:"Body"`
	}
	for _, req := range []request{rb.command(shell, line), rb.send(shell, cmdID, data, true), rb.receive(shell, cmdID), rb.signal(shell, cmdID), rb.deleteShell(shell)} {
		d := xml.NewDecoder(bytes.NewReader(req.body))
		d.Strict = true
		var env parsed
		if err := d.Decode(&env); err != nil {
			t.Fatalf("not XML: %v\n%s", err, req.body)
		}
		if env.Header.To != rb.url || env.Header.Locale.Lang != rb.locale || env.Header.Selector.Value != shell {
			t.Errorf("header %+v", env.Header)
		}
		b := env.Body
		switch {
		case b.Command != "":
			if want := strings.ReplaceAll(line, "\x01", "\uFFFD"); b.Command != want {
				t.Errorf("command %q, want %q", b.Command, want)
			}
		case b.Stream.Value != "":
			dec, _ := base64.StdEncoding.DecodeString(b.Stream.Value)
			if b.Stream.CommandID != cmdID || b.Stream.End != "true" || string(dec) != string(data) {
				t.Errorf("send %+v", b.Stream)
			}
		case b.Receive.CommandID != "":
			if b.Receive.CommandID != cmdID {
				t.Errorf("receive %q", b.Receive.CommandID)
			}
		case b.Signal.CommandID != "":
			if b.Signal.CommandID != cmdID {
				t.Errorf("signal %q", b.Signal.CommandID)
			}
		}
	}
}

func TestAppendEscaped(t *testing.T) {
	for _, tc := range []struct {
		in         string
		text, attr string
	}{
		{"plain", "plain", "plain"},
		{`a<b>&"c"`, `a&lt;b&gt;&amp;"c"`, `a&lt;b&gt;&amp;&quot;c&quot;`},
		{"t\tn\nr\r", "t\tn\nr&#xD;", "t&#x9;n&#xA;r&#xD;"},
		{"ctl\x00\x1f", "ctl\uFFFD\uFFFD", "ctl\uFFFD\uFFFD"},
		{"bad\xffutf8", "bad\uFFFDutf8", "bad\uFFFDutf8"},
		{"ok äöü €", "ok äöü €", "ok äöü €"},
		{"nonchar \uFFFE", "nonchar \uFFFD", "nonchar \uFFFD"},
	} {
		if got := string(appendText(nil, tc.in)); got != tc.text {
			t.Errorf("appendText(%q) = %q, want %q", tc.in, got, tc.text)
		}
		if got := string(appendAttr(nil, tc.in)); got != tc.attr {
			t.Errorf("appendAttr(%q) = %q, want %q", tc.in, got, tc.attr)
		}
	}
}

func BenchmarkRequestSend(b *testing.B) {
	rb := requestBuilder{url: "http://dc01.contoso.test:5985/wsman", timeout: "PT16S", locale: "en-US", maxSize: envelopeSize}
	data := bytes.Repeat([]byte("Write-Output 'probe'\n"), 230) // ~4.7 KB, the probe script's size
	b.Run("dcproxy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = rb.send("SH-1", "C-1", data, true)
		}
	})
	p := winrm.NewParameters("PT16S", "en-US", envelopeSize)
	b.Run("masterzen", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := winrm.NewSendInputRequest(rb.url, "SH-1", "C-1", data, true, p)
			_ = []byte(m.String())
			m.Free()
		}
	})
}

// TestCommandLineCacheFollowsTheLine: Command requests for alternating command lines (the cache
// holds the last one) each carry their own line, as appendCDATA writes it.
func TestCommandLineCacheFollowsTheLine(t *testing.T) {
	rb := requestBuilder{url: "http://h:5985/wsman", timeout: "PT16S", locale: "en-US", maxSize: envelopeSize}
	lines := []string{"echo a ]]> b", "reg query HKU\\S-1-5-19 /v X", "echo a ]]> b", "echo a ]]> b", "", "reg query HKU\\S-1-5-19 /v X"}
	for i, line := range lines {
		body := string(rb.command("S1", line).body)
		want := "<rsp:Command>" + string(appendCDATA(nil, line)) + "</rsp:Command>"
		if !strings.Contains(body, want) {
			t.Fatalf("request %d (%q): no %q in %s", i, line, want, body)
		}
	}
}
