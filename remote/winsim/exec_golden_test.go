package winsim_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"testing"

	"github.com/dcproxy/dcproxy/internal/golden"
	"github.com/dcproxy/dcproxy/remote/reg"
	"github.com/dcproxy/dcproxy/remote/winsim"
	"github.com/dcproxy/dcproxy/remote/winsim/registry"
)

var updateGolden = flag.Bool("update-exec-golden", false, "rewrite testdata/golden-exec.txt from the current code")

// goldenHost is a host whose registry holds values of every type under the keys the audit reads.
func goldenHost(t *testing.T, locale string) *winsim.Host {
	t.Helper()
	h, err := winsim.NewHost(winsim.Config{Name: "dc01.lab.test", Locale: locale,
		Accounts: []winsim.Account{{User: `LAB\auditor`, Password: "x", Admin: true}}})
	if err != nil {
		t.Fatal(err)
	}
	const conn = `Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	r := h.Registry()
	set := func(key string, v registry.Value) {
		if err := r.SetValue(key, v); err != nil {
			t.Fatal(err)
		}
	}
	sid, _ := h.Account(`LAB\auditor`)
	set(`HKEY_USERS\`+sid.SID+`\`+conn, registry.BinaryValue("DefaultConnectionSettings", []byte{0x46, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 'p', ':', '8'}))
	set(`HKEY_USERS\S-1-5-18\`+conn, registry.BinaryValue("DefaultConnectionSettings", []byte{0x46, 0, 0, 0, 1, 0, 0, 0, 1}))
	set(`HKEY_USERS\S-1-5-18\`+conn, registry.BinaryValue("SavedLegacySettings", nil))
	set(`HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\AATPSensor`, registry.StringValue("ImagePath", `"C:\Program Files\Azure Advanced Threat Protection Sensor\2.1\Microsoft.Tri.Sensor.exe"`))
	set(`HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\AATPSensor`, registry.StringValue("ObjectName", `NT AUTHORITY\LocalService`))
	set(`HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\AATPSensor`, registry.DWORDValue("Start", 2))
	set(`HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\.NETFramework\v4.0.30319`, registry.DWORDValue("SchUseStrongCrypto", 1))
	set(`HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows\DataCollection`, registry.StringValue("TelemetryProxyServer", "proxy.lab.test:8080 ünï €"))
	set(`HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows\DataCollection`, registry.Value{Name: "Multi", Type: registry.TypeMultiSZ, Data: registry.UTF16("a\x00b\x00\x00")})
	set(`HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows\DataCollection`, registry.Value{Name: "Exp", Type: registry.TypeExpandSZ, Data: registry.UTF16(`%SystemRoot%\x`)})
	set(`HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows\DataCollection`, registry.Value{Name: "", Type: registry.TypeSZ, Data: registry.UTF16("default")})
	set(`HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows\DataCollection\Sub`, registry.DWORDValue("Deep", 7))
	return h
}

// goldenExecLines are reg.exe command lines of the shapes the audit and fix send, and their
// failures: one batch like the audit's, and single queries of every form.
func goldenExecLines(t *testing.T) []string {
	t.Helper()
	const conn = `Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	keys := []string{`HKCU\` + conn, `HKU\S-1-5-18\` + conn, `HKEY_USERS\S-1-5-19\` + conn,
		`HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`,
		`HKLM\SYSTEM\CurrentControlSet\Services\AATPSensor`, `HKLM\SYSTEM\CurrentControlSet\Services\Missing`,
		`HKLM\SOFTWARE\Policies\Microsoft\Windows\DataCollection`, `hklm\software\microsoft\.NETFramework\v4.0.30319`}
	values := []string{"DefaultConnectionSettings", "SavedLegacySettings", "ImagePath", "ObjectName", "Start",
		"SchUseStrongCrypto", "TelemetryProxyServer", "Multi", "Exp", "Nope"}
	var qs []reg.Query
	for i, k := range keys {
		for j, v := range values {
			if (i+j)%3 == 0 {
				qs = append(qs, reg.Query{ID: fmt.Sprintf("q%d_%d", i, j), Key: k, Value: v})
			}
		}
	}
	batch, err := reg.BatchQueryCommand(qs)
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{batch}
	for _, k := range keys {
		lines = append(lines, `reg query "`+k+`"`, `reg query "`+k+`" /s`, `reg query "`+k+`" /ve`,
			`reg query "`+k+`" /v Start /s`, `reg query "`+k+`\" /v Exp`)
		for _, v := range values {
			lines = append(lines, `reg query "`+k+`" /v `+v)
		}
	}
	lines = append(lines, `reg query HKXX\Software /v X`, `reg query \\other\HKLM\Software /v X`, `reg query`,
		`reg query HKLM\SOFTWARE /v A /ve`, `reg query "HKLM\SOFTWARE\\Bad" /v X`, `reg query HKLM /v X /z`,
		`reg /?`, `reg query /?`, `reg bogus`, `reg add HKLM\SOFTWARE\New /v V /t REG_SZ /d "x y" /f && reg query HKLM\SOFTWARE\New`,
		`reg delete HKLM\SOFTWARE\New /f & reg query HKLM\SOFTWARE\New`, `whoami & echo %USERNAME% %COMPUTERNAME%`)
	return lines
}

// TestExecGolden: the audit's batch and reg.exe queries of every form, run through the host's
// cmd.exe and reg.exe in both locales and the code pages clients ask for, give the stdout, stderr
// and exit code recorded in testdata/golden-exec.txt (SHA-256 of each, written with
// -update-exec-golden by an earlier version): optimisations must not change a byte of them.
func TestExecGolden(t *testing.T) {
	const file = "testdata/golden-exec.txt"
	lines := goldenExecLines(t)
	type rec struct{ loc, line, text string }
	var recs []rec
	for _, loc := range []string{"en-US", "de-DE"} {
		for _, cp := range []int{65001, 437, 850} {
			h := goldenHost(t, loc) // fresh per code page: add and delete change the registry
			for _, line := range lines {
				out, errOut, code, err := h.Exec(context.Background(), `LAB\auditor`, line, cp)
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, rec{fmt.Sprintf("%s/%d", loc, cp), line, fmt.Sprintf("rc=%d\nout=%q\nerr=%q\n", code, out, errOut)})
			}
		}
	}
	got := make([]string, len(recs))
	for i, r := range recs {
		sum := sha256.Sum256([]byte(r.text))
		got[i] = hex.EncodeToString(sum[:12]) + " " + r.loc + " " + fmt.Sprintf("%.100q", r.line)
	}
	golden.Check(t, file, got, *updateGolden, func(i int) string {
		return fmt.Sprintf("%s %q:\n%s", recs[i].loc, recs[i].line, recs[i].text)
	})
}
