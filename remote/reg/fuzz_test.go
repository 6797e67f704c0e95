package reg

import (
	"strings"
	"testing"
)

// FuzzParseBatch: never panics; an accepted reply has one result per query, in order, and every found
// result carries a REG_ type whose data decodes consistently with Raw.
func FuzzParseBatch(f *testing.F) {
	qs := batch[:2]
	good := reply(
		"@@dcproxy:cu:begin \r\n"+queryOut(hkcuKeyLong, "DefaultConnectionSettings", "REG_BINARY", exampleHex),
		"@@dcproxy:cu:ok ",
		"@@dcproxy:sys:begin ",
		"@@dcproxy:sys:fail ",
	)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(strings.ReplaceAll(good, "\r\n", "\n"))
	f.Add(reply("@@dcproxy:cu:begin", "@@dcproxy:cu:fail", "@@dcproxy:sys:begin", "", connKeyLong, "    DefaultConnectionSettings    REG_SZ    a    b", "@@dcproxy:sys:ok"))
	f.Add("@@dcproxy:cu:ok\n@@dcproxy:cu:begin")
	f.Fuzz(func(t *testing.T, out string) {
		res, err := ParseBatch(out, qs)
		if err != nil {
			return
		}
		if len(res) != len(qs) {
			t.Fatalf("%d results for %d queries", len(res), len(qs))
		}
		for i, r := range res {
			if r.ID != qs[i].ID {
				t.Fatalf("result %d has ID %q", i, r.ID)
			}
			if r.Found && !validType(r.Type) {
				t.Fatalf("found result with type %q", r.Type)
			}
			if !r.Found && (r.Type != "" || r.Data != nil || r.Raw != "") {
				t.Fatalf("absent result with data: %+v", r)
			}
			if r.Found && r.Type == "REG_BINARY" && len(r.Data)*2 != len(r.Raw) {
				t.Fatalf("binary data %d bytes from %d hex digits", len(r.Data), len(r.Raw))
			}
		}
	})
}

// FuzzParseQueryValue: never panics; an accepted value has a valid type, and for a named query its
// name matches the queried name case-insensitively.
func FuzzParseQueryValue(f *testing.F) {
	f.Add(queryOut(connKeyLong, "DefaultConnectionSettings", "REG_BINARY", exampleHex)+"\r\n", "DefaultConnectionSettings")
	f.Add(queryOut(`HKEY_CURRENT_USER\Software\Wine`, "Test1", "REG_SZ", "Hello,    World"), "Test1")
	f.Add(queryOut(`HKEY_LOCAL_MACHINE\X`, "(Default)", "REG_DWORD", "0x1f"), "")
	f.Add("\r\n", "x")
	f.Add("\r\nHKEY_LOCAL_MACHINE\\X\r\n    Q    REG_QWORD    0xffffffffffffffff\r\n", "q")
	f.Fuzz(func(t *testing.T, out, name string) {
		v, err := ParseQueryValue(out, name)
		if err != nil {
			return
		}
		if !validType(v.Type) {
			t.Fatalf("type %q", v.Type)
		}
		if name != "" && !strings.EqualFold(v.Name, name) {
			t.Fatalf("name %q for query %q", v.Name, name)
		}
		if strings.ContainsAny(v.Raw, "\r\n") {
			t.Fatalf("raw data spans lines: %q", v.Raw)
		}
	})
}
