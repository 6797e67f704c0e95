package clixml

import (
	"os"
	"strings"
	"testing"
)

func TestFirstErrorPypsrpCapture(t *testing.T) {
	b, err := os.ReadFile("testdata/pypsrp_clixml_with_error.xml")
	if err != nil {
		t.Fatal(err)
	}
	if !IsCLIXML(b) {
		t.Fatal("not recognised as CLIXML")
	}
	want := "fake : The term 'fake' is not recognized as the name of a cmdlet, function, script file, or operable program. " +
		"Check the spelling of the name, or if a path was included, verify that the path is correct and try again."
	if got := FirstError(b); got != want {
		t.Errorf("FirstError =\n%q\nwant\n%q", got, want)
	}
	text := ErrorText(b)
	if !strings.Contains(text, "At line:1 char:1\r\n") || strings.Contains(text, "Preparing modules") || strings.Contains(text, "_x000D_") {
		t.Errorf("ErrorText = %q", text)
	}
}

// The simulator's form (remote/winsim/pwsh writeCLIXML): one line, no line breaks between elements,
// a word wrapped mid-way at the console width, XML escapes and an escaped underscore.
func TestFirstErrorWrappedAndEscaped(t *testing.T) {
	in := "#< CLIXML\r\n" + `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">` +
		`<S S="Error">Exception calling "GetResponse" with "0" argument(s): "The remote server returned an error: (503) Server Unava_x000D__x000A_</S>` +
		`<S S="Error">ilable &lt;x&gt; a_x005F_x0041_b tab_x0009_end"_x000D__x000A_</S>` +
		`<S S="Error">At line:1 char:1_x000D__x000A_</S><S S="Error">+ $r.GetResponse()_x000D__x000A_</S></Objs>`
	want := `Exception calling "GetResponse" with "0" argument(s): "The remote server returned an error: (503) Server Unavailable <x> a_x0041_b tab end"`
	if got := FirstError([]byte(in)); got != want {
		t.Errorf("FirstError =\n%q\nwant\n%q", got, want)
	}
}

func TestFirstErrorOtherForms(t *testing.T) {
	for in, want := range map[string]string{
		"":                                       "",
		"\r\n  \r\nERROR: plain text\r\nmore":    "ERROR: plain text",
		"#< CLIXML\r\n<Objs></Objs>":             "",
		"#< CLIXML\r\n<Objs><S S=\"Error\">half": "half",
		"#< CLIXML\r\n<Objs><S S=\"Error\">no position line_x000D__x000A_</S><S S=\"Error\">    + CategoryInfo : x_x000D__x000A_</S></Objs>": "no position line",
		// Surrogate pair as two escapes.
		"#< CLIXML\r\n<Objs><S S=\"Error\">emoji _xD83D__xDE00_</S></Objs>": "emoji \U0001F600",
		// Two markers (output in two chunks).
		"#< CLIXML\r\n<Objs><S S=\"Error\">first_x000D__x000A_</S><S S=\"Error\">At line:1 char:1_x000D__x000A_</S></Objs>#< CLIXML\r\n<Objs><S S=\"Error\">second</S></Objs>": "first",
	} {
		if got := FirstError([]byte(in)); got != want {
			t.Errorf("FirstError(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDeepCLIXMLBounded(t *testing.T) {
	in := "#< CLIXML\r\n<Objs>" + strings.Repeat("<a>", 100000) + `<S S="Error">deep</S>`
	if got := FirstError([]byte(in)); got != "" {
		t.Errorf("deep input: %q", got)
	}
}

func FuzzFirstError(f *testing.F) {
	f.Add([]byte("#< CLIXML\r\n<Objs><S S=\"Error\">x_x000D__x000A_</S></Objs>"))
	f.Add([]byte("plain"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := FirstError(b)
		if strings.ContainsAny(s, "\r\n") {
			t.Errorf("multi-line result %q", s)
		}
	})
}
