package pwsh

// The output encoding as it was written before appendOutput (strings.Builder, fmt): the reference
// TestOutputEncodingMatchesReference and FuzzOutputEncoding compare the current one with.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/dcproxy/dcproxy/remote/probe"
)

// encodeOutput renders the output exactly as Windows PowerShell 5.1's
// `ConvertTo-Json -InputObject ([pscustomobject]@{...}) -Compress -Depth 4` does for the script's
// objects (before the final ASCII escaping).
func encodeOutputRef(reqURL, from string, sc *sensorState, thumbs []string, present []bool, res []outcome) string {
	var b strings.Builder
	b.WriteString(`{"url":` + jsStringRef(reqURL) + `,"from":` + jsStringRef(from) + `,"sensor":`)
	if sc == nil {
		b.WriteString("null")
	} else {
		b.WriteString(`{"found":` + strconv.FormatBool(sc.found))
		b.WriteString(`,"error":` + jsStringRef(sc.errCode))
		b.WriteString(`,"proxyUrl":` + jsStringRef(sc.proxyURL))
		b.WriteString(`,"proxyUser":` + jsStringRef(sc.proxyUser))
		b.WriteString(`,"credentials":` + strconv.FormatBool(sc.credentials))
		b.WriteString(`,"address":` + jsStringRef(sc.address))
		b.WriteString(`,"port":` + strconv.FormatInt(sc.port, 10) + "}")
	}
	b.WriteString(`,"roots":{`)
	for i, t := range thumbs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(jsStringRef(t) + ":" + strconv.FormatBool(present[i]))
	}
	b.WriteString(`},"results":[`)
	for i, o := range res {
		if i > 0 {
			b.WriteByte(',')
		}
		body := printableRef(o.body)
		if len(body) > probe.MaxBody {
			body = body[:probe.MaxBody]
		}
		b.WriteString(`{"id":` + jsStringRef(o.id))
		b.WriteString(`,"q":` + strconv.Itoa(o.q))
		b.WriteString(`,"status":` + strconv.Itoa(o.status))
		b.WriteString(`,"error":` + jsStringRef(o.errName))
		b.WriteString(`,"message":` + jsStringRef(o.message))
		b.WriteString(`,"route":` + jsStringRef(o.route))
		b.WriteString(`,"tls":` + strconv.FormatBool(o.tls))
		b.WriteString(`,"subject":` + jsStringRef(printableRef(o.subject)))
		b.WriteString(`,"issuer":` + jsStringRef(printableRef(o.issuer)))
		b.WriteString(`,"body":` + jsStringRef(body))
		b.WriteString(`,"ms":` + strconv.Itoa(o.millis) + "}")
	}
	b.WriteString("]}")
	return b.String()
}

// printable is the script's `-replace '[^ -~]','?'`: every UTF-16 code unit outside printable ASCII
// becomes '?' (a character outside the BMP, two code units, becomes "??").
func printableRef(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= ' ' && r <= '~':
			b.WriteRune(r)
		case r > 0xffff:
			b.WriteString("??")
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// asciiEscape is the script's final [regex]::Replace($j,'[^ -~]',{'\u{0:x4}' -f ...}): every UTF-16
// code unit outside printable ASCII becomes \uXXXX (lower-case hex).
func asciiEscapeRef(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r >= ' ' && r <= '~' {
			b.WriteByte(byte(r))
			continue
		}
		for _, u := range utf16.Encode([]rune{r}) {
			fmt.Fprintf(&b, `\u%04x`, u)
		}
	}
	return b.String()
}

// jsString is JavaScriptSerializer's string quoting (System.Web.Extensions, used by 5.1's
// ConvertTo-Json): \r \t \" \\ \n \b \f as short escapes; other control characters, ' < > &, U+0085,
// U+2028 and U+2029 as lower-case \uXXXX; everything else, non-ASCII included, as is.
func jsStringRef(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 || r == '\'' || r == '<' || r == '>' || r == '&' || r == 0x85 || r == 0x2028 || r == 0x2029 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// outputCorpus are strings of the kinds the probe's output carries, and the awkward ones: every
// escaped character, non-ASCII, characters outside the BMP, invalid UTF-8, long bodies.
func outputCorpus() []string {
	return []string{"", "plain", "https://contososensorapi.atp.azure.com/tri/sensor/api/ping", "proxy p.lab.test:8080",
		"a'b<c>d&e\"f\\g\r\n\t\x01\b\f\x7f", "ünï €", "\u0085\u2028\u2029", "🔒 lock", "\xff\xfe bad \xc3", "\x00",
		"CN=*.atp.azure.com, O=Microsoft Corporation, L=Redmond, S=WA, C=US", strings.Repeat("body ", 300) + "é",
		"Der Remoteserver hat einen Fehler zurückgegeben: (407) Proxyauthentifizierung erforderlich."}
}

// TestOutputEncodingMatchesReference: encodeOutput, jsString, printable and asciiEscape give
// exactly the reference's text for every combination of the corpus in every field.
func TestOutputEncodingMatchesReference(t *testing.T) {
	corpus := outputCorpus()
	for _, s := range corpus {
		if got, want := jsString(s), jsStringRef(s); got != want {
			t.Fatalf("jsString(%q) = %q, want %q", s, got, want)
		}
		if got, want := printable(s), printableRef(s); got != want {
			t.Fatalf("printable(%q) = %q, want %q", s, got, want)
		}
		if got, want := asciiEscape(s), asciiEscapeRef(s); got != want {
			t.Fatalf("asciiEscape(%q) = %q, want %q", s, got, want)
		}
	}
	for i, a := range corpus {
		b := corpus[(i+3)%len(corpus)]
		c := corpus[(i+7)%len(corpus)]
		scs := []*sensorState{nil, {found: true, errCode: a, proxyURL: b, proxyUser: c, credentials: i%2 == 0, address: a, port: int64(i*1000 - 3)}}
		res := []outcome{
			{id: a, errName: b, message: c, route: a, q: i, status: 200 + i, millis: 41 * i, tls: true, subject: b, issuer: c, body: a},
			{id: "B", route: "direct", body: b + c, subject: a},
		}
		for _, sc := range scs {
			got := encodeOutput(a, b, sc, []string{a, "DF3C24F9BFD666761B268073FE06D1CC8D4F82A4"}, []bool{true, false}, res)
			want := encodeOutputRef(a, b, sc, []string{a, "DF3C24F9BFD666761B268073FE06D1CC8D4F82A4"}, []bool{true, false}, res)
			if got != want {
				t.Fatalf("encodeOutput differs:\n got %q\nwant %q", got, want)
			}
			if asciiEscape(got) != asciiEscapeRef(want) {
				t.Fatalf("asciiEscape of the output differs")
			}
		}
	}
}

// FuzzOutputEncoding: for any strings the encoders agree with the reference.
func FuzzOutputEncoding(f *testing.F) {
	for _, s := range outputCorpus() {
		f.Add(s, "x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if jsString(a) != jsStringRef(a) || printable(a) != printableRef(a) || asciiEscape(a) != asciiEscapeRef(a) {
			t.Fatalf("encoders differ for %q", a)
		}
		res := []outcome{{id: a, message: b, route: a, subject: b, issuer: a, body: b}}
		sc := &sensorState{errCode: a, proxyURL: b, address: a}
		if encodeOutput(a, b, sc, []string{b}, []bool{true}, res) != encodeOutputRef(a, b, sc, []string{b}, []bool{true}, res) {
			t.Fatalf("encodeOutput differs for %q, %q", a, b)
		}
	})
}
