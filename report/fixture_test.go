package report

import (
	"time"

	"github.com/dcproxy/dcproxy/fleet"
)

const (
	pingURL = "https://contososensorapi.atp.azure.com/tri/sensor/api/ping"
	keyLS   = `HKU\S-1-5-18\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	keyLSv  = `HKU\S-1-5-19\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	rawRef  = "460000000700000003000000" + "0a00000070726f78793a38303830" + "070000003c6c6f63616c3e" + "00000000"
	rawOld  = "46000000020000000300000" + "00e00000070726f78792d6f6c643a33313238" + "00000000" + "00000000"
)

var fixedNow = time.Date(2024, 5, 14, 9, 45, 0, 0, time.UTC)

// reference is the admin's proxy, declared in the config.
func reference() *fleet.Settings {
	return &fleet.Settings{Present: true, Source: "config", Mode: "proxy", Proxy: "proxy:8080", Bypass: "<local>",
		Flags: 0x03, Version: 0x46, Counter: 7, Raw: rawRef}
}

func actualSame(key string, counter uint32, cmp string) *fleet.Settings {
	s := reference()
	s.Source = key
	s.Counter = counter
	s.RegCompare = cmp
	return s
}

func expectProbe() *fleet.Probe {
	return &fleet.Probe{URL: pingURL, Accepted: []int{200, 503}}
}

func regPass(account, key string, counter uint32, cmp, msg string) fleet.Check {
	return fleet.Check{ID: "regcompare." + lower(account), Kind: fleet.KindRegCompare, Account: account,
		Status: fleet.CheckPass, Expected: reference(), Actual: actualSame(key, counter, cmp), Message: msg}
}

func endpoint(account, status string, act *fleet.Probe, approx bool, msg string) fleet.Check {
	c := fleet.Check{ID: "endpoint." + lower(account), Kind: fleet.KindEndpoint, Account: account,
		Status: status, Expected: expectProbe(), Message: msg, Approximate: approx}
	if act != nil {
		act.URL = pingURL
		c.Actual = act
	}
	return c
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func infoCurrentUser() fleet.Check {
	s := reference()
	s.Source = `HKCU\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	return fleet.Check{ID: "info.current_user", Kind: fleet.KindInfo, Account: fleet.AccountCurrentUser,
		Status: fleet.CheckInfo, Actual: s, Message: "connecting account's settings"}
}

func infoMachine() fleet.Check {
	return fleet.Check{ID: "info.winhttp", Kind: fleet.KindInfo, Account: fleet.AccountMachine, Status: fleet.CheckInfo,
		Actual: &fleet.Settings{Present: true, Source: `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections\WinHttpSettings`,
			Mode: "direct", Flags: 0x01, Version: 0x28, Raw: "2800000000000000010000000000000000000000"},
		Message: "WinHTTP machine proxy"}
}

// fixture is a hand-written report that covers every case the renderers distinguish.
func fixture() *fleet.Report {
	rep := &fleet.Report{
		Schema:     fleet.Schema,
		Command:    "fix",
		RunID:      "20240514T093000Z-7f3a",
		StartedAt:  time.Date(2024, 5, 14, 9, 30, 0, 0, time.UTC),
		FinishedAt: time.Date(2024, 5, 14, 9, 31, 12, 500_000_000, time.UTC),
		Hosts: []fleet.HostResult{
			{ // compliant, everything identical
				Host: "dc01.corp.example", Address: "10.0.1.11", Site: "Berlin", Tags: []string{"gc", "pdc"},
				Status: fleet.StatusCompliant, DurationMS: 2310,
				Stats: &fleet.Stats{Requests: 9, Handshakes: 1, WaitMS: 1200, Attempts: 1},
				Checks: []fleet.Check{
					infoCurrentUser(),
					regPass(fleet.AccountLocalSystem, keyLS, 7, "identical", "identical to the reference"),
					regPass(fleet.AccountLocalService, keyLSv, 7, "identical", "identical to the reference"),
					endpoint(fleet.AccountLocalSystem, fleet.CheckPass, &fleet.Probe{Route: "proxy proxy:8080", Status: 200, Millis: 184}, false, "HTTP 200"),
					endpoint(fleet.AccountLocalService, fleet.CheckPass, &fleet.Probe{Route: "proxy proxy:8080", Status: 200, Millis: 171}, false, "HTTP 200"),
					infoMachine(),
				},
			},
			{ // compliant: reg compare says Different, but only the change counter differs
				Host: "dc02.corp.example", Address: "10.0.1.12", Site: "Berlin",
				Status: fleet.StatusCompliant, DurationMS: 2544,
				Checks: []fleet.Check{
					regPass(fleet.AccountLocalSystem, keyLS, 12, "different", "only the change counter differs (12, reference 7)"),
					regPass(fleet.AccountLocalService, keyLSv, 7, "identical", "identical to the reference"),
					endpoint(fleet.AccountLocalSystem, fleet.CheckPass, &fleet.Probe{Route: "proxy proxy:8080", Status: 503, Millis: 201}, false, "HTTP 503 (service reached)"),
					endpoint(fleet.AccountLocalService, fleet.CheckPass, &fleet.Probe{Route: "proxy proxy:8080", Status: 200, Millis: 190}, false, "HTTP 200"),
				},
			},
			{ // noncompliant: LOCAL_SYSTEM has no value; the probe going direct fails
				Host: "dc03.corp.example", Address: "10.0.2.13", Site: "Hamburg",
				Status: fleet.StatusNoncompliant, DurationMS: 3120,
				Checks: []fleet.Check{
					{ID: "regcompare.local_system", Kind: fleet.KindRegCompare, Account: fleet.AccountLocalSystem, Status: fleet.CheckFail,
						Expected: reference(), Actual: &fleet.Settings{Present: false, Source: keyLS, RegCompare: "missing"},
						Message: "ERROR: The system was unable to find the specified registry key or value."},
					regPass(fleet.AccountLocalService, keyLSv, 7, "identical", "identical to the reference"),
					endpoint(fleet.AccountLocalSystem, fleet.CheckFail, &fleet.Probe{Route: "direct", Error: "ConnectFailure", Millis: 21003}, false, "no connection"),
					endpoint(fleet.AccountLocalService, fleet.CheckPass, &fleet.Probe{Route: "proxy proxy:8080", Status: 200, Millis: 160}, false, "HTTP 200"),
				},
			},
			{ // noncompliant: LOCAL_SERVICE carries an old proxy; the fix failed
				Host: "dc04.corp.example", Address: "10.0.2.14", Site: "Hamburg", Tags: []string{"rodc"},
				Status: fleet.StatusNoncompliant, DurationMS: 4803,
				Checks: []fleet.Check{
					regPass(fleet.AccountLocalSystem, keyLS, 7, "identical", "identical to the reference"),
					{ID: "regcompare.local_service", Kind: fleet.KindRegCompare, Account: fleet.AccountLocalService, Status: fleet.CheckFail,
						Expected: reference(), Actual: &fleet.Settings{Present: true, Source: keyLSv, Mode: "proxy", Proxy: "proxy-old:3128",
							Flags: 0x03, Version: 0x46, Counter: 2, Raw: rawOld, RegCompare: "different"},
						Message: "Result Compared: Different"},
					endpoint(fleet.AccountLocalSystem, fleet.CheckPass, &fleet.Probe{Route: "proxy proxy:8080", Status: 200, Millis: 150}, false, "HTTP 200"),
					endpoint(fleet.AccountLocalService, fleet.CheckFail, &fleet.Probe{Route: "proxy proxy-old:3128", Status: 407, Error: "ProtocolError", Millis: 95}, false, "HTTP 407"),
				},
				Remediation: []fleet.Remediation{{
					Account: fleet.AccountLocalService, Key: keyLSv, Value: "DefaultConnectionSettings",
					Action: "write", Outcome: "failed", Before: "proxy-old:3128",
					Backup: `C:\Windows\Temp\dcproxy\20240514T093000Z-7f3a-S-1-5-19.reg`, Message: "reg add exited 1: access denied",
				}},
			},
			{ // compliant with approximate probes: the accounts use a PAC file
				Host: "dc05.corp.example", Address: "10.0.3.15", Site: "Munich",
				Status: fleet.StatusCompliant, DurationMS: 2950,
				Checks: []fleet.Check{
					{ID: "regcompare.local_system", Kind: fleet.KindRegCompare, Account: fleet.AccountLocalSystem, Status: fleet.CheckPass,
						Expected: &fleet.Settings{Present: true, Source: "config", Mode: "pac", AutoConfigURL: "http://wpad.corp.example/proxy.pac", Flags: 0x05, Version: 0x46},
						Actual:   &fleet.Settings{Present: true, Source: keyLS, Mode: "pac", AutoConfigURL: "http://wpad.corp.example/proxy.pac", Flags: 0x05, Version: 0x46, Counter: 3, RegCompare: "identical"},
						Message:  "identical to the reference"},
					{ID: "regcompare.local_service", Kind: fleet.KindRegCompare, Account: fleet.AccountLocalService, Status: fleet.CheckPass,
						Expected: &fleet.Settings{Present: true, Source: "config", Mode: "pac", AutoConfigURL: "http://wpad.corp.example/proxy.pac", Flags: 0x05, Version: 0x46},
						Actual:   &fleet.Settings{Present: true, Source: keyLSv, Mode: "pac", AutoConfigURL: "http://wpad.corp.example/proxy.pac", Flags: 0x05, Version: 0x46, Counter: 3, RegCompare: "identical"},
						Message:  "identical to the reference"},
					endpoint(fleet.AccountLocalSystem, fleet.CheckPass, &fleet.Probe{Route: "system", Status: 200, Millis: 230}, true, "HTTP 200 (probe used the connecting account's PAC resolution)"),
					endpoint(fleet.AccountLocalService, fleet.CheckPass, &fleet.Probe{Route: "system", Status: 200, Millis: 214}, true, "HTTP 200 (probe used the connecting account's PAC resolution)"),
				},
			},
			{ // error: authentication refused
				Host: "dc06.corp.example", Address: "10.0.3.16", Site: "Munich",
				Status: fleet.StatusError, DurationMS: 310,
				Error:  &fleet.HostError{Kind: "auth", Message: "401"},
				Stats:  &fleet.Stats{Requests: 2, Handshakes: 1, WaitMS: 40, Attempts: 1},
				Checks: []fleet.Check{},
			},
			{ // error: nobody listens on 5985
				Host: "dc07.corp.example", Address: "10.0.4.17", Site: "Vienna",
				Status: fleet.StatusError, DurationMS: 3,
				Error: &fleet.HostError{Kind: "unreachable", Message: "connection refused"},
				Stats: &fleet.Stats{Requests: 1, Attempts: 3},
			},
			{ // error: the host accepted the connection and never answered
				Host: "dc08.corp.example", Address: "10.0.4.18", Site: "Vienna",
				Status: fleet.StatusError, DurationMS: 60000,
				Error: &fleet.HostError{Kind: "timeout", Message: "no answer within 60s"},
			},
			{ // error: the registry checks ran, the probe script failed
				Host: "dc09.corp.example", Address: "10.0.5.19",
				Status: fleet.StatusError, DurationMS: 5120,
				Checks: []fleet.Check{
					regPass(fleet.AccountLocalSystem, keyLS, 7, "identical", "identical to the reference"),
					regPass(fleet.AccountLocalService, keyLSv, 7, "identical", "identical to the reference"),
					{ID: "endpoint.local_system", Kind: fleet.KindEndpoint, Account: fleet.AccountLocalSystem, Status: fleet.CheckError,
						Expected: expectProbe(), Message: "probe script failed: powershell.exe exited 1 (ConstrainedLanguage mode)"},
					{ID: "endpoint.local_service", Kind: fleet.KindEndpoint, Account: fleet.AccountLocalService, Status: fleet.CheckError,
						Expected: expectProbe(), Message: "probe script failed: powershell.exe exited 1 (ConstrainedLanguage mode)"},
				},
			},
			{ // German DC: localized reg.exe messages; a fix wrote LOCAL_SYSTEM and rolled LOCAL_SERVICE back
				Host: "dc-fra-01.corp.example", Address: "10.0.6.21", Site: "Frankfurt", Tags: []string{"de-DE"},
				Status: fleet.StatusNoncompliant, DurationMS: 6230,
				Checks: []fleet.Check{
					regPass(fleet.AccountLocalSystem, keyLS, 8, "different", "nur der Änderungszähler unterscheidet sich"),
					{ID: "regcompare.local_service", Kind: fleet.KindRegCompare, Account: fleet.AccountLocalService, Status: fleet.CheckFail,
						Expected: reference(), Actual: &fleet.Settings{Present: false, Source: keyLSv, RegCompare: "missing"},
						Message: "FEHLER: Der angegebene Registrierungsschlüssel bzw. Wert wurde nicht gefunden."},
					endpoint(fleet.AccountLocalSystem, fleet.CheckPass, &fleet.Probe{Route: "proxy proxy:8080", Status: 200, Millis: 140}, false, "HTTP 200"),
					endpoint(fleet.AccountLocalService, fleet.CheckFail, &fleet.Probe{Route: "direct", Error: "NameResolutionFailure", Millis: 2004}, false, "Der Remotename konnte nicht aufgelöst werden"),
				},
				Remediation: []fleet.Remediation{
					{Account: fleet.AccountLocalSystem, Key: keyLS, Value: "DefaultConnectionSettings", Action: "write", Outcome: "verified",
						Before: "no value", After: "proxy:8080 bypass <local>", Backup: `C:\Windows\Temp\dcproxy\20240514T093000Z-7f3a-S-1-5-18.reg`},
					{Account: fleet.AccountLocalService, Key: keyLSv, Value: "DefaultConnectionSettings", Action: "write", Outcome: "rolled_back",
						Before: "no value", After: "proxy:8080 bypass <local>", Backup: `C:\Windows\Temp\dcproxy\20240514T093000Z-7f3a-S-1-5-19.reg`,
						Message: "Prüfung nach dem Schreiben fehlgeschlagen: FEHLER: Zugriff verweigert"},
				},
			},
		},
	}
	rep.Summary = fleet.Summary{Hosts: 10, Compliant: 3, Noncompliant: 3, Error: 4}
	return rep
}
