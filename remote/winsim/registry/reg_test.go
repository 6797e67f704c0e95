package registry

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/dcproxy/dcproxy/remote/winsim/winfs"
)

const (
	testSID  = "S-1-5-21-1004336348-1177238915-682003330-500"
	connPath = `Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	wineKey  = `HKEY_USERS\` + testSID + `\Software\Wine`
)

// dcs is the section 5 worked example: proxy.example.com:8080, bypass <local>, no PAC, counter 5.
func dcs(counter uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0x46)
	b = binary.LittleEndian.AppendUint32(b, counter)
	b = binary.LittleEndian.AppendUint32(b, 3)
	proxy := "proxy.example.com:8080"
	b = binary.LittleEndian.AppendUint32(b, uint32(len(proxy)))
	b = append(b, proxy...)
	b = binary.LittleEndian.AppendUint32(b, 7)
	b = append(b, "<local>"...)
	b = binary.LittleEndian.AppendUint32(b, 0)
	return append(b, make([]byte, 32)...)
}

func newEnv(locale string) *Env {
	reg := New()
	_ = reg.SetValue(wineKey, StringValue("Test1", "Hello, World"))
	_ = reg.SetValue(wineKey, DWORDValue("Test2", 0x123))
	_ = reg.SetValue(wineKey+`\subkey`, StringValue("Test3", "Some string data"))
	_ = reg.EnsureKey(`HKEY_USERS\` + testSID + `\` + connPath)
	fs := winfs.New()
	_ = fs.MkdirAll(`C:\Users\auditor`)
	return &Env{Reg: reg, UserSID: testSID, FS: fs, Cwd: `C:\Users\auditor`, Locale: locale}
}

type result struct {
	stdout, stderr string
	code           int
}

func runReg(env *Env, stdin string, args ...string) result {
	var out, errb bytes.Buffer
	e := *env
	e.Stdout, e.Stderr = &out, &errb
	if stdin != "" {
		e.Stdin = strings.NewReader(stdin)
	}
	code := Main(context.Background(), &e, args)
	return result{out.String(), errb.String(), code}
}

func check(t *testing.T, got, want result) {
	t.Helper()
	if got.code != want.code {
		t.Errorf("exit code = %d, want %d", got.code, want.code)
	}
	if got.stdout != want.stdout {
		t.Errorf("stdout =\n%q\nwant\n%q", got.stdout, want.stdout)
	}
	if got.stderr != want.stderr {
		t.Errorf("stderr =\n%q\nwant\n%q", got.stderr, want.stderr)
	}
}

func TestQueryGolden(t *testing.T) {
	const hdr = "\r\nHKEY_CURRENT_USER\\Software\\Wine\r\n"
	tests := []struct {
		name, locale string
		args         []string
		want         result
	}{
		{"value", "en-US", []string{"query", `HKCU\Software\Wine`, "/v", "Test1"},
			result{hdr + "    Test1    REG_SZ    Hello, World\r\n\r\n", "", 0}},
		{"value keeps typed case and long root", "en-US", []string{"QUERY", `hkcu\software\wine\`, "/V", "test2"},
			result{"\r\nHKEY_CURRENT_USER\\software\\wine\r\n    Test2    REG_DWORD    0x123\r\n\r\n", "", 0}},
		{"whole key lists values then subkeys", "en-US", []string{"query", `HKCU\Software\Wine`},
			result{hdr + "    Test1    REG_SZ    Hello, World\r\n    Test2    REG_DWORD    0x123\r\n\r\n" +
				"HKEY_CURRENT_USER\\Software\\Wine\\subkey\r\n", "", 0}},
		{"recursive", "en-US", []string{"query", `HKCU\Software\Wine`, "/s"},
			result{hdr + "    Test1    REG_SZ    Hello, World\r\n    Test2    REG_DWORD    0x123\r\n\r\n" +
				"HKEY_CURRENT_USER\\Software\\Wine\\subkey\r\n    Test3    REG_SZ    Some string data\r\n\r\n", "", 0}},
		{"recursive value search has a summary", "en-US", []string{"query", `HKCU\Software\Wine`, "/v", "Test3", "/s"},
			result{"\r\nHKEY_CURRENT_USER\\Software\\Wine\\subkey\r\n    Test3    REG_SZ    Some string data\r\n\r\n" +
				"End of search: 1 match(es) found.\r\n", "", 0}},
		{"default not set", "en-US", []string{"query", `HKCU\Software\Wine`, "/ve"},
			result{hdr + "    (Default)    REG_SZ    (value not set)\r\n\r\n", "", 0}},
		{"default not set de", "de-DE", []string{"query", `HKCU\Software\Wine`, "/ve"},
			result{hdr + "    (Standard)    REG_SZ    (Wert nicht festgelegt)\r\n\r\n", "", 0}},
		{"missing value", "en-US", []string{"query", `HKCU\Software\Wine`, "/v", "Nope"},
			result{"", "ERROR: The system was unable to find the specified registry key or value.\r\n", 1}},
		{"missing key de", "de-DE", []string{"query", `HKLM\SOFTWARE\Nope`},
			result{"", "FEHLER: Der angegebene Registrierungsschlüssel bzw. Wert wurde nicht gefunden.\r\n", 1}},
		{"empty key prints a blank line", "en-US", []string{"query", `HKU\S-1-5-18\` + connPath},
			result{"\r\n", "", 0}},
		{"bad root", "en-US", []string{"query", `HKXX\Software`},
			result{"", "ERROR: Invalid key name.\r\nType \"REG QUERY /?\" for usage.\r\n", 1}},
		{"bad root de", "de-DE", []string{"query", `HKXX\Software`},
			result{"", "FEHLER: Ungültiger Schlüsselname.\r\nGeben Sie \"REG QUERY /?\" ein, um die Syntax anzuzeigen.\r\n", 1}},
		{"no key", "en-US", []string{"query"},
			result{"", "ERROR: Invalid syntax.\r\nType \"REG QUERY /?\" for usage.\r\n", 1}},
		{"/v without name", "en-US", []string{"query", `HKCU\Software\Wine`, "/v"},
			result{"", "ERROR: Invalid syntax.\r\nType \"REG QUERY /?\" for usage.\r\n", 1}},
		{"/v twice", "en-US", []string{"query", `HKCU\Software\Wine`, "/v", "a", "/v", "b"},
			result{"", "ERROR: Invalid syntax.\r\nType \"REG QUERY /?\" for usage.\r\n", 1}},
		{"/v and /ve", "en-US", []string{"query", `HKCU\Software\Wine`, "/v", "a", "/ve"},
			result{"", "ERROR: Invalid syntax.\r\nType \"REG QUERY /?\" for usage.\r\n", 1}},
		{"/s twice", "en-US", []string{"query", `HKCU\Software\Wine`, "/s", "/s"},
			result{"", "ERROR: Invalid syntax.\r\nType \"REG QUERY /?\" for usage.\r\n", 1}},
		{"both views", "en-US", []string{"query", `HKCU\Software\Wine`, "/reg:32", "/reg:64"},
			result{"", "ERROR: Invalid syntax.\r\nType \"REG QUERY /?\" for usage.\r\n", 1}},
		{"unknown switch de", "de-DE", []string{"query", `HKCU\Software\Wine`, "/x"},
			result{"", "FEHLER: Ungültige Syntax.\r\nGeben Sie \"REG QUERY /?\" ein, um die Syntax anzuzeigen.\r\n", 1}},
		{"remote refused", "en-US", []string{"query", `\\DC02\HKLM\SOFTWARE`},
			result{"", "ERROR: The network path was not found.\r\n", 1}},
		{"remote HKCU is not a remote root", "en-US", []string{"query", `\\DC02\HKCU\SOFTWARE`},
			result{"", "ERROR: Invalid key name.\r\nType \"REG QUERY /?\" for usage.\r\n", 1}},
		{"no verb", "en-US", nil,
			result{"", "ERROR: Invalid syntax.\r\nType \"REG /?\" for usage.\r\n", 1}},
		{"unknown verb", "en-US", []string{"frobnicate"},
			result{"", "ERROR: Invalid syntax.\r\nType \"REG /?\" for usage.\r\n", 1}},
		{"help", "en-US", []string{"query", "/?"}, result{usageTexts["QUERY"], "", 0}},
		{"help -H", "en-US", []string{"query", "-H"}, result{usageTexts["QUERY"], "", 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, runReg(newEnv(tc.locale), "", tc.args...), tc.want)
		})
	}
}

func TestSection5WorkedExample(t *testing.T) {
	env := newEnv("en-US")
	data := dcs(5)
	if len(data) != 85 {
		t.Fatalf("example is %d bytes, want 85", len(data))
	}
	key := `HKU\S-1-5-18\` + connPath
	got := runReg(env, "", "add", key, "/v", "DefaultConnectionSettings", "/t", "REG_BINARY", "/d", hex.EncodeToString(data), "/f")
	check(t, got, result{"The operation completed successfully.\r\n\r\n", "", 0})
	v, ok := env.Reg.Value(`HKEY_USERS\S-1-5-18\`+connPath, "defaultconnectionsettings")
	if !ok || v.Type != TypeBinary || !bytes.Equal(v.Data, data) {
		t.Fatalf("stored %v %v %x", ok, v.Type, v.Data)
	}

	const line = "    DefaultConnectionSettings    REG_BINARY    4600000005000000030000001600000070726F78792E6578616D706C652E636F6D3A38303830070000003C6C6F63616C3E000000000000000000000000000000000000000000000000000000000000000000000000\r\n"
	got = runReg(env, "", "query", key, "/v", "DefaultConnectionSettings")
	check(t, got, result{"\r\nHKEY_USERS\\S-1-5-18\\" + connPath + "\r\n" + line + "\r\n", "", 0})

	got = runReg(env, "", "export", key, `C:\Windows\Temp\s18.reg`)
	check(t, got, result{"The operation completed successfully.\r\n\r\n", "", 0})
	raw, err := env.FS.ReadFile(`C:\Windows\Temp\s18.reg`)
	if err != nil {
		t.Fatal(err)
	}
	want := "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_USERS\\S-1-5-18\\" + connPath + "]\r\n" +
		"\"DefaultConnectionSettings\"=hex:46,00,00,00,05,00,00,00,03,00,00,00,16,00,00,\\\r\n" +
		"  00,70,72,6f,78,79,2e,65,78,61,6d,70,6c,65,2e,63,6f,6d,3a,38,30,38,30,07,00,\\\r\n" +
		"  00,00,3c,6c,6f,63,61,6c,3e,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,\\\r\n" +
		"  00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00\r\n\r\n"
	if got := utf16le(t, raw); got != want {
		t.Errorf("export =\n%q\nwant\n%q", got, want)
	}
}

// utf16le checks the BOM and decodes the file.
func utf16le(t *testing.T, raw []byte) string {
	t.Helper()
	if len(raw) < 2 || raw[0] != 0xFF || raw[1] != 0xFE || len(raw)%2 != 0 {
		t.Fatalf("not UTF-16LE with BOM: % x", raw[:min(len(raw), 8)])
	}
	u := make([]uint16, 0, len(raw)/2)
	for i := 2; i < len(raw); i += 2 {
		u = append(u, binary.LittleEndian.Uint16(raw[i:]))
	}
	return string(utf16.Decode(u))
}

func TestCompareGolden(t *testing.T) {
	hkcu := `HKCU\` + connPath
	s18 := `HKU\S-1-5-18\` + connPath
	dispCU := `HKEY_CURRENT_USER\` + connPath
	disp18 := `HKEY_USERS\S-1-5-18\` + connPath
	hexOf := func(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }
	tests := []struct {
		name, locale string
		s18data      []byte // nil: S-1-5-18 has no value
		args         []string
		want         result
	}{
		{"counter only differs", "en-US", dcs(9), []string{"compare", hkcu, s18, "/v", "DefaultConnectionSettings"},
			result{"< Value: " + dispCU + " DefaultConnectionSettings REG_BINARY " + hexOf(dcs(5)) + "\r\n" +
				"> Value: " + disp18 + " DefaultConnectionSettings REG_BINARY " + hexOf(dcs(9)) + "\r\n" +
				"Result Compared: Different\r\nThe operation completed successfully.\r\n\r\n", "", 2}},
		{"identical", "en-US", dcs(5), []string{"compare", hkcu, s18, "/v", "DefaultConnectionSettings"},
			result{"Result Compared: Identical\r\nThe operation completed successfully.\r\n\r\n", "", 0}},
		{"identical /os shows the match", "en-US", dcs(5), []string{"compare", hkcu, s18, "/os"},
			result{"= Value: " + dispCU + " DefaultConnectionSettings REG_BINARY " + hexOf(dcs(5)) + "\r\n" +
				"Result Compared: Identical\r\nThe operation completed successfully.\r\n\r\n", "", 0}},
		{"different /on prints only the result", "de-DE", dcs(6), []string{"compare", hkcu, s18, "/on"},
			result{"Ergebnis verglichen: unterschiedlich\r\nDer Vorgang wurde erfolgreich beendet.\r\n\r\n", "", 2}},
		{"missing value on LOCAL_SYSTEM", "en-US", nil, []string{"compare", hkcu, s18, "/v", "DefaultConnectionSettings"},
			result{"", "ERROR: The system was unable to find the specified registry key or value.\r\n", 1}},
		{"missing value on LOCAL_SYSTEM de", "de-DE", nil, []string{"compare", hkcu, s18, "/v", "DefaultConnectionSettings"},
			result{"", "FEHLER: Der angegebene Registrierungsschlüssel bzw. Wert wurde nicht gefunden.\r\n", 1}},
		{"whole key, value only on one side", "en-US", nil, []string{"compare", hkcu, s18},
			result{"< Value: " + dispCU + " DefaultConnectionSettings REG_BINARY " + hexOf(dcs(5)) + "\r\n" +
				"Result Compared: Different\r\nThe operation completed successfully.\r\n\r\n", "", 2}},
		{"two output modes", "en-US", nil, []string{"compare", hkcu, s18, "/oa", "/od"},
			result{"", "ERROR: Invalid syntax.\r\nType \"REG COMPARE /?\" for usage.\r\n", 1}},
		{"one key only", "en-US", nil, []string{"compare", hkcu},
			result{"", "ERROR: Invalid syntax.\r\nType \"REG COMPARE /?\" for usage.\r\n", 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(tc.locale)
			_ = env.Reg.SetValue(`HKEY_USERS\`+testSID+`\`+connPath, BinaryValue("DefaultConnectionSettings", dcs(5)))
			if tc.s18data != nil {
				_ = env.Reg.SetValue(`HKEY_USERS\S-1-5-18\`+connPath, BinaryValue("DefaultConnectionSettings", tc.s18data))
			}
			check(t, runReg(env, "", tc.args...), tc.want)
		})
	}
}

func TestCompareRecursive(t *testing.T) {
	env := newEnv("en-US")
	_ = env.Reg.SetValue(`HKEY_LOCAL_MACHINE\SOFTWARE\A\sub`, DWORDValue("x", 1))
	_ = env.Reg.SetValue(`HKEY_LOCAL_MACHINE\SOFTWARE\B\sub`, DWORDValue("x", 2))
	_ = env.Reg.EnsureKey(`HKEY_LOCAL_MACHINE\SOFTWARE\B\extra`)
	got := runReg(env, "", "compare", `HKLM\SOFTWARE\A`, `HKLM\SOFTWARE\B`, "/s")
	check(t, got, result{"< Value: HKEY_LOCAL_MACHINE\\SOFTWARE\\A\\sub x REG_DWORD 0x1\r\n" +
		"> Value: HKEY_LOCAL_MACHINE\\SOFTWARE\\B\\sub x REG_DWORD 0x2\r\n" +
		"> Key: HKEY_LOCAL_MACHINE\\SOFTWARE\\B\\extra\r\n" +
		"Result Compared: Different\r\nThe operation completed successfully.\r\n\r\n", "", 2})
	// without /s only the (empty) value lists are compared
	got = runReg(env, "", "compare", `HKLM\SOFTWARE\A`, `HKLM\SOFTWARE\B`)
	check(t, got, result{"Result Compared: Identical\r\nThe operation completed successfully.\r\n\r\n", "", 0})
}

func TestAddGolden(t *testing.T) {
	const ok = "The operation completed successfully.\r\n\r\n"
	const okDE = "Der Vorgang wurde erfolgreich beendet.\r\n\r\n"
	syntax := "ERROR: Invalid syntax.\r\nType \"REG ADD /?\" for usage.\r\n"
	tests := []struct {
		name, locale string
		args         []string
		want         result
		check        func(t *testing.T, r *Registry)
	}{
		{"dword hex", "en-US", []string{"add", `HKCU\Software\New`, "/v", "D", "/t", "REG_DWORD", "/d", "0x10", "/f"},
			result{ok, "", 0}, func(t *testing.T, r *Registry) { wantValue(t, r, `\Software\New`, DWORDValue("D", 16)) }},
		{"dword decimal de", "de-DE", []string{"add", `HKCU\Software\New`, "/v", "D", "/t", "reg_dword", "/d", "4294967295"},
			result{okDE, "", 0}, func(t *testing.T, r *Registry) { wantValue(t, r, `\Software\New`, DWORDValue("D", 0xFFFFFFFF)) }},
		{"qword", "en-US", []string{"add", `HKCU\Software\New`, "/v", "Q", "/t", "REG_QWORD", "/d", "0x100000000"},
			result{ok, "", 0}, func(t *testing.T, r *Registry) {
				wantValue(t, r, `\Software\New`, Value{Name: "Q", Type: TypeQWORD, Data: []byte{0, 0, 0, 0, 1, 0, 0, 0}})
			}},
		{"binary odd length", "en-US", []string{"add", `HKCU\Software\New`, "/v", "B", "/t", "REG_BINARY", "/d", "abc"},
			result{ok, "", 0}, func(t *testing.T, r *Registry) {
				wantValue(t, r, `\Software\New`, BinaryValue("B", []byte{0x0a, 0xbc}))
			}},
		{"multi sz with separator", "en-US", []string{"add", `HKCU\Software\New`, "/v", "M", "/t", "REG_MULTI_SZ", "/s", "#", "/d", "a#b"},
			result{ok, "", 0}, func(t *testing.T, r *Registry) {
				wantValue(t, r, `\Software\New`, Value{Name: "M", Type: TypeMultiSZ, Data: append(append(UTF16("a"), UTF16("b")...), 0, 0)})
			}},
		{"expand sz", "en-US", []string{"add", `HKCU\Software\New`, "/v", "E", "/t", "REG_EXPAND_SZ", "/d", "%SystemRoot%"},
			result{ok, "", 0}, func(t *testing.T, r *Registry) {
				wantValue(t, r, `\Software\New`, Value{Name: "E", Type: TypeExpandSZ, Data: UTF16("%SystemRoot%")})
			}},
		{"no /v writes the default value", "en-US", []string{"add", `HKCU\Software\New`},
			result{ok, "", 0}, func(t *testing.T, r *Registry) { wantValue(t, r, `\Software\New`, StringValue("", "")) }},
		{"bad hex", "en-US", []string{"add", `HKCU\Software\New`, "/v", "B", "/t", "REG_BINARY", "/d", "zz"},
			result{"", "ERROR: The parameter is incorrect.\r\n", 1}, nil},
		{"bad dword de", "de-DE", []string{"add", `HKCU\Software\New`, "/v", "D", "/t", "REG_DWORD", "/d", "-1"},
			result{"", "FEHLER: Falscher Parameter.\r\n", 1}, nil},
		{"dword overflow", "en-US", []string{"add", `HKCU\Software\New`, "/v", "D", "/t", "REG_DWORD", "/d", "0x100000000"},
			result{"", "ERROR: The parameter is incorrect.\r\n", 1}, nil},
		{"unknown type", "en-US", []string{"add", `HKCU\Software\New`, "/v", "D", "/t", "REG_FOO", "/d", "1"}, result{"", syntax, 1}, nil},
		{"separator of two chars", "en-US", []string{"add", `HKCU\Software\New`, "/v", "M", "/t", "REG_MULTI_SZ", "/s", "##", "/d", "a"}, result{"", syntax, 1}, nil},
		{"/v and /ve", "en-US", []string{"add", `HKCU\Software\New`, "/v", "a", "/ve"}, result{"", syntax, 1}, nil},
		{"/f twice", "en-US", []string{"add", `HKCU\Software\New`, "/f", "/f"}, result{"", syntax, 1}, nil},
		{"stray positional", "en-US", []string{"add", `HKCU\Software\New`, "extra"}, result{"", syntax, 1}, nil},
		{"bad root (caldera sample)", "en-US", []string{"add", `HKEY_NOPE\x`, "/v", "a", "/d", "b", "/f"},
			result{"", "ERROR: Invalid key name.\r\nType \"REG ADD /?\" for usage.\r\n", 1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(tc.locale)
			check(t, runReg(env, "", tc.args...), tc.want)
			if tc.check != nil {
				tc.check(t, env.Reg)
			}
		})
	}
}

func wantValue(t *testing.T, r *Registry, sub string, want Value) {
	t.Helper()
	got, ok := r.Value(`HKEY_USERS\`+testSID+sub, want.Name)
	if !ok || got.Type != want.Type || !bytes.Equal(got.Data, want.Data) {
		t.Errorf("value %q = %v %v % x, want %v % x", want.Name, ok, got.Type, got.Data, want.Type, want.Data)
	}
}

func TestPrompts(t *testing.T) {
	args := []string{"add", `HKCU\Software\Wine`, "/v", "Test1", "/d", "new"}
	tests := []struct {
		name, locale, stdin string
		want                result
		wantData            string
	}{
		{"yes", "en-US", "y\r\n", result{"Value Test1 exists, overwrite(Yes/No)? The operation completed successfully.\r\n\r\n", "", 0}, "new"},
		{"Yes word", "en-US", "Yes\n", result{"Value Test1 exists, overwrite(Yes/No)? The operation completed successfully.\r\n\r\n", "", 0}, "new"},
		{"no", "en-US", "n\r\n", result{"Value Test1 exists, overwrite(Yes/No)? The operation was canceled by the user.\r\n\r\n", "", 0}, "Hello, World"},
		{"garbage then no", "en-US", "maybe\r\nno\r\n", result{"Value Test1 exists, overwrite(Yes/No)? Value Test1 exists, overwrite(Yes/No)? The operation was canceled by the user.\r\n\r\n", "", 0}, "Hello, World"},
		{"ja", "de-DE", "J\r\n", result{"Der Wert Test1 ist vorhanden. Überschreiben (J/N)? Der Vorgang wurde erfolgreich beendet.\r\n\r\n", "", 0}, "new"},
		{"nein", "de-DE", "n\r\n", result{"Der Wert Test1 ist vorhanden. Überschreiben (J/N)? Der Vorgang wurde durch den Benutzer abgebrochen.\r\n\r\n", "", 0}, "Hello, World"},
		{"stdin ends", "en-US", "", result{"Value Test1 exists, overwrite(Yes/No)? ", "", 1}, "Hello, World"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(tc.locale)
			check(t, runReg(env, tc.stdin, args...), tc.want)
			v, _ := env.Reg.Value(wineKey, "Test1")
			if got := decodeUTF16(v.Data); got != tc.wantData {
				t.Errorf("Test1 = %q, want %q", got, tc.wantData)
			}
		})
	}
}

func TestPromptBlocksUntilCancel(t *testing.T) {
	env := newEnv("en-US")
	inR, inW := io.Pipe()
	defer inW.Close()
	outR, outW := io.Pipe()
	env.Stdin, env.Stdout = inR, outW
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Main(ctx, env, []string{"delete", `HKCU\Software\Wine`}) }()
	want := "Permanently delete the registry key HKEY_CURRENT_USER\\Software\\Wine (Yes/No)? "
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(outR, buf); err != nil || string(buf) != want {
		t.Fatalf("prompt = %q, %v; want %q", buf, err, want)
	}
	// The prompt is out and stdin is silent: Main must still be waiting.
	select {
	case code := <-done:
		t.Fatalf("returned %d without an answer", code)
	default:
	}
	cancel()
	if code := <-done; code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if !env.Reg.KeyExists(wineKey) {
		t.Error("key deleted although nobody answered")
	}
}

func TestDeleteGolden(t *testing.T) {
	const ok = "The operation completed successfully.\r\n\r\n"
	tests := []struct {
		name, locale, stdin string
		args                []string
		want                result
		keyLeft             bool
		values              int // values left in the key when it exists
	}{
		{"value forced", "en-US", "", []string{"delete", `HKCU\Software\Wine`, "/v", "Test1", "/f"}, result{ok, "", 0}, true, 1},
		{"value prompt yes", "en-US", "yes\r\n", []string{"delete", `HKCU\Software\Wine`, "/v", "Test1"},
			result{"Delete the registry value Test1 (Yes/No)? " + ok, "", 0}, true, 1},
		{"all values prompt", "en-US", "y\r\n", []string{"delete", `hkcu\software\wine`, "/va"},
			result{"Delete all values under the registry key HKEY_CURRENT_USER\\software\\wine (Yes/No)? " + ok, "", 0}, true, 0},
		{"key prompt no", "en-US", "n\r\n", []string{"delete", `HKCU\Software\Wine`},
			result{"Permanently delete the registry key HKEY_CURRENT_USER\\Software\\Wine (Yes/No)? The operation was canceled by the user.\r\n\r\n", "", 0}, true, 2},
		{"key forced de", "de-DE", "", []string{"delete", `HKCU\Software\Wine`, "/f"},
			result{"Der Vorgang wurde erfolgreich beendet.\r\n\r\n", "", 0}, false, 0},
		{"missing value", "en-US", "", []string{"delete", `HKCU\Software\Wine`, "/v", "Nope", "/f"},
			result{"", "ERROR: The system was unable to find the specified registry key or value.\r\n", 1}, true, 2},
		{"missing key", "en-US", "", []string{"delete", `HKCU\Software\Nope`, "/f"},
			result{"", "ERROR: The system was unable to find the specified registry key or value.\r\n", 1}, true, 2},
		{"/v with /va", "en-US", "", []string{"delete", `HKCU\Software\Wine`, "/v", "a", "/va"},
			result{"", "ERROR: Invalid syntax.\r\nType \"REG DELETE /?\" for usage.\r\n", 1}, true, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(tc.locale)
			check(t, runReg(env, tc.stdin, tc.args...), tc.want)
			if got := env.Reg.KeyExists(wineKey); got != tc.keyLeft {
				t.Fatalf("key exists = %v, want %v", got, tc.keyLeft)
			}
			if tc.keyLeft {
				vs, _ := env.Reg.Values(wineKey)
				if len(vs) != tc.values {
					t.Errorf("%d values left, want %d", len(vs), tc.values)
				}
			}
		})
	}
}

func TestCopy(t *testing.T) {
	env := newEnv("en-US")
	got := runReg(env, "", "copy", `HKCU\Software\Wine`, `HKLM\SOFTWARE\Backup`, "/s", "/f")
	check(t, got, result{"The operation completed successfully.\r\n\r\n", "", 0})
	snap := env.Reg.Snapshot()
	if len(snap[`HKEY_LOCAL_MACHINE\SOFTWARE\Backup`]) != 2 || len(snap[`HKEY_LOCAL_MACHINE\SOFTWARE\Backup\subkey`]) != 1 {
		t.Fatalf("copy incomplete: %v", snap[`HKEY_LOCAL_MACHINE\SOFTWARE\Backup`])
	}
	// without /s only the values are copied
	runReg(env, "", "copy", `HKCU\Software\Wine`, `HKLM\SOFTWARE\Flat`)
	if env.Reg.KeyExists(`HKEY_LOCAL_MACHINE\SOFTWARE\Flat\subkey`) {
		t.Error("copy without /s copied a subkey")
	}
	// existing destination value without /f prompts; "n" keeps it
	_ = env.Reg.SetValue(`HKEY_LOCAL_MACHINE\SOFTWARE\Flat`, StringValue("Test1", "keep"))
	got = runReg(env, "n\r\nn\r\n", "copy", `HKCU\Software\Wine`, `HKLM\SOFTWARE\Flat`)
	check(t, got, result{"Value Test1 exists, overwrite(Yes/No)? Value Test2 exists, overwrite(Yes/No)? The operation completed successfully.\r\n\r\n", "", 0})
	if v, _ := env.Reg.Value(`HKLM\SOFTWARE\Flat`, "Test1"); decodeUTF16(v.Data) != "keep" {
		t.Errorf("declined overwrite changed Test1 to %q", decodeUTF16(v.Data))
	}
	// stdin ending at a prompt stops the copy with exit 1
	got = runReg(env, "y\r\n", "copy", `HKCU\Software\Wine`, `HKLM\SOFTWARE\Flat`)
	check(t, got, result{"Value Test1 exists, overwrite(Yes/No)? Value Test2 exists, overwrite(Yes/No)? ", "", 1})
	check(t, runReg(env, "", "copy", `HKCU\Software\Wine`, `hkcu\SOFTWARE\wine`),
		result{"", "ERROR: The source and destination keys cannot be the same.\r\n", 1})
	check(t, runReg(env, "", "copy", `HKCU\Software\Nope`, `HKLM\SOFTWARE\X`),
		result{"", "ERROR: The system was unable to find the specified registry key or value.\r\n", 1})
}

func TestExportPromptAndErrors(t *testing.T) {
	env := newEnv("en-US")
	check(t, runReg(env, "", "export", `HKCU\Software\Wine`, "wine.reg"), result{"The operation completed successfully.\r\n\r\n", "", 0})
	if ok, _ := env.FS.Stat(`C:\Users\auditor\wine.reg`); !ok {
		t.Fatal("relative file not written to the working directory")
	}
	check(t, runReg(env, "n\r\n", "export", `HKCU\Software\Wine`, "wine.reg"),
		result{"File wine.reg already exists. Overwrite (Yes/No)? The operation was canceled by the user.\r\n\r\n", "", 0})
	check(t, runReg(env, "", "export", `HKCU\Software\Wine`, "wine.reg", "/y"), result{"The operation completed successfully.\r\n\r\n", "", 0})
	check(t, runReg(env, "", "export", `HKCU\Software\Nope`, "x.reg"),
		result{"", "ERROR: The system was unable to find the specified registry key or value.\r\n", 1})
	check(t, runReg(env, "", "export", `HKCU\Software\Wine`, `C:\NoSuchDir\x.reg`),
		result{"", "ERROR: The system cannot find the path specified.\r\n", 1})
	check(t, runReg(env, "", "export", `HKCU\Software\Wine`),
		result{"", "ERROR: Invalid syntax.\r\nType \"REG EXPORT /?\" for usage.\r\n", 1})
}

func TestExportFormat(t *testing.T) {
	env := newEnv("en-US")
	k := `HKEY_LOCAL_MACHINE\SOFTWARE\Fmt`
	_ = env.Reg.SetValue(k, StringValue("", `C:\a "b"`))
	_ = env.Reg.SetValue(k, DWORDValue("dw", 0xabc))
	_ = env.Reg.SetValue(k, Value{Name: "ex", Type: TypeExpandSZ, Data: UTF16("%x%")})
	_ = env.Reg.SetValue(k, BinaryValue("empty", nil))
	_ = env.Reg.SetValue(k, Value{Name: "none", Type: TypeNone, Data: []byte{1}})
	_ = env.Reg.EnsureKey(k + `\Sub`)
	runReg(env, "", "export", `HKLM\SOFTWARE\Fmt`, `C:\f.reg`)
	raw, _ := env.FS.ReadFile(`C:\f.reg`)
	want := "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Fmt]\r\n" +
		"@=\"C:\\\\a \\\"b\\\"\"\r\n\"dw\"=dword:00000abc\r\n\"ex\"=hex(2):25,00,78,00,25,00,00,00\r\n" +
		"\"empty\"=hex:\r\n\"none\"=hex(0):01\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Fmt\\Sub]\r\n\r\n"
	if got := utf16le(t, raw); got != want {
		t.Errorf("export =\n%q\nwant\n%q", got, want)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	env := newEnv("de-DE")
	k := `HKEY_USERS\` + testSID + `\Software\Wine`
	_ = env.Reg.SetValue(k, BinaryValue("DefaultConnectionSettings", dcs(7)))
	_ = env.Reg.SetValue(k, Value{Name: "multi", Type: TypeMultiSZ, Data: append(append(UTF16("ä"), UTF16("b")...), 0, 0)})
	_ = env.Reg.SetValue(k, Value{Name: "q", Type: TypeQWORD, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}})
	_ = env.Reg.SetValue(k+`\subkey\deep`, StringValue("line", "a\r\nb\\c\"d"))
	before := env.Reg.Snapshot()
	check(t, runReg(env, "", "export", `HKCU\Software\Wine`, `C:\Windows\Temp\b.reg`, "/y"),
		result{"Der Vorgang wurde erfolgreich beendet.\r\n\r\n", "", 0})
	check(t, runReg(env, "", "delete", `HKCU\Software\Wine`, "/f"), result{"Der Vorgang wurde erfolgreich beendet.\r\n\r\n", "", 0})
	got := runReg(env, "", "import", `C:\Windows\Temp\b.reg`)
	check(t, got, result{"", "Der Vorgang wurde erfolgreich beendet.\r\n\r\n", 0})
	after := env.Reg.Snapshot()
	for key, vs := range before {
		if !strings.HasPrefix(key, k) {
			continue
		}
		if !sameValues(vs, after[key]) {
			t.Errorf("%s: before %v after %v", key, vs, after[key])
		}
	}
}

func sameValues(a, b []Value) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Type != b[i].Type || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

func TestImport(t *testing.T) {
	env := newEnv("en-US")
	ansi := "REGEDIT4\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Imp]\r\n\"s\"=\"caf\xe9\"\r\n\"d\"=dword:0000002a\r\n" +
		"\"e\"=hex(2):41,00\r\n; comment\r\n\"b\"=hex:01,\\\r\n  02\r\n[-HKEY_CURRENT_USER\\Software\\Wine]\r\n" +
		"[HKEY_CURRENT_USER\\Software\\New]\r\n@=\"x\"\r\n\"s\"=-\r\n"
	_ = env.FS.WriteFile(`C:\Users\auditor\a.reg`, []byte(ansi))
	check(t, runReg(env, "", "import", "a.reg"), result{"", "The operation completed successfully.\r\n\r\n", 0})
	k := `HKEY_LOCAL_MACHINE\SOFTWARE\Imp`
	for _, want := range []Value{StringValue("s", "café"), DWORDValue("d", 42),
		{Name: "e", Type: TypeExpandSZ, Data: UTF16("A")}, BinaryValue("b", []byte{1, 2})} {
		got, ok := env.Reg.Value(k, want.Name)
		if !ok || got.Type != want.Type || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("%s = %v %v % x, want %v % x", want.Name, ok, got.Type, got.Data, want.Type, want.Data)
		}
	}
	if env.Reg.KeyExists(wineKey) {
		t.Error("[-KEY] did not delete the key")
	}
	if _, ok := env.Reg.Value(`HKEY_USERS\`+testSID+`\Software\New`, ""); !ok {
		t.Error("default value under HKCU not imported")
	}
	check(t, runReg(env, "", "import", "missing.reg"),
		result{"", "ERROR: Error opening the file. There may be a disk or file system error.\r\n", 1})
	_ = env.FS.WriteFile(`C:\Users\auditor\bad.reg`, []byte("hello\r\n"))
	check(t, runReg(env, "", "import", "bad.reg"), result{"", "ERROR: Error accessing the registry.\r\n", 1})
	check(t, runReg(env, "", "import"), result{"", "ERROR: Invalid syntax.\r\nType \"REG IMPORT /?\" for usage.\r\n", 1})
}

func TestRegistryModel(t *testing.T) {
	r := New()
	for _, k := range []string{`HKEY_USERS\.DEFAULT\` + connPath, `HKU\S-1-5-18\` + connPath, `HKEY_USERS\S-1-5-19\` + connPath,
		`HKEY_USERS\S-1-5-20\` + connPath, `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`} {
		if !r.KeyExists(k) {
			t.Errorf("skeleton key %s missing", k)
		}
	}
	if err := r.SetValue(`HKEY_CURRENT_USER\x`, StringValue("a", "b")); err == nil {
		t.Error("model accepted HKEY_CURRENT_USER")
	}
	_ = r.SetValue(`HKLM\SOFTWARE\T`, StringValue("b", "1"))
	_ = r.SetValue(`HKLM\SOFTWARE\T`, StringValue("a", "2"))
	_ = r.SetValue(`hklm\software\t`, StringValue("B", "3")) // overwrite keeps position and stored case
	vs, _ := r.Values(`HKLM\SOFTWARE\T`)
	if len(vs) != 2 || vs[0].Name != "b" || decodeUTF16(vs[0].Data) != "3" || vs[1].Name != "a" {
		t.Errorf("values = %+v", vs)
	}
	_ = r.EnsureKey(`HKLM\SOFTWARE\T\b`)
	_ = r.EnsureKey(`HKLM\SOFTWARE\T\A`)
	_ = r.EnsureKey(`HKLM\SOFTWARE\T\c`)
	subs, _ := r.Subkeys(`HKLM\SOFTWARE\T`)
	if strings.Join(subs, ",") != "A,b,c" {
		t.Errorf("subkeys = %v", subs)
	}
	if err := r.DeleteKey(`HKLM`); err == nil {
		t.Error("deleted a root")
	}
	if err := r.DeleteValue(`HKLM\SOFTWARE\T`, "zz"); err == nil {
		t.Error("deleted a missing value")
	}
	snap := r.Snapshot()
	snap[`HKEY_LOCAL_MACHINE\SOFTWARE\T`][0].Data[0] = 0xFF
	if v, _ := r.Value(`HKLM\SOFTWARE\T`, "b"); v.Data[0] == 0xFF {
		t.Error("snapshot shares memory with the registry")
	}
}
