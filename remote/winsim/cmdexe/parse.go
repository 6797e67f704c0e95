package cmdexe

import (
	"strconv"
	"strings"
)

// The parse tree of one command line. cmd.exe's precedence, loosest first: '&', '||', '&&', '|'
// (verified against Windows by Wine's programs/cmd/tests/test_builtins.cmd "Testing chains":
// "echo k1||echo k2&&echo k3" prints only k1). An IF takes the whole rest of the chain at its
// bracket depth as its body; ELSE is recognised only right after a parenthesised group.

type node interface{ isNode() }

type opKind int

const (
	opAmp opKind = iota // &
	opAnd               // &&
	opOr                // ||
)

type seqNode struct {
	op          opKind
	left, right node
}

type groupNode struct {
	body   node
	redirs []redir
}

type ifKind int

const (
	ifErrorlevel ifKind = iota
	ifExist
	ifDefined
	ifCmdExtVersion
	ifCompare
)

type ifNode struct {
	kind           ifKind
	not, ci        bool
	level          int    // errorlevel / cmdextversion operand
	a, b           string // compare operands (quotes kept), variable name, or resolved path
	device         bool   // exist operand is the NUL device
	body, elseBody node
}

type remNode struct{}

type cmdKind int

const (
	kExternal cmdKind = iota
	kEcho
	kExit
	kMkdir
	kType
)

type simpleNode struct {
	kind    cmdKind
	text    string   // the command text after cmd.exe's phase 2: carets removed, quotes kept, redirections cut out
	token   string   // the command token as typed (quotes kept)
	name    string   // token without quotes
	argLine string   // text after the token, leading blanks removed
	paths   []string // mkdir/type operands resolved to absolute paths ("" = the NUL device)
	raw     []string // mkdir/type operands as typed, quotes removed
	exitB   bool     // exit /b
	exitSet bool     // exit has a code operand
	exitArg int
	redirs  []redir
}

func (*seqNode) isNode()    {}
func (*groupNode) isNode()  {}
func (*ifNode) isNode()     {}
func (*remNode) isNode()    {}
func (*simpleNode) isNode() {}

type redirMode int

const (
	rIn     redirMode = iota // <
	rOut                     // >
	rAppend                  // >>
	rDup                     // n>&m / n<&m
)

type redir struct {
	fd     int // 0, 1 or 2
	mode   redirMode
	dupFd  int    // rDup: the handle copied
	path   string // resolved absolute path; "" with null set means the NUL device
	null   bool
	target string // as typed, quotes removed
}

// internal commands cmd.exe implements itself; those without a case in classify fail loudly.
var internalCommands = map[string]bool{
	"assoc": true, "break": true, "call": true, "cd": true, "chdir": true, "cls": true, "color": true,
	"copy": true, "date": true, "del": true, "dir": true, "dpath": true, "echo": true, "endlocal": true,
	"erase": true, "exit": true, "for": true, "ftype": true, "goto": true, "if": true, "keys": true,
	"md": true, "mkdir": true, "mklink": true, "move": true, "path": true, "pause": true, "popd": true,
	"prompt": true, "pushd": true, "rd": true, "rem": true, "ren": true, "rename": true, "rmdir": true,
	"set": true, "setlocal": true, "shift": true, "start": true, "time": true, "title": true,
	"type": true, "ver": true, "verify": true, "vol": true,
}

// devices are the reserved DOS device names; only NUL is simulated.
var devices = map[string]bool{
	"NUL": true, "CON": true, "PRN": true, "AUX": true, "CONIN$": true, "CONOUT$": true,
	"COM1": true, "COM2": true, "COM3": true, "COM4": true, "COM5": true, "COM6": true, "COM7": true,
	"COM8": true, "COM9": true, "LPT1": true, "LPT2": true, "LPT3": true, "LPT4": true, "LPT5": true,
	"LPT6": true, "LPT7": true, "LPT8": true, "LPT9": true,
}

type parser struct {
	s           string
	i           int
	depth       int  // open parentheses
	openIfs     int  // IFs at the current depth whose ELSE may still follow
	pendingElse bool // an ELSE follows a group and belongs to an enclosing IF
	cwd         string
	hasFS       bool
	programs    map[string]Program
	// simples and seqs are slabs the nodes are allocated from, a chunk at a time.
	simples []simpleNode
	seqs    []seqNode
}

// slabChunk bounds the nodes of one slab allocation (slabs start small and double).
const slabChunk = 128

// newSeq returns a node of the parse tree, allocated from the parser's slab.
func (p *parser) newSeq(op opKind, left, right node) *seqNode {
	if len(p.seqs) == cap(p.seqs) {
		p.seqs = make([]seqNode, 0, nextChunk(cap(p.seqs)))
	}
	p.seqs = p.seqs[:len(p.seqs)+1]
	n := &p.seqs[len(p.seqs)-1]
	n.op, n.left, n.right = op, left, right
	return n
}

// newSimple returns a zero simpleNode allocated from the parser's slab.
func (p *parser) newSimple() *simpleNode {
	if len(p.simples) == cap(p.simples) {
		p.simples = make([]simpleNode, 0, nextChunk(cap(p.simples)))
	}
	p.simples = p.simples[:len(p.simples)+1]
	return &p.simples[len(p.simples)-1]
}

// nextChunk is the size of a slab after one of size n: 8, 16, 32, ... slabChunk.
func nextChunk(n int) int { return min(max(2*n, 8), slabChunk) }

// parseLine parses an already percent-expanded command line. Errors are *notSimulated.
func parseLine(s, cwd string, hasFS bool, programs map[string]Program) (node, error) {
	p := &parser{s: s, cwd: cwd, hasFS: hasFS, programs: programs}
	n, err := p.seqAmp()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.pendingElse || p.i < len(p.s) {
		return nil, failLoud("unexpected text at offset " + strconv.Itoa(p.i) + " (syntax error)")
	}
	return n, nil
}

func (p *parser) at(tok string) bool { return strings.HasPrefix(p.s[p.i:], tok) }

func (p *parser) eof() bool { return p.i >= len(p.s) }

func (p *parser) skipWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func isDelim(c byte) bool { return c == ' ' || c == '\t' || c == ',' || c == ';' || c == '=' }

func (p *parser) skipDelims() {
	for p.i < len(p.s) && isDelim(p.s[p.i]) {
		p.i++
	}
}

func (p *parser) seqAmp() (node, error) {
	left, err := p.seqOr()
	if err != nil {
		return nil, err
	}
	for {
		if p.pendingElse {
			return left, nil
		}
		p.skipWS()
		if !p.at("&") || p.at("&&") {
			return left, nil
		}
		p.i++
		p.skipWS()
		// unverified: a trailing '&' (at the end of the line or of a group) is accepted.
		if p.eof() || (p.depth > 0 && p.s[p.i] == ')') {
			return left, nil
		}
		right, err := p.seqOr()
		if err != nil {
			return nil, err
		}
		left = p.newSeq(opAmp, left, right)
	}
}

func (p *parser) seqOr() (node, error) {
	left, err := p.seqAnd()
	if err != nil {
		return nil, err
	}
	for {
		if p.pendingElse {
			return left, nil
		}
		p.skipWS()
		if !p.at("||") {
			return left, nil
		}
		p.i += 2
		right, err := p.seqAnd()
		if err != nil {
			return nil, err
		}
		left = p.newSeq(opOr, left, right)
	}
}

func (p *parser) seqAnd() (node, error) {
	left, err := p.pipe()
	if err != nil {
		return nil, err
	}
	for {
		if p.pendingElse {
			return left, nil
		}
		p.skipWS()
		if !p.at("&&") {
			return left, nil
		}
		p.i += 2
		right, err := p.pipe()
		if err != nil {
			return nil, err
		}
		left = p.newSeq(opAnd, left, right)
	}
}

func (p *parser) pipe() (node, error) {
	n, err := p.command()
	if err != nil {
		return nil, err
	}
	if !p.pendingElse {
		p.skipWS()
		if p.at("|") && !p.at("||") {
			return nil, failLoud("| (pipe)")
		}
	}
	return n, nil
}

// redirStart reports whether a redirection begins at the current position.
func (p *parser) redirStart() bool {
	if p.eof() {
		return false
	}
	c := p.s[p.i]
	if c == '<' || c == '>' {
		return true
	}
	return c >= '0' && c <= '9' && p.i+1 < len(p.s) && (p.s[p.i+1] == '<' || p.s[p.i+1] == '>')
}

// bareWord returns the letters starting at the current position.
func (p *parser) bareWord() string {
	j := p.i
	for j < len(p.s) && ((p.s[j] >= 'a' && p.s[j] <= 'z') || (p.s[j] >= 'A' && p.s[j] <= 'Z') || p.s[j] == '/') {
		j++
	}
	return p.s[p.i:j]
}

// keyword reports whether the case-insensitive word kw starts here and is followed by a blank
// (or, with endOK, the end of the line).
func (p *parser) keyword(kw string, endOK bool) bool {
	if len(p.s)-p.i < len(kw) || !strings.EqualFold(p.s[p.i:p.i+len(kw)], kw) {
		return false
	}
	j := p.i + len(kw)
	if j == len(p.s) {
		return endOK
	}
	return p.s[j] == ' ' || p.s[j] == '\t'
}

func (p *parser) command() (node, error) {
	for {
		p.skipDelims()
		if p.at("@") {
			p.i++
			continue
		}
		break
	}
	if p.eof() {
		return nil, failLoud("missing command (syntax error)")
	}
	switch c := p.s[p.i]; {
	case c == '&' || c == '|':
		return nil, failLoud("operator " + string(c) + " without a command before it (syntax error)")
	case c == ')':
		return nil, failLoud(") without a command before it")
	}
	var pre []redir
	for p.redirStart() {
		r, err := p.redirection()
		if err != nil {
			return nil, err
		}
		pre = append(pre, r)
		p.skipWS()
	}
	if p.at("(") {
		return p.group(pre)
	}
	if p.keyword("if", false) {
		if len(pre) > 0 {
			return nil, failLoud("redirection before IF")
		}
		return p.ifCmd()
	}
	if p.keyword("rem", true) {
		if len(pre) > 0 || p.depth > 0 {
			return nil, failLoud("REM with redirection or inside parentheses")
		}
		p.i = len(p.s)
		return &remNode{}, nil
	}
	return p.simple(pre)
}

func (p *parser) group(pre []redir) (node, error) {
	p.i++
	p.depth++
	savedIfs := p.openIfs
	p.openIfs = 0
	p.skipWS()
	if p.at(")") {
		return nil, failLoud("empty parentheses")
	}
	body, err := p.seqAmp()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.eof() || p.s[p.i] != ')' {
		return nil, failLoud("unclosed parenthesis")
	}
	p.i++
	p.depth--
	p.openIfs = savedIfs
	g := &groupNode{body: body, redirs: pre}
	for {
		p.skipWS()
		if !p.redirStart() {
			break
		}
		r, err := p.redirection()
		if err != nil {
			return nil, err
		}
		g.redirs = append(g.redirs, r)
	}
	if p.eof() {
		return g, nil
	}
	switch c := p.s[p.i]; {
	case c == '&' || c == '|' || (c == ')' && p.depth > 0):
		return g, nil
	}
	if p.openIfs > 0 && (p.keyword("else", true) || (len(p.s)-p.i > 4 && strings.EqualFold(p.s[p.i:p.i+4], "else") && p.s[p.i+4] == '(')) {
		p.pendingElse = true
		return g, nil
	}
	return nil, failLoud("text after a closing parenthesis")
}

func (p *parser) ifCmd() (node, error) {
	p.i += 2
	n := &ifNode{}
	p.skipWS()
	if p.keyword("/i", false) {
		n.ci = true
		p.i += 2
		p.skipWS()
	}
	if p.keyword("not", false) {
		n.not = true
		p.i += 3
		p.skipWS()
	}
	switch {
	case p.keyword("errorlevel", false), p.keyword("cmdextversion", false):
		n.kind = ifErrorlevel
		if strings.EqualFold(p.bareWord(), "cmdextversion") {
			n.kind = ifCmdExtVersion
		}
		p.i += len(p.bareWord())
		p.skipWS()
		w := p.word(false)
		v, err := strconv.Atoi(w)
		if err != nil {
			return nil, failLoud("IF ERRORLEVEL/CMDEXTVERSION with a non-numeric operand")
		}
		n.level = v
	case p.keyword("exist", false):
		n.kind = ifExist
		p.i += 5
		p.skipWS()
		w := unquote(p.word(false))
		if w != "" {
			path, dev, err := p.resolve(w)
			if err != nil {
				return nil, err
			}
			if !dev && !p.hasFS {
				return nil, failLoud("IF EXIST without a simulated file system")
			}
			n.a, n.device = path, dev
		}
	case p.keyword("defined", false):
		n.kind = ifDefined
		p.i += 7
		p.skipWS()
		n.a = p.word(false)
		switch strings.ToUpper(n.a) {
		case "ERRORLEVEL", "CD", "CMDEXTVERSION", "DATE", "TIME", "RANDOM", "CMDCMDLINE", "HIGHESTNUMANODENUMBER":
			return nil, failLoud("IF DEFINED of a dynamic variable")
		}
	default:
		n.kind = ifCompare
		n.a = p.word(true)
		p.skipWS()
		if !p.at("==") {
			return nil, failLoud("IF comparison other than == (EQU, NEQ, LSS, ...)")
		}
		for p.at("=") {
			p.i++
		}
		p.skipWS()
		n.b = p.word(true)
	}
	if n.kind == ifDefined && n.a == "" {
		return nil, failLoud("IF DEFINED without an operand (syntax error)")
	}
	p.skipWS()
	if p.eof() || p.at("&") || p.at("|") || (p.depth > 0 && p.at(")")) {
		return nil, failLoud("IF without a command (syntax error)")
	}
	p.openIfs++
	body, err := p.seqAmp()
	p.openIfs--
	if err != nil {
		return nil, err
	}
	n.body = body
	if p.pendingElse {
		p.pendingElse = false
		p.i += 4
		p.skipWS()
		if p.eof() || p.at("&") || p.at("|") || (p.depth > 0 && p.at(")")) {
			return nil, failLoud("ELSE without a command (syntax error)")
		}
		els, err := p.seqAmp()
		if err != nil {
			return nil, err
		}
		n.elseBody = els
	}
	return n, nil
}

// word reads one cmd.exe token: quote-aware (quotes kept), caret-aware (carets removed outside
// quotes), ending at an unquoted blank, operator, redirection, ')' inside a group, or, with stopEq,
// at "==".
func (p *parser) word(stopEq bool) string {
	var b []byte
	inQ := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		if inQ {
			b = append(b, c)
			p.i++
			if c == '"' {
				inQ = false
			}
			continue
		}
		switch {
		case c == '"':
			inQ = true
		case c == '^':
			if p.i+1 < len(p.s) {
				b = append(b, p.s[p.i+1])
				p.i += 2
			} else {
				p.i++
			}
			continue
		case c == ' ' || c == '\t' || c == '&' || c == '|' || c == '<' || c == '>':
			return string(b)
		case c == ')' && p.depth > 0:
			return string(b)
		case stopEq && c == '=' && p.at("=="):
			return string(b)
		}
		b = append(b, c)
		p.i++
	}
	return string(b)
}

// redirection parses one redirection starting at the current position (an optional handle digit,
// then '<' or '>').
func (p *parser) redirection() (redir, error) {
	fd := -1
	if c := p.s[p.i]; c >= '0' && c <= '9' {
		fd = int(c - '0')
		p.i++
	}
	return p.redirectionFd(fd)
}

func (p *parser) redirectionFd(fd int) (redir, error) {
	c := p.s[p.i]
	p.i++
	r := redir{fd: fd}
	if c == '<' {
		r.mode = rIn
		if fd < 0 {
			r.fd = 0
		}
	} else {
		r.mode = rOut
		if p.at(">") {
			r.mode = rAppend
			p.i++
		}
		if fd < 0 {
			r.fd = 1
		}
	}
	if r.fd > 2 {
		return r, failLoud("redirection of handle " + strconv.Itoa(r.fd))
	}
	if (r.mode == rIn) != (r.fd == 0) {
		return r, failLoud("redirection of handle " + strconv.Itoa(r.fd) + " in that direction")
	}
	if p.at("&") {
		p.i++
		p.skipWS()
		if r.fd == 0 || p.eof() || (p.s[p.i] != '1' && p.s[p.i] != '2') {
			return r, failLoud("handle duplication other than 2>&1 or 1>&2")
		}
		r.mode = rDup
		r.dupFd = int(p.s[p.i] - '0')
		p.i++
		return r, nil
	}
	p.skipWS()
	t := unquote(p.word(false))
	if t == "" {
		return r, failLoud("redirection without a target (syntax error)")
	}
	r.target = t
	path, dev, err := p.resolve(t)
	if err != nil {
		return r, err
	}
	if dev {
		r.null = true
		return r, nil
	}
	if !p.hasFS {
		return r, failLoud("file redirection without a simulated file system")
	}
	r.path = path
	return r, nil
}

// resolve turns an operand into an absolute path against the working directory. dev reports the
// NUL device; other device names, wildcards, UNC and drive-relative paths fail loudly.
func (p *parser) resolve(t string) (path string, dev bool, err error) {
	base := t
	if i := strings.LastIndexAny(base, `\/`); i >= 0 {
		base = base[i+1:]
	}
	ub := strings.ToUpper(strings.TrimRight(base, ":"))
	if k := strings.IndexByte(ub, '.'); k >= 0 {
		ub = ub[:k]
	}
	if devices[ub] {
		if ub == "NUL" {
			return "", true, nil
		}
		return "", false, failLoud("device name " + base)
	}
	switch {
	case strings.ContainsAny(t, "*?"):
		return "", false, failLoud("wildcard in " + t)
	case strings.HasPrefix(t, `\\`) || strings.HasPrefix(t, `//`):
		return "", false, failLoud("UNC path " + t)
	case len(t) >= 2 && t[1] == ':':
		if len(t) == 2 || (t[2] != '\\' && t[2] != '/') {
			return "", false, failLoud("drive-relative path " + t)
		}
		return t, false, nil
	case t[0] == '\\' || t[0] == '/':
		return p.cwd[:2] + t, false, nil
	}
	return strings.TrimRight(p.cwd, `\`) + `\` + t, false, nil
}

// trimDelims is strings.TrimLeft(s, " \t,;="): cmd.exe's token delimiters.
func trimDelims(s string) string {
	i := 0
	for i < len(s) && isDelim(s[i]) {
		i++
	}
	return s[i:]
}

// trimBlanks is strings.TrimLeft(s, " \t").
func trimBlanks(s string) string {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return s[i:]
}

func unquote(s string) string { return strings.ReplaceAll(s, `"`, "") }

// simpleSpecial are the bytes simple handles one at a time; it takes runs of the others at once.
var simpleSpecial = [256]bool{'"': true, '^': true, '&': true, '|': true, ')': true, '<': true, '>': true}

// simple parses a simple command up to the next operator, applying cmd.exe's phase-2 rules:
// quotes protect everything up to the closing quote, '^' escapes the next character outside
// quotes, and redirections are cut out of the text (the blanks around them stay).
func (p *parser) simple(pre []redir) (node, error) {
	b := make([]byte, 0, 256) // on the stack unless the command is longer
	start := p.i
	verbatim := true // b is p.s[start:p.i]: no caret or redirection was removed
	inQ := false
	cand := -1 // index in b of an unescaped digit that may be a redirection handle
	redirs := pre
loop:
	for p.i < len(p.s) {
		c := p.s[p.i]
		if inQ {
			// Everything up to and including the closing quote is taken as it is.
			j := strings.IndexByte(p.s[p.i:], '"')
			if j < 0 {
				j = len(p.s) - p.i - 1
			} else {
				inQ = false
			}
			b = append(b, p.s[p.i:p.i+j+1]...)
			p.i += j + 1
			cand = -1
			continue
		}
		if !simpleSpecial[c] {
			// A run of ordinary bytes is taken at once. Only its last byte can be a redirection
			// handle: a digit that starts the text or follows a blank.
			j := p.i + 1
			for j < len(p.s) && !simpleSpecial[p.s[j]] {
				j++
			}
			b = append(b, p.s[p.i:j]...)
			p.i = j
			last := len(b) - 1
			if d := b[last]; d >= '0' && d <= '9' && (last == 0 || b[last-1] == ' ' || b[last-1] == '\t') {
				cand = last
			} else {
				cand = -1
			}
			continue
		}
		switch {
		case c == '"':
			inQ = true
			b = append(b, c)
			p.i++
			cand = -1
		case c == '^':
			// unverified: a caret at the very end of a cmd /c line is dropped (interactively cmd
			// would prompt "More?").
			if p.i+1 < len(p.s) {
				b = append(b, p.s[p.i+1])
				p.i += 2
			} else {
				p.i++
			}
			cand = -1
			verbatim = false
		case c == '&' || c == '|':
			break loop
		case c == ')' && p.depth > 0:
			break loop
		case c == '<' || c == '>':
			fd := -1
			if cand >= 0 && cand == len(b)-1 {
				fd = int(b[cand] - '0')
				b = b[:cand]
			}
			r, err := p.redirectionFd(fd)
			if err != nil {
				return nil, err
			}
			redirs = append(redirs, r)
			cand = -1
			verbatim = false
		default:
			if c >= '0' && c <= '9' && (len(b) == 0 || b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
				cand = len(b)
			} else {
				cand = -1
			}
			b = append(b, c)
			p.i++
		}
	}
	text := p.s[start:p.i]
	if !verbatim {
		text = string(b)
	}
	n := p.newSimple()
	n.text, n.redirs = trimDelims(text), redirs
	if err := p.classify(n); err != nil {
		return nil, err
	}
	return n, nil
}

// cmdTokens splits text on unquoted blanks and ",;=" (cmd.exe's token delimiters); quotes stay.
func cmdTokens(s string) []string {
	var out []string
	var cur []byte
	inQ, have := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !inQ && isDelim(c) {
			if have {
				out = append(out, string(cur))
				cur, have = cur[:0], false
			}
			continue
		}
		if c == '"' {
			inQ = !inQ
		}
		cur = append(cur, c)
		have = true
	}
	if have {
		out = append(out, string(cur))
	}
	return out
}

// classify splits off the command token and decides which command runs.
func (p *parser) classify(n *simpleNode) error {
	t := n.text
	if t == "" {
		return failLoud("redirection without a command")
	}
	end := 0
	inQ := false
	for end < len(t) {
		c := t[end]
		if c == '"' {
			inQ = !inQ
		} else if !inQ && (isDelim(c) || c == '/') {
			break
		}
		end++
	}
	n.token = t[:end]
	n.name = unquote(n.token)
	tail := t[end:]
	n.argLine = trimBlanks(tail)
	lname := strings.ToLower(n.name)
	if strings.HasPrefix(n.token, `"`) {
		// A quoted command token is never an internal command: cmd.exe searches for a program.
		return p.external(n)
	}
	if strings.Contains(n.token, `"`) {
		for name := range internalCommands {
			if strings.HasPrefix(lname, name) {
				return failLoud("quote inside the command token " + n.token)
			}
		}
		return p.external(n)
	}
	if len(lname) > 4 && strings.HasPrefix(lname, "echo") && strings.IndexByte(`.:(\[]+`, lname[4]) >= 0 {
		n.kind = kEcho
		return nil
	}
	if len(lname) == 2 && lname[1] == ':' {
		return failLoud("drive change " + n.name)
	}
	if !internalCommands[lname] {
		return p.external(n)
	}
	switch lname {
	case "echo":
		n.kind = kEcho
	case "exit":
		n.kind = kExit
		toks := cmdTokens(tail)
		if len(toks) > 0 && strings.EqualFold(toks[0], "/b") {
			n.exitB = true
			toks = toks[1:]
		}
		if len(toks) > 0 {
			v, err := strconv.Atoi(toks[0])
			if err != nil {
				return failLoud("EXIT with a non-numeric code " + toks[0])
			}
			n.exitSet, n.exitArg = true, v
		}
	case "md", "mkdir", "type":
		n.kind = kMkdir
		if lname == "type" {
			n.kind = kType
		}
		if !p.hasFS {
			return failLoud(strings.ToUpper(lname) + " without a simulated file system")
		}
		toks := cmdTokens(tail)
		if n.kind == kType && len(toks) > 1 {
			return failLoud("TYPE with several files")
		}
		for _, tok := range toks {
			if strings.HasPrefix(tok, "/") {
				return failLoud(strings.ToUpper(lname) + " " + tok)
			}
			raw := unquote(tok)
			if raw == "" {
				return failLoud(strings.ToUpper(lname) + ` ""`)
			}
			path, dev, err := p.resolve(raw)
			if err != nil {
				return err
			}
			if dev && n.kind == kMkdir {
				return failLoud("MKDIR of a device name")
			}
			n.paths = append(n.paths, path)
			n.raw = append(n.raw, raw)
		}
	default:
		return failLoud(strings.ToUpper(lname) + " (internal command)")
	}
	return nil
}

// systemPrograms are executables every Windows Server has. Naming one that the host does not
// simulate fails loudly instead of printing "is not recognized", which Windows would never say.
var systemPrograms = map[string]bool{
	"attrib": true, "certutil": true, "chcp": true, "choice": true, "clip": true, "cmd": true,
	"cscript": true, "fc": true, "find": true, "findstr": true, "hostname": true, "icacls": true,
	"ipconfig": true, "more": true, "net": true, "netsh": true, "nltest": true, "nslookup": true,
	"ping": true, "powershell": true, "reg": true, "robocopy": true, "sc": true, "schtasks": true,
	"setx": true, "sort": true, "systeminfo": true, "taskkill": true, "tasklist": true,
	"timeout": true, "w32tm": true, "where": true, "whoami": true, "wmic": true, "wscript": true,
	"xcopy": true,
}

// external marks n as a program call; a Windows system program the host lacks fails loudly.
func (p *parser) external(n *simpleNode) error {
	n.kind = kExternal
	base := strings.ToLower(n.name)
	if i := strings.LastIndexAny(base, `\/`); i >= 0 {
		base = base[i+1:]
	}
	base = strings.TrimSuffix(base, ".exe")
	// A key with a nil Program is a program removed from the host: it is "not recognized".
	if _, listed := p.programs[base]; systemPrograms[base] && !listed {
		return failLoud("program " + base + ".exe")
	}
	return nil
}
