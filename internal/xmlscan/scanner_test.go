package xmlscan

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// seed reads one file of the fuzz seed corpus (go test fuzz v1, one []byte value).
func seed(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzDifferential", name))
	if err != nil {
		t.Fatal(err)
	}
	_, v, ok := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if !ok || !strings.HasPrefix(v, "[]byte(") || !strings.HasSuffix(v, ")") {
		t.Fatalf("%s: not a one-value fuzz file", name)
	}
	s, err := strconv.Unquote(v[len("[]byte(") : len(v)-1])
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}

// aliases reports whether b points into data (no copy was made).
func aliases(b, data []byte) bool {
	if len(b) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&data[0]))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(data))
}

const nsShell = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"

func TestReceiveReply(t *testing.T) {
	data := seed(t, "windows_receive_reply")
	s := NewScanner(data)
	var streams, base64Bytes int
	var exit string
	for {
		k, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if k != StartElement {
			continue
		}
		switch n := s.Name(); {
		case n.Is(nsShell, "Stream"):
			if string(n.Prefix) != "rsp" {
				t.Errorf("prefix %q", n.Prefix)
			}
			name, ok := s.Attr("", "Name")
			if !ok || (string(name) != "stdout" && string(name) != "stderr") {
				t.Errorf("Stream Name = %q, %v", name, ok)
			}
			streams++
			if k, _ = s.Next(); k == CharData {
				base64Bytes += len(s.Text())
				if !aliases(s.Text(), data) {
					t.Error("base64 text was copied; want a sub-slice of the input")
				}
			}
		case n.Is(nsShell, "ExitCode"):
			if _, err := s.Next(); err != nil {
				t.Fatal(err)
			}
			exit = string(s.Text())
		case n.Is(nsShell, "CommandState"):
			if st, _ := s.Attr("", "State"); !strings.HasSuffix(string(st), "/Done") {
				t.Errorf("State = %q", st)
			}
		}
	}
	if streams != 6 || base64Bytes != 4*2048 || exit != "0" {
		t.Errorf("streams %d, base64 bytes %d, exit %q; want 6, 8192, 0", streams, base64Bytes, exit)
	}
}

// tokens renders every token of a document compactly for table tests.
func tokens(data string) (string, error) {
	s := NewScanner([]byte(data))
	var b strings.Builder
	for {
		k, err := s.Next()
		if err == io.EOF {
			return b.String(), nil
		}
		if err != nil {
			return b.String(), err
		}
		switch k {
		case StartElement:
			b.WriteString("<{" + s.Name().Space + "}" + string(s.Name().Local))
			for _, a := range s.Attrs() {
				b.WriteString(" {" + a.Name.Space + "}" + string(a.Name.Local) + "=" + strconv.Quote(string(a.Value)))
			}
			b.WriteString(">")
		case EndElement:
			b.WriteString("</" + string(s.Name().Local) + ">")
		case CharData:
			b.WriteString(strconv.Quote(string(s.Text())))
		case Comment:
			b.WriteString("<!--" + string(s.Text()) + "-->")
		case ProcInst:
			b.WriteString("<?" + string(s.Target()) + "|" + string(s.Text()) + "?>")
		}
	}
}

func TestTokens(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`<a>x&lt;&#65;&#x1F600;y</a>`, `<{}a>"x<A😀y"</a>`},
		{"<a>1\r\n2\r3\r\r\n</a>", `<{}a>"1\n2\n3\n\n"</a>`},
		{`<a>t<![CDATA[<&>]]>u<![CDATA[]]></a>`, `<{}a>"t<&>u"</a>`},
		{`<a><![CDATA[]]></a>`, `<{}a>""</a>`},
		{`<a>t<!--c-->u</a>`, `<{}a>"t"<!--c-->"u"</a>`},
		{"<a b=\"x\ty\nz\r\nw&#9;&#10;\"/>", `<{}a {}b="x y z w\t\n"></a>`},
		{`<p:a xmlns:p="u" xmlns="d" p:x="1" y="2"><b/></p:a>`,
			`<{u}a {http://www.w3.org/2000/xmlns/}p="u" {http://www.w3.org/2000/xmlns/}xmlns="d" {u}x="1" {}y="2"><{d}b></b></a>`},
		{`<a xmlns="d"><b xmlns=""/><c/></a>`, `<{d}a {http://www.w3.org/2000/xmlns/}xmlns="d"><{}b {http://www.w3.org/2000/xmlns/}xmlns=""></b><{d}c></c></a>`},
		{`<a xmlns:p="u"><p:b xmlns:p="v"/><p:c/></a>`, `<{}a {http://www.w3.org/2000/xmlns/}p="u"><{v}b {http://www.w3.org/2000/xmlns/}p="v"></b><{u}c></c></a>`},
		{`<a xml:lang="en"/>`, `<{}a {http://www.w3.org/XML/1998/namespace}lang="en"></a>`},
		{"\uFEFF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!--x-->\n<a/>\n<?pi x\r\ny?><?e ?>  ", `<?xml|version="1.0" encoding="UTF-8"?><!--x--><{}a></a><?pi|x` + "\n" + `y?><?e|?>`},
	} {
		got, err := tokens(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%q:\n got %s (%v)\nwant %s", tc.in, got, err, tc.want)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		in        string
		code      errCode
		line, off int
	}{
		{"<!DOCTYPE a><a/>", errDirective, 1, 0},
		{"<a>\n<!ENTITY x 'y'></a>", errDirective, 2, 4},
		{"<a/>\n<b/>", errDocument, 2, 5},
		{"<a>\n\n&bogus;</a>", errSyntax, 3, 5},
		{"<a>\n<p:b/></a>", errNamespace, 2, 4},
		{`<a x="1" x="2"/>`, errDupAttr, 1, 0},
		{"<a></b>", errSyntax, 1, 3},
		{"<a>", errSyntax, 1, 3},
	} {
		_, err := tokens(tc.in)
		var se *SyntaxError
		if !errors.As(err, &se) || se.code != tc.code || se.Line != tc.line || se.Offset != tc.off {
			t.Errorf("%q: got %#v, want code %d at line %d offset %d", tc.in, err, tc.code, tc.line, tc.off)
		}
	}
}

func TestSkipAndDepth(t *testing.T) {
	s := NewScanner([]byte(`<r><skip><x><y/>t</x><!--c--></skip><keep a="1"/></r>`))
	var got []string
	for {
		k, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if k == StartElement && string(s.Name().Local) == "skip" {
			if err := s.Skip(); err != nil {
				t.Fatal(err)
			}
			if s.Kind() != EndElement || string(s.Name().Local) != "skip" || s.Depth() != 2 {
				t.Fatalf("after Skip: %v %s depth %d", s.Kind(), s.Name().Local, s.Depth())
			}
			continue
		}
		got = append(got, k.String()+":"+string(s.Name().Local)+":"+strconv.Itoa(s.Depth()))
	}
	want := "StartElement:r:1 StartElement:keep:2 EndElement:keep:2 EndElement:r:1"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v\nwant %s", got, want)
	}
}

// TestReuseAllocs checks a reused scanner allocates nothing per document on real messages
// (text needing decoding included: the pywinrm request has entities and CRLF line ends).
func TestReuseAllocs(t *testing.T) {
	docs := [][]byte{seed(t, "windows_receive_reply"), seed(t, "masterzen_send"), seed(t, "pywinrm_command")}
	var s Scanner
	scan := func() {
		for _, d := range docs {
			s.Reset(d)
			for {
				if _, err := s.Next(); err != nil {
					if err != io.EOF {
						t.Fatal(err)
					}
					break
				}
			}
		}
	}
	scan()
	if n := testing.AllocsPerRun(20, scan); n != 0 {
		t.Errorf("%v allocations per run of 3 documents; want 0", n)
	}
}

// TestSeedsAgreeWithEncodingXML is the differential check over the whole seed corpus, stated
// separately so that a plain `go test` names it; FuzzDifferential runs the same corpus too.
func TestSeedsAgreeWithEncodingXML(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDifferential", "*"))
	if err != nil || len(files) < 20 {
		t.Fatalf("seed corpus: %d files, %v", len(files), err)
	}
	accepted := 0
	for _, f := range files {
		data := seed(t, filepath.Base(f))
		checkDifferential(t, data)
		if err := xml.Unmarshal(data, new(struct{})); err == nil {
			if _, err := tokens(string(data)); err == nil {
				accepted++
			}
		}
	}
	if accepted < 20 {
		t.Errorf("only %d seeds are accepted by both parsers; the corpus should be mostly real messages", accepted)
	}
}

func TestAttrValueSurvivesLaterAttrs(t *testing.T) {
	// Values decoded into the scanner's buffer must not be overwritten by later attributes.
	var b bytes.Buffer
	b.WriteString("<a")
	for i := 0; i < 40; i++ {
		b.WriteString(" a" + strconv.Itoa(i) + `="v&amp;` + strings.Repeat("x", i*10) + `"`)
	}
	b.WriteString("/>")
	s := NewScanner(b.Bytes())
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	for i, a := range s.Attrs() {
		if want := "v&" + strings.Repeat("x", i*10); string(a.Value) != want {
			t.Fatalf("attr %d = %q, want %q", i, a.Value, want)
		}
	}
}
