package reg

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

const connKey = `HKU\S-1-5-18\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
const connKeyLong = `HKEY_USERS\S-1-5-18\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
const hkcuKey = `HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
const hkcuKeyLong = `HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`

// exampleHex is the worked example of reference section 5.
const exampleHex = "4600000005000000030000001600000070726F78792E6578616D706C652E636F6D3A38303830070000003C6C6F63616C3E000000000000000000000000000000000000000000000000000000000000000000000000"

var batch = []Query{
	{ID: "cu", Key: hkcuKey, Value: "DefaultConnectionSettings"},
	{ID: "sys", Key: connKey, Value: "DefaultConnectionSettings"},
	{ID: "svc", Key: `HKEY_USERS\S-1-5-19\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections\`, Value: "DefaultConnectionSettings"},
}

func TestBatchQueryCommand(t *testing.T) {
	line, err := BatchQueryCommand(batch[:2])
	if err != nil {
		t.Fatal(err)
	}
	want := `echo @@dcproxy:cu:begin & reg query "` + hkcuKey + `" /v "DefaultConnectionSettings" && echo @@dcproxy:cu:ok || echo @@dcproxy:cu:fail & ` +
		`echo @@dcproxy:sys:begin & reg query "` + connKey + `" /v "DefaultConnectionSettings" && echo @@dcproxy:sys:ok || echo @@dcproxy:sys:fail`
	if line != want {
		t.Fatalf("got\n%s\nwant\n%s", line, want)
	}
	// Trailing backslash removed; /ve for the default value; cmd metacharacters stay inside quotes.
	line, err = BatchQueryCommand([]Query{{ID: "d_1", Key: `HKLM\Software\A&B (x86)\`, Value: ""}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `echo @@dcproxy:d_1:begin & reg query "HKLM\Software\A&B (x86)" /ve && echo @@dcproxy:d_1:ok || echo @@dcproxy:d_1:fail`; line != want {
		t.Fatalf("got %s", line)
	}
}

func TestBatchQueryCommandErrors(t *testing.T) {
	many := make([]Query, 0, 100)
	for i := 0; i < 100; i++ {
		many = append(many, Query{ID: strings.Repeat("q", i+1), Key: connKey, Value: "DefaultConnectionSettings"})
	}
	cases := []struct {
		name string
		qs   []Query
		kind error
		want string
	}{
		{"none", nil, ErrInvalid, "invalid reg.exe argument: no queries"},
		{"bad id", []Query{{ID: "a-b", Key: connKey, Value: "x"}}, ErrInvalid, `invalid reg.exe argument: query ID "a-b" (want [A-Za-z0-9_]+)`},
		{"empty id", []Query{{ID: "", Key: connKey, Value: "x"}}, ErrInvalid, `invalid reg.exe argument: query ID "" (want [A-Za-z0-9_]+)`},
		{"dup id", []Query{{ID: "a", Key: connKey}, {ID: "a", Key: connKey}}, ErrInvalid, `invalid reg.exe argument: duplicate query ID "a"`},
		{"bad root", []Query{{ID: "a", Key: `HKXX\Software`, Value: "x"}}, ErrInvalid, `query a: invalid reg.exe argument: registry key "HKXX\\Software": unknown root "HKXX" (want HKLM, HKCU, HKCR, HKU, HKCC or a long form)`},
		{"remote key", []Query{{ID: "a", Key: `\\dc1\HKLM\Software`, Value: "x"}}, ErrInvalid, `query a: invalid reg.exe argument: registry key "\\\\dc1\\HKLM\\Software": unknown root "" (want HKLM, HKCU, HKCR, HKU, HKCC or a long form)`},
		{"quote in key", []Query{{ID: "a", Key: `HKLM\a"b`, Value: "x"}}, ErrInvalid, `query a: invalid reg.exe argument: registry key "HKLM\\a\"b" contains '"', which cannot be passed safely through cmd.exe`},
		{"percent in value", []Query{{ID: "a", Key: `HKLM\a`, Value: "%PATH%"}}, ErrInvalid, `query a: invalid reg.exe argument: value name "%PATH%" contains '%', which cannot be passed safely through cmd.exe`},
		{"newline in value", []Query{{ID: "a", Key: `HKLM\a`, Value: "x\ny"}}, ErrInvalid, `query a: invalid reg.exe argument: value name "x\ny" contains control character U+000A`},
		{"empty component", []Query{{ID: "a", Key: `HKLM\a\\b`, Value: "x"}}, ErrInvalid, `query a: invalid reg.exe argument: registry key "HKLM\\a\\\\b": empty path component`},
	}
	for _, c := range cases {
		_, err := BatchQueryCommand(c.qs)
		if err == nil || err.Error() != c.want || !errors.Is(err, c.kind) {
			t.Errorf("%s: error = %v, want %q", c.name, err, c.want)
		}
	}
	// The limit: find the largest batch that fits, check its length arithmetic and that one more
	// query is refused with the length in the message.
	many = many[:0]
	for i := 0; i < 100; i++ {
		many = append(many, Query{ID: fmt.Sprintf("q%02d", i), Key: connKey, Value: "DefaultConnectionSettings"})
	}
	one, err := BatchQueryCommand(many[:1])
	if err != nil {
		t.Fatal(err)
	}
	fit := (MaxCommandLine + 3) / (len(one) + 3)
	line, err := BatchQueryCommand(many[:fit])
	if err != nil || len(line) != fit*len(one)+(fit-1)*3 || len(line) > MaxCommandLine {
		t.Fatalf("%d queries: len %d, %v", fit, len(line), err)
	}
	_, err = BatchQueryCommand(many[:fit+1])
	want := fmt.Sprintf("command line too long: %d queries need %d characters, cmd.exe allows 8191; split the batch", fit+1, len(line)+3+len(one))
	if err == nil || err.Error() != want || !errors.Is(err, ErrTooLong) {
		t.Fatalf("error = %v, want %q", err, want)
	}
	// Non-ASCII keys are counted in UTF-16 units, not bytes.
	if n := utf16Len("Prüfung😀"); n != 9 {
		t.Errorf("utf16Len = %d", n)
	}
}

// reply builds reg.exe + echo output the way cmd.exe prints it (CRLF, echo keeps the space before
// the & / || operator).
func reply(parts ...string) string {
	return strings.Join(parts, "\r\n") + "\r\n"
}

func queryOut(longKey, name, typ, data string) string {
	return "\r\n" + longKey + "\r\n    " + name + "    " + typ + "    " + data + "\r\n"
}

func TestParseBatch(t *testing.T) {
	out := reply(
		"@@dcproxy:cu:begin \r\n"+queryOut(hkcuKeyLong, "DefaultConnectionSettings", "REG_BINARY", exampleHex),
		"@@dcproxy:cu:ok ",
		"@@dcproxy:sys:begin ",
		"@@dcproxy:sys:fail",
		"@@dcproxy:svc:begin \r\n"+queryOut(strings.ToLower(`HKEY_USERS\S-1-5-19\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`), "defaultconnectionsettings", "REG_BINARY", ""),
		"@@dcproxy:svc:ok ",
	)
	res, err := ParseBatch(out, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("%d results", len(res))
	}
	if r := res[0]; r.ID != "cu" || !r.Found || r.Type != "REG_BINARY" || len(r.Data) != 85 || r.Data[0] != 0x46 || r.Raw != exampleHex {
		t.Errorf("cu: %+v", r)
	}
	if r := res[1]; r.ID != "sys" || r.Found || r.Type != "" || r.Data != nil {
		t.Errorf("sys: %+v", r)
	}
	if r := res[2]; r.ID != "svc" || !r.Found || r.Type != "REG_BINARY" || len(r.Data) != 0 {
		t.Errorf("svc: %+v", r)
	}
	// LF-only output parses too.
	if _, err := ParseBatch(strings.ReplaceAll(out, "\r\n", "\n"), batch); err != nil {
		t.Errorf("LF output: %v", err)
	}
}

func TestParseBatchErrors(t *testing.T) {
	ok := func(id, longKey string) string {
		return "@@dcproxy:" + id + ":begin \r\n" + queryOut(longKey, "DefaultConnectionSettings", "REG_BINARY", "4600") + "\r\n@@dcproxy:" + id + ":ok "
	}
	qs := batch[:2]
	cases := []struct {
		name, out, want string
	}{
		{"empty", "", "malformed reg.exe output: query cu: no markers in the output (truncated reply?)"},
		{"truncated inside", reply(ok("cu", hkcuKeyLong), "@@dcproxy:sys:begin ", "", connKeyLong),
			"malformed reg.exe output: query sys: output ends before its result marker (truncated reply)"},
		{"second missing", reply(ok("cu", hkcuKeyLong)), "malformed reg.exe output: query sys: no markers in the output (truncated reply?)"},
		{"duplicate result", reply(ok("cu", hkcuKeyLong), "@@dcproxy:cu:ok", ok("sys", connKeyLong)),
			`malformed reg.exe output: query cu: line 7: duplicated result marker: "@@dcproxy:cu:ok"`},
		{"duplicate begin", reply(ok("cu", hkcuKeyLong), "@@dcproxy:cu:begin "),
			`malformed reg.exe output: query cu: line 7: duplicated begin marker: "@@dcproxy:cu:begin "`},
		{"out of order", reply(ok("sys", connKeyLong), ok("cu", hkcuKeyLong)),
			`malformed reg.exe output: query sys: line 1: begin marker out of order (expected query cu): "@@dcproxy:sys:begin "`},
		{"nested begin", reply("@@dcproxy:cu:begin ", "@@dcproxy:sys:begin "),
			`malformed reg.exe output: query sys: line 2: begin marker inside query cu: "@@dcproxy:sys:begin "`},
		{"result without begin", reply("@@dcproxy:cu:ok"),
			`malformed reg.exe output: query cu: line 1: result marker without begin marker: "@@dcproxy:cu:ok"`},
		{"unknown id", reply(ok("cu", hkcuKeyLong), "@@dcproxy:zz:begin"),
			`malformed reg.exe output: line 7: marker for unknown query ID "zz": "@@dcproxy:zz:begin"`},
		{"unknown kind", reply("@@dcproxy:cu:maybe"),
			`malformed reg.exe output: query cu: line 1: unknown marker kind "maybe": "@@dcproxy:cu:maybe"`},
		{"stray output", reply("Microsoft Windows [Version 10.0.17763]", ok("cu", hkcuKeyLong), ok("sys", connKeyLong)),
			`malformed reg.exe output: line 1: output outside any query: "Microsoft Windows [Version 10.0.17763]"`},
		{"ok without output", reply("@@dcproxy:cu:begin ", "@@dcproxy:cu:ok", ok("sys", connKeyLong)),
			"malformed reg.exe output: query cu: ok marker but no output"},
		{"wrong key", reply(ok("cu", connKeyLong), ok("sys", connKeyLong)),
			`malformed reg.exe output: query cu: line "HKEY_USERS\\S-1-5-18\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\Connections": want "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\Connections"`},
		{"wrong value name", reply("@@dcproxy:cu:begin \r\n"+queryOut(hkcuKeyLong, "SavedLegacySettings", "REG_BINARY", "46"), "@@dcproxy:cu:ok", ok("sys", connKeyLong)),
			`malformed reg.exe output: query cu: line "    SavedLegacySettings    REG_BINARY    46" is not a value line for "DefaultConnectionSettings"`},
		{"bad hex", reply("@@dcproxy:cu:begin \r\n"+queryOut(hkcuKeyLong, "DefaultConnectionSettings", "REG_BINARY", "46G0"), "@@dcproxy:cu:ok", ok("sys", connKeyLong)),
			`malformed reg.exe output: query cu: line "    DefaultConnectionSettings    REG_BINARY    46G0": REG_BINARY data is not hex: encoding/hex: invalid byte: U+0047 'G'`},
		{"odd hex", reply("@@dcproxy:cu:begin \r\n"+queryOut(hkcuKeyLong, "DefaultConnectionSettings", "REG_BINARY", "460"), "@@dcproxy:cu:ok", ok("sys", connKeyLong)),
			`malformed reg.exe output: query cu: line "    DefaultConnectionSettings    REG_BINARY    460": REG_BINARY data has an odd number of hex digits (3)`},
		{"two value lines", reply("@@dcproxy:cu:begin \r\n"+queryOut(hkcuKeyLong, "DefaultConnectionSettings", "REG_BINARY", "46")+"    DefaultConnectionSettings    REG_BINARY    47", "@@dcproxy:cu:ok", ok("sys", connKeyLong)),
			`malformed reg.exe output: query cu: unexpected line "    DefaultConnectionSettings    REG_BINARY    47" after the value line`},
		{"injected marker in data", reply("@@dcproxy:cu:begin \r\n"+queryOut(hkcuKeyLong, "DefaultConnectionSettings", "REG_SZ", "x"), "@@dcproxy:cu:ok", "@@dcproxy:cu:ok", ok("sys", connKeyLong)),
			`malformed reg.exe output: query cu: line 7: duplicated result marker: "@@dcproxy:cu:ok"`},
	}
	for _, c := range cases {
		_, err := ParseBatch(c.out, qs)
		if err == nil || err.Error() != c.want || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s:\n got %v\nwant %s", c.name, err, c.want)
		}
	}
}

func TestParseQueryValue(t *testing.T) {
	cases := []struct {
		name, out, query string
		want             Value
	}{
		{"binary", queryOut(connKeyLong, "DefaultConnectionSettings", "REG_BINARY", "46000000") + "\r\n", "DefaultConnectionSettings",
			Value{"DefaultConnectionSettings", "REG_BINARY", []byte{0x46, 0, 0, 0}, "46000000"}},
		{"sz with four spaces", queryOut(`HKEY_CURRENT_USER\Software\Wine`, "Test1", "REG_SZ", "Hello,    World    ") + "\r\n", "Test1",
			Value{"Test1", "REG_SZ", []byte("Hello,    World    "), "Hello,    World    "}},
		{"name with spaces", queryOut(`HKEY_CURRENT_USER\Software\Wine`, "My Value", "REG_SZ", "a") + "\r\n", "my value",
			Value{"My Value", "REG_SZ", []byte("a"), "a"}},
		{"empty sz without trailing separator", "\r\nHKEY_CURRENT_USER\\X\r\n    E    REG_SZ\r\n\r\n", "E",
			Value{"E", "REG_SZ", []byte{}, ""}},
		{"dword", queryOut(`HKEY_LOCAL_MACHINE\X`, "ProxyEnable", "REG_DWORD", "0x1"), "ProxyEnable",
			Value{"ProxyEnable", "REG_DWORD", []byte{1, 0, 0, 0}, "0x1"}},
		{"qword", queryOut(`HKEY_LOCAL_MACHINE\X`, "Q", "REG_QWORD", "0x100000000"), "Q",
			Value{"Q", "REG_QWORD", []byte{0, 0, 0, 0, 1, 0, 0, 0}, "0x100000000"}},
		{"default value, German name", queryOut(`HKEY_LOCAL_MACHINE\X`, "(Standard)", "REG_SZ", "v"), "",
			Value{"(Standard)", "REG_SZ", []byte("v"), "v"}},
		{"utf-8 data", queryOut(`HKEY_LOCAL_MACHINE\X`, "N", "REG_EXPAND_SZ", "%SystemRoot%\\Prüfung"), "N",
			Value{"N", "REG_EXPAND_SZ", []byte("%SystemRoot%\\Prüfung"), "%SystemRoot%\\Prüfung"}},
	}
	for _, c := range cases {
		got, err := ParseQueryValue(c.out, c.query)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got.Name != c.want.Name || got.Type != c.want.Type || !bytes.Equal(got.Data, c.want.Data) || got.Raw != c.want.Raw {
			t.Errorf("%s: got %+v want %+v", c.name, got, c.want)
		}
	}
}

func TestParseQueryValueErrors(t *testing.T) {
	cases := []struct {
		name, out string
		kind      error
		want      string
	}{
		{"empty", "", ErrNoValue, "no value in reg.exe output: reg query /v X"},
		{"blank lines", "\r\n\r\n", ErrNoValue, "no value in reg.exe output: reg query /v X"},
		{"translated error on stdout", "FEHLER: Der angegebene Registrierungsschlüssel bzw. Wert wurde nicht gefunden.\r\n", ErrMalformed,
			`malformed reg.exe output: reg query /v X: line "FEHLER: Der angegebene Registrierungsschlüssel bzw. Wert wurde nicht gefunden.": want a key line (HKEY_...)`},
		{"key only", "\r\nHKEY_LOCAL_MACHINE\\A\r\n\r\n", ErrMalformed, `malformed reg.exe output: reg query /v X: no value line for "X"`},
		{"multi-line data", queryOut(`HKEY_LOCAL_MACHINE\A`, "X", "REG_SZ", "line1\r\nline2"), ErrMalformed,
			`malformed reg.exe output: reg query /v X: unexpected line "line2" after the value line`},
		{"bare CR in data", queryOut(`HKEY_LOCAL_MACHINE\A`, "X", "REG_SZ", "a\rb"), ErrMalformed,
			`malformed reg.exe output: reg query /v X: line "    X    REG_SZ    a\rb": REG_SZ data contains a carriage return`},
		{"bad type", queryOut(`HKEY_LOCAL_MACHINE\A`, "X", "REG_binary", "00"), ErrMalformed,
			`malformed reg.exe output: reg query /v X: line "    X    REG_binary    00" is not a value line for "X"`},
		{"bad dword", queryOut(`HKEY_LOCAL_MACHINE\A`, "X", "REG_DWORD", "1"), ErrMalformed,
			`malformed reg.exe output: reg query /v X: line "    X    REG_DWORD    1": REG_DWORD data "1" does not start with 0x`},
		{"dword overflow", queryOut(`HKEY_LOCAL_MACHINE\A`, "X", "REG_DWORD", "0x100000000"), ErrMalformed,
			`malformed reg.exe output: reg query /v X: line "    X    REG_DWORD    0x100000000": REG_DWORD data "0x100000000": strconv.ParseUint: parsing "100000000": value out of range`},
	}
	for _, c := range cases {
		_, err := ParseQueryValue(c.out, "X")
		if err == nil || err.Error() != c.want || !errors.Is(err, c.kind) {
			t.Errorf("%s:\n got %v\nwant %s", c.name, err, c.want)
		}
	}
}

func TestBuilders(t *testing.T) {
	cases := []struct{ got, want string }{
		{AddBinaryCommand(connKey, "DefaultConnectionSettings", []byte{0x46, 0, 0xab}),
			`reg add "` + connKey + `" /v "DefaultConnectionSettings" /t REG_BINARY /d 4600AB /f`},
		{AddBinaryCommand(connKey+`\`, "", nil), `reg add "` + connKey + `" /ve /t REG_BINARY /f`},
		{DeleteValueCommand(connKey, "DefaultConnectionSettings"), `reg delete "` + connKey + `" /v "DefaultConnectionSettings" /f`},
		{ExportCommand(connKey, `C:\Windows\Temp\dcproxy backup.reg`), `reg export "` + connKey + `" "C:\Windows\Temp\dcproxy backup.reg" /y`},
		{AddBinaryCommand(`HKLM\a"&calc`, "x", []byte{1}), "exit /b 87"},
		{AddBinaryCommand(connKey, "%x%", []byte{1}), "exit /b 87"},
		{DeleteValueCommand("Software\\x", "x"), "exit /b 87"},
		{ExportCommand(connKey, `C:\t\`), "exit /b 87"},
		{ExportCommand(connKey, `a" & del x & "`), "exit /b 87"},
		{ExportCommand(connKey, ""), "exit /b 87"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
	if k, err := LongKey(`hkcu\Software\`); err != nil || k != `HKEY_CURRENT_USER\Software` {
		t.Errorf("LongKey = %q, %v", k, err)
	}
	if k, err := LongKey(`HKU`); err != nil || k != `HKEY_USERS` {
		t.Errorf("LongKey = %q, %v", k, err)
	}
}

func TestCheckCommandLine(t *testing.T) {
	key := `HKU\S-1-5-18\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	for _, tc := range []struct {
		size int
		ok   bool
	}{{100, true}, {4000, true}, {4100, false}, {5800, false}} {
		line := AddBinaryCommand(key, "DefaultConnectionSettings", make([]byte, tc.size))
		err := CheckCommandLine(line)
		if (err == nil) != tc.ok || (err != nil && (!errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), strconv.Itoa(CommandLength(line))))) {
			t.Errorf("%d bytes (%d characters): %v", tc.size, CommandLength(line), err)
		}
	}
	if n := CommandLength("é€𝄞"); n != 4 {
		t.Errorf("CommandLength counts %d UTF-16 units, want 4", n)
	}
}
