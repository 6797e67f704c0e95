package probe

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// batchForTest is a registry batch of the shape fleet builds (reg.BatchQueryCommand).
const batchForTest = `echo @@dcproxy:A:begin & reg query "HKU\S-1-5-18\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections" /v DefaultConnectionSettings && echo @@dcproxy:A:ok || echo @@dcproxy:A:fail`

func TestStdinGolden(t *testing.T) {
	line, err := CombinedCommand(batchForTest)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		filepath.Join("testdata", "stdin", "bootstrap.ps1"): Bootstrap + "\n",
		filepath.Join("testdata", "stdin", "combined.cmd"):  line + "\n",
	}
	// The script sent on stdin is Script(c), whose goldens are testdata/*.ps1 (TestGolden): no copies.
	for name, c := range configs {
		s, err := StdinScript(c)
		want, _ := Script(c)
		if err != nil || s != want {
			t.Fatalf("%s: StdinScript differs from Script (err %v)", name, err)
		}
	}
	for f, got := range files {
		if *update {
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("%v (run go test -update to create)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs (go test -update to refresh):\n%s", f, got)
		}
	}
}

func TestCombinedCommand(t *testing.T) {
	line, err := CombinedCommand(batchForTest)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, batchForTest+" & ") || !strings.HasSuffix(line, " & "+StdinCommand) {
		t.Fatalf("line = %q: want the batch, then the marker, then powershell.exe", line)
	}
	// The bootstrap travels through cmd.exe inside one pair of double quotes: no quote, no percent
	// sign (no %VAR% expansion), ASCII.
	if strings.ContainsAny(Bootstrap, `"%`) || !printableASCII(Bootstrap) {
		t.Errorf("Bootstrap %q holds a double quote, a percent sign or a non-printable character", Bootstrap)
	}
	if !strings.Contains(Bootstrap, "[Console]::In.ReadToEnd()") || !strings.Contains(Bootstrap, "Invoke-Expression") {
		t.Errorf("Bootstrap %q does not read stdin and run it", Bootstrap)
	}

	for name, batch := range map[string]string{
		"empty":      " ",
		"line break": "echo a\r\necho b",
		"quote":      `reg query "HKLM\x`,
	} {
		if _, err := CombinedCommand(batch); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
	// The limit applies to the whole line: the batch plus the powershell.exe part.
	room := MaxCommandLen - len(line) + len(batchForTest)
	ok := strings.Repeat("x", room)
	if _, err := CombinedCommand(ok); err != nil {
		t.Errorf("a batch of %d characters fits, got %v", room, err)
	}
	if _, err := CombinedCommand(ok + "x"); !errors.Is(err, ErrTooLong) {
		t.Errorf("a batch of %d characters: err = %v, want ErrTooLong", room+1, err)
	}
	// Non-ASCII counts in UTF-16 units, as cmd.exe counts: U+1F600 is two.
	if _, err := CombinedCommand(ok[:len(ok)-1] + "\U0001F600"); !errors.Is(err, ErrTooLong) {
		t.Errorf("a surrogate pair at the limit: err = %v, want ErrTooLong", err)
	}
}

// TestStdinScriptMaximal: the largest Config (16 routes of long names, a 260-character sensor path,
// 4 roots) goes through stdin whole; the script is not bound by the command-line limit (Command
// checks that limit on its line, CombinedCommand on the batch's line).
func TestStdinScriptMaximal(t *testing.T) {
	c := Config{URL: sensorURL, URLSource: URLSensor, Timeout: MaxTimeout,
		SensorConfig: `C:\` + strings.Repeat("d", MaxPath-3),
		Roots:        []string{rootG2, rootCA, strings.Repeat("A", 40), strings.Repeat("B", 40)}}
	for i := 0; i < MaxRoutes; i++ {
		c.Routes = append(c.Routes, Route{ID: "R_" + strings.Repeat("X", 60) + string(rune('A'+i)), Mode: ModeProxy,
			Proxy: strings.Repeat("p", 60) + ".example.com:8080"})
	}
	s, err := StdinScript(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, scriptHead) || strings.Count(s, "\n") < 10 {
		t.Errorf("StdinScript is not the multi-line Script")
	}
	if got, err := Extract(s); err != nil || got.Routes[MaxRoutes-1] != c.Routes[MaxRoutes-1] {
		t.Errorf("Extract(StdinScript) = %+v, %v", got, err)
	}
	if _, err := StdinScript(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("StdinScript(zero) err = %v, want ErrInvalidConfig", err)
	}
}

func TestSplitStderr(t *testing.T) {
	regErr := "ERROR: The system was unable to find the specified registry key or value.\r\n"
	notFound := "'powershell.exe' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
	cases := []struct {
		name, in      string
		before, after string
		ok            bool
	}{
		{"none yet", regErr, regErr, "", false},
		{"partial marker", regErr + StderrMarker, regErr + StderrMarker, "", false},
		{"marker, blank from echo", regErr + StderrMarker + " \r\n" + notFound, regErr, notFound, true},
		{"marker only", StderrMarker + "\r\n", "", "", true},
		{"marker inside a line does not count", "x " + StderrMarker + "\r\n", "x " + StderrMarker + "\r\n", "", false},
		{"first marker wins", StderrMarker + "\r\n" + StderrMarker + "\r\n", "", StderrMarker + "\r\n", true},
	}
	for _, c := range cases {
		b, a, ok := SplitStderr([]byte(c.in))
		if string(b) != c.before || string(a) != c.after || ok != c.ok {
			t.Errorf("%s: SplitStderr = %q, %q, %v; want %q, %q, %v", c.name, b, a, ok, c.before, c.after, c.ok)
		}
	}
}

// TestTreeSitterStdin parses the bootstrap (alone and as cut out of the golden command line) with
// tree-sitter-powershell; the scripts sent through stdin are the testdata/*.ps1 goldens, which
// TestTreeSitterGolden parses.
func TestTreeSitterStdin(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "stdin", "*.ps1"))
	if err != nil || len(files) != 1 {
		t.Fatalf("golden stdin scripts: %v, %v (run go test -update)", files, err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "stdin", "combined.cmd"))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSuffix(string(b), "\n")
	i := strings.LastIndex(line, " & "+CommandPrefix+`"`)
	if i < 0 || !strings.HasSuffix(line, `"`) {
		t.Fatalf("combined.cmd does not end in a quoted -Command")
	}
	cut := line[i+len(" & "+CommandPrefix+`"`) : len(line)-1]
	if cut != Bootstrap {
		t.Fatalf("bootstrap cut out of the line = %q, want %q", cut, Bootstrap)
	}
	f := filepath.Join(t.TempDir(), "bootstrap_from_line.ps1")
	if err := os.WriteFile(f, []byte(cut), 0o644); err != nil {
		t.Fatal(err)
	}
	files = append(files, f)
	if out, err := psparse(t, files...); err != nil {
		t.Fatalf("tree-sitter rejects a stdin script or the bootstrap: %v\n%s", err, out)
	}
	// The check can fail: a broken bootstrap is rejected.
	bad := filepath.Join(t.TempDir(), "broken_bootstrap.ps1")
	if err := os.WriteFile(bad, []byte(strings.Replace(Bootstrap, "){", "{", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := psparse(t, bad); err == nil {
		t.Errorf("tree-sitter accepted a broken bootstrap:\n%s", out)
	}
}

// FuzzSplitStderr: when the marker is found, before + the marker line + after is the input, the
// marker line is the first whole line that is the marker, and before holds no such line.
func FuzzSplitStderr(f *testing.F) {
	f.Add([]byte("ERROR: x\r\n" + StderrMarker + "  \r\n'powershell.exe' is not recognized\r\n"))
	f.Add([]byte(StderrMarker))
	f.Add([]byte("\n\n" + StderrMarker + "\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		before, after, ok := SplitStderr(in)
		if !ok {
			if string(before) != string(in) || after != nil {
				t.Fatalf("not found: before %q after %q, want the input and nil", before, after)
			}
			return
		}
		mid := in[len(before) : len(in)-len(after)]
		if string(in[:len(before)]) != string(before) || string(in[len(in)-len(after):]) != string(after) {
			t.Fatalf("before/after are not the input's ends")
		}
		if !strings.HasPrefix(string(mid), StderrMarker) || !strings.HasSuffix(string(mid), "\n") ||
			strings.TrimRight(string(mid), "\r\n \t") != StderrMarker {
			t.Fatalf("marker line %q", mid)
		}
		if len(before) > 0 && before[len(before)-1] != '\n' {
			t.Fatalf("the marker does not start a line: before %q", before)
		}
		if _, _, again := SplitStderr(before); again {
			t.Fatalf("an earlier marker line in %q", before)
		}
	})
}
