package reg

import (
	"strings"
	"testing"
)

// BenchmarkParseBatch parses the output of the audit's four-query batch (three 120-byte values and
// one missing value), the registry read every audited host answers.
func BenchmarkParseBatch(b *testing.B) {
	qs := []Query{
		{ID: "cu", Key: hkcuKey, Value: "DefaultConnectionSettings"},
		{ID: "sys", Key: connKey, Value: "DefaultConnectionSettings"},
		{ID: "svc", Key: `HKU\S-1-5-19\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`, Value: "DefaultConnectionSettings"},
		{ID: "lm", Key: `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`, Value: "WinHttpSettings"},
	}
	out := reply(
		"@@dcproxy:cu:begin \r\n"+queryOut(hkcuKeyLong, "DefaultConnectionSettings", "REG_BINARY", exampleHex),
		"@@dcproxy:cu:ok ",
		"@@dcproxy:sys:begin \r\n"+queryOut(connKeyLong, "DefaultConnectionSettings", "REG_BINARY", exampleHex),
		"@@dcproxy:sys:ok ",
		"@@dcproxy:svc:begin \r\n"+queryOut(strings.Replace(connKeyLong, "S-1-5-18", "S-1-5-19", 1), "DefaultConnectionSettings", "REG_BINARY", exampleHex),
		"@@dcproxy:svc:ok ",
		"@@dcproxy:lm:begin ",
		"@@dcproxy:lm:fail ",
	)
	if res, err := ParseBatch(out, qs); err != nil || len(res) != 4 || !res[0].Found || res[3].Found {
		b.Fatalf("ParseBatch = %+v, %v", res, err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseBatch(out, qs); err != nil {
			b.Fatal(err)
		}
	}
}
