package cmdexe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"

	"github.com/dcproxy/dcproxy/remote/winsim/winfs"
)

// runState is one cmd.exe process: it lives for one Run.
type runState struct {
	sh         *Shell
	ctx        context.Context
	m          *msgs
	env        map[string]string // upper-case names
	cwd        string
	errorlevel int
	echoOn     bool
	exited     bool
	exitCode   int
	// launchFailed: the last simple command was an external command that was not recognized.
	launchFailed bool
}

type streams struct {
	in       io.Reader
	out, err io.Writer
}

func (st *runState) systemRoot() string {
	if v := st.env["SYSTEMROOT"]; len(v) >= 3 && v[1] == ':' {
		return strings.TrimRight(v, `\`)
	}
	return `C:\Windows`
}

func (st *runState) say(w io.Writer, s string) { _, _ = io.WriteString(w, s) }

// exec runs a node and returns its return code (0 = success for && and ||). cond is true while
// the node is the left operand of && or ||, which changes how some failures set ERRORLEVEL.
func (st *runState) exec(n node, ios streams, cond bool) int {
	if st.exited {
		return st.exitCode
	}
	if st.ctx.Err() != nil {
		st.exited, st.exitCode = true, ExitCanceled
		return st.exitCode
	}
	switch n := n.(type) {
	case *seqNode:
		switch n.op {
		case opAmp:
			// a & b & c is the left-deep tree ((a & b) & c): run its left spine in a loop rather than
			// by recursion, which a long batch line would make deep enough to grow the stack. The
			// nested nodes' own checks above would come right after this one: nothing is skipped.
			var buf [32]node
			rights := buf[:0]
			left := node(n)
			for {
				s, ok := left.(*seqNode)
				if !ok || s.op != opAmp {
					break
				}
				rights = append(rights, s.right)
				left = s.left
			}
			st.exec(left, ios, false)
			for i := len(rights) - 1; i > 0; i-- {
				st.exec(rights[i], ios, false)
			}
			return st.exec(rights[0], ios, cond)
		case opAnd:
			if rc := st.exec(n.left, ios, true); rc != 0 || st.exited {
				return rc
			}
			return st.exec(n.right, ios, cond)
		default: // opOr
			if rc := st.exec(n.left, ios, true); rc == 0 || st.exited {
				return rc
			}
			return st.exec(n.right, ios, cond)
		}
	case *groupNode:
		sio, sinks, ok := st.redirect(n.redirs, ios, cond)
		if !ok {
			return 1
		}
		rc := st.exec(n.body, sio, cond)
		st.flush(sinks, ios.err)
		return rc
	case *ifNode:
		if st.test(n) {
			return st.exec(n.body, ios, cond)
		}
		if n.elseBody != nil {
			return st.exec(n.elseBody, ios, cond)
		}
		return 0
	case *remNode:
		return 0
	case *simpleNode:
		sio, sinks, ok := st.redirect(n.redirs, ios, cond)
		if !ok {
			return 1
		}
		rc := st.simple(n, sio, cond)
		st.flush(sinks, ios.err)
		return rc
	}
	return 0
}

func (st *runState) test(n *ifNode) bool {
	var r bool
	switch n.kind {
	case ifErrorlevel:
		r = st.errorlevel >= n.level
	case ifCmdExtVersion:
		r = 2 >= n.level
	case ifExist:
		if n.device {
			r = true
		} else if n.a != "" {
			r, _ = st.sh.FS.Stat(n.a)
		}
	case ifDefined:
		_, r = st.env[strings.ToUpper(n.a)]
	case ifCompare:
		if n.ci {
			r = strings.EqualFold(n.a, n.b)
		} else {
			r = n.a == n.b
		}
	}
	return r != n.not
}

// fileSink buffers what a command writes to a redirected file; flush stores it.
type fileSink struct {
	path   string
	append bool
	buf    bytes.Buffer
}

func (f *fileSink) Write(p []byte) (int, error) { return f.buf.Write(p) }

// redirect applies redirections left to right. On failure it reports the error on the stderr in
// effect, and returns ok=false; the command does not run and its return code is 1. Per Wine's
// tests that run on Windows ("success/failure for basics"), ERRORLEVEL becomes 1 only when the
// command is the left operand of && or ||.
func (st *runState) redirect(rs []redir, base streams, cond bool) (streams, []*fileSink, bool) {
	cur := base
	var sinks []*fileSink
	fail := func(msg string) (streams, []*fileSink, bool) {
		st.say(cur.err, msg)
		if cond {
			st.errorlevel = 1
		}
		st.flush(sinks, base.err)
		return base, nil, false
	}
	for _, r := range rs {
		var w io.Writer
		switch r.mode {
		case rIn:
			if r.null {
				cur.in = strings.NewReader("")
				continue
			}
			data, err := st.sh.FS.ReadFile(r.path)
			if err != nil {
				return fail(st.fsMsg(err))
			}
			cur.in = bytes.NewReader(data)
			continue
		case rDup:
			if r.dupFd == 1 {
				w = cur.out
			} else {
				w = cur.err
			}
		default:
			if r.null {
				w = io.Discard
				break
			}
			fs := st.sh.FS
			if r.mode == rAppend {
				if ok, dir := fs.Stat(r.path); ok && dir {
					return fail(st.m.accessDenied)
				} else if !ok {
					if err := fs.WriteFile(r.path, nil); err != nil {
						return fail(st.fsMsg(err))
					}
				}
			} else if err := fs.WriteFile(r.path, nil); err != nil {
				return fail(st.fsMsg(err))
			}
			s := &fileSink{path: r.path, append: r.mode == rAppend}
			sinks = append(sinks, s)
			w = s
		}
		if r.fd == 1 {
			cur.out = w
		} else {
			cur.err = w
		}
	}
	return cur, sinks, true
}

func (st *runState) flush(sinks []*fileSink, errw io.Writer) {
	for _, s := range sinks {
		if s.buf.Len() == 0 {
			continue
		}
		data := s.buf.Bytes()
		if s.append {
			old, err := st.sh.FS.ReadFile(s.path)
			if err != nil && !errors.Is(err, winfs.ErrNotExist) {
				st.say(errw, st.fsMsg(err))
				continue
			}
			data = append(old, data...)
		}
		if err := st.sh.FS.WriteFile(s.path, data); err != nil {
			st.say(errw, st.fsMsg(err))
		}
	}
}

// fsMsg maps a winfs error to the Windows message cmd.exe prints for it.
func (st *runState) fsMsg(err error) string {
	switch {
	case errors.Is(err, winfs.ErrPathNotFound):
		return st.m.pathNotFound
	case errors.Is(err, winfs.ErrNotExist):
		return st.m.fileNotFound
	case errors.Is(err, winfs.ErrBadPath):
		return st.m.badName
	default: // ErrIsDir, ErrReadOnly, ErrExist
		return st.m.accessDenied
	}
}

func (st *runState) simple(n *simpleNode, ios streams, cond bool) int {
	st.launchFailed = false
	switch n.kind {
	case kEcho:
		st.echo(n.text[4:], ios.out)
		return 0
	case kExit:
		code := st.errorlevel // unverified: EXIT without a code keeps the current ERRORLEVEL
		if n.exitSet {
			code = n.exitArg
		}
		if n.exitB {
			st.errorlevel = code
		}
		st.exited, st.exitCode = true, code
		return code
	case kMkdir:
		return st.mkdir(n, ios)
	case kType:
		return st.typeCmd(n, ios)
	}
	return st.external(n, ios, cond)
}

// echo prints the text after the word ECHO. A blank after ECHO is a separator; ".:(/\[]+,;=" right
// after ECHO print the rest verbatim, even when empty (Wine's tests, validated on Windows, cover
// ". : /"; the others are unverified).
func (st *runState) echo(rest string, out io.Writer) {
	state := func() {
		if st.echoOn {
			st.say(out, st.m.echoOn)
		} else {
			st.say(out, st.m.echoOff)
		}
	}
	if rest == "" {
		state()
		return
	}
	msg := rest[1:]
	if rest[0] == ' ' || rest[0] == '\t' {
		t := strings.Trim(msg, " \t")
		switch {
		case t == "":
			state()
			return
		case strings.EqualFold(t, "on"):
			st.echoOn = true
			return
		case strings.EqualFold(t, "off"):
			st.echoOn = false
			return
		}
	}
	st.say(out, msg+"\r\n")
}

// mkdir creates each operand with its missing parents. Success sets ERRORLEVEL 0, any failure 1
// (Wine's "success/failure for MKDIR,MD command", validated on Windows).
func (st *runState) mkdir(n *simpleNode, ios streams) int {
	if len(n.paths) == 0 {
		st.say(ios.err, st.m.syntax)
		st.errorlevel = 1
		return 1
	}
	failed := false
	for i, p := range n.paths {
		if err := st.sh.FS.MkdirAll(p); err != nil {
			failed = true
			if errors.Is(err, winfs.ErrExist) {
				st.say(ios.err, fmt.Sprintf(st.m.mkdirExists, n.raw[i]))
			} else {
				st.say(ios.err, st.fsMsg(err))
			}
		}
	}
	if failed {
		st.errorlevel = 1
		return 1
	}
	st.errorlevel = 0
	return 0
}

// typeCmd shows one file. A UTF-16LE file with a byte-order mark is shown as text, as cmd.exe
// does; other bytes are copied unchanged. Success sets ERRORLEVEL 0, failure 1.
func (st *runState) typeCmd(n *simpleNode, ios streams) int {
	if len(n.paths) == 0 {
		st.say(ios.err, st.m.syntax)
		st.errorlevel = 1
		return 1
	}
	if n.paths[0] == "" { // NUL
		st.errorlevel = 0
		return 0
	}
	data, err := st.sh.FS.ReadFile(n.paths[0])
	if err != nil {
		st.say(ios.err, st.fsMsg(err))
		st.errorlevel = 1
		return 1
	}
	if len(data) >= 2 && data[0] == 0xFF && data[1] == 0xFE {
		u := make([]uint16, (len(data)-2)/2)
		for i := range u {
			u[i] = uint16(data[2+2*i]) | uint16(data[3+2*i])<<8
		}
		st.say(ios.out, string(utf16.Decode(u)))
	} else {
		_, _ = ios.out.Write(data)
	}
	st.errorlevel = 0
	return 0
}

type lookupStatus int

const (
	found lookupStatus = iota
	notFound
	pathNotFound
)

// lookup finds the program a command token names. A bare name ("reg", "reg.exe") is searched in
// Programs; a name with a directory must name the program's directory. A directory that does not
// exist in FS gives pathNotFound.
func (s *Shell) lookup(name string, st *runState) (Program, lookupStatus) {
	dir, base := "", name
	if i := strings.LastIndexAny(name, `\/`); i >= 0 {
		dir, base = name[:i], name[i+1:]
	} else if len(name) >= 2 && name[1] == ':' {
		return nil, notFound
	}
	key := strings.ToLower(base)
	if strings.HasSuffix(key, ".exe") {
		key = strings.TrimSuffix(key, ".exe")
	} else if strings.Contains(key, ".") {
		return nil, notFound
	}
	prog, ok := s.Programs[key]
	if dir == "" {
		if ok && prog != nil {
			return prog, found
		}
		return nil, notFound
	}
	abs := dir
	if !(len(dir) >= 3 && dir[1] == ':' && (dir[2] == '\\' || dir[2] == '/')) {
		if strings.HasPrefix(dir, `\\`) || (len(dir) >= 2 && dir[1] == ':') {
			return nil, notFound
		}
		if strings.HasPrefix(dir, `\`) || strings.HasPrefix(dir, `/`) || dir == "" {
			abs = st.cwd[:2] + dir
		} else {
			abs = strings.TrimRight(st.cwd, `\`) + `\` + dir
		}
	}
	clean, err := winfs.Clean(abs)
	if err != nil {
		return nil, notFound
	}
	if ok && prog != nil {
		want := s.ProgramDirs[key]
		if want == "" {
			want = st.systemRoot() + `\System32`
			if key == "powershell" {
				want += `\WindowsPowerShell\v1.0`
			}
		}
		if w, err := winfs.Clean(want); err == nil && strings.EqualFold(w, clean) {
			return prog, found
		}
	}
	if s.FS != nil {
		if ok, isDir := s.FS.Stat(clean); !ok || !isDir {
			return nil, pathNotFound
		}
	}
	return nil, notFound
}

// external runs a program. An unknown command prints "is not recognized" and sets ERRORLEVEL 9009;
// a missing directory prints "cannot find the path specified" and sets 3. As the left operand of
// && or || both set ERRORLEVEL 1 instead (Wine's "success/failure for external command",
// validated on Windows).
func (st *runState) external(n *simpleNode, ios streams, cond bool) int {
	prog, status := st.sh.lookup(n.name, st)
	switch status {
	case found:
		rc := prog(st.ctx, &Proc{Name: n.name, Args: SplitArgs(n.argLine), ArgLine: n.argLine,
			Stdin: ios.in, Stdout: ios.out, Stderr: ios.err})
		st.errorlevel = rc
		return rc
	case pathNotFound:
		st.say(ios.err, st.m.pathNotFound)
		st.errorlevel = 3
	default:
		st.say(ios.err, fmt.Sprintf(st.m.notRecognized, n.token))
		st.errorlevel = ExitNotRecognized
		st.launchFailed = true
	}
	if cond {
		st.errorlevel = 1
	}
	return st.errorlevel
}
