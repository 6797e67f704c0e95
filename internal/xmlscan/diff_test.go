package xmlscan

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The differential test: for every input, either encoding/xml (Strict) and the scanner both
// accept it and yield the same tokens, or both refuse it, or the scanner alone refuses it with
// one of the documented classes (errCode other than errSyntax) AND the input shows evidence of
// that class, computed here independently from encoding/xml's own token stream and the raw bytes.
//
// Token streams are compared after the documented normalizations: adjacent CharData merged and
// empty ones dropped, CharData outside the root dropped (encoding/xml delivers it; the scanner
// only allows whitespace there and does not deliver it), line ends in comments and PIs
// normalized for encoding/xml's side, and tab/newline/CR mapped to space in attribute values and
// namespace URIs on both sides (the scanner normalizes attribute values, encoding/xml does not).
// Namespace declarations are compared too: encoding/xml reports xmlns:p as {xmlns p} and xmlns as
// {"" xmlns}; the scanner as {http://www.w3.org/2000/xmlns/ ...}.

type goTok struct {
	tok        xml.Token
	start, end int
	depth      int // number of open elements before the token
}

func goParse(data []byte) ([]goTok, []xml.Token, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var toks []goTok
	depth := 0
	for {
		start := int(d.InputOffset())
		t, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		toks = append(toks, goTok{xml.CopyToken(t), start, int(d.InputOffset()), depth})
		switch t.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	rd := xml.NewDecoder(bytes.NewReader(data))
	var raw []xml.Token
	for {
		t, err := rd.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("RawToken fails where Token did not: %v", err)
		}
		raw = append(raw, xml.CopyToken(t))
	}
	if len(raw) != len(toks) {
		return nil, nil, fmt.Errorf("RawToken gives %d tokens, Token %d", len(raw), len(toks))
	}
	return toks, raw, nil
}

var wsMapper = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")

func crNorm(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

func goStream(toks []goTok) []string {
	var out []string
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			out = append(out, "T "+text.String())
			text.Reset()
		}
	}
	for _, g := range toks {
		if cd, ok := g.tok.(xml.CharData); ok {
			if g.depth > 0 {
				text.Write(cd)
			}
			continue
		}
		flush()
		switch t := g.tok.(type) {
		case xml.StartElement:
			var b strings.Builder
			fmt.Fprintf(&b, "S {%s}%s", wsMapper.Replace(t.Name.Space), t.Name.Local)
			for _, a := range t.Attr {
				sp := a.Name.Space
				if sp == "xmlns" || sp == "" && a.Name.Local == "xmlns" {
					sp = XMLNSNamespace
				}
				fmt.Fprintf(&b, " {%s}%s=%q", wsMapper.Replace(sp), a.Name.Local, wsMapper.Replace(a.Value))
			}
			out = append(out, b.String())
		case xml.EndElement:
			out = append(out, fmt.Sprintf("E {%s}%s", wsMapper.Replace(t.Name.Space), t.Name.Local))
		case xml.Comment:
			out = append(out, "C "+crNorm(string(t)))
		case xml.ProcInst:
			out = append(out, "P "+t.Target+" "+crNorm(string(t.Inst)))
		case xml.Directive:
			out = append(out, "D "+string(t))
		}
	}
	flush()
	return out
}

// ourStream scans data and checks the scanner's own invariants (Depth, Offset) on the way.
func ourStream(t testing.TB, data []byte) ([]string, error) {
	var out []string
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			out = append(out, "T "+text.String())
			text.Reset()
		}
	}
	s := NewScanner(data)
	open := 0
	for {
		k, err := s.Next()
		if err == io.EOF {
			if open != 0 {
				t.Fatalf("io.EOF with %d elements open", open)
			}
			break
		}
		if err != nil {
			if k2, err2 := s.Next(); err2 != err || k2 != 0 {
				t.Fatalf("error not sticky: %v then %v, %v", err, k2, err2)
			}
			return nil, err
		}
		if k != s.Kind() {
			t.Fatalf("Next returned %v, Kind() %v", k, s.Kind())
		}
		want := open
		switch k {
		case StartElement:
			open++
			want = open
		case EndElement:
			open--
		}
		if s.Depth() != want {
			t.Fatalf("%v at offset %d: Depth %d, want %d", k, s.Offset(), s.Depth(), want)
		}
		if k == CharData {
			text.Write(s.Text())
			continue
		}
		flush()
		switch k {
		case StartElement:
			var b strings.Builder
			n := s.Name()
			fmt.Fprintf(&b, "S {%s}%s", wsMapper.Replace(n.Space), n.Local)
			for _, a := range s.Attrs() {
				fmt.Fprintf(&b, " {%s}%s=%q", wsMapper.Replace(a.Name.Space), a.Name.Local, wsMapper.Replace(string(a.Value)))
				if v, ok := s.Attr(a.Name.Space, string(a.Name.Local)); !ok || !bytes.Equal(v, a.Value) {
					t.Fatalf("Attr(%q, %q) = %q, %v; Attrs has %q", a.Name.Space, a.Name.Local, v, ok, a.Value)
				}
			}
			out = append(out, b.String())
		case EndElement:
			out = append(out, fmt.Sprintf("E {%s}%s", wsMapper.Replace(s.Name().Space), s.Name().Local))
		case Comment:
			out = append(out, "C "+string(s.Text()))
		case ProcInst:
			out = append(out, "P "+string(s.Target())+" "+string(s.Text()))
		}
	}
	flush()
	return out, nil
}

var (
	xmlDeclRE = regexp.MustCompile(`^version[ \t\r\n]*=[ \t\r\n]*("1\.0"|'1\.0')` +
		`([ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*("[uU][tT][fF]-8"|'[uU][tT][fF]-8'))?` +
		`([ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*("(yes|no)"|'(yes|no)'))?[ \t\r\n]*$`)
	charRefRE = regexp.MustCompile(`&#(x[0-9a-fA-F]+|[0-9]+);`)
)

func isNCNameStart(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r != ':' && (r < utf8.RuneSelf && class[r]&clsStart != 0 || r >= utf8.RuneSelf && unicode.Is(nameStart, r))
}

// evidence reports, from encoding/xml's tokens and the raw input, why the input belongs to the
// class code; "" when it shows no sign of it.
func evidence(code errCode, data []byte, toks []goTok, raw []xml.Token) string {
	switch code {
	case errDirective:
		for _, g := range toks {
			if _, ok := g.tok.(xml.Directive); ok {
				return "directive"
			}
		}
	case errDocument:
		roots := 0
		for _, g := range toks {
			if g.depth != 0 {
				continue
			}
			switch t := g.tok.(type) {
			case xml.StartElement:
				roots++
			case xml.CharData:
				if bytes.Contains(data[g.start:g.end], []byte("<![CDATA[")) {
					return "CDATA outside the root"
				}
				txt := []byte(t)
				if g.start == 0 {
					txt = bytes.TrimPrefix(txt, []byte("\uFEFF"))
				}
				if len(bytes.TrimLeft(txt, " \t\r\n")) != 0 {
					return "text outside the root"
				}
			}
		}
		if roots != 1 {
			return fmt.Sprintf("%d root elements", roots)
		}
	case errXMLDecl:
		docStart := 0
		if bytes.HasPrefix(data, []byte("\uFEFF")) {
			docStart = 3
		}
		for _, g := range toks {
			pi, ok := g.tok.(xml.ProcInst)
			if !ok || !strings.EqualFold(pi.Target, "xml") {
				continue
			}
			if pi.Target != "xml" || g.start != docStart || !xmlDeclRE.Match(pi.Inst) {
				return "reserved target, misplaced or malformed declaration"
			}
		}
	case errNamespace:
		return nsViolation(raw)
	case errDupAttr:
		for _, g := range toks {
			se, ok := g.tok.(xml.StartElement)
			if !ok {
				continue
			}
			seen := map[xml.Name]bool{}
			for _, a := range se.Attr {
				n := a.Name
				if n.Space == "xmlns" || n.Space == "" && n.Local == "xmlns" {
					n.Space = XMLNSNamespace
				}
				if seen[n] {
					return "duplicate attribute " + n.Local
				}
				seen[n] = true
			}
		}
	case errAttrSpace:
		for _, g := range toks {
			if _, ok := g.tok.(xml.StartElement); !ok || g.start == g.end {
				continue
			}
			tag := data[g.start:g.end]
			var q byte
			for i := 1; i < len(tag); i++ {
				switch c := tag[i]; {
				case q == 0 && (c == '"' || c == '\''):
					q = c
				case q != 0 && c == q:
					q = 0
					if i+1 < len(tag) && !strings.ContainsRune(" \t\r\n/>", rune(tag[i+1])) {
						return "no space after an attribute value"
					}
				}
			}
		}
	case errPISpace:
		for _, g := range toks {
			pi, ok := g.tok.(xml.ProcInst)
			if !ok {
				continue
			}
			rest := data[g.start+2+len(pi.Target) : g.end]
			if !bytes.HasPrefix(rest, []byte("?>")) && !isSpace(rest[0]) {
				return "PI target not followed by space"
			}
		}
	case errChar:
		for _, g := range toks {
			var b []byte
			switch t := g.tok.(type) {
			case xml.Comment:
				b = t
			case xml.ProcInst:
				b = t.Inst
			}
			for len(b) > 0 {
				r, n := utf8.DecodeRune(b)
				if r == utf8.RuneError && n == 1 || !isChar(r) {
					return "bad character in comment or PI"
				}
				b = b[n:]
			}
		}
	case errCharRef:
		for _, m := range charRefRE.FindAllSubmatch(data, -1) {
			s, base := string(m[1]), 10
			if s[0] == 'x' {
				s, base = s[1:], 16
			}
			if v, err := strconv.ParseUint(s, base, 64); err == nil && v >= 0xD800 && v <= 0xDFFF {
				return "surrogate character reference"
			}
		}
	}
	return ""
}

// nsViolation checks Namespaces in XML 1.0 over encoding/xml's raw (untranslated) tokens.
func nsViolation(raw []xml.Token) string {
	type scope map[string]string
	stack := []scope{{"xml": XMLNamespace}}
	checkName := func(n xml.Name) string {
		if strings.Contains(n.Local, ":") || !isNCNameStart(n.Local) {
			return "QName " + n.Space + ":" + n.Local + " is not an NCName pair"
		}
		return ""
	}
	for _, t := range raw {
		switch t := t.(type) {
		case xml.StartElement:
			sc := scope{}
			for k, v := range stack[len(stack)-1] {
				sc[k] = v
			}
			for _, a := range t.Attr {
				if v := checkName(a.Name); v != "" {
					return v
				}
				switch {
				case a.Name.Space == "xmlns":
					p := a.Name.Local
					switch {
					case p == "xmlns":
						return "xmlns:xmlns"
					case p == "xml" && a.Value != XMLNamespace:
						return "xml bound elsewhere"
					case p != "xml" && (a.Value == XMLNamespace || a.Value == XMLNSNamespace):
						return "reserved namespace bound"
					case a.Value == "":
						return "prefix undeclared"
					}
					sc[p] = a.Value
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					if a.Value == XMLNamespace || a.Value == XMLNSNamespace {
						return "reserved namespace as default"
					}
				}
			}
			if v := checkName(t.Name); v != "" {
				return v
			}
			if t.Name.Space == "xmlns" {
				return "element with prefix xmlns"
			}
			if _, ok := sc[t.Name.Space]; t.Name.Space != "" && !ok {
				return "undeclared element prefix " + t.Name.Space
			}
			for _, a := range t.Attr {
				if _, ok := sc[a.Name.Space]; a.Name.Space != "" && a.Name.Space != "xmlns" && !ok {
					return "undeclared attribute prefix " + a.Name.Space
				}
			}
			stack = append(stack, sc)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	return ""
}

// patchXMLNSElements corrects an encoding/xml deviation before comparison: it leaves an
// unprefixed element named "xmlns" in no namespace even inside a default namespace declaration
// (Decoder.translate returns early for it), where Namespaces in XML 1.0 §6.2 puts every
// unprefixed element name in the default namespace.
func patchXMLNSElements(toks []goTok, raw []xml.Token) {
	defaults := []string{""}
	for i, t := range raw {
		switch t := t.(type) {
		case xml.StartElement:
			def := defaults[len(defaults)-1]
			for _, a := range t.Attr {
				if a.Name.Space == "" && a.Name.Local == "xmlns" {
					def = a.Value
				}
			}
			defaults = append(defaults, def)
			if t.Name.Space == "" && t.Name.Local == "xmlns" {
				se := toks[i].tok.(xml.StartElement)
				se.Name.Space = def
				toks[i].tok = se
			}
		case xml.EndElement:
			if t.Name.Space == "" && t.Name.Local == "xmlns" {
				toks[i].tok = xml.EndElement{Name: xml.Name{Space: defaults[len(defaults)-1], Local: "xmlns"}}
			}
			defaults = defaults[:len(defaults)-1]
		}
	}
}

func checkDifferential(t testing.TB, data []byte) {
	toks, raw, gerr := goParse(data)
	ours, oerr := ourStream(t, data)
	if oerr != nil {
		var se *SyntaxError
		if !errors.As(oerr, &se) {
			t.Fatalf("scanner error is %T, want *SyntaxError: %v", oerr, oerr)
		}
		if gerr != nil {
			return
		}
		if se.code == errSyntax {
			t.Fatalf("scanner refuses what encoding/xml accepts: %v\ninput %q", oerr, data)
		}
		if ev := evidence(se.code, data, toks, raw); ev == "" {
			t.Fatalf("scanner refuses with documented class %d but the input shows no sign of it: %v\ninput %q", se.code, oerr, data)
		}
		return
	}
	if gerr != nil {
		t.Fatalf("scanner accepts what encoding/xml refuses (%v)\ninput %q", gerr, data)
	}
	patchXMLNSElements(toks, raw)
	want := goStream(toks)
	if strings.Join(ours, "\n") != strings.Join(want, "\n") {
		t.Fatalf("token streams differ for %q\nscanner:      %q\nencoding/xml: %q", data, ours, want)
	}
}

func FuzzDifferential(f *testing.F) {
	for _, s := range tricky {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDifferential(t, data)
	})
}

// tricky are hand-written seeds; the real WinRM messages are in testdata/fuzz/FuzzDifferential.
var tricky = []string{
	`<a/>`,
	`<?xml version="1.0" encoding="utf-8"?><a/>`,
	"\uFEFF<?xml version='1.0' standalone='yes'?>\n<a/>\n",
	`<?xml version="1.1"?><a/>`,
	`<?xml version = "1.0" encoding = "latin1" ?><a/>`,
	`<?xml?><a/>`,
	` <?xml version="1.0"?><a/>`,
	`<a/><?xml version="1.0"?>`,
	`<?XML version="1.0"?><a/>`,
	`<?xml-stylesheet href="x"?><a/>`,
	`<?pi?><a><?pi data ?? >?></a>`,
	`<?a!b?><a/>`,
	`<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>`,
	`<!DOCTYPE a><a/>`,
	`<a><!DOCTYPE a></a>`,
	`<a>&lt;&gt;&amp;&apos;&quot;&#65;&#x42;&#x1F600;</a>`,
	`<a>&#xD800;</a>`,
	`<a>&#0;</a>`,
	`<a>&#x110000;</a>`,
	`<a>&#99999999999999999999999;</a>`,
	`<a>&#X41;</a>`,
	`<a>&lt</a>`,
	`<a>&foo;</a>`,
	"<a>x\r\ny\rz\r\r\n</a>",
	"<a b=\"x\ty\nz\r\nw&#9;&#10;&#13;\"/>",
	`<a>]]></a>`,
	`<a>]]&gt;]&#93;></a>`,
	`<a><![CDATA[<&]]>]]><![CDATA[]]>t<![CDATA[x]]></a>`,
	"<a><![CDATA[x\r\ny]]></a>",
	`<![CDATA[x]]><a/>`,
	`<a><!-- c --><!----><!-- - --></a>`,
	`<a><!-- -- --></a>`,
	`<a><!-- ---></a>`,
	"<a><!-- \x01 --></a>",
	"<a><?p \xff?></a>",
	"<a>\xff</a>",
	"<a>\x01</a>",
	"<a>\uFFFE</a>",
	"<a>\uFFFD</a>",
	`<a x="1" x="2"/>`,
	`<a xmlns:p="u" xmlns:q="u" p:x="1" q:x="2"/>`,
	`<a x="1"y="2"/>`,
	`<a x='"' y="'"/>`,
	`<a x="<"/>`,
	`<a x="&"/>`,
	`<a x=y/>`,
	`<a x/>`,
	`<p:a/>`,
	`<p:a xmlns:p="u"><b xmlns="v"><c xmlns=""/></b></p:a>`,
	`<a xmlns:p="u" p:x="1"><p:b p:y="2"/></a>`,
	`<a q:x="1"/>`,
	`<a xmlns:p=""/>`,
	`<a xmlns:xml="http://www.w3.org/XML/1998/namespace" xml:lang="en"/>`,
	`<a xmlns:xml="urn:x"/>`,
	`<a xmlns:xmlns="urn:x"/>`,
	`<a xmlns:p="http://www.w3.org/XML/1998/namespace"/>`,
	`<a xmlns="http://www.w3.org/2000/xmlns/"/>`,
	`<xmlns:a/>`,
	`<:a/>`,
	`<a:/>`,
	`<a:b:c/>`,
	`<p:1 xmlns:p="u"/>`,
	`<a xmlns:p="u"></p:a>`,
	`<a></b>`,
	`<a></a >`,
	`<a></a x>`,
	`<a>`,
	`</a>`,
	``,
	`   `,
	`<a/><b/>`,
	`<a/>text`,
	`text<a/>`,
	`<a/><!-- after --><?pi after?>` + "\n",
	`<é/>`,
	`<a·b/>`,
	`<·a/>`,
	`<a xmlns:p="u" xmlns:p="v"/>`,
	`<a xmlns="u" xmlns="v"/>`,
	`<a b = "1" />`,
	`<a\/>`,
	`<a/ >`,
	`<a><b></a></b>`,
	`<a xmlns="u"><xmlns/><b xmlns=""><xmlns/></b></a>`,
	`<xmlns xmlns="u"/>`,
	"<a>\u00e9\u4e2d\U0001F600</a>",
}

// fragments are the vocabulary TestDifferentialRandom builds documents from: markup pieces
// that byte-level mutation rarely assembles (balanced tags, declarations, references).
var fragments = []string{
	"<a", "<b", "<p:a", "<q:b", "<xmlns", "<é", ">", "/>", "</a>", "</b>", "</p:a>", "</q:b>", "</xmlns>", "</é>",
	` xmlns="u"`, ` xmlns=""`, ` xmlns:p="v"`, ` xmlns:q="v"`, ` xmlns:p=""`, ` xmlns:xml="http://www.w3.org/XML/1998/namespace"`,
	` x="1"`, ` x='2'`, ` p:x="&#9;"`, ` q:x="a&#10;b"`, ` y="a` + "\t\r\n" + `b"`, ` xml:lang="en"`, ` z="&lt;&quot;"`, ` w="<"`, `x="1"`,
	"text", " ", "\n", "\r\n", "\r", "\t", "&amp;", "&lt;", "&#65;", "&#x1F600;", "&#xD800;", "&#0;", "&bogus;", "&", "]", "]]>", "]]",
	"<![CDATA[", "<![CDATA[x]]>", "<![CDATA[\r\n]]>", "<!--", "-->", "<!-- c -->", "<!---->", "--", "<?pi", "<?pi x?>", "<?pi\r\nx\ry?>", "?>",
	`<?xml version="1.0"?>`, `<?xml version="1.0" encoding="UTF-8" standalone="no"?>`, "<?XML?>", "<!DOCTYPE a>",
	"\uFEFF", "é", "\xff", "\x01", "\uFFFE", "日本",
}

var (
	attrFragments = []string{` xmlns="u"`, ` xmlns=""`, ` xmlns:q="v"`, ` xmlns:q="w"`, ` x="1"`, ` x='2'`, ` p:x="&#9;"`, ` q:x="a&#10;b"`,
		` y="a` + "\t\r\n" + `b"`, ` xml:lang="en"`, ` z="&lt;&quot;'"`, ` é="é"`, ` xmlns:xml="http://www.w3.org/XML/1998/namespace"`}
	contentFragments = []string{"<c/>", "<p:c/>", "<q:c xmlns:q='w'/>", "<xmlns/>", `<c xmlns=""><xmlns x="1"/></c>`, `<c xmlns="w"><d/></c>`,
		"text", " ", "\n", "\r\n", "\r", "\t", "&amp;", "&lt;", "&#65;", "&#x1F600;", "]", "]>", "é日本", "\uFFFD",
		"<![CDATA[x]]>", "<![CDATA[\r\n]]>", "<![CDATA[]]>", "<!-- c -->", "<!---->", "<?pi x?>", "<?pi\r\nx\ry?>", "<?p:i?>"}
)

// pick returns a random element of list, or now and then one of all fragments (mostly errors).
func pick(rng *rand.Rand, list []string) string {
	if rng.IntN(10) == 0 {
		return fragments[rng.IntN(len(fragments))]
	}
	return list[rng.IntN(len(list))]
}

// TestDifferentialRandom runs the differential check on documents assembled from fragments
// (deterministic; XMLSCAN_RANDOM_N raises the count for a longer hunt).
func TestDifferentialRandom(t *testing.T) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("XMLSCAN_RANDOM_N")); err == nil {
		n = v
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	accepted := 0
	for i := 0; i < n; i++ {
		b.Reset()
		// Mostly well-formed skeletons with random insertions, so that many documents are accepted.
		b.WriteString([]string{"", `<?xml version="1.0"?>`, "\uFEFF"}[rng.IntN(3)])
		b.WriteString(`<a xmlns:p="v"`)
		for k := rng.IntN(4); k > 0; k-- {
			b.WriteString(pick(rng, attrFragments))
		}
		b.WriteString(`><b>`)
		for k := rng.IntN(8); k > 0; k-- {
			b.WriteString(pick(rng, contentFragments))
		}
		b.WriteString(`</b></a>`)
		if rng.IntN(4) == 0 {
			b.WriteString(pick(rng, []string{"\n", "<!-- x -->", "<?pi?>", "<c/>", "x", "<![CDATA[]]>", "\r\n"}))
		}
		checkDifferential(t, b.Bytes())
		if _, err := ourStream(t, b.Bytes()); err == nil {
			accepted++
		}
	}
	t.Logf("%d of %d random documents accepted by both", accepted, n)
	if accepted < n/20 {
		t.Errorf("only %d of %d random documents were accepted; the generator tests mostly errors", accepted, n)
	}
}
