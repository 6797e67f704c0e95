package registry

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf16"
)

func encodeUTF16File(s string) []byte {
	out := []byte{0xFF, 0xFE}
	for _, c := range utf16.Encode([]rune(s)) {
		out = binary.LittleEndian.AppendUint16(out, c)
	}
	return out
}

// FuzzParseRegFile checks that the .reg parser never panics and that every value it yields survives
// a trip through the export writer and the parser again.
func FuzzParseRegFile(f *testing.F) {
	f.Add([]byte("Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\X]\r\n\"a\"=hex:01,\\\r\n  02\r\n@=\"s\"\r\n"))
	f.Add([]byte("REGEDIT4\n[HKCU\\X]\n\"e\"=hex(2):41,42,00\n\"d\"=dword:ffffffff\n\"x\"=-\n[-HKCU\\X]\n"))
	f.Add(encodeUTF16File("Windows Registry Editor Version 5.00\r\n\r\n[HKEY_USERS\\S-1-5-18]\r\n\"q\\\"\"=\"a\\\\b\"\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ops, err := ParseRegFile(data)
		if err != nil {
			return
		}
		for _, op := range ops {
			if op.Kind != OpSetValue {
				continue
			}
			v := op.Value
			file := regHeader5 + "\r\n\r\n[HKEY_LOCAL_MACHINE\\F]\r\n" + regValueLine(v) + "\r\n"
			back, err := ParseRegFile(encodeUTF16File(file))
			if err != nil || len(back) != 2 || back[1].Kind != OpSetValue {
				t.Fatalf("re-parse of %q: %v %+v", file, err, back)
			}
			w := back[1].Value
			if w.Name != v.Name || w.Type != v.Type {
				t.Fatalf("name/type changed: %q %v -> %q %v", v.Name, v.Type, w.Name, w.Type)
			}
			if v.Type == TypeSZ {
				if decodeUTF16(v.Data) != decodeUTF16(w.Data) {
					t.Fatalf("string changed: %q -> %q", decodeUTF16(v.Data), decodeUTF16(w.Data))
				}
			} else if !bytes.Equal(v.Data, w.Data) {
				t.Fatalf("data changed: % x -> % x", v.Data, w.Data)
			}
		}
		// applying a parsed file through reg import must not panic either
		env := newEnv("en-US")
		_ = env.FS.WriteFile(`C:\f.reg`, data)
		runReg(env, "", "import", `C:\f.reg`)
	})
}

// FuzzArgs runs reg.exe with arbitrary arguments (NUL-separated in the input) against a fresh host:
// it must not panic, must exit 0, 1 or 2, and must end what it prints with CRLF (or a prompt).
func FuzzArgs(f *testing.F) {
	for _, s := range []string{
		"query\x00HKCU\\Software\\Wine\x00/v\x00Test1",
		"query\x00HKLM\x00/s",
		"add\x00HKCU\\Software\\X\x00/v\x00a\x00/t\x00REG_BINARY\x00/d\x00abc\x00/f",
		"add\x00HKCU\\Software\\X\x00/t\x00REG_MULTI_SZ\x00/s\x00,\x00/d\x00a,,b",
		"delete\x00HKCU\\Software\\Wine\x00/va\x00/f",
		"compare\x00HKCU\\Software\\Wine\x00HKCU\\Software\\Wine\\subkey\x00/s\x00/oa",
		"copy\x00HKCU\\Software\\Wine\x00HKLM\\SOFTWARE\\C\x00/s\x00/f",
		"export\x00HKCU\x00C:\\x.reg\x00/y",
		"import\x00C:\\x.reg",
		"query\x00\\\\host\\HKLM\\SOFTWARE",
		"QUERY\x00-?",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 4096 {
			return
		}
		var args []string
		if in != "" {
			args = strings.Split(in, "\x00")
		}
		env := newEnv("de-DE")
		var out, errb bytes.Buffer
		env.Stdout, env.Stderr = &out, &errb
		env.Stdin = strings.NewReader("j\r\n")
		code := Main(context.Background(), env, args)
		if code < 0 || code > 2 {
			t.Fatalf("exit code %d", code)
		}
		for name, s := range map[string]string{"stdout": out.String(), "stderr": errb.String()} {
			if s != "" && !strings.HasSuffix(s, "\r\n") && !strings.HasSuffix(s, "? ") {
				t.Fatalf("%s does not end a line: %q", name, s)
			}
			if strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\n") {
				t.Fatalf("%s has a bare LF: %q", name, s)
			}
		}
	})
}
