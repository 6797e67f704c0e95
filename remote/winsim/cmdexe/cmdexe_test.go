package cmdexe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/dcproxy/dcproxy/remote/winsim/winfs"
)

// testShell returns a shell with three fake programs:
//
//	reg   prints "ARGS:" + Args joined by "|" to stdout; with first argument "fail" it also prints
//	      "ERROR: failed" to stderr and exits 1; with "code" N it exits N.
//	cat   copies stdin to stdout.
//	line  prints Name and ArgLine.
func testShell(locale string) *Shell {
	fs := winfs.New()
	_ = fs.MkdirAll(`C:\Users\admin`)
	return &Shell{
		Locale: locale,
		Cwd:    `C:\Users\admin`,
		FS:     fs,
		Env: map[string]string{
			"SystemRoot": `C:\Windows`, "USERNAME": "admin", "COMPUTERNAME": "DC01",
			"TEMP": `C:\Users\admin\AppData\Local\Temp`, "Mixed": "mixed value",
		},
		Programs: map[string]Program{
			"reg": func(_ context.Context, p *Proc) int {
				fmt.Fprintf(p.Stdout, "ARGS:%s\r\n", strings.Join(p.Args, "|"))
				if len(p.Args) > 0 && p.Args[0] == "fail" {
					fmt.Fprint(p.Stderr, "ERROR: failed\r\n")
					return 1
				}
				if len(p.Args) > 1 && p.Args[0] == "code" {
					n, _ := strconv.Atoi(p.Args[1])
					return n
				}
				return 0
			},
			"cat": func(_ context.Context, p *Proc) int {
				_, _ = io.Copy(p.Stdout, p.Stdin)
				return 0
			},
			"line": func(_ context.Context, p *Proc) int {
				fmt.Fprintf(p.Stdout, "%s|%s\r\n", p.Name, p.ArgLine)
				return 0
			},
		},
	}
}

type runCase struct {
	name    string
	locale  string
	line    string
	stdin   string
	setup   func(*Shell)
	out     string
	errOut  string
	rc      int
	checkFS func(*testing.T, *winfs.FS)
}

func runCases(t *testing.T, cases []runCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sh := testShell(c.locale)
			if c.setup != nil {
				c.setup(sh)
			}
			var out, errOut bytes.Buffer
			var in io.Reader
			if c.stdin != "" {
				in = strings.NewReader(c.stdin)
			}
			rc := sh.Run(context.Background(), c.line, in, &out, &errOut)
			if out.String() != c.out || errOut.String() != c.errOut || rc != c.rc {
				t.Errorf("Run(%q)\n got rc=%d out=%q err=%q\nwant rc=%d out=%q err=%q",
					c.line, rc, out.String(), errOut.String(), c.rc, c.out, c.errOut)
			}
			if c.checkFS != nil {
				c.checkFS(t, sh.FS)
			}
		})
	}
}

const (
	notRecEN = " is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
	regErr   = "ERROR: failed\r\n"
)

func notRecDE(name string) string {
	return "Der Befehl \"" + name + "\" ist entweder falsch geschrieben oder\r\nkonnte nicht gefunden werden.\r\n"
}

func TestQuotingAndArguments(t *testing.T) {
	runCases(t, []runCase{
		{name: "ampersand inside quotes is one argument", line: `reg query "HKCU\Software\A&B" /v X`,
			out: "ARGS:query|HKCU\\Software\\A&B|/v|X\r\n"},
		{name: "caret escapes ampersand", line: `reg query HKCU\A^&B`, out: "ARGS:query|HKCU\\A&B\r\n"},
		{name: "caret is literal inside quotes", line: `reg "a^b" a^^b`, out: "ARGS:a^b|a^b\r\n"},
		{name: "backslash-quote rules", line: `reg "a\"b" c\\"d e" "f\\"`, out: "ARGS:a\"b|c\\d e|f\\\r\n"},
		{name: "empty argument", line: `reg a "" b`, out: "ARGS:a||b\r\n"},
		{name: "ArgLine keeps quotes and trailing blanks", line: `line -EncodedCommand "x y"  & echo.`,
			out: "line|-EncodedCommand \"x y\"  \r\n\r\n"},
		{name: "program name as typed", line: `REG.EXE a`, out: "ARGS:a\r\n"},
		{name: "full path to System32", line: `C:\Windows\System32\reg.exe a`, out: "ARGS:a\r\n"},
		{name: "quoted full path, two quotes", line: `"C:\Windows\System32\reg.exe" a`, out: "ARGS:a\r\n"},
		// The classic cmd /c pitfall: first and last quote are stripped.
		{name: "quoted full path, four quotes", line: `"C:\Windows\System32\reg.exe" a "b c"`, rc: 1,
			errOut: `'C:\Windows\System32\reg.exe" a "b'` + notRecEN},
		{name: "wrong directory is not recognized", line: `C:\Windows\reg.exe a`, rc: 1,
			errOut: `'C:\Windows\reg.exe'` + notRecEN},
		{name: "missing directory", line: `C:\nowhere\reg.exe a`, rc: 3,
			errOut: "The system cannot find the path specified.\r\n"},
		{name: "other extension is not recognized", line: `reg.bat a`, rc: 1, errOut: `'reg.bat'` + notRecEN},
		{name: "redirections cut out of the argument tail", line: `line a 2>nul b`, out: "line|a  b\r\n"},
		{name: "handle digit needs a blank before it", line: `echo foo1> C:\f.txt& type C:\f.txt`,
			out: "foo1\r\n"},
		{name: "stdin reaches the program", line: `cat`, stdin: "hello\r\n", out: "hello\r\n"},
		{name: "stdin from NUL", line: `cat <NUL`, stdin: "hello\r\n", out: ""},
		{name: "stdin from file", line: `echo data>C:\in.txt& cat < C:\in.txt`, out: "data\r\n"},
	})
}

// /c quote rule: quotes survive only around an executable name containing a blank.
func TestSlashCQuoteRule(t *testing.T) {
	withTools := func(sh *Shell) {
		sh.ProgramDirs = map[string]string{"reg": `C:\Program Files\Tools`}
		_ = sh.FS.MkdirAll(`C:\Program Files\Tools`)
	}
	runCases(t, []runCase{
		{name: "leading and last quote stripped", line: `"foo bar" x`, rc: 1, errOut: `'foo'` + notRecEN},
		{name: "two quotes around an executable with a blank are kept", setup: withTools,
			line: `"C:\Program Files\Tools\reg.exe" a`, out: "ARGS:a\r\n"},
		{name: "more than two quotes: stripped, path breaks", setup: withTools,
			line: `"C:\Program Files\Tools\reg.exe" "a"`, rc: 1, errOut: `'C:\Program'` + notRecEN},
		{name: "outer quotes around a whole command line", line: `"echo a & echo b"`, out: "a \r\nb\r\n"},
	})
}

func TestEcho(t *testing.T) {
	runCases(t, []runCase{
		{name: "spacing kept", line: "echo a  b  ", out: "a  b  \r\n"},
		{name: "only the first blank separates", line: "echo \tword", out: "\tword\r\n"},
		{name: "tab separates", line: "echo\tword", out: "word\r\n"},
		{name: "trailing blank before operator kept", line: "echo a & echo b", out: "a \r\nb\r\n"},
		{name: "echo dot", line: "echo.", out: "\r\n"},
		{name: "echo dot text", line: "echo.word", out: "word\r\n"},
		{name: "echo colon", line: "echo:", out: "\r\n"},
		{name: "echo slash", line: "echo/x", out: "x\r\n"},
		{name: "echo paren", line: "echo(x", out: "x\r\n"},
		{name: "state", line: "echo", out: "ECHO is on.\r\n"},
		{name: "state with blanks", line: "echo   ", out: "ECHO is on.\r\n"},
		{name: "off then state", line: "echo off & echo", out: "ECHO is off.\r\n"},
		{name: "off with more words is text", line: "echo off now", out: "off now\r\n"},
		{name: "de state", locale: "de-DE", line: "echo", out: "ECHO ist eingeschaltet (ON).\r\n"},
		{name: "quotes kept", line: `echo "a & b" ^& c`, out: "\"a & b\" & c\r\n"},
		{name: "escaped redirection", line: "echo ^<tag^>", out: "<tag>\r\n"},
		{name: "trailing caret dropped", line: "echo a^", out: "a\r\n"},
		{name: "double caret", line: "echo hell^^o", out: "hell^o\r\n"},
		{name: "redirection before text", line: "echo>C:\\f.txt a b& type C:\\f.txt", out: "a b\r\n"},
		{name: "at sign", line: "@echo x", out: "x\r\n"},
		{name: "1>&2", line: "echo x 1>&2", errOut: "x \r\n"},
		{name: "echo.exe is echo", line: "echo.exe", out: "exe\r\n"},
	})
}

func TestPercentExpansion(t *testing.T) {
	runCases(t, []runCase{
		{name: "parse-time ERRORLEVEL trap", line: `reg fail & echo %ERRORLEVEL%`,
			out: "ARGS:fail\r\n0\r\n", errOut: regErr, rc: 1},
		{name: "IF ERRORLEVEL sees the new value", line: `reg fail & if errorlevel 1 echo failed`,
			out: "ARGS:fail\r\nfailed\r\n", errOut: regErr, rc: 1},
		{name: "variable", line: `echo %USERNAME%@%computername%`, out: "admin@DC01\r\n"},
		{name: "value with blank", line: `reg %Mixed%`, out: "ARGS:mixed|value\r\n"},
		{name: "undefined kept", line: `echo %NOPE% x`, out: "%NOPE% x\r\n"},
		{name: "resume after first percent", line: `echo %a %USERNAME% c%`, out: "%a admin c%\r\n"},
		{name: "double percent is no escape", line: `echo %%USERNAME%%`, out: "%admin%\r\n"},
		{name: "unclosed", line: `echo 100%`, out: "100%\r\n"},
		{name: "expanded inside quotes", line: `echo "%USERNAME%"`, out: "\"admin\"\r\n"},
		{name: "CD", line: `echo %CD%`, out: "C:\\Users\\admin\r\n"},
		{name: "CD normalized", setup: func(sh *Shell) { sh.Cwd = `c:/users/admin/` }, line: `echo %CD%`, out: "C:\\users\\admin\r\n"},
		{name: "CD default", setup: func(sh *Shell) { sh.Cwd = "" }, line: `echo %CD%`, out: "C:\\Windows\\System32\r\n"},
		{name: "CMDEXTVERSION", line: `echo %CMDEXTVERSION%`, out: "2\r\n"},
		{name: "expanded operators are live", setup: func(sh *Shell) { sh.Env["OPS"] = "a & echo b" },
			line: `echo %OPS%`, out: "a \r\nb\r\n"},
		{name: "env wins over dynamic", setup: func(sh *Shell) { sh.Env["errorlevel"] = "7" },
			line: `echo %ERRORLEVEL%`, out: "7\r\n"},
	})
}

func TestOperators(t *testing.T) {
	runCases(t, []runCase{
		{name: "and after success", line: `reg ok && echo yes`, out: "ARGS:ok\r\nyes\r\n"},
		{name: "and after failure", line: `reg fail && echo yes`, out: "ARGS:fail\r\n", errOut: regErr, rc: 1},
		{name: "or after failure", line: `reg fail || echo no`, out: "ARGS:fail\r\nno\r\n", errOut: regErr, rc: 1},
		{name: "or after success", line: `reg ok || echo no`, out: "ARGS:ok\r\n"},
		{name: "echo does not reset ERRORLEVEL", line: `reg fail & echo done`,
			out: "ARGS:fail\r\ndone\r\n", errOut: regErr, rc: 1},
		{name: "exit code of last program", line: `reg fail & reg code 5`,
			out: "ARGS:fail\r\nARGS:code|5\r\n", errOut: regErr, rc: 5},
		// Wine test_builtins "chain success/failure", validated on Windows.
		{name: "k: || binds looser than &&", line: `echo k1||echo k2&&echo k3`, out: "k1\r\n"},
		{name: "j: & binds looser than ||", line: `echo j1||echo j2&echo j3`, out: "j1\r\nj3\r\n"},
		{name: "i: failure", line: `reg fail&&echo i2||echo i3`, out: "ARGS:fail\r\ni3\r\n", errOut: regErr, rc: 1},
		{name: "k: failure", line: `reg fail||echo k2&&echo k3`, out: "ARGS:fail\r\nk2\r\nk3\r\n", errOut: regErr, rc: 1},
		{name: "group", line: `reg ok || (echo a & echo b) & echo c`, out: "ARGS:ok\r\nc\r\n"},
		{name: "group runs on failure", line: `reg fail || (echo a& echo b)`, out: "ARGS:fail\r\na\r\nb\r\n", errOut: regErr, rc: 1},
		{name: "group redirection", line: `(echo a & echo b) >nul & echo c`, out: "c\r\n"},
		{name: "redirection before group", line: `>C:\g.txt (echo a) & type C:\g.txt`, out: "a\r\n"},
		{name: "trailing ampersand", line: `echo a &`, out: "a \r\n"},
		{name: "rem", line: `rem reg fail & echo x`, out: ""},
		{name: "exit stops the line", line: `echo a & exit 4 & echo b`, out: "a \r\n", rc: 4},
		{name: "exit /b sets code", line: `exit /b 3`, rc: 3},
		{name: "exit /b keeps ERRORLEVEL", line: `reg fail & exit /b`, out: "ARGS:fail\r\n", errOut: regErr, rc: 1},
		{name: "empty line", line: "   ", rc: 0},
	})
}

func TestIf(t *testing.T) {
	runCases(t, []runCase{
		{name: "errorlevel false", line: `if errorlevel 1 (echo one) else echo zero`, out: "zero\r\n"},
		{name: "not errorlevel", line: `reg code 2 & if not errorlevel 3 echo below`, out: "ARGS:code|2\r\nbelow\r\n", rc: 2},
		{name: "exist dir", line: `if exist C:\Windows echo yes`, out: "yes\r\n"},
		{name: "exist quoted relative", line: `mkdir "a b" & if exist "a b" echo yes`, out: "yes\r\n"},
		{name: "not exist with else", line: `if not exist C:\nope (echo no) else echo yes`, out: "no\r\n"},
		{name: "compare case-sensitive", line: `if "A"=="a" (echo same) else (echo diff)`, out: "diff\r\n"},
		{name: "compare /i", line: `if /i "A"=="a" echo same`, out: "same\r\n"},
		{name: "defined", line: `if defined TEMP echo t & if not defined NOPE echo n`, out: "t \r\nn\r\n"},
		{name: "body takes the whole chain (false)", line: `if 1==0 echo a & echo b`, out: ""},
		{name: "body takes the whole chain (true)", line: `if 1==1 echo a & echo b`, out: "a \r\nb\r\n"},
		{name: "else only after brackets", line: `if 1==1 echo c1&&echo c2 else echo c3`, out: "c1\r\nc2 else echo c3\r\n"},
		// Wine test_builtins "chain else", validated on Windows.
		{name: "else a", line: `if 1==1 if 2==2 if 3==3 (echo a1) else (echo a2) else echo a3`, out: "a1\r\n"},
		{name: "else b", line: `if 1==1 if 2==2 if 3==0 (echo b1) else (echo b2) else echo b3`, out: "b2\r\n"},
		{name: "else c", line: `if 1==1 if 2==0 if 3==3 (echo c1) else (echo c2) else echo c3`, out: "c3\r\n"},
		{name: "else e", line: `if 1==0 if 2==2 if 3==3 (echo e1) else (echo e2) else echo e3`, out: ""},
		{name: "else chain", line: `if 1==0 (echo q1) else echo q2&echo q3`, out: "q2\r\nq3\r\n"},
		{name: "else not taken", line: `if 1==1 (echo o1) else echo o2&&echo o3`, out: "o1\r\n"},
		{name: "if false is success for &&", line: `(if 1==0 echo x) && echo ok`, out: "ok\r\n"},
	})
}

func TestUnknownCommands(t *testing.T) {
	runCases(t, []runCase{
		{name: "en", line: `frobnicate /all`, rc: 1, errOut: `'frobnicate'` + notRecEN},
		{name: "de", locale: "de-DE", line: `frobnicate /all`, rc: 1, errOut: notRecDE("frobnicate")},
		{name: "/c strips the quotes of a leading quoted command", line: `"echo" hi`, out: "hi\r\n"},
		{name: "quoted internal command mid-line", line: `echo.& "type" x`, rc: 1, out: "\r\n", errOut: `'"type"'` + notRecEN},
		{name: "leading quotes stripped by /c", line: `"x" & echo`, rc: 9009, out: "ECHO is on.\r\n", errOut: `'x'` + notRecEN},
		{name: "quoted token keeps quotes", line: `echo.& "x y" z`, rc: 1, out: "\r\n", errOut: `'"x y"'` + notRecEN},
		{name: "quoted token de", locale: "de-DE", line: `echo.& "x y" z`, rc: 1, out: "\r\n", errOut: notRecDE(`"x y"`)},
		{name: "stderr redirected", line: `frobnicate 2>nul`, rc: 1},
		{name: "as left operand of || sets 1", line: `frobnicate || echo alt`, out: "alt\r\n", rc: 1,
			errOut: `'frobnicate'` + notRecEN},
		{name: "ERRORLEVEL 9009 for IF", line: `frobnicate 2>nul & if errorlevel 9009 echo nf`, out: "nf\r\n", rc: 9009},
		// Fidelity D1: cmd /c exits 1 when its last command was not recognized, ERRORLEVEL stays 9009.
		{name: "ERRORLEVEL 9009 inside, exit 1", line: `frobnicate 2>nul & if errorlevel 9009 frobnicate 2>nul`, rc: 1},
	})
}

func utf16File(s string) []byte {
	b := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func TestFileCommands(t *testing.T) {
	fileIs := func(path, want string) func(*testing.T, *winfs.FS) {
		return func(t *testing.T, fs *winfs.FS) {
			t.Helper()
			got, err := fs.ReadFile(path)
			if err != nil || string(got) != want {
				t.Errorf("%s = %q, %v; want %q", path, got, err, want)
			}
		}
	}
	dirExists := func(path string) func(*testing.T, *winfs.FS) {
		return func(t *testing.T, fs *winfs.FS) {
			t.Helper()
			if ok, dir := fs.Stat(path); !ok || !dir {
				t.Errorf("%s: exists=%v dir=%v", path, ok, dir)
			}
		}
	}
	runCases(t, []runCase{
		{name: "mkdir with parents", line: `mkdir C:\Windows\Temp\dcproxy\2024`, checkFS: dirExists(`C:\Windows\Temp\dcproxy\2024`)},
		{name: "md relative", line: `md backup`, checkFS: dirExists(`C:\Users\admin\backup`)},
		{name: "mkdir resets ERRORLEVEL", line: `reg fail & mkdir x`, out: "ARGS:fail\r\n", errOut: regErr, rc: 0},
		{name: "mkdir exists", line: `mkdir C:\Windows`, rc: 1, errOut: "A subdirectory or file C:\\Windows already exists.\r\n"},
		{name: "mkdir exists de", locale: "de-DE", line: `mkdir "C:\Windows"`, rc: 1,
			errOut: "Ein Unterverzeichnis oder eine Datei mit dem Namen \"C:\\Windows\" existiert bereits.\r\n"},
		{name: "mkdir several, one exists", line: `mkdir a C:\Windows b`, rc: 1,
			errOut: "A subdirectory or file C:\\Windows already exists.\r\n", checkFS: dirExists(`C:\Users\admin\b`)},
		{name: "mkdir no args", line: `mkdir`, rc: 1, errOut: "The syntax of the command is incorrect.\r\n"},
		{name: "mkdir no args de", locale: "de-DE", line: `mkdir`, rc: 1, errOut: "Syntaxfehler.\r\n"},
		{name: "mkdir read-only", setup: func(sh *Shell) { _ = sh.FS.SetReadOnly(`C:\Windows\Temp`, true) },
			line: `mkdir C:\Windows\Temp\x || echo denied`, rc: 1, out: "denied\r\n", errOut: "Access is denied.\r\n"},
		// The on-host backup's directory line (reg.BatchExportCommand): created when missing, left
		// alone (no "already exists" on stderr, ERRORLEVEL untouched) when present, and the
		// parentheses keep the IF from taking the rest of the line as its body.
		{name: "if not exist mkdir creates", line: `(if not exist "C:\ProgramData\dcproxy\backup" mkdir "C:\ProgramData\dcproxy\backup") & echo after`,
			out: "after\r\n", checkFS: dirExists(`C:\ProgramData\dcproxy\backup`)},
		{name: "if not exist mkdir present", setup: func(sh *Shell) { _ = sh.FS.MkdirAll(`C:\ProgramData\dcproxy\backup`) },
			line: `(if not exist "C:\ProgramData\dcproxy\backup" mkdir "C:\ProgramData\dcproxy\backup") & echo after`, out: "after\r\n"},
		{name: "if not exist without parentheses takes the chain", setup: func(sh *Shell) { _ = sh.FS.MkdirAll(`C:\ProgramData\dcproxy\backup`) },
			line: `if not exist "C:\ProgramData\dcproxy\backup" mkdir "C:\ProgramData\dcproxy\backup" & echo after`, out: ""},
		{name: "if not exist mkdir on a file", setup: func(sh *Shell) { _ = sh.FS.WriteFile(`C:\ProgramData\backup`, []byte("x")) },
			line: `(if not exist "C:\ProgramData\backup" mkdir "C:\ProgramData\backup") & type C:\ProgramData\backup`, out: "x"},
		{name: "type utf-16 reg file", setup: func(sh *Shell) {
			_ = sh.FS.WriteFile(`C:\b.reg`, utf16File("Windows Registry Editor Version 5.00\r\n\r\n\"Grüße\"=hex:46\r\n"))
		}, line: `type C:\b.reg`, out: "Windows Registry Editor Version 5.00\r\n\r\n\"Grüße\"=hex:46\r\n"},
		{name: "type raw", setup: func(sh *Shell) { _ = sh.FS.WriteFile(`C:\Users\admin\a.txt`, []byte("raw\n")) },
			line: `type a.txt`, out: "raw\n"},
		{name: "type resets ERRORLEVEL", setup: func(sh *Shell) { _ = sh.FS.WriteFile(`C:\a.txt`, []byte("x")) },
			line: `reg fail & type C:\a.txt`, out: "ARGS:fail\r\nx", errOut: regErr},
		{name: "type missing", line: `type C:\nope.txt`, rc: 1, errOut: "The system cannot find the file specified.\r\n"},
		{name: "type missing de", locale: "de-DE", line: `type C:\nope.txt`, rc: 1,
			errOut: "Das System kann die angegebene Datei nicht finden.\r\n"},
		{name: "type missing dir", line: `type C:\nodir\x.txt`, rc: 1, errOut: "The system cannot find the path specified.\r\n"},
		{name: "type directory", line: `type C:\Windows`, rc: 1, errOut: "Access is denied.\r\n"},
		{name: "type NUL", line: `type nul`},
		{name: "redirect create and append", line: `echo one>C:\o.txt& echo two >>C:\o.txt& reg x >> C:\o.txt`,
			checkFS: fileIs(`C:\o.txt`, "one\r\ntwo \r\nARGS:x\r\n")},
		{name: "redirect truncates", setup: func(sh *Shell) { _ = sh.FS.WriteFile(`C:\o.txt`, []byte("old")) },
			line: `echo new>C:\o.txt`, checkFS: fileIs(`C:\o.txt`, "new\r\n")},
		{name: "stderr to file", line: `reg fail 2>C:\e.txt`, out: "ARGS:fail\r\n", rc: 1, checkFS: fileIs(`C:\e.txt`, regErr)},
		{name: "2>&1 merges in order", line: `reg fail 2>&1`, out: "ARGS:fail\r\n" + regErr, rc: 1},
		{name: "2>&1 then >nul", line: `reg fail 2>&1 >nul`, out: regErr, rc: 1},
		{name: ">nul then 2>&1", line: `reg fail >nul 2>&1`, rc: 1},
		{name: "redirect into missing dir: command skipped, ERRORLEVEL unchanged", line: `reg x >C:\nodir\o.txt`,
			errOut: "The system cannot find the path specified.\r\n"},
		{name: "redirect failure is a failure for ||", line: `reg x >C:\nodir\o.txt || echo failed`,
			out: "failed\r\n", rc: 1, errOut: "The system cannot find the path specified.\r\n"},
		{name: "redirect to a directory", line: `echo x>C:\Windows`, errOut: "Access is denied.\r\n"},
	})
}

func TestNotSimulated(t *testing.T) {
	lines := map[string]string{
		`echo a | more`:                      "| (pipe)",
		`echo"x"`:                            `quote inside the command token echo"x"`,
		`echo x & whoami /all`:               "program whoami.exe",
		`C:\Windows\System32\cmd.exe /c ver`: "program cmd.exe",
		`for %i in (a) do echo %i`:           "FOR (internal command)",
		`echo first & set X=1`:               "SET (internal command)",
		`call x`:                             "CALL (internal command)",
		`cd`:                                 "CD (internal command)",
		`C:`:                                 "drive change C:",
		`echo %DATE%`:                        "%DATE% (dynamic variable)",
		`echo %USERNAME:~0,1%`:               "%USERNAME:~0,1% (variable substring/substitution)",
		`type C:\*.txt`:                      `wildcard in C:\*.txt`,
		`echo a > CON`:                       "device name CON",
		`(echo a`:                            "unclosed parenthesis",
		`echo a &&`:                          "missing command (syntax error)",
		`& echo a`:                           "operator & without a command before it (syntax error)",
		`echo a 3>nul`:                       "redirection of handle 3",
		`if a EQU a echo x`:                  "IF comparison other than == (EQU, NEQ, LSS, ...)",
		"echo a\r\necho b":                   "line break or NUL in the command line",
		`type a b`:                           "TYPE with several files",
		`echo a > \\server\share\x`:          `UNC path \\server\share\x`,
		`(echo a) foo`:                       "text after a closing parenthesis",
		`>C:\x.txt`:                          "redirection without a command",
		`echo x >`:                           "redirection without a target (syntax error)",
		`echo ok & exit /b abc`:              "EXIT with a non-numeric code abc",
	}
	for line, what := range lines {
		t.Run(line, func(t *testing.T) {
			sh := testShell("")
			var out, errOut bytes.Buffer
			rc := sh.Run(context.Background(), line, nil, &out, &errOut)
			want := "winsim: cmd.exe construct " + strconv.Quote(what) + " is not simulated\r\n"
			if rc != ExitNotRecognized || out.Len() != 0 || errOut.String() != want {
				t.Errorf("rc=%d out=%q err=%q; want 9009, nothing, %q", rc, out.String(), errOut.String(), want)
			}
		})
	}
	t.Run("nil FS", func(t *testing.T) {
		sh := testShell("")
		sh.FS = nil
		var errOut bytes.Buffer
		if rc := sh.Run(context.Background(), `echo x > C:\a.txt`, nil, nil, &errOut); rc != 9009 ||
			!strings.Contains(errOut.String(), "without a simulated file system") {
			t.Errorf("rc=%d err=%q", rc, errOut.String())
		}
	})
	t.Run("nil FS, if exist", func(t *testing.T) {
		sh := testShell("")
		sh.FS = nil
		var errOut bytes.Buffer
		if rc := sh.Run(context.Background(), `if exist C:\Windows echo x`, nil, nil, &errOut); rc != 9009 {
			t.Errorf("rc=%d err=%q", rc, errOut.String())
		}
	})
	t.Run("unknown locale", func(t *testing.T) {
		sh := testShell("fr-FR")
		var errOut bytes.Buffer
		if rc := sh.Run(context.Background(), `echo x`, nil, nil, &errOut); rc != 9009 ||
			!strings.Contains(errOut.String(), "locale fr-FR") {
			t.Errorf("rc=%d err=%q", rc, errOut.String())
		}
	})
}

func TestLineTooLong(t *testing.T) {
	for _, c := range []struct {
		locale, msg string
	}{{"en-US", "The command line is too long.\r\n"}, {"de-DE", "Die Befehlszeile ist zu lang.\r\n"}} {
		sh := testShell(c.locale)
		var out, errOut bytes.Buffer
		okLine := "echo " + strings.Repeat("x", maxLine-5)
		if rc := sh.Run(context.Background(), okLine, nil, &out, &errOut); rc != 0 || errOut.Len() != 0 {
			t.Errorf("%s: 8191 chars: rc=%d err=%q", c.locale, rc, errOut.String())
		}
		out.Reset()
		// One more UTF-16 unit: an astral character counts twice.
		long := "echo " + strings.Repeat("x", maxLine-6) + "😀"
		if rc := sh.Run(context.Background(), long, nil, &out, &errOut); rc != 1 || errOut.String() != c.msg || out.Len() != 0 {
			t.Errorf("%s: 8192 units: rc=%d out=%d err=%q", c.locale, rc, out.Len(), errOut.String())
		}
		errOut.Reset()
		sh.Env["BIG"] = strings.Repeat("y", 9000)
		if rc := sh.Run(context.Background(), "echo %BIG%", nil, &out, &errOut); rc != 1 || errOut.String() != c.msg {
			t.Errorf("%s: long after expansion: rc=%d err=%q", c.locale, rc, errOut.String())
		}
	}
}

func TestCanceled(t *testing.T) {
	sh := testShell("")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if rc := sh.Run(ctx, "echo a & echo b", nil, &out, nil); rc != ExitCanceled || out.Len() != 0 {
		t.Errorf("rc=%d out=%q", rc, out.String())
	}
}

func TestConcurrentRuns(t *testing.T) {
	sh := testShell("")
	done := make(chan string, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			var out bytes.Buffer
			sh.Run(context.Background(), fmt.Sprintf("mkdir C:\\c%d & echo %d & reg code %d", i, i, i), nil, &out, nil)
			done <- out.String()
		}(i)
	}
	for i := 0; i < 8; i++ {
		if s := <-done; !strings.Contains(s, "ARGS:code|") {
			t.Errorf("output %q", s)
		}
	}
}
