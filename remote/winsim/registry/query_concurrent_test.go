package registry

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
)

// TestQueryDuringWrites runs reg query (plain, /v and /s) while another goroutine keeps changing
// the key: a value is rewritten, subkeys appear and disappear. Every query must print one state of
// the key: the value exactly once with well-formed data, the subkeys each once and in order. Run
// with -race it also checks that a query's copy shares nothing the writer changes.
func TestQueryDuringWrites(t *testing.T) {
	env := newEnv("en-US")
	key := wineKey + `\Busy`
	if err := env.Reg.SetValue(key, DWORDValue("N", 0)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = env.Reg.SetValue(key, DWORDValue("N", uint32(i)))
			_ = env.Reg.SetValue(fmt.Sprintf(`%s\Sub%d`, key, i%5), StringValue("S", strings.Repeat("x", i%7)))
			_ = env.Reg.DeleteKey(fmt.Sprintf(`%s\Sub%d`, key, (i+2)%5))
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	display := `HKEY_USERS\` + testSID + `\Software\Wine\Busy`
	for i := 0; i < 300; i++ {
		r := runReg(env, "", "query", display)
		if r.code != 0 {
			t.Fatalf("query: exit %d, %q", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\r\n"), "\r\n")
		if len(lines) < 4 || lines[0] != "" || lines[1] != display || !strings.HasPrefix(lines[2], "    N    REG_DWORD    0x") || lines[3] != "" {
			t.Fatalf("query printed\n%q", r.stdout)
		}
		subs := lines[4:]
		if !sort.StringsAreSorted(subs) {
			t.Fatalf("subkeys out of order: %q", subs)
		}
		for j, s := range subs {
			if !strings.HasPrefix(s, display+`\Sub`) || (j > 0 && subs[j-1] == s) {
				t.Fatalf("subkey line %q in\n%q", s, r.stdout)
			}
		}
		r = runReg(env, "", "query", display, "/v", "N")
		if r.code != 0 || strings.Count(r.stdout, "    N    REG_DWORD    0x") != 1 {
			t.Fatalf("query /v: exit %d\n%q", r.code, r.stdout)
		}
		r = runReg(env, "", "query", display, "/s")
		if r.code != 0 || strings.Count(r.stdout, "    N    REG_DWORD    0x") != 1 {
			t.Fatalf("query /s: exit %d\n%q", r.code, r.stdout)
		}
		if strings.Count(r.stdout, "    S    REG_SZ    ") != strings.Count(r.stdout, display+`\Sub`) {
			t.Fatalf("query /s: a subkey without its value\n%q", r.stdout)
		}
	}
}

// BenchmarkQueryValue is one `reg query KEY /v NAME` as the audit sends it, for an HKCU key (the
// user hive is ensured on every HKCU command) and an HKLM key that does not exist.
func BenchmarkQueryValue(b *testing.B) {
	env := newEnv("en-US")
	_ = env.Reg.SetValue(`HKEY_USERS\`+testSID+`\`+connPath, BinaryValue("DefaultConnectionSettings", dcs(5)))
	for _, bc := range []struct{ name, key, value string }{
		{"hkcu", `HKCU\` + connPath, "DefaultConnectionSettings"},
		{"hklm-missing", `HKLM\SYSTEM\CurrentControlSet\Services\AATPSensor`, "ImagePath"},
		{"hklm-roots", `HKLM\SOFTWARE\Microsoft\SystemCertificates\AuthRoot\Certificates`, "x"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := *env
			e.Stdout, e.Stderr = io.Discard, io.Discard
			args := []string{"query", bc.key, "/v", bc.value}
			b.ReportAllocs()
			for b.Loop() {
				Main(context.Background(), &e, args)
			}
		})
	}
}
