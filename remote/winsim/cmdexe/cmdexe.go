// Package cmdexe is the cmd.exe of the simulated Windows host: it runs one command line the way
// `cmd.exe /c <line>` does on Windows Server, with the programs of the host (reg.exe,
// powershell.exe, ...) plugged in as callbacks.
//
// What is simulated, faithfully: the /c quote-stripping rule; %VAR% expansion once, at parse time,
// for the whole line (so `reg query X & echo %ERRORLEVEL%` prints the value from before the line);
// quotes, '^' escapes, '&', '&&', '||' with cmd.exe's precedence, parenthesised groups, IF/ELSE
// (ERRORLEVEL, EXIST, DEFINED, CMDEXTVERSION, ==), ECHO, EXIT [/B] [n], MD/MKDIR, TYPE, REM,
// redirections (<, >, >>, n>, 2>&1, 1>&2, NUL), ERRORLEVEL bookkeeping, and the "is not recognized"
// error in en-US and de-DE.
//
// What is not simulated fails loudly: pipes, FOR, SET, CALL, GOTO, SETLOCAL, the other internal
// commands, delayed-expansion-only syntax, %VAR:~n,m%, %DATE%/%TIME%/%RANDOM%/%CMDCMDLINE%, line
// breaks, wildcards and device names other than NUL all write
// `winsim: cmd.exe construct "<what>" is not simulated` to stderr and exit with code 9009 before
// anything on the line runs, so a command that would not work on Windows cannot pass here.
//
// All output is UTF-8 text with CRLF line ends; the WinRS shell transcodes it to the client's code
// page.
package cmdexe

import (
	"context"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/dcproxy/dcproxy/remote/winsim/winfs"
)

// Proc is one program invocation handed to a Program.
type Proc struct {
	// Name is the command token as typed, quotes removed: "reg", "REG.EXE",
	// `C:\Windows\System32\reg.exe`.
	Name string
	// Args is ArgLine split per CommandLineToArgvW rules (quotes removed), see SplitArgs.
	Args []string
	// ArgLine is the argument tail as cmd.exe passes it to the process (after %VAR% expansion, with
	// carets and redirections removed, quotes kept, leading blanks removed), for programs that parse
	// their command line themselves.
	ArgLine string
	// Stdin is the program's standard input (never nil; empty when none).
	Stdin io.Reader
	// Stdout and Stderr receive UTF-8 text with CRLF line ends (never nil).
	Stdout, Stderr io.Writer
}

// Program is a simulated executable. It returns the process exit code. It must honour ctx and may
// be called concurrently from several Runs.
type Program func(ctx context.Context, p *Proc) int

// Exit codes of Run that do not come from a program.
const (
	// ExitNotRecognized is cmd.exe's exit code for an unknown command; the simulator also uses it
	// for constructs it does not simulate.
	ExitNotRecognized = 9009
	// ExitLaunchFailed is the exit code of cmd /c (WinRS) when its last command was not recognized.
	ExitLaunchFailed = 1
	// ExitCanceled is returned when ctx is canceled before the line finished (STATUS_CONTROL_C_EXIT).
	// unverified: what WinRS reports for a terminated command.
	ExitCanceled = 0xC000013A
)

// maxLine is cmd.exe's command-line limit in UTF-16 code units (KB 830473: 8191 characters).
const maxLine = 8191

// Shell is the configuration of the simulated cmd.exe of one host. A Shell is not modified by Run,
// so one Shell may serve concurrent Runs as long as its Programs and FS are safe for concurrent
// use and nobody mutates the Shell meanwhile.
type Shell struct {
	// Programs maps a lower-case base name without ".exe" ("reg", "powershell", "whoami") to its
	// implementation. Internal commands (echo, type, ...) always win over programs. A key with a
	// nil Program is a program removed from the host (e.g. the Windows PowerShell feature
	// uninstalled): cmd.exe says it is not recognized; a system program (reg, powershell, whoami,
	// ...) without a key fails loudly as not simulated instead.
	Programs map[string]Program
	// ProgramDirs optionally maps a Programs key to the directory the program lives in, for
	// commands typed with a path. Default: %SystemRoot%\System32, and for "powershell"
	// %SystemRoot%\System32\WindowsPowerShell\v1.0.
	ProgramDirs map[string]string
	// Env is the initial environment (SystemRoot, USERNAME, COMPUTERNAME, TEMP, ...); names
	// compare case-insensitively.
	Env map[string]string
	// Locale selects the message language: "en-US" (also when empty) or "de-DE".
	Locale string
	// Cwd is the working directory; default %USERPROFILE%, else C:\Windows\System32.
	// unverified: the working directory WinRS gives cmd.exe.
	Cwd string
	// FS is the host's file system, used by MD/MKDIR, TYPE, IF EXIST and file redirections; when
	// nil those fail loudly.
	FS *winfs.FS
}

// Run executes one command line as `cmd.exe /c <line>` would and returns the exit code cmd.exe
// returns: the ERRORLEVEL when the line ends (internal commands such as ECHO leave it unchanged),
// or the code given to EXIT. stdin may be nil (empty input); stdout and stderr may be nil
// (discarded). Run never panics on bad input; constructs it does not simulate produce the
// "is not simulated" message and ExitNotRecognized.
func (s *Shell) Run(ctx context.Context, line string, stdin io.Reader, stdout, stderr io.Writer) int {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	loc := s.Locale
	if loc == "" {
		loc = "en-US"
	}
	m, ok := locales[loc]
	if !ok {
		_, _ = io.WriteString(stderr, notSimulatedText("locale "+loc))
		return ExitNotRecognized
	}
	st := &runState{sh: s, ctx: ctx, m: m, env: make(map[string]string, len(s.Env)), echoOn: true}
	for k, v := range s.Env {
		st.env[strings.ToUpper(k)] = v
	}
	st.cwd = s.Cwd
	if st.cwd == "" {
		st.cwd = st.env["USERPROFILE"]
	}
	if c, err := winfs.Clean(st.cwd); err == nil {
		st.cwd = c
	} else {
		st.cwd = st.systemRoot() + `\System32`
	}

	if i := strings.IndexAny(line, "\r\n\x00"); i >= 0 {
		_, _ = io.WriteString(stderr, notSimulatedText("line break or NUL in the command line"))
		return ExitNotRecognized
	}
	line = s.stripSlashCQuotes(line, st)
	if strings.Trim(line, " \t") == "" {
		return 0
	}
	// unverified: the exit code (1) and whether the limit is checked before and after expansion.
	if utf16Len(line) > maxLine {
		_, _ = io.WriteString(stderr, m.tooLong)
		return 1
	}
	expanded, err := st.expandPercent(line)
	if err == nil && expanded != line && utf16Len(expanded) > maxLine { // an unchanged line was measured above
		_, _ = io.WriteString(stderr, m.tooLong)
		return 1
	}
	var tree node
	if err == nil {
		tree, err = parseCached(expanded, st.cwd, s.FS != nil, s.Programs)
	}
	if err != nil {
		var ns *notSimulated
		if errors.As(err, &ns) {
			_, _ = io.WriteString(stderr, notSimulatedText(ns.what))
		} else {
			_, _ = io.WriteString(stderr, notSimulatedText(err.Error()))
		}
		return ExitNotRecognized
	}
	st.exec(tree, streams{in: stdin, out: stdout, err: stderr}, false)
	if ctx.Err() != nil {
		return ExitCanceled
	}
	if st.exited {
		return st.exitCode
	}
	// cmd /c whose last command could not be launched exits 1, while ERRORLEVEL inside cmd (and the
	// exit code of a batch file ending so) is 9009: npm's `cmd /d /s /c` reports "is not recognized
	// ... Exit status 1" (nodejs/help#1126), and WinRS runs the line the same way (fidelity D1).
	// unverified: that a line ending in an internal command after the failure keeps 9009.
	if st.launchFailed && st.errorlevel == ExitNotRecognized {
		return ExitLaunchFailed
	}
	return st.errorlevel
}

// stripSlashCQuotes applies cmd /c's quote rule (cmd /?): the quotes are kept only when the line
// has exactly two quote characters, nothing of &<>()@^| between them, at least one blank between
// them, and the quoted text names an executable; otherwise a leading quote and the last quote of
// the line are removed.
// unverified: that WinRS runs `cmd.exe /c <line>` without /S.
func (s *Shell) stripSlashCQuotes(line string, st *runState) string {
	t := strings.TrimLeft(line, " \t")
	if !strings.HasPrefix(t, `"`) {
		return line
	}
	if strings.Count(t, `"`) == 2 {
		inner := t[1 : 1+strings.IndexByte(t[1:], '"')]
		if !strings.ContainsAny(inner, "&<>()@^|") && strings.ContainsAny(inner, " \t") {
			if _, status := s.lookup(inner, st); status == found {
				return line
			}
		}
	}
	t = t[1:]
	if i := strings.LastIndexByte(t, '"'); i >= 0 {
		t = t[:i] + t[i+1:]
	}
	return t
}

func utf16Len(s string) int {
	// ASCII, the common case, is one unit per byte: 8 bytes are checked at a time.
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if (s[i]|s[i+1]|s[i+2]|s[i+3]|s[i+4]|s[i+5]|s[i+6]|s[i+7])&0x80 != 0 {
			break
		}
	}
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++
	}
	n := i
	s = s[i:]
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}
