package registry

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dcproxy/dcproxy/remote/winsim/winfs"
)

// Env is the process environment reg.exe runs in.
type Env struct {
	// Reg is the host's registry; it must not be nil.
	Reg *Registry
	// UserSID is the SID of the user the process runs as: HKEY_CURRENT_USER is HKEY_USERS\<UserSID>.
	// Empty means ".DEFAULT" (a session without a loaded profile).
	UserSID string
	// FS is the host's file system, used by export and import.
	FS *winfs.FS
	// Cwd is the working directory relative file names are resolved against, e.g. C:\Users\auditor.
	Cwd string
	// Locale selects the console texts: "en-US" (default) or "de-DE".
	Locale string
	// Stdin is the console-mode standard input. Prompts read one line from it; a read may block until
	// the context passed to Main is done. Nil behaves like an empty input.
	Stdin io.Reader
	// Stdout and Stderr receive UTF-8 text; every line ends in CRLF. Nil discards.
	Stdout, Stderr io.Writer
}

// Main runs reg.exe with args (the arguments after "reg", already split the way CommandLineToArgvW
// splits a command line) and returns the process exit code: 0 success, 1 failure, 2 for a reg compare
// that found differences.
//
// Main writes prompts to Stdout and reads answers from Stdin. If Stdin ends, or ctx is done while a
// prompt waits, Main returns 1 at once; a goroutine may then stay blocked in Stdin.Read until that
// read returns. Main is safe to call concurrently with other calls on the same Registry and FS.
func Main(ctx context.Context, env *Env, args []string) int {
	r := &run{ctx: ctx, env: env, t: textsFor(env.Locale), stdout: env.Stdout, stderr: env.Stderr}
	if r.stdout == nil {
		r.stdout = io.Discard
	}
	if r.stderr == nil {
		r.stderr = io.Discard
	}
	if len(args) == 0 {
		r.errorLine(r.t.invalidSyntax)
		r.write(r.stderr, r.t.regHint)
		return 1
	}
	if isHelp(args[0]) && len(args) == 1 {
		r.write(r.stdout, usageTexts[""])
		return 0
	}
	r.verb = strings.ToUpper(args[0])
	switch r.verb {
	case "QUERY", "ADD", "DELETE", "COPY", "COMPARE", "EXPORT", "IMPORT":
	default:
		// SAVE, LOAD, UNLOAD, RESTORE and FLAGS are real verbs that this simulator does not model;
		// they fail like an unknown operation. unverified: Windows' text for an unknown operation.
		r.errorLine(r.t.invalidSyntax)
		r.write(r.stderr, r.t.regHint)
		return 1
	}
	if len(args) == 2 && isHelp(args[1]) {
		r.write(r.stdout, usageTexts[r.verb])
		return 0
	}
	switch args := args[1:]; r.verb {
	case "QUERY":
		return r.query(args)
	case "ADD":
		return r.add(args)
	case "DELETE":
		return r.delete(args)
	case "COPY":
		return r.copy(args)
	case "COMPARE":
		return r.compare(args)
	case "EXPORT":
		return r.export(args)
	default: // IMPORT
		return r.importFile(args)
	}
}

func isHelp(a string) bool {
	switch strings.ToLower(a) {
	case "/?", "-?", "/h", "-h":
		return true
	}
	return false
}

type run struct {
	ctx            context.Context
	env            *Env
	t              *texts
	verb           string
	stdout, stderr io.Writer
	prompt         *prompter // made by the first prompt
}

func (r *run) write(w io.Writer, s string) { _, _ = io.WriteString(w, s) }

func (r *run) errorLine(msg string) { r.write(r.stderr, r.t.errPrefix+msg+"\r\n") }

// fail prints an error line and returns exit code 1.
func (r *run) fail(msg string) int {
	r.errorLine(msg)
	return 1
}

// syntax prints the invalid-syntax error with the verb's usage hint.
func (r *run) syntax() int {
	r.errorLine(r.t.invalidSyntax)
	r.write(r.stderr, fmt.Sprintf(r.t.usageHint, r.verb))
	return 1
}

// badKey prints the invalid-key-name error with the verb's usage hint.
func (r *run) badKey() int {
	r.errorLine(r.t.invalidKey)
	r.write(r.stderr, fmt.Sprintf(r.t.usageHint, r.verb))
	return 1
}

func (r *run) success() int {
	r.write(r.stdout, r.t.success)
	return 0
}

// ---------------------------------------------------------------------------------------------
// Arguments

type flagKind int

const (
	flagBool flagKind = iota
	flagArg
)

// parsed is the result of parseArgs: the positional arguments and the switches given, in order.
type parsed struct {
	pos []string
	sw  []switchArg
}

// switchArg is one switch given (lower-case name without the '/' or '-') with its argument, if it
// takes one.
type switchArg struct{ name, arg string }

func (p *parsed) has(f string) bool {
	for _, s := range p.sw {
		if s.name == f {
			return true
		}
	}
	return false
}

// arg returns the argument of switch f, "" when it was not given.
func (p *parsed) arg(f string) string {
	for _, s := range p.sw {
		if s.name == f {
			return s.arg
		}
	}
	return ""
}

// parseArgs parses args (after the verb): npos positional arguments first, then switches starting
// with '/' or '-'. Every verb also takes /reg:32 or /reg:64 (accepted and ignored: the simulated host
// has one view). Unknown, repeated or incomplete switches are a syntax error (ok false).
func parseArgs(args []string, npos int, flags map[string]flagKind) (parsed, bool) {
	if len(args) < npos {
		return parsed{}, false
	}
	p := parsed{pos: args[:npos]}
	if len(args) > npos {
		p.sw = make([]switchArg, 0, len(args)-npos)
	}
	for i := npos; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || (a[0] != '/' && a[0] != '-') {
			return parsed{}, false
		}
		name := strings.ToLower(a[1:])
		if name == "reg:32" || name == "reg:64" {
			if p.has("reg:32") || p.has("reg:64") {
				return parsed{}, false
			}
			p.sw = append(p.sw, switchArg{name: name})
			continue
		}
		kind, ok := flags[name]
		if !ok || p.has(name) {
			return parsed{}, false
		}
		s := switchArg{name: name}
		if kind == flagArg {
			if i+1 >= len(args) {
				return parsed{}, false
			}
			i++
			s.arg = args[i]
		}
		p.sw = append(p.sw, s)
	}
	return p, true
}

// The switches of each verb, for parseArgs.
var (
	queryFlags   = map[string]flagKind{"v": flagArg, "ve": flagBool, "s": flagBool}
	addFlags     = map[string]flagKind{"v": flagArg, "ve": flagBool, "t": flagArg, "s": flagArg, "d": flagArg, "f": flagBool}
	deleteFlags  = map[string]flagKind{"v": flagArg, "ve": flagBool, "va": flagBool, "f": flagBool}
	copyFlags    = map[string]flagKind{"s": flagBool, "f": flagBool}
	compareFlags = map[string]flagKind{
		"v": flagArg, "ve": flagBool, "oa": flagBool, "od": flagBool, "os": flagBool, "on": flagBool, "s": flagBool,
	}
	exportFlags = map[string]flagKind{"y": flagBool}
	noFlags     = map[string]flagKind{}
)

// keyRef is a key named on the command line.
type keyRef struct {
	root   string // long root name, e.g. HKEY_CURRENT_USER
	rest   string // the path below it as typed, trailing backslashes removed ("" for a root)
	model  string // the path in the model, e.g. HKEY_USERS\S-1-5-21-...\software\x
	isRoot bool
}

// display is the key as reg.exe prints it: long root + the rest as typed, e.g.
// HKEY_CURRENT_USER\software\x.
func (k keyRef) display() string {
	if k.rest == "" {
		return k.root
	}
	return k.root + `\` + k.rest
}

var (
	errBadKeyName = errors.New("invalid key name")
	errRemote     = errors.New("remote registry")
)

// parseKey resolves a key argument. Remote names (\\host\HKLM\...) are recognised and refused with
// errRemote: the simulated host cannot reach other machines' registries. Only HKLM and HKU are
// valid remote roots (reg-query.md), anything else there is errBadKeyName.
func (r *run) parseKey(arg string) (keyRef, error) {
	if strings.HasPrefix(arg, `\\`) {
		_, rest, ok := strings.Cut(arg[2:], `\`)
		if !ok {
			return keyRef{}, errBadKeyName
		}
		first, _, _ := strings.Cut(rest, `\`)
		root := rootAliases[strings.ToUpper(first)]
		if root != HKLM && root != HKU {
			return keyRef{}, errBadKeyName
		}
		// unverified: the simulator refuses every remote name, even one naming this host.
		return keyRef{}, errRemote
	}
	first, rest, _ := strings.Cut(arg, `\`)
	root, ok := rootAliases[strings.ToUpper(first)]
	if !ok {
		return keyRef{}, errBadKeyName
	}
	rest = strings.TrimRight(rest, `\`)
	for p, more := rest, rest != ""; more; {
		var c string
		c, p, more = strings.Cut(p, `\`)
		// unverified: an empty component ("a\\b") is treated as an invalid key name.
		if c == "" || utf8.RuneCountInString(c) > 255 {
			return keyRef{}, errBadKeyName
		}
	}
	k := keyRef{root: root, rest: rest, isRoot: rest == ""}
	base := root
	if root == HKCU {
		base = HKU + `\` + r.userSID()
		_ = r.env.Reg.EnsureKey(base) // a loaded user hive always exists
	}
	k.model = base
	if rest != "" {
		k.model += `\` + rest
	}
	return k, nil
}

func (r *run) userSID() string {
	if r.env.UserSID == "" {
		return ".DEFAULT"
	}
	return r.env.UserSID
}

// keyError prints the error for a parseKey failure and returns the exit code.
func (r *run) keyError(err error) int {
	if errors.Is(err, errRemote) {
		return r.fail(r.t.netPath)
	}
	return r.badKey()
}

// ---------------------------------------------------------------------------------------------
// Prompts

// errNoAnswer means stdin ended or the context was cancelled while a prompt waited.
var errNoAnswer = errors.New("no answer on standard input")

type prompter struct {
	ctx  context.Context
	in   io.Reader
	dead bool
}

type lineResult struct {
	line string
	err  error
}

// readLine reads one line (without its CR LF) from stdin, or returns errNoAnswer when stdin ends
// before a line or ctx is done. After errNoAnswer the prompter is dead: a reader goroutine may still
// be blocked, so nothing reads again.
func (p *prompter) readLine() (string, error) {
	if p.dead || p.in == nil {
		p.dead = true
		return "", errNoAnswer
	}
	if p.ctx.Err() != nil {
		p.dead = true
		return "", errNoAnswer
	}
	ch := make(chan lineResult, 1)
	in := p.in
	go func() {
		var b []byte
		one := make([]byte, 1)
		for {
			n, err := in.Read(one)
			if n == 1 {
				if one[0] == '\n' {
					ch <- lineResult{line: strings.TrimSuffix(string(b), "\r")}
					return
				}
				if len(b) < 1<<16 {
					b = append(b, one[0])
				}
			}
			if err != nil {
				if len(b) > 0 {
					ch <- lineResult{line: strings.TrimSuffix(string(b), "\r")}
				} else {
					ch <- lineResult{err: err}
				}
				return
			}
		}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			p.dead = true
			return "", errNoAnswer
		}
		return res.line, nil
	case <-p.ctx.Done():
		p.dead = true
		return "", errNoAnswer
	}
}

// confirm prints prompt and reads answers until one is a yes or a no. unverified: reg.exe repeats
// the prompt after an answer it does not understand.
func (r *run) confirm(prompt string) (bool, error) {
	for {
		r.write(r.stdout, prompt)
		if r.prompt == nil {
			r.prompt = &prompter{ctx: r.ctx, in: r.env.Stdin}
		}
		line, err := r.prompt.readLine()
		if err != nil {
			return false, err
		}
		a := strings.ToLower(strings.TrimSpace(line))
		for _, y := range r.t.yes {
			if a == y {
				return true, nil
			}
		}
		for _, n := range r.t.no {
			if a == n {
				return false, nil
			}
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Data formatting and parsing

// formatData renders value data the way reg query and reg compare print it.
func formatData(v Value) string {
	switch v.Type {
	case TypeSZ, TypeExpandSZ, TypeLink:
		return decodeUTF16(v.Data)
	case TypeMultiSZ:
		var u []uint16
		for i := 0; i+1 < len(v.Data); i += 2 {
			u = append(u, binary.LittleEndian.Uint16(v.Data[i:]))
		}
		for k := 0; k < 2 && len(u) > 0 && u[len(u)-1] == 0; k++ {
			u = u[:len(u)-1]
		}
		parts := strings.Split(string(utf16.Decode(u)), "\x00")
		return strings.Join(parts, `\0`)
	case TypeDWORD:
		if len(v.Data) >= 4 {
			return "0x" + strconv.FormatUint(uint64(binary.LittleEndian.Uint32(v.Data)), 16)
		}
	case TypeDWORDBigEndian:
		if len(v.Data) >= 4 {
			return "0x" + strconv.FormatUint(uint64(binary.BigEndian.Uint32(v.Data)), 16) // unverified byte order
		}
	case TypeQWORD:
		if len(v.Data) >= 8 {
			return "0x" + strconv.FormatUint(binary.LittleEndian.Uint64(v.Data), 16)
		}
	}
	return strings.ToUpper(hex.EncodeToString(v.Data))
}

func (r *run) valueLine(v Value) string {
	name := v.Name
	if name == "" {
		name = r.t.defaultName
	}
	return "    " + name + "    " + v.Type.String() + "    " + formatData(v) + "\r\n"
}

var addTypes = map[string]Type{
	"REG_SZ": TypeSZ, "REG_MULTI_SZ": TypeMultiSZ, "REG_EXPAND_SZ": TypeExpandSZ,
	"REG_DWORD": TypeDWORD, "REG_DWORD_LITTLE_ENDIAN": TypeDWORD, "REG_DWORD_BIG_ENDIAN": TypeDWORDBigEndian,
	"REG_QWORD": TypeQWORD, "REG_QWORD_LITTLE_ENDIAN": TypeQWORD, "REG_BINARY": TypeBinary, "REG_NONE": TypeNone,
}

var errBadData = errors.New("invalid data for the value type")

// encodeData converts the /d argument of reg add to binary data.
func encodeData(t Type, data string, sep string) ([]byte, error) {
	switch t {
	case TypeSZ, TypeExpandSZ, TypeNone:
		return UTF16(data), nil
	case TypeDWORD, TypeDWORDBigEndian:
		n, err := parseNumber(data, 32)
		if err != nil {
			return nil, err
		}
		if t == TypeDWORDBigEndian {
			return binary.BigEndian.AppendUint32(nil, uint32(n)), nil
		}
		return binary.LittleEndian.AppendUint32(nil, uint32(n)), nil
	case TypeQWORD:
		n, err := parseNumber(data, 64)
		if err != nil {
			return nil, err
		}
		return binary.LittleEndian.AppendUint64(nil, n), nil
	case TypeBinary:
		if len(data)%2 == 1 {
			data = "0" + data // an odd first nibble stands alone (Wine's get_regdata)
		}
		out := make([]byte, 0, len(data)/2)
		for i := 0; i < len(data); i += 2 {
			hi, ok1 := hexVal(data[i])
			lo, ok2 := hexVal(data[i+1])
			if !ok1 || !ok2 {
				return nil, errBadData
			}
			out = append(out, hi<<4|lo)
		}
		return out, nil
	case TypeMultiSZ:
		var parts []string
		if sep != "" {
			parts = strings.Split(data, sep)
		} else {
			parts = strings.Split(data, `\0`)
		}
		if data == "" {
			parts = nil
		}
		var b []byte
		for _, p := range parts {
			if p == "" {
				return nil, errBadData // empty strings inside a REG_MULTI_SZ are refused (Wine)
			}
			b = append(b, UTF16(p)...)
		}
		return append(b, 0, 0), nil
	}
	return nil, errBadData
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseNumber parses decimal or 0x-hexadecimal data of REG_DWORD/REG_QWORD. An empty string, a sign,
// garbage or an out-of-range number is errBadData. unverified: Windows' exact acceptance rules.
func parseNumber(s string, bits int) (uint64, error) {
	base := uint64(10)
	digits := s
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		base, digits = 16, s[2:]
	}
	if digits == "" {
		return 0, errBadData
	}
	var n uint64
	max := uint64(1)<<bits - 1
	if bits == 64 {
		max = ^uint64(0)
	}
	for i := 0; i < len(digits); i++ {
		d, ok := hexVal(digits[i])
		if !ok || uint64(d) >= base {
			return 0, errBadData
		}
		if n > (max-uint64(d))/base {
			return 0, errBadData
		}
		n = n*base + uint64(d)
	}
	return n, nil
}

// ---------------------------------------------------------------------------------------------
// QUERY

func (r *run) query(args []string) int {
	if len(args) < 1 {
		return r.syntax()
	}
	k, err := r.parseKey(args[0])
	if err != nil {
		return r.keyError(err)
	}
	p, ok := parseArgs(args, 1, queryFlags)
	if !ok || (p.has("v") && p.has("ve")) {
		return r.syntax()
	}
	if p.has("v") && !p.has("s") {
		// One value: looked up in place, without a copy of the key.
		v, found := r.env.Reg.Value(k.model, p.arg("v"))
		if !found {
			return r.fail(r.t.notFound)
		}
		r.write(r.stdout, "\r\n"+k.display()+"\r\n"+r.valueLine(v)+"\r\n")
		return 0
	}
	// Without /s only the key's own values and its subkeys' names are printed.
	depth := 0
	if p.has("s") {
		depth = -1
	}
	t, err := r.env.Reg.snapshotKeyDepth(k.model, depth)
	if err != nil || t == nil {
		return r.fail(r.t.notFound)
	}
	var b strings.Builder
	b.WriteString("\r\n")
	switch {
	case p.has("v") || p.has("ve"):
		name := p.arg("v")
		if !p.has("s") {
			v, found := findValue(t.values, name)
			if !found {
				if p.has("v") {
					return r.fail(r.t.notFound)
				}
				// /ve on a key without a default value (Wine's query.c; blank line unverified).
				b.WriteString(k.display() + "\r\n")
				b.WriteString("    " + r.t.defaultName + "    REG_SZ    " + r.t.valueNotSet + "\r\n\r\n")
				r.write(r.stdout, b.String())
				return 0
			}
			b.WriteString(k.display() + "\r\n" + r.valueLine(v) + "\r\n")
			r.write(r.stdout, b.String())
			return 0
		}
		n := 0
		var walk func(path string, t *tree)
		walk = func(path string, t *tree) {
			if v, found := findValue(t.values, name); found {
				b.WriteString(path + "\r\n" + r.valueLine(v) + "\r\n")
				n++
			}
			for _, s := range t.subs {
				walk(path+`\`+s.name, s)
			}
		}
		walk(k.display(), t)
		b.WriteString(fmt.Sprintf(r.t.endOfSearch, n))
	case p.has("s"):
		var walk func(path string, t *tree, recursing bool)
		walk = func(path string, t *tree, recursing bool) {
			if len(t.values) > 0 || recursing {
				b.WriteString(path + "\r\n")
			}
			for _, v := range t.values {
				b.WriteString(r.valueLine(v))
			}
			if len(t.values) > 0 || recursing {
				b.WriteString("\r\n")
			}
			for _, s := range t.subs {
				walk(path+`\`+s.name, s, true)
			}
		}
		walk(k.display(), t, false)
	default:
		if len(t.values) > 0 {
			b.WriteString(k.display() + "\r\n")
			for _, v := range t.values {
				b.WriteString(r.valueLine(v))
			}
			b.WriteString("\r\n")
		}
		for _, s := range t.subs {
			b.WriteString(k.display() + `\` + s.name + "\r\n")
		}
	}
	r.write(r.stdout, b.String())
	return 0
}

func findValue(vs []Value, name string) (Value, bool) {
	for _, v := range vs {
		if strings.EqualFold(v.Name, name) {
			return v, true
		}
	}
	return Value{}, false
}

// ---------------------------------------------------------------------------------------------
// ADD

func (r *run) add(args []string) int {
	if len(args) < 1 {
		return r.syntax()
	}
	k, err := r.parseKey(args[0])
	if err != nil {
		return r.keyError(err)
	}
	p, ok := parseArgs(args, 1, addFlags)
	if !ok || (p.has("v") && p.has("ve")) {
		return r.syntax()
	}
	if p.has("s") && len([]rune(p.arg("s"))) != 1 {
		return r.syntax()
	}
	typ := TypeSZ
	if p.has("t") {
		tt, known := addTypes[strings.ToUpper(p.arg("t"))]
		if !known {
			return r.syntax() // unverified: Windows' text for an unknown /t type
		}
		typ = tt
	}
	if k.isRoot {
		return r.badKey() // unverified: values cannot be written to a root key
	}
	// Without /v the default value is written (pg-fl.jp reg_add; a public transcript shows
	// "Value  exists, overwrite(Yes/No)?" for reg add without /v).
	name := p.arg("v")
	var data []byte
	if typ == TypeDWORD || typ == TypeDWORDBigEndian || typ == TypeQWORD {
		if !p.has("d") {
			return r.fail(r.t.paramIncorrect) // unverified
		}
	}
	data, err = encodeData(typ, p.arg("d"), p.arg("s"))
	if err != nil {
		return r.fail(r.t.paramIncorrect)
	}
	if _, exists := r.env.Reg.Value(k.model, name); exists && !p.has("f") {
		yes, err := r.confirm(fmt.Sprintf(r.t.promptOverwriteValue, name))
		if err != nil {
			return 1
		}
		if !yes {
			// Wine's add.c returns 0 after the cancel message; unverified on Windows.
			r.write(r.stdout, r.t.cancel)
			return 0
		}
	}
	if err := r.env.Reg.SetValue(k.model, Value{Name: name, Type: typ, Data: data}); err != nil {
		return r.fail(r.t.accessDenied)
	}
	return r.success()
}

// ---------------------------------------------------------------------------------------------
// DELETE

func (r *run) delete(args []string) int {
	if len(args) < 1 {
		return r.syntax()
	}
	k, err := r.parseKey(args[0])
	if err != nil {
		return r.keyError(err)
	}
	p, ok := parseArgs(args, 1, deleteFlags)
	if !ok {
		return r.syntax()
	}
	n := 0
	for _, f := range []string{"v", "ve", "va"} {
		if p.has(f) {
			n++
		}
	}
	if n > 1 {
		return r.syntax()
	}
	if !r.env.Reg.KeyExists(k.model) {
		return r.fail(r.t.notFound)
	}
	ask := func(prompt string) (bool, int) {
		if p.has("f") {
			return true, 0
		}
		yes, err := r.confirm(prompt)
		if err != nil {
			return false, 1
		}
		if !yes {
			r.write(r.stdout, r.t.cancel) // unverified for delete: same text and exit code as add
			return false, 0
		}
		return true, 0
	}
	switch {
	case p.has("v") || p.has("ve"):
		name := p.arg("v")
		if _, exists := r.env.Reg.Value(k.model, name); !exists {
			return r.fail(r.t.notFound)
		}
		if ok, code := ask(fmt.Sprintf(r.t.promptDeleteValue, name)); !ok {
			return code
		}
		if err := r.env.Reg.DeleteValue(k.model, name); err != nil {
			return r.fail(r.t.notFound)
		}
	case p.has("va"):
		if ok, code := ask(fmt.Sprintf(r.t.promptDeleteAll, k.display())); !ok {
			return code
		}
		if err := r.env.Reg.deleteAllValues(k.model); err != nil {
			return r.fail(r.t.notFound)
		}
	default:
		if k.isRoot || (r.isUserHive(k)) {
			return r.badKey() // unverified: a root (or HKCU itself) cannot be deleted
		}
		if ok, code := ask(fmt.Sprintf(r.t.promptDeleteKey, k.display())); !ok {
			return code
		}
		if err := r.env.Reg.DeleteKey(k.model); err != nil {
			return r.fail(r.t.notFound)
		}
	}
	return r.success()
}

func (r *run) isUserHive(k keyRef) bool {
	return strings.EqualFold(k.display(), HKCU)
}

// ---------------------------------------------------------------------------------------------
// COPY

func (r *run) copy(args []string) int {
	if len(args) < 2 {
		return r.syntax()
	}
	src, err := r.parseKey(args[0])
	if err != nil {
		return r.keyError(err)
	}
	dst, err := r.parseKey(args[1])
	if err != nil {
		return r.keyError(err)
	}
	p, ok := parseArgs(args, 2, copyFlags)
	if !ok {
		return r.syntax()
	}
	if strings.EqualFold(src.model, dst.model) {
		return r.fail(r.t.sameKeys)
	}
	t, err := r.env.Reg.snapshotKey(src.model)
	if err != nil || t == nil {
		return r.fail(r.t.notFound)
	}
	if dst.isRoot {
		return r.badKey() // unverified
	}
	var walk func(dstPath string, t *tree) int
	walk = func(dstPath string, t *tree) int {
		if err := r.env.Reg.EnsureKey(dstPath); err != nil {
			return r.fail(r.t.accessDenied)
		}
		for _, v := range t.values {
			if _, exists := r.env.Reg.Value(dstPath, v.Name); exists && !p.has("f") {
				// unverified: reg copy asks per existing value with the reg add prompt and skips
				// the value on No.
				yes, err := r.confirm(fmt.Sprintf(r.t.promptOverwriteValue, v.Name))
				if err != nil {
					return 1
				}
				if !yes {
					continue
				}
			}
			if err := r.env.Reg.SetValue(dstPath, v); err != nil {
				return r.fail(r.t.accessDenied)
			}
		}
		if p.has("s") {
			for _, s := range t.subs {
				if code := walk(dstPath+`\`+s.name, s); code != 0 {
					return code
				}
			}
		}
		return 0
	}
	if code := walk(dst.model, t); code != 0 {
		return code
	}
	return r.success()
}

// ---------------------------------------------------------------------------------------------
// COMPARE

func (r *run) compare(args []string) int {
	if len(args) < 2 {
		return r.syntax()
	}
	k1, err := r.parseKey(args[0])
	if err != nil {
		return r.keyError(err)
	}
	k2, err := r.parseKey(args[1])
	if err != nil {
		return r.keyError(err)
	}
	p, ok := parseArgs(args, 2, compareFlags)
	if !ok || (p.has("v") && p.has("ve")) {
		return r.syntax()
	}
	modes := 0
	for _, f := range []string{"oa", "od", "os", "on"} {
		if p.has(f) {
			modes++
		}
	}
	if modes > 1 {
		return r.syntax()
	}
	showDiff := !p.has("os") && !p.has("on")
	showSame := p.has("os") || p.has("oa")
	t1, err1 := r.env.Reg.snapshotKey(k1.model)
	t2, err2 := r.env.Reg.snapshotKey(k2.model)
	if err1 != nil || err2 != nil || t1 == nil || t2 == nil {
		return r.fail(r.t.notFound)
	}
	filter := p.has("v") || p.has("ve")
	name := p.arg("v")
	if filter {
		_, ok1 := findValue(t1.values, name)
		_, ok2 := findValue(t2.values, name)
		if !ok1 || !ok2 {
			return r.fail(r.t.notFound)
		}
	}
	var b strings.Builder
	line := func(sym, path string, v Value) {
		n := v.Name
		if n == "" {
			n = r.t.defaultName // unverified: how compare names the default value
		}
		b.WriteString(sym + " " + r.t.cmpValue + path + " " + n + " " + v.Type.String() + " " + formatData(v) + "\r\n")
	}
	different := false
	var cmp func(p1, p2 string, a, c *tree)
	cmp = func(p1, p2 string, a, c *tree) {
		for _, v1 := range a.values {
			if filter && !strings.EqualFold(v1.Name, name) {
				continue
			}
			v2, found := findValue(c.values, v1.Name)
			switch {
			case !found:
				different = true
				if showDiff {
					line("<", p1, v1)
				}
			case v1.Type == v2.Type && string(v1.Data) == string(v2.Data):
				if showSame {
					line("=", p1, v1)
				}
			default:
				different = true
				if showDiff {
					line("<", p1, v1)
					line(">", p2, v2)
				}
			}
		}
		for _, v2 := range c.values {
			if filter && !strings.EqualFold(v2.Name, name) {
				continue
			}
			if _, found := findValue(a.values, v2.Name); !found {
				different = true
				if showDiff {
					line(">", p2, v2)
				}
			}
		}
		if !p.has("s") {
			return
		}
		// unverified: subkeys present on one side only are reported as "Key:" lines.
		subs2 := map[string]*tree{}
		for _, s := range c.subs {
			subs2[strings.ToUpper(s.name)] = s
		}
		for _, s := range a.subs {
			if o := subs2[strings.ToUpper(s.name)]; o != nil {
				cmp(p1+`\`+s.name, p2+`\`+o.name, s, o)
				delete(subs2, strings.ToUpper(s.name))
				continue
			}
			different = true
			if showDiff {
				b.WriteString("< " + r.t.cmpKey + p1 + `\` + s.name + "\r\n")
			}
		}
		for _, s := range c.subs {
			if subs2[strings.ToUpper(s.name)] != nil {
				different = true
				if showDiff {
					b.WriteString("> " + r.t.cmpKey + p2 + `\` + s.name + "\r\n")
				}
			}
		}
	}
	cmp(k1.display(), k2.display(), t1, t2)
	if different {
		b.WriteString(r.t.cmpDifferent)
	} else {
		b.WriteString(r.t.cmpIdentical)
	}
	b.WriteString(r.t.success)
	r.write(r.stdout, b.String())
	if different {
		return 2
	}
	return 0
}

// ---------------------------------------------------------------------------------------------
// EXPORT / IMPORT

// resolvePath makes a file argument absolute against the working directory.
func (r *run) resolvePath(name string) string {
	cwd := r.env.Cwd
	if cwd == "" {
		cwd = `C:\Windows\System32`
	}
	switch {
	case len(name) >= 2 && name[1] == ':':
		if len(name) == 2 || (name[2] != '\\' && name[2] != '/') {
			// drive-relative ("C:x.reg"): relative to the working directory when it is on that drive
			if strings.EqualFold(cwd[:1], name[:1]) {
				return cwd + `\` + name[2:]
			}
			return name[:2] + `\` + name[2:]
		}
		return name
	case strings.HasPrefix(name, `\`) || strings.HasPrefix(name, "/"):
		return cwd[:2] + name
	default:
		return cwd + `\` + name
	}
}

// fileError maps a winfs error to reg.exe's message.
func (r *run) fileError(err error) int {
	switch {
	case errors.Is(err, winfs.ErrPathNotFound), errors.Is(err, winfs.ErrBadPath):
		return r.fail(r.t.pathNotFound) // unverified: reg export's text for a missing directory
	default:
		return r.fail(r.t.accessDenied)
	}
}

func (r *run) export(args []string) int {
	if len(args) < 2 {
		return r.syntax()
	}
	k, err := r.parseKey(args[0])
	if err != nil {
		if errors.Is(err, errRemote) {
			return r.badKey() // unverified: export takes no remote names
		}
		return r.keyError(err)
	}
	p, ok := parseArgs(args, 2, exportFlags)
	if !ok {
		return r.syntax()
	}
	t, err := r.env.Reg.snapshotKey(k.model)
	if err != nil || t == nil {
		return r.fail(r.t.notFound)
	}
	if r.env.FS == nil {
		return r.fail(r.t.accessDenied)
	}
	path := r.resolvePath(p.pos[1])
	if exists, isDir := r.env.FS.Stat(path); exists {
		if isDir {
			return r.fail(r.t.accessDenied)
		}
		if !p.has("y") {
			yes, err := r.confirm(fmt.Sprintf(r.t.promptOverwriteFile, p.pos[1]))
			if err != nil {
				return 1
			}
			if !yes {
				r.write(r.stdout, r.t.cancel) // Wine's export.c: cancel text, exit 0
				return 0
			}
		}
	}
	if err := r.env.FS.WriteFile(path, exportRegFile(k.display(), t)); err != nil {
		return r.fileError(err)
	}
	return r.success()
}

func (r *run) importFile(args []string) int {
	p, ok := parseArgs(args, 1, noFlags)
	if !ok {
		return r.syntax()
	}
	if r.env.FS == nil {
		return r.fail(r.t.fileOpen)
	}
	data, err := r.env.FS.ReadFile(r.resolvePath(p.pos[0]))
	if err != nil {
		return r.fail(r.t.fileOpen)
	}
	ops, err := ParseRegFile(data)
	if err != nil {
		return r.fail(r.t.regAccess)
	}
	failed := false
	for _, op := range ops {
		k, err := r.parseKey(op.Key)
		if err != nil || (k.isRoot && op.Kind == OpDeleteKey) {
			failed = true // unverified: a bad root or deleting a root fails the import
			continue
		}
		switch op.Kind {
		case OpCreateKey:
			err = r.env.Reg.EnsureKey(k.model)
		case OpDeleteKey:
			if err = r.env.Reg.DeleteKey(k.model); errors.Is(err, ErrKeyNotFound) {
				err = nil // deleting a missing key is not an error for regedit
			}
		case OpSetValue:
			err = r.env.Reg.SetValue(k.model, op.Value)
		case OpDeleteValue:
			if err = r.env.Reg.DeleteValue(k.model, op.Value.Name); errors.Is(err, ErrKeyNotFound) || errors.Is(err, ErrValueNotFound) {
				err = nil
			}
		}
		if err != nil {
			failed = true
		}
	}
	if failed {
		return r.fail(r.t.regAccess) // unverified: partial imports report the generic failure
	}
	// reg import writes its success line to stderr (reference 4.1).
	r.write(r.stderr, r.t.success)
	return 0
}
