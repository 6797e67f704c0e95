package cmdexe

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/internal/golden"
)

var update = flag.Bool("update", false, "rewrite testdata/golden-run.txt from the current code")

// goldenLines is the corpus of TestRunGolden: hand-picked lines covering every construct, and
// lines drawn from a small grammar of cmd.exe pieces with a fixed seed.
func goldenLines() []string {
	lines := []string{
		`reg query "HKCU\Software\A&B" /v X`, `reg fail & echo %ERRORLEVEL%`, `echo k1||echo k2&&echo k3`,
		`(echo a & echo b) >nul 2>&1`, `if exist C:\Windows (echo y) else echo n`, `mkdir a\b & type a\b`,
		`echo ^& "x&y" %USERNAME% %%`, `"x" y "z"`, `if 1==1 if 2==0 (a) else (b) else c`, `echo a|b`,
		`2>nul reg x`, `>C:\f (echo a)`, `exit /b 3`, `echo.`, `rem x & y`, `echo %a:~1%`,
		`echo @@dcproxy:qA:begin & reg query "HKCU\Software\X" /v DefaultConnectionSettings && echo @@dcproxy:qA:ok || echo @@dcproxy:qA:fail`,
		`"reg" code 3 & echo %ERRORLEVEL% & reg code 4 && echo no || echo yes`, `line  a  "b c"  d^&e 2>nul`,
		`cat <nul`, `echo x> C:\Users\admin\o.txt & type o.txt & echo y>>o.txt & type o.txt`,
		`if /i "A"=="a" (echo eq) else (echo ne)`, `if not errorlevel 1 echo ok`, `if defined Mixed echo %Mixed%`,
		`if cmdextversion 2 echo ext`, `unknowncmd arg & echo after`, `C:\Windows\System32\reg.exe code 2`,
		`C:\nope\reg.exe x`, `echo off & echo & echo on & echo`, `exit 5 & echo not`, `@echo  spaced  `,
		`echo:colon & echo(paren & echo/slash`, `reg ^"quoted^" arg`, `"C:\Windows\System32\reg.exe" "a b"`,
		`(reg fail) || (echo recovered) & echo %ERRORLEVEL%`, `echo %TEMP%\x%COMPUTERNAME%`, `echo 1>&2 err`,
		`reg code 0 1>nul 2>&1 && echo z`, `md C:\Users\admin\d1 C:\Users\admin\d2 & md d1`, `type nul & type C:\missing`,
		`echo a & `, `& echo a`, `(echo a`, `echo a)`, `if 1==1`, `for %i in (a) do echo %i`, `set X=1`,
		`echo ünïcödé € 𝄞`, `reg "a\"b" c\\"d`, "echo a\tb", `echo a ^`, `   `, ``,
	}
	pieces := []string{
		`echo x`, `echo.`, `echo %USERNAME%`, `echo "a&b"`, `echo a^&b`, `reg code 0`, `reg code 1`, `reg fail`,
		`reg query "HKLM\SOFTWARE\X" /v Y`, `line "q r" s`, `cat`, `nothere`, `exit /b 2`, `type o.txt`,
		`md sub`, `if errorlevel 1 echo e1`, `if exist o.txt echo have`, `(echo g1 & echo g2)`, `rem note`,
		`line a^b`, `echo %ERRORLEVEL%`, `"line" x`,
	}
	redirs := []string{"", "", "", " >nul", " 2>nul", " 2>&1", " >o.txt", " >>o.txt", " <o.txt", " 1>&2"}
	ops := []string{" & ", " && ", " || ", "&", "&&", "||"}
	r := rand.New(rand.NewPCG(14, 2026))
	for range 1500 {
		var b strings.Builder
		n := 1 + r.IntN(6)
		for k := range n {
			if k > 0 {
				b.WriteString(ops[r.IntN(len(ops))])
			}
			if r.IntN(8) == 0 {
				b.WriteString("@")
			}
			b.WriteString(pieces[r.IntN(len(pieces))])
			b.WriteString(redirs[r.IntN(len(redirs))])
		}
		lines = append(lines, b.String())
	}
	// Lines of random characters from cmd.exe's special ones and a few words: quotes, carets,
	// redirections with and without handle digits, operators and parentheses in every order.
	alphabet := []string{"echo ", "reg ", "line ", "cat", "a", "1", "2", "3", " ", " ", "\t", `"`, "^", ">", "<",
		">>", "&", "|", "(", ")", "nul", "o.txt", ",", ";", "=", "%USERNAME%", "%", "@", "\\", "/v", "ü"}
	for range 2500 {
		var b strings.Builder
		for range 2 + r.IntN(14) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		lines = append(lines, b.String())
	}
	return lines
}

// runRecord runs line in a fresh testShell (locale loc) and describes everything observable: exit
// code, stdout, stderr, and the files the line left behind.
func runRecord(loc, line string) string {
	sh := testShell(loc)
	var out, errOut bytes.Buffer
	rc := sh.Run(context.Background(), line, strings.NewReader("stdin line\r\n"), &out, &errOut)
	var b strings.Builder
	fmt.Fprintf(&b, "rc=%d\nout=%q\nerr=%q\n", rc, out.String(), errOut.String())
	var walk func(dir string)
	walk = func(dir string) {
		entries, _ := sh.FS.List(dir)
		for _, p := range entries {
			if data, err := sh.FS.ReadFile(p); err == nil {
				fmt.Fprintf(&b, "file %s=%q\n", p, data)
			} else {
				fmt.Fprintf(&b, "dir %s\n", p)
				walk(p)
			}
		}
	}
	walk(`C:\`)
	return b.String()
}

// TestRunGolden: every line of goldenLines, in en-US and de-DE, gives the exit code, output and
// files recorded in testdata/golden-run.txt (a SHA-256 of each record, written with -update by an
// earlier version of the interpreter): optimisations of the parser and the interpreter must not
// change what any of these lines does.
func TestRunGolden(t *testing.T) {
	const file = "testdata/golden-run.txt"
	var got []string
	for _, loc := range []string{"en-US", "de-DE"} {
		for _, line := range goldenLines() {
			sum := sha256.Sum256([]byte(runRecord(loc, line)))
			got = append(got, hex.EncodeToString(sum[:12])+" "+loc+" "+fmt.Sprintf("%q", line))
		}
	}
	golden.Check(t, file, got, *update, func(i int) string {
		loc, line := "en-US", goldenLines()[i%len(goldenLines())]
		if i >= len(goldenLines()) {
			loc = "de-DE"
		}
		return fmt.Sprintf("%s %q:\n%s", loc, line, runRecord(loc, line))
	})
}
