// Package xmlscan is a fast, strict, allocation-light pull tokenizer for XML 1.0 documents with
// namespaces (Namespaces in XML 1.0), meant for WS-Management messages: small, flat SOAP envelopes
// that carry long base64 text. It replaces encoding/xml where that package's per-byte text loop
// and per-token allocations dominate a profile.
//
// # Input
//
// The input is one complete document in UTF-8 held in memory. A leading UTF-8 byte order mark is
// skipped. An XML declaration, if present, must be the first thing in the document, must declare
// version 1.0 and, if it names an encoding, UTF-8 (any letter case).
//
// # What the scanner refuses
//
// The scanner checks well-formedness as it goes and stops at the first error (a *SyntaxError;
// the error is sticky). It refuses, among others: a document type declaration (<!DOCTYPE ...>)
// or any other <! declaration; WS-Management (DSP0226) forbids DTDs in messages, and refusing
// them also rules out entity-expansion attacks. Only the five predefined entities (&lt; &gt;
// &amp; &apos; &quot;) and character references are recognised.
//
// Where encoding/xml (Decoder.Strict = true) accepts input that XML 1.0 or Namespaces in XML 1.0
// declare not well-formed, the scanner refuses it. The differential test (FuzzDifferential)
// verifies that these are the ONLY differences in acceptance; the classes are:
//
//   - <!DOCTYPE and other declarations (see above);
//   - document structure: no root element, a second root element, non-whitespace text or a CDATA
//     section outside the root element (encoding/xml's Token does not check the document
//     production at all);
//   - the XML declaration anywhere but at the start, in a syntax XML 1.0 does not allow, or
//     declaring an encoding other than UTF-8; a processing instruction target other than the
//     declaration's matching [Xx][Mm][Ll] (reserved by XML 1.0 §2.6);
//   - namespace constraints (Namespaces in XML 1.0 §3-§6): an undeclared prefix (encoding/xml
//     then reports the prefix itself as the namespace; the scanner refuses), a QName with an
//     empty prefix or local part or whose local part does not start with a name-start
//     character, the prefix xmlns on an element, xmlns:p="" (undeclaring a prefix is XML 1.1
//     only), binding the xml prefix to another URI or another prefix to the xml namespace,
//     binding the xmlns prefix or namespace;
//   - two attributes with the same expanded name (WFC: Unique Att Spec; NS §6.3), which
//     encoding/xml does not check;
//   - no whitespace between two attributes (<a x="1"y="2">; XML 1.0 production [40] requires S);
//   - a processing instruction target not followed by whitespace or ?> (<?a!b?>);
//   - invalid UTF-8 or characters outside the Char production in comments and processing
//     instructions (encoding/xml checks them only in text and attribute values);
//   - a character reference to a surrogate code point (&#xD800;), which encoding/xml turns
//     into U+FFFD; XML 1.0 WFC: Legal Character forbids it.
//
// encoding/xml also leaves an unprefixed element named xmlns in no namespace inside a default
// namespace declaration; the scanner puts it in the default namespace (Namespaces in XML 1.0 §6.2).
//
// # What the scanner reports
//
// The scanner also differs from encoding/xml in two values it reports, both as XML 1.0 requires:
// attribute values are normalized (§3.3.3: a literal tab, newline or carriage return, or a CRLF
// pair, becomes one space; the same characters written as character references are kept), and
// line ends (CRLF and lone CR) are normalized to LF in comments and processing instructions too,
// not only in text (§2.11). Adjacent text and CDATA sections are delivered as ONE CharData token.
// Whitespace outside the root element is not delivered. Namespace declarations are delivered as
// attributes in the namespace http://www.w3.org/2000/xmlns/ (the DOM convention): xmlns:p="u"
// as Prefix "xmlns", Local "p"; xmlns="u" as Prefix "", Local "xmlns".
//
// # Cost
//
// Every byte is looked at a bounded number of times, so hostile input costs time linear in its
// size (attribute uniqueness on elements with many attributes uses a map). A reused Scanner
// (Reset) allocates nothing per document in the common case; it interns namespace URIs and
// prefixes in a small bounded table. The scanner imposes no limits of its own: callers bound
// the input size and check Depth.
package xmlscan

import (
	"bytes"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// Kind is the kind of a token.
type Kind uint8

// The token kinds. A self-closing element <a/> yields a StartElement and an EndElement.
const (
	StartElement Kind = iota + 1
	EndElement
	CharData // text and CDATA sections, entity-decoded, line ends normalized; adjacent runs merged
	Comment  // the text between <!-- and -->
	ProcInst // a processing instruction, including the XML declaration (target "xml")
)

func (k Kind) String() string {
	switch k {
	case StartElement:
		return "StartElement"
	case EndElement:
		return "EndElement"
	case CharData:
		return "CharData"
	case Comment:
		return "Comment"
	case ProcInst:
		return "ProcInst"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Namespace URIs bound by definition (Namespaces in XML 1.0 §3).
const (
	XMLNamespace   = "http://www.w3.org/XML/1998/namespace"
	XMLNSNamespace = "http://www.w3.org/2000/xmlns/"
)

// Name is an element or attribute name. Prefix and Local are sub-slices of the input (valid as
// long as the input is); Space is the namespace URI the prefix (or, for an unprefixed element,
// the default namespace) is bound to, "" for none. An unprefixed attribute is in no namespace.
type Name struct {
	Prefix []byte
	Local  []byte
	Space  string
}

// Is reports whether the name is local in namespace space.
func (n Name) Is(space, local string) bool {
	return n.Space == space && string(n.Local) == local
}

// Attr is one attribute of a start element; Value is entity-decoded and normalized.
type Attr struct {
	Name  Name
	Value []byte
}

// SyntaxError is a well-formedness error at a byte offset of the input.
type SyntaxError struct {
	Offset int // byte offset of the error in the input
	Line   int // 1-based line of Offset
	Msg    string
	code   errCode
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("xml: line %d (byte %d): %s", e.Line, e.Offset, e.Msg)
}

// errCode classifies errors for the differential test: errSyntax means encoding/xml refuses
// the input too; every other code is one documented class where the scanner is stricter.
type errCode uint8

const (
	errSyntax    errCode = iota
	errDirective         // <!DOCTYPE and other declarations
	errDocument          // document production: root count, text/CDATA outside the root
	errXMLDecl           // XML declaration misplaced or malformed, reserved PI target
	errNamespace         // Namespaces in XML 1.0 constraint
	errDupAttr           // Unique Att Spec
	errAttrSpace         // no whitespace before an attribute
	errPISpace           // PI target not followed by whitespace
	errChar              // invalid UTF-8 or non-Char in a comment or PI
	errCharRef           // character reference to a surrogate
)

// Scanner tokenizes one document. The zero value is not usable; use NewScanner or Reset.
//
// Slices returned by Name, Attrs, Text and Target are valid until the next call to Next, Skip
// or Reset (some point into the input, some into buffers the scanner reuses); copy what you
// keep. Strings (Name.Space) stay valid.
type Scanner struct {
	data     []byte
	pos      int
	docStart int // 0, or 3 after a byte order mark
	tokStart int

	kind   Kind
	name   Name
	attrs  []Attr
	text   []byte
	target []byte
	depth  int

	buf  []byte // decoded text, comments, PIs
	abuf []byte // decoded attribute values of the current start element

	stack  []openElem
	binds  []binding
	scope  map[string]int32 // prefix ("" for the default namespace) -> index of innermost binding
	intern map[string]string
	dup    map[attrKey]struct{}

	pendingEnd bool
	sawRoot    bool
	tokens     int
	err        error
}

type openElem struct {
	qname  []byte
	colon  int // index of ':' in qname, -1 if none
	space  string
	nbinds int
}

type binding struct {
	prefix string
	uri    string
	prev   int32 // index of the binding this one shadows, -1 if none
}

type attrKey struct{ space, local string }

// NewScanner returns a scanner positioned before the first token of data. The scanner does not
// modify data; data must not be modified while the scanner is in use.
func NewScanner(data []byte) *Scanner {
	s := &Scanner{}
	s.Reset(data)
	return s
}

// Reset prepares s to scan data, keeping its buffers.
func (s *Scanner) Reset(data []byte) {
	*s = Scanner{
		data:   data,
		attrs:  s.attrs[:0],
		buf:    s.buf[:0],
		abuf:   s.abuf[:0],
		stack:  s.stack[:0],
		binds:  s.binds[:0],
		scope:  s.scope,
		intern: s.intern,
		dup:    s.dup,
	}
	if s.scope == nil {
		s.scope = make(map[string]int32)
	} else {
		clear(s.scope)
	}
	if s.intern == nil {
		s.intern = make(map[string]string)
	}
	if bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) {
		s.pos, s.docStart = 3, 3
	}
}

// Kind returns the kind of the current token (0 before the first Next).
func (s *Scanner) Kind() Kind { return s.kind }

// Name returns the name of the current StartElement or EndElement.
func (s *Scanner) Name() Name { return s.name }

// Attrs returns the attributes of the current StartElement in document order, namespace
// declarations included (see the package comment).
func (s *Scanner) Attrs() []Attr { return s.attrs }

// Attr returns the value of the current StartElement's attribute local in namespace space
// ("" for an unprefixed attribute).
func (s *Scanner) Attr(space, local string) ([]byte, bool) {
	for i := range s.attrs {
		if s.attrs[i].Name.Is(space, local) {
			return s.attrs[i].Value, true
		}
	}
	return nil, false
}

// Text returns the decoded text of a CharData token, the content of a Comment, or the
// instruction of a ProcInst (after the target and the whitespace that follows it).
func (s *Scanner) Text() []byte { return s.text }

// Target returns the target of a ProcInst token.
func (s *Scanner) Target() []byte { return s.target }

// Depth returns the nesting depth of the current token: 1 for the root's StartElement and
// EndElement, 2 for its children's, and the number of enclosing elements for other tokens
// (0 outside the root).
func (s *Scanner) Depth() int { return s.depth }

// Offset returns the byte offset in the input where the current token starts.
func (s *Scanner) Offset() int { return s.tokStart }

// Next advances to the next token and returns its kind. After the root element's end it returns
// io.EOF once only whitespace, comments and processing instructions follow. Any other error is
// a *SyntaxError, and is returned again by every later call.
func (s *Scanner) Next() (Kind, error) {
	if s.err != nil {
		return 0, s.err
	}
	s.kind, s.name, s.text, s.target, s.attrs = 0, Name{}, nil, nil, s.attrs[:0]
	if s.pendingEnd {
		s.pendingEnd = false
		s.popElement()
		return EndElement, nil
	}
	var err error
	if len(s.stack) == 0 {
		s.skipSpace()
		s.tokStart = s.pos
		if s.pos >= len(s.data) {
			if !s.sawRoot {
				return 0, s.fail(s.pos, errDocument, "no root element")
			}
			s.err = io.EOF
			return 0, io.EOF
		}
		if s.data[s.pos] != '<' {
			return 0, s.fail(s.pos, errDocument, "text outside the root element")
		}
		err = s.markup()
	} else {
		s.tokStart = s.pos
		switch {
		case s.pos >= len(s.data):
			top := s.stack[len(s.stack)-1]
			return 0, s.fail(s.pos, errSyntax, "unexpected end of input: element <"+string(top.qname)+"> not closed")
		case s.data[s.pos] != '<' || bytes.HasPrefix(s.data[s.pos:], cdataOpen):
			err = s.charData()
		default:
			err = s.markup()
		}
	}
	if err != nil {
		return 0, err
	}
	s.tokens++
	return s.kind, nil
}

// Skip, called after a StartElement, consumes everything up to and including the matching
// EndElement. Called after any other token it does nothing.
func (s *Scanner) Skip() error {
	if s.kind != StartElement {
		return nil
	}
	for depth := 1; depth > 0; {
		k, err := s.Next()
		if err != nil {
			return err
		}
		switch k {
		case StartElement:
			depth++
		case EndElement:
			depth--
		}
	}
	return nil
}

var cdataOpen = []byte("<![CDATA[")

func (s *Scanner) fail(off int, code errCode, msg string) error {
	if off > len(s.data) {
		off = len(s.data)
	}
	s.err = &SyntaxError{Offset: off, Line: 1 + bytes.Count(s.data[:off], []byte{'\n'}), Msg: msg, code: code}
	return s.err
}

func (s *Scanner) eof() error {
	return s.fail(len(s.data), errSyntax, "unexpected end of input")
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace skips XML whitespace and reports whether there was any.
func (s *Scanner) skipSpace() bool {
	p := s.pos
	for p < len(s.data) && isSpace(s.data[p]) {
		p++
	}
	had := p > s.pos
	s.pos = p
	return had
}

// markup scans a token starting with '<' at s.pos.
func (s *Scanner) markup() error {
	d, p := s.data, s.pos
	if p+1 >= len(d) {
		return s.eof()
	}
	switch d[p+1] {
	case '/':
		return s.endTag()
	case '?':
		return s.procInst()
	case '!':
		if bytes.HasPrefix(d[p:], []byte("<!--")) {
			return s.comment()
		}
		if bytes.HasPrefix(d[p:], cdataOpen) {
			return s.fail(p, errDocument, "CDATA section outside the root element")
		}
		return s.fail(p, errDirective, "<! declarations (DOCTYPE, ENTITY, ...) are not supported: WS-Management forbids DTDs")
	}
	return s.startTag()
}

// Character classes for the fast loops.
const (
	clsName  = 1 << iota // ASCII NameChar
	clsStart             // ASCII NameStartChar
	clsText              // stops the text loop
	clsAttr              // stops the attribute value loop
	clsBody              // stops the comment/PI validation loop
)

var class [256]uint8

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		var k uint8
		if 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || b == '_' || b == ':' {
			k |= clsName | clsStart
		}
		if '0' <= b && b <= '9' || b == '-' || b == '.' {
			k |= clsName
		}
		if b >= 0x80 || b < 0x20 && b != '\t' && b != '\n' {
			k |= clsText | clsAttr | clsBody // \r is < 0x20 and not excluded: all three stop on it
		}
		if b == '\t' || b == '\n' {
			k |= clsAttr
		}
		switch b {
		case '<', '&', ']':
			k |= clsText
		}
		switch b {
		case '<', '&', '"', '\'':
			k |= clsAttr
		}
		class[c] = k
	}
}

// isChar reports whether r matches XML 1.0 production [2] Char.
func isChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// rune decodes a non-ASCII or control character at p and checks it is a Char.
func (s *Scanner) char(p int, code errCode) (int, error) {
	c := s.data[p]
	if c < 0x80 {
		if c == '\t' || c == '\n' || c == '\r' || c >= 0x20 {
			return 1, nil
		}
		return 0, s.fail(p, code, fmt.Sprintf("illegal character %U", rune(c)))
	}
	r, n := utf8.DecodeRune(s.data[p:])
	if r == utf8.RuneError && n == 1 {
		return 0, s.fail(p, code, "invalid UTF-8")
	}
	if !isChar(r) {
		return 0, s.fail(p, code, fmt.Sprintf("illegal character %U", r))
	}
	return n, nil
}

// readName scans an XML Name (with the letter tables encoding/xml uses) at s.pos and returns it
// with the index of its first colon (-1 if none) and the number of colons.
func (s *Scanner) readName() (name []byte, colon, colons int, err error) {
	d, p := s.data, s.pos
	start := p
	colon = -1
	first := true
	for p < len(d) {
		c := d[p]
		if c < utf8.RuneSelf {
			k := class[c]
			if first && k&clsStart == 0 || k&clsName == 0 {
				break
			}
			if c == ':' {
				if colon < 0 {
					colon = p - start
				}
				colons++
			}
			p++
		} else {
			r, n := utf8.DecodeRune(d[p:])
			if r == utf8.RuneError && n == 1 {
				return nil, 0, 0, s.fail(p, errSyntax, "invalid UTF-8 in name")
			}
			if !unicode.Is(nameStart, r) && (first || !unicode.Is(nameRest, r)) {
				if first {
					break
				}
				return nil, 0, 0, s.fail(p, errSyntax, fmt.Sprintf("invalid character %U in name", r))
			}
			p += n
		}
		first = false
	}
	if p == start {
		if p >= len(d) {
			return nil, 0, 0, s.eof()
		}
		return nil, 0, 0, s.fail(p, errSyntax, "expected a name")
	}
	s.pos = p
	return d[start:p], colon, colons, nil
}

// readQName scans a name and checks it is a QName (Namespaces in XML 1.0 §4).
func (s *Scanner) readQName() (name []byte, colon int, err error) {
	start := s.pos
	name, colon, colons, err := s.readName()
	if err != nil {
		return nil, 0, err
	}
	switch {
	case colons > 1:
		return nil, 0, s.fail(start, errSyntax, "name "+string(name)+" has more than one colon")
	case colons == 1 && (colon == 0 || colon == len(name)-1):
		return nil, 0, s.fail(start, errNamespace, "name "+string(name)+" has an empty prefix or local part")
	case colons == 1:
		local := name[colon+1:]
		if c := local[0]; c < utf8.RuneSelf && class[c]&clsStart == 0 {
			return nil, 0, s.fail(start, errNamespace, "local part of "+string(name)+" does not start with a letter or _")
		} else if c >= utf8.RuneSelf {
			if r, _ := utf8.DecodeRune(local); !unicode.Is(nameStart, r) {
				return nil, 0, s.fail(start, errNamespace, "local part of "+string(name)+" does not start with a letter or _")
			}
		}
	}
	return name, colon, nil
}

func (s *Scanner) internString(b []byte) string {
	if v, ok := s.intern[string(b)]; ok {
		return v
	}
	v := string(b)
	if len(s.intern) < 256 {
		s.intern[v] = v
	}
	return v
}

func (s *Scanner) lookup(prefix []byte) (string, bool) {
	i, ok := s.scope[string(prefix)]
	if !ok {
		return "", false
	}
	return s.binds[i].uri, true
}

func (s *Scanner) startTag() error {
	d := s.data
	lt := s.pos
	if s.sawRoot && len(s.stack) == 0 {
		return s.fail(lt, errDocument, "a second root element")
	}
	s.pos++
	qname, colon, err := s.readQName()
	if err != nil {
		return err
	}
	s.abuf = s.abuf[:0]
	selfClose := false
	for {
		sp := s.skipSpace()
		if s.pos >= len(d) {
			return s.eof()
		}
		c := d[s.pos]
		if c == '>' {
			s.pos++
			break
		}
		if c == '/' {
			if s.pos+1 < len(d) && d[s.pos+1] == '>' {
				s.pos += 2
				selfClose = true
				break
			}
			return s.fail(s.pos, errSyntax, "expected /> in element")
		}
		if !sp {
			if class[c]&clsStart != 0 || c >= utf8.RuneSelf {
				return s.fail(s.pos, errAttrSpace, "no whitespace before attribute")
			}
			return s.fail(s.pos, errSyntax, "unexpected character in element")
		}
		aname, acolon, err := s.readQName()
		if err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(d) {
			return s.eof()
		}
		if d[s.pos] != '=' {
			return s.fail(s.pos, errSyntax, "attribute "+string(aname)+" without =")
		}
		s.pos++
		s.skipSpace()
		if s.pos >= len(d) {
			return s.eof()
		}
		q := d[s.pos]
		if q != '"' && q != '\'' {
			return s.fail(s.pos, errSyntax, "unquoted attribute value")
		}
		s.pos++
		val, err := s.attrValue(q)
		if err != nil {
			return err
		}
		a := Attr{Value: val}
		if acolon >= 0 {
			a.Name.Prefix, a.Name.Local = aname[:acolon], aname[acolon+1:]
		} else {
			a.Name.Local = aname
		}
		s.attrs = append(s.attrs, a)
	}

	// Namespace declarations first: they apply to the element's own name and attributes.
	nbinds := len(s.binds)
	for i := range s.attrs {
		a := &s.attrs[i]
		switch {
		case len(a.Name.Prefix) == 0 && string(a.Name.Local) == "xmlns":
			a.Name.Space = XMLNSNamespace
			if reservedNS(a.Value) {
				return s.fail(lt, errNamespace, "the default namespace cannot be "+string(a.Value))
			}
			s.bind(nil, a.Value)
		case string(a.Name.Prefix) == "xmlns":
			a.Name.Space = XMLNSNamespace
			switch p := a.Name.Local; {
			case string(p) == "xmlns":
				return s.fail(lt, errNamespace, "the prefix xmlns cannot be declared")
			case string(p) == "xml":
				if string(a.Value) != XMLNamespace {
					return s.fail(lt, errNamespace, "the prefix xml cannot be bound to another namespace")
				}
				continue // bound by definition
			case len(a.Value) == 0:
				return s.fail(lt, errNamespace, "xmlns:"+string(p)+`="" (undeclaring a prefix) is not allowed in XML 1.0`)
			case reservedNS(a.Value):
				return s.fail(lt, errNamespace, "prefix "+string(p)+" cannot be bound to "+string(a.Value))
			}
			s.bind(a.Name.Local, a.Value)
		}
	}
	name := Name{Local: qname}
	if colon >= 0 {
		name.Prefix, name.Local = qname[:colon], qname[colon+1:]
	}
	switch string(name.Prefix) {
	case "xml":
		name.Space = XMLNamespace
	case "xmlns":
		return s.fail(lt, errNamespace, "element "+string(qname)+" uses the reserved prefix xmlns")
	default:
		uri, ok := s.lookup(name.Prefix)
		if !ok && colon >= 0 {
			return s.fail(lt, errNamespace, "element "+string(qname)+": prefix "+string(name.Prefix)+" is not declared")
		}
		name.Space = uri
	}
	for i := range s.attrs {
		a := &s.attrs[i]
		if a.Name.Space != "" || len(a.Name.Prefix) == 0 {
			continue
		}
		if string(a.Name.Prefix) == "xml" {
			a.Name.Space = XMLNamespace
			continue
		}
		uri, ok := s.lookup(a.Name.Prefix)
		if !ok {
			return s.fail(lt, errNamespace, "attribute "+string(a.Name.Prefix)+":"+string(a.Name.Local)+": prefix "+string(a.Name.Prefix)+" is not declared")
		}
		a.Name.Space = uri
	}
	if err := s.checkUnique(lt); err != nil {
		return err
	}

	s.stack = append(s.stack, openElem{qname: qname, colon: colon, space: name.Space, nbinds: nbinds})
	s.sawRoot = true
	s.kind, s.name, s.depth = StartElement, name, len(s.stack)
	s.pendingEnd = selfClose
	return nil
}

func reservedNS(uri []byte) bool {
	return string(uri) == XMLNamespace || string(uri) == XMLNSNamespace
}

func (s *Scanner) bind(prefix, uri []byte) {
	b := binding{prefix: s.internString(prefix), uri: s.internString(uri), prev: -1}
	if i, ok := s.scope[b.prefix]; ok {
		b.prev = i
	}
	s.scope[b.prefix] = int32(len(s.binds))
	s.binds = append(s.binds, b)
}

func (s *Scanner) checkUnique(lt int) error {
	as := s.attrs
	if len(as) <= 16 {
		for i := 1; i < len(as); i++ {
			for j := 0; j < i; j++ {
				if as[i].Name.Space == as[j].Name.Space && bytes.Equal(as[i].Name.Local, as[j].Name.Local) {
					return s.dupErr(lt, as[i].Name)
				}
			}
		}
		return nil
	}
	if s.dup == nil {
		s.dup = make(map[attrKey]struct{}, len(as))
	}
	defer clear(s.dup)
	for i := range as {
		k := attrKey{as[i].Name.Space, string(as[i].Name.Local)}
		if _, ok := s.dup[k]; ok {
			return s.dupErr(lt, as[i].Name)
		}
		s.dup[k] = struct{}{}
	}
	return nil
}

func (s *Scanner) dupErr(lt int, n Name) error {
	q := string(n.Local)
	if len(n.Prefix) > 0 {
		q = string(n.Prefix) + ":" + q
	}
	return s.fail(lt, errDupAttr, "attribute "+q+" repeated (same namespace and local name)")
}

func (s *Scanner) popElement() {
	top := s.stack[len(s.stack)-1]
	s.kind, s.depth = EndElement, len(s.stack)
	s.name = Name{Local: top.qname, Space: top.space}
	if top.colon >= 0 {
		s.name.Prefix, s.name.Local = top.qname[:top.colon], top.qname[top.colon+1:]
	}
	for i := len(s.binds) - 1; i >= top.nbinds; i-- {
		b := s.binds[i]
		if b.prev < 0 {
			delete(s.scope, b.prefix)
		} else {
			s.scope[b.prefix] = b.prev
		}
	}
	s.binds = s.binds[:top.nbinds]
	s.stack = s.stack[:len(s.stack)-1]
}

func (s *Scanner) endTag() error {
	d, lt := s.data, s.pos
	if len(s.stack) == 0 {
		return s.fail(lt, errSyntax, "end tag without a start tag")
	}
	top := s.stack[len(s.stack)-1]
	p := lt + 2
	if !bytes.HasPrefix(d[p:], top.qname) {
		return s.fail(lt, errSyntax, "element <"+string(top.qname)+"> closed by another end tag")
	}
	p += len(top.qname)
	for p < len(d) && isSpace(d[p]) {
		p++
	}
	if p >= len(d) {
		return s.eof()
	}
	if d[p] != '>' {
		return s.fail(lt, errSyntax, "element <"+string(top.qname)+"> closed by another end tag")
	}
	s.pos = p + 1
	s.popElement()
	return nil
}

// body validates the characters of a comment or PI body d[from:to] and returns it with line
// ends normalized (a sub-slice of the input when there is no CR).
func (s *Scanner) body(from, to int) ([]byte, error) {
	d := s.data
	cr := false
	for p := from; p < to; {
		c := d[p]
		if class[c]&clsBody == 0 {
			p++
			continue
		}
		if c == '\r' {
			cr = true
		}
		n, err := s.char(p, errChar)
		if err != nil {
			return nil, err
		}
		p += n
	}
	if !cr {
		return d[from:to], nil
	}
	s.buf = s.buf[:0]
	for p := from; p < to; p++ {
		switch c := d[p]; {
		case c != '\r':
			s.buf = append(s.buf, c)
		case p+1 < to && d[p+1] == '\n':
		default:
			s.buf = append(s.buf, '\n')
		}
	}
	return s.buf, nil
}

func (s *Scanner) comment() error {
	d, lt := s.data, s.pos
	from := lt + 4
	i := bytes.Index(d[from:], []byte("--"))
	if i < 0 {
		return s.eof()
	}
	to := from + i
	if to+2 >= len(d) {
		return s.eof()
	}
	if d[to+2] != '>' {
		return s.fail(to, errSyntax, `"--" inside a comment`)
	}
	text, err := s.body(from, to)
	if err != nil {
		return err
	}
	s.pos = to + 3
	s.kind, s.text, s.depth = Comment, text, len(s.stack)
	return nil
}

func (s *Scanner) procInst() error {
	d, lt := s.data, s.pos
	s.pos = lt + 2
	target, _, _, err := s.readName()
	if err != nil {
		return err
	}
	isDecl := false
	if len(target) == 3 && (target[0]|0x20) == 'x' && (target[1]|0x20) == 'm' && (target[2]|0x20) == 'l' {
		if string(target) != "xml" || lt != s.docStart || s.tokens != 0 {
			return s.fail(lt, errXMLDecl, "processing instruction target "+string(target)+" is reserved (an XML declaration must start the document)")
		}
		isDecl = true
	}
	var text []byte
	if bytes.HasPrefix(d[s.pos:], []byte("?>")) {
		s.pos += 2
		text = d[s.pos-2 : s.pos-2]
	} else {
		if !s.skipSpace() {
			if s.pos >= len(d) {
				return s.eof()
			}
			return s.fail(s.pos, errPISpace, "processing instruction target not followed by whitespace")
		}
		i := bytes.Index(d[s.pos:], []byte("?>"))
		if i < 0 {
			return s.eof()
		}
		if text, err = s.body(s.pos, s.pos+i); err != nil {
			return err
		}
		s.pos += i + 2
	}
	if isDecl {
		if msg := checkXMLDecl(text); msg != "" {
			return s.fail(lt, errXMLDecl, msg)
		}
	}
	s.kind, s.target, s.text, s.depth = ProcInst, target, text, len(s.stack)
	return nil
}

// checkXMLDecl checks the content of <?xml ...?> against XML 1.0 production [23] XMLDecl,
// accepting only version 1.0 and the UTF-8 encoding.
func checkXMLDecl(b []byte) string {
	const bad = "malformed XML declaration"
	// pseudo-attribute parses ` name = "value"` (the leading S already consumed for the first).
	attr := func(b []byte, name string) (val, rest []byte, ok bool) {
		if !bytes.HasPrefix(b, []byte(name)) {
			return nil, b, false
		}
		b = bytes.TrimLeft(b[len(name):], " \t\n\r")
		if len(b) == 0 || b[0] != '=' {
			return nil, nil, false
		}
		b = bytes.TrimLeft(b[1:], " \t\n\r")
		if len(b) == 0 || b[0] != '"' && b[0] != '\'' {
			return nil, nil, false
		}
		end := bytes.IndexByte(b[1:], b[0])
		if end < 0 {
			return nil, nil, false
		}
		return b[1 : 1+end], b[2+end:], true
	}
	v, rest, ok := attr(b, "version")
	if !ok {
		return bad + ": version must come first"
	}
	if string(v) != "1.0" {
		return fmt.Sprintf("XML version %q not supported (only 1.0)", v)
	}
	for _, name := range []string{"encoding", "standalone"} {
		t := bytes.TrimLeft(rest, " \t\n\r")
		if len(t) == len(rest) {
			break // no S: nothing more may follow
		}
		val, r, ok := attr(t, name)
		if !ok {
			continue
		}
		switch name {
		case "encoding":
			if !bytes.EqualFold(val, []byte("UTF-8")) {
				return fmt.Sprintf("encoding %q not supported (the input must be UTF-8)", val)
			}
		case "standalone":
			if string(val) != "yes" && string(val) != "no" {
				return bad + `: standalone must be "yes" or "no"`
			}
		}
		rest = r
	}
	if len(bytes.TrimLeft(rest, " \t\n\r")) != 0 {
		return bad
	}
	return ""
}

// ref decodes the reference starting with '&' at p, appending it to dst.
func (s *Scanner) ref(dst []byte, p int) ([]byte, int, error) {
	d := s.data
	q := p + 1
	if q < len(d) && d[q] == '#' {
		q++
		hex := q < len(d) && d[q] == 'x'
		if hex {
			q++
		}
		digits := q
		var v rune
		for ; q < len(d); q++ {
			c := d[q]
			var x rune
			switch {
			case '0' <= c && c <= '9':
				x = rune(c - '0')
			case hex && 'a' <= c && c <= 'f':
				x = rune(c-'a') + 10
			case hex && 'A' <= c && c <= 'F':
				x = rune(c-'A') + 10
			default:
				x = -1
			}
			if x < 0 {
				break
			}
			if v <= unicode.MaxRune {
				if hex {
					v = v*16 + x
				} else {
					v = v*10 + x
				}
			}
		}
		if q == digits || q >= len(d) || d[q] != ';' {
			return nil, 0, s.fail(p, errSyntax, "malformed character reference")
		}
		if 0xD800 <= v && v <= 0xDFFF {
			return nil, 0, s.fail(p, errCharRef, fmt.Sprintf("character reference to surrogate %U", v))
		}
		if !isChar(v) {
			return nil, 0, s.fail(p, errSyntax, "character reference to an illegal character")
		}
		return utf8.AppendRune(dst, v), q + 1, nil
	}
	rest := d[q:]
	for _, e := range [...]struct {
		name string
		c    byte
	}{{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"apos;", '\''}, {"quot;", '"'}} {
		if bytes.HasPrefix(rest, []byte(e.name)) {
			return append(dst, e.c), q + len(e.name), nil
		}
	}
	return nil, 0, s.fail(p, errSyntax, "unknown entity or malformed reference (only &lt; &gt; &amp; &apos; &quot; and character references are allowed)")
}

// attrValue scans an attribute value after its opening quote q, returning it decoded and
// normalized (a sub-slice of the input when nothing changed, else a slice of s.abuf).
func (s *Scanner) attrValue(q byte) ([]byte, error) {
	d := s.data
	start := s.pos
	p := start
	copied := false // value is being built at s.abuf[mark:]
	mark := len(s.abuf)
	for {
		for p < len(d) && class[d[p]]&clsAttr == 0 {
			p++
		}
		if p >= len(d) {
			return nil, s.eof()
		}
		c := d[p]
		if c == q {
			s.pos = p + 1
			if !copied {
				return d[start:p], nil
			}
			s.abuf = append(s.abuf, d[start:p]...)
			return s.abuf[mark:len(s.abuf):len(s.abuf)], nil
		}
		switch c {
		case '"', '\'':
			p++
			continue
		case '<':
			return nil, s.fail(p, errSyntax, "< in attribute value")
		}
		if c >= utf8.RuneSelf || c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			n, err := s.char(p, errSyntax)
			if err != nil {
				return nil, err
			}
			p += n
			continue
		}
		// A change: '&', '\t', '\n' or '\r'.
		s.abuf = append(s.abuf, d[start:p]...)
		copied = true
		switch c {
		case '&':
			var err error
			if s.abuf, p, err = s.ref(s.abuf, p); err != nil {
				return nil, err
			}
		case '\r':
			s.abuf = append(s.abuf, ' ')
			p++
			if p < len(d) && d[p] == '\n' {
				p++
			}
		default:
			s.abuf = append(s.abuf, ' ')
			p++
		}
		start = p
	}
}

// charData scans text and CDATA sections up to the next other markup or the end of input.
func (s *Scanner) charData() error {
	d := s.data
	p := s.pos
	start := p
	var out []byte
	state := 0 // 0: nothing yet; 1: out is a sub-slice of d; 2: out is s.buf
	add := func(b []byte) {
		switch {
		case len(b) == 0:
		case state == 0:
			out, state = b, 1
		case state == 1:
			s.buf = append(append(s.buf[:0], out...), b...)
			state = 2
		default:
			s.buf = append(s.buf, b...)
		}
	}
	toBuf := func() {
		switch state {
		case 0:
			s.buf = s.buf[:0]
		case 1:
			s.buf = append(s.buf[:0], out...)
		}
		state = 2
	}
	for {
		for p < len(d) && class[d[p]]&clsText == 0 {
			p++
		}
		if p >= len(d) {
			add(d[start:p])
			break
		}
		c := d[p]
		if c == '<' {
			if !bytes.HasPrefix(d[p:], cdataOpen) {
				add(d[start:p])
				break
			}
			add(d[start:p])
			from := p + len(cdataOpen)
			i := bytes.Index(d[from:], []byte("]]>"))
			if i < 0 {
				return s.eof()
			}
			to := from + i
			for q := from; q < to; {
				if c := d[q]; c >= 0x20 && c < utf8.RuneSelf || c == '\t' || c == '\n' {
					q++
					continue
				}
				if d[q] == '\r' {
					add(d[from:q])
					toBuf()
					s.buf = append(s.buf, '\n')
					q++
					if q < to && d[q] == '\n' {
						q++
					}
					from = q
					continue
				}
				n, err := s.char(q, errSyntax)
				if err != nil {
					return err
				}
				q += n
			}
			add(d[from:to])
			if state == 0 {
				out, state = d[to:to], 1 // an empty CDATA section is still a CharData token
			}
			p = to + 3
			start = p
			continue
		}
		switch c {
		case ']':
			if bytes.HasPrefix(d[p:], []byte("]]>")) {
				return s.fail(p, errSyntax, "]]> in text")
			}
			p++
			continue
		case '&':
			add(d[start:p])
			toBuf()
			var err error
			if s.buf, p, err = s.ref(s.buf, p); err != nil {
				return err
			}
			start = p
			continue
		case '\r':
			add(d[start:p])
			toBuf()
			s.buf = append(s.buf, '\n')
			p++
			if p < len(d) && d[p] == '\n' {
				p++
			}
			start = p
			continue
		}
		n, err := s.char(p, errSyntax)
		if err != nil {
			return err
		}
		p += n
	}
	s.pos = p
	if state == 2 {
		out = s.buf
	}
	s.kind, s.text, s.depth = CharData, out, len(s.stack)
	return nil
}
