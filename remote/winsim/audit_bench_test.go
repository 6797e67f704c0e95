package winsim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote/reg"
	"github.com/dcproxy/dcproxy/remote/winsim"
	"github.com/dcproxy/dcproxy/remote/winsim/registry"
)

// auditBatch is a registry batch shaped like the one dcproxy's audit sends each host: 26 wrapped
// `reg query KEY /v NAME` commands (account keys under HKCU and HKU, services, policies, .NET).
func auditBatch(b *testing.B) string {
	const conn = `Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	var qs []reg.Query
	add := func(key, value string) {
		qs = append(qs, reg.Query{ID: "q" + strings.Repeat("x", len(qs)%3) + string(rune('A'+len(qs))), Key: key, Value: value})
	}
	for _, k := range []string{`HKCU\` + conn, `HKU\S-1-5-18\` + conn, `HKU\S-1-5-19\` + conn} {
		add(k, "DefaultConnectionSettings")
		add(k, "SavedLegacySettings")
	}
	machine := `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	add(machine, "WinHttpSettings")
	add(machine, "DefaultConnectionSettings")
	add(machine, "SavedLegacySettings")
	add(`HKLM\SOFTWARE\Policies\Microsoft\Windows\CurrentVersion\Internet Settings`, "ProxySettingsPerUser")
	for _, s := range []string{"AATPSensor", "AATPSensorUpdater"} {
		for _, v := range []string{"ImagePath", "ObjectName", "Start"} {
			add(`HKLM\SYSTEM\CurrentControlSet\Services\`+s, v)
		}
	}
	add(`HKLM\SYSTEM\CurrentControlSet\Services\Sense`, "Start")
	add(`HKLM\SOFTWARE\Microsoft\Windows Advanced Threat Protection\Status`, "OnboardingState")
	add(`HKLM\SOFTWARE\Policies\Microsoft\Windows\DataCollection`, "TelemetryProxyServer")
	add(`HKLM\SOFTWARE\Policies\Microsoft\Windows\DataCollection`, "DisableEnterpriseAuthProxy")
	add(`HKLM\SOFTWARE\Policies\Microsoft\Windows Advanced Threat Protection`, "PreferStaticProxyForHttpRequest")
	add(`HKLM\SOFTWARE\Policies\Microsoft\Windows Defender`, "ProxyServer")
	for _, k := range []string{`HKLM\SOFTWARE\Microsoft\.NETFramework\v4.0.30319`, `HKLM\SOFTWARE\WOW6432Node\Microsoft\.NETFramework\v4.0.30319`} {
		add(k, "SchUseStrongCrypto")
		add(k, "SystemDefaultTlsVersions")
	}
	line, err := reg.BatchQueryCommand(qs)
	if err != nil {
		b.Fatal(err)
	}
	return line
}

// BenchmarkExecAuditBatch runs the audit's registry batch through the host's cmd.exe and reg.exe
// (in-process, no HTTP) in a UTF-8 shell, the code page dcproxy's client asks for: the per-host
// cost of the simulated command itself.
func BenchmarkExecAuditBatch(b *testing.B) {
	h, err := winsim.NewHost(winsim.Config{Name: "dc01.lab.test", Accounts: []winsim.Account{{User: `LAB\auditor`, Password: "x", Admin: true}}})
	if err != nil {
		b.Fatal(err)
	}
	const conn = `Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	if err := h.Registry().SetValue(`HKEY_USERS\S-1-5-18\`+conn, registry.BinaryValue("DefaultConnectionSettings", []byte{0x46, 0, 0, 0, 1, 0, 0, 0, 1})); err != nil {
		b.Fatal(err)
	}
	line := auditBatch(b)
	b.ReportAllocs()
	for b.Loop() {
		out, _, code, err := h.Exec(context.Background(), `LAB\auditor`, line, 65001)
		if err != nil || code != 1 || !strings.Contains(string(out), "REG_BINARY") {
			b.Fatalf("exit %d, %v:\n%s", code, err, out)
		}
	}
}
