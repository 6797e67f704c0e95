package cmdexe

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitArgs(t *testing.T) {
	// Examples from learn.microsoft.com "Parsing C++ command-line arguments" and David Deley's
	// "How Command Line Parameters Are Parsed" (CommandLineToArgvW / pre-2008 rules).
	cases := []struct {
		in   string
		want []string
	}{
		{``, nil},
		{"  \t ", nil},
		{`"abc" d e`, []string{"abc", "d", "e"}},
		{`a\\b d"e f"g h`, []string{`a\\b`, "de fg", "h"}},
		{`a\\\"b c d`, []string{`a\"b`, "c", "d"}},
		{`a\\\\"b c" d e`, []string{`a\\b c`, "d", "e"}},
		{`"`, []string{""}},
		{`""`, []string{""}},
		{`"""`, []string{`"`}},
		{`"" a`, []string{"", "a"}},
		{`\"123\"`, []string{`"123"`}},
		{`\\"`, []string{`\`}},
		{`a"b"" c d`, []string{`ab"`, "c", "d"}},
		{`"Call Me Ishmael"`, []string{"Call Me Ishmael"}},
		{"\tb\t\"x\ty\"", []string{"b", "x\ty"}},
		{`"Брад" d e`, []string{"Брад", "d", "e"}},
		{`query "HKCU\Software\A&B" /v X`, []string{"query", `HKCU\Software\A&B`, "/v", "X"}},
		{`C:\dir\ "C:\dir\\"`, []string{`C:\dir\`, `C:\dir\`}},
	}
	for _, c := range cases {
		if got := SplitArgs(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("SplitArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestQuoteArg(t *testing.T) {
	cases := map[string]string{
		"":                  `""`,
		"plain":             "plain",
		`C:\dir\`:           `C:\dir\`,
		"a b":               `"a b"`,
		`C:\Program Files\`: `"C:\Program Files\\"`,
		`HKCU\Software\A&B`: `"HKCU\Software\A&B"`,
		`a"b`:               `a\"b`,
		`a\"b c`:            `"a\\\"b c"`,
		"x^y":               `"x^y"`,
		"k=v":               `"k=v"`,
	}
	for in, want := range cases {
		if got := QuoteArg(in); got != want {
			t.Errorf("QuoteArg(%q) = %q, want %q", in, got, want)
		}
		if got := SplitArgs(QuoteArg(in)); len(got) != 1 || got[0] != in {
			t.Errorf("SplitArgs(QuoteArg(%q)) = %q", in, got)
		}
	}
}

func TestCheckCmdArg(t *testing.T) {
	for _, s := range []string{`HKCU\Software\A&B`, "a b", "x^y|z", "", `C:\dir\`} {
		if err := CheckCmdArg(s); err != nil {
			t.Errorf("CheckCmdArg(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"100%", `a"b`, "a\nb", "a\x00"} {
		if err := CheckCmdArg(s); !errors.Is(err, ErrCmdUnsafe) {
			t.Errorf("CheckCmdArg(%q) = %v, want ErrCmdUnsafe", s, err)
		}
	}
}

// argvShell runs a program "argv" that records its arguments.
func argvShell(got *[]string) *Shell {
	sh := testShell("")
	sh.Programs["argv"] = func(_ context.Context, p *Proc) int {
		*got = p.Args
		return 0
	}
	return sh
}

// TestQuoteArgThroughCmd proves that an argument accepted by CheckCmdArg survives cmd.exe.
func TestQuoteArgThroughCmd(t *testing.T) {
	for _, args := range [][]string{
		{`HKCU\Software\A&B`, "/v", "X"},
		{"a|b", "(x)", "<y>", "^", "", `C:\Program Files\`},
		{"@", "2", "1>", "&&", "||", ",;="},
	} {
		var got []string
		sh := argvShell(&got)
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = QuoteArg(a)
		}
		var errOut bytes.Buffer
		rc := sh.Run(context.Background(), "argv "+strings.Join(quoted, " "), nil, nil, &errOut)
		if rc != 0 || errOut.Len() != 0 || !reflect.DeepEqual(got, args) {
			t.Errorf("args %q: rc=%d err=%q got %q", args, rc, errOut.String(), got)
		}
	}
}

func FuzzSplitArgs(f *testing.F) {
	for _, s := range []string{"", `a b`, `"a b" c`, `a\\"b`, `"""`, `\\\"x`, "\t\"x\ty\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, a := range SplitArgs(s) {
			if got := SplitArgs(QuoteArg(a)); len(got) != 1 || got[0] != a {
				t.Fatalf("SplitArgs(QuoteArg(%q)) = %q", a, got)
			}
		}
		two := QuoteArg(s) + " " + QuoteArg(s+`\`)
		if got := SplitArgs(two); len(got) != 2 || got[0] != s || got[1] != s+`\` {
			t.Fatalf("round trip of %q: %q -> %q", s, two, got)
		}
	})
}

func FuzzQuoteArgThroughCmd(f *testing.F) {
	f.Add(`HKCU\Software\A&B`, "/v")
	f.Add("a b", "")
	f.Add("(x)", "^|")
	f.Fuzz(func(t *testing.T, a, b string) {
		if CheckCmdArg(a) != nil || CheckCmdArg(b) != nil || len(a)+len(b) > 4000 {
			t.Skip()
		}
		var got []string
		sh := argvShell(&got)
		line := "argv " + QuoteArg(a) + " " + QuoteArg(b)
		var errOut bytes.Buffer
		rc := sh.Run(context.Background(), line, nil, nil, &errOut)
		if rc != 0 || errOut.Len() != 0 || len(got) != 2 || got[0] != a || got[1] != b {
			t.Fatalf("line %q: rc=%d err=%q args=%q", line, rc, errOut.String(), got)
		}
	})
}

func FuzzRun(f *testing.F) {
	for _, s := range []string{
		`reg query "HKCU\Software\A&B" /v X`, `reg fail & echo %ERRORLEVEL%`, `echo k1||echo k2&&echo k3`,
		`(echo a & echo b) >nul 2>&1`, `if exist C:\Windows (echo y) else echo n`, `mkdir a\b & type a\b`,
		`echo ^& "x&y" %USERNAME% %%`, `"x" y "z"`, `if 1==1 if 2==0 (a) else (b) else c`, `echo a|b`,
		`2>nul reg x`, `>C:\f (echo a)`, `exit /b 3`, `echo.`, `rem x & y`, `echo %a:~1%`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		sh := testShell("")
		var out, errOut bytes.Buffer
		rc := sh.Run(context.Background(), line, nil, &out, &errOut)
		if strings.HasPrefix(errOut.String(), "winsim: cmd.exe construct") && (rc != ExitNotRecognized || out.Len() != 0) {
			t.Fatalf("not-simulated construct ran something: rc=%d out=%q", rc, out.String())
		}
		var out2, errOut2 bytes.Buffer
		rc2 := testShell("").Run(context.Background(), line, nil, &out2, &errOut2)
		if rc2 != rc || out2.String() != out.String() || errOut2.String() != errOut.String() {
			t.Fatalf("not deterministic: %d %q %q vs %d %q %q", rc, out.String(), errOut.String(), rc2, out2.String(), errOut2.String())
		}
		noFS := testShell("de-DE")
		noFS.FS = nil
		noFS.Run(context.Background(), line, nil, nil, nil) // must not panic
		if utf8.ValidString(line) && !utf8.ValidString(out.String()) && !strings.Contains(line, "type") {
			t.Fatalf("invalid UTF-8 output %q for valid input", out.String())
		}
	})
}
