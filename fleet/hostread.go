package fleet

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/reg"
)

// Registry locations of the sensor-aware audit (../shared/reference/mdi-2026.md summarises the
// sources). Keys are in the short root form reg.exe accepts.
const (
	keyServices        = `HKLM\SYSTEM\CurrentControlSet\Services\`
	keyPerUserPolicy   = `HKLM\SOFTWARE\Policies\Microsoft\Windows\CurrentVersion\Internet Settings`
	keyMDEStatus       = `HKLM\SOFTWARE\Microsoft\Windows Advanced Threat Protection\Status`
	keyDataCollection  = `HKLM\SOFTWARE\Policies\Microsoft\Windows\DataCollection`
	keyATPPolicy       = `HKLM\SOFTWARE\Policies\Microsoft\Windows Advanced Threat Protection`
	keyDefenderPolicy  = `HKLM\SOFTWARE\Policies\Microsoft\Windows Defender`
	keyNetFx64         = `HKLM\SOFTWARE\Microsoft\.NETFramework\v4.0.30319`
	keyNetFx32         = `HKLM\SOFTWARE\WOW6432Node\Microsoft\.NETFramework\v4.0.30319`
	serviceSensor      = "AATPSensor"
	serviceUpdater     = "AATPSensorUpdater"
	serviceSense       = "Sense"
	valueStrongCrypto  = "SchUseStrongCrypto"
	valueSystemDefault = "SystemDefaultTlsVersions"
)

// Query IDs of the host read beyond the account IDs of Values (see hostQueries).
const (
	idMachineDCS      = "MACHINE_DCS"   // HKLM Connections DefaultConnectionSettings (per-machine)
	idMachineSaved    = "MACHINE_SAVED" // HKLM Connections SavedLegacySettings
	idPerUser         = "PER_USER"      // ProxySettingsPerUser policy
	idSensorImage     = "SENSOR_IMAGE"
	idSensorAccount   = "SENSOR_ACCOUNT"
	idSensorStart     = "SENSOR_START"
	idUpdaterImage    = "UPDATER_IMAGE"
	idUpdaterAccount  = "UPDATER_ACCOUNT"
	idUpdaterStart    = "UPDATER_START"
	idSenseStart      = "SENSE_START"
	idOnboarding      = "MDE_ONBOARDED"
	idTelemetryProxy  = "MDE_PROXY"
	idDisableAuthPrx  = "MDE_NO_AUTH_PROXY"
	idPreferStatic    = "MDE_PREFER_STATIC"
	idDefenderProxy   = "AV_PROXY"
	idStrongCrypto64  = "TLS_STRONG_64"
	idSystemDefault64 = "TLS_DEFAULT_64"
	idStrongCrypto32  = "TLS_STRONG_32"
	idSystemDefault32 = "TLS_DEFAULT_32"
)

// hostQuery is one value of the host read with the registry types it may have (the first is the
// one Windows writes). A value of another type is reported, not guessed at.
type hostQuery struct {
	reg.Query
	types []string
}

var (
	binaryType = []string{"REG_BINARY"}
	dwordType  = []string{"REG_DWORD"}
	stringType = []string{"REG_SZ", "REG_EXPAND_SZ"}
)

// hostQueries is everything the audit reads with its one cmd.exe batch: the WinINet values of the
// three accounts and of the machine (with SavedLegacySettings), the per-machine policy, WinHTTP,
// the sensor's services, Defender for Endpoint's onboarding and proxy policies, Defender
// Antivirus' proxy, and the .NET TLS values in both registry views.
var hostQueries = func() []hostQuery {
	var qs []hostQuery
	add := func(id, key, value string, types []string) {
		qs = append(qs, hostQuery{reg.Query{ID: id, Key: key, Value: value}, types})
	}
	for _, a := range []string{AccountCurrentUser, AccountLocalSystem, AccountLocalService} {
		add(a, AccountKey(a), ValueName, binaryType)
		add(SavedLegacyID(a), AccountKey(a), SavedLegacyValue, binaryType)
	}
	machine := AccountKey(AccountMachine)
	add(AccountMachine, machine, WinHTTPValue, binaryType)
	add(idMachineDCS, machine, ValueName, binaryType)
	add(idMachineSaved, machine, SavedLegacyValue, binaryType)
	add(idPerUser, keyPerUserPolicy, "ProxySettingsPerUser", dwordType)
	for _, s := range []struct{ image, account, start, name string }{
		{idSensorImage, idSensorAccount, idSensorStart, serviceSensor},
		{idUpdaterImage, idUpdaterAccount, idUpdaterStart, serviceUpdater},
	} {
		add(s.image, keyServices+s.name, "ImagePath", stringType)
		add(s.account, keyServices+s.name, "ObjectName", stringType)
		add(s.start, keyServices+s.name, "Start", dwordType)
	}
	add(idSenseStart, keyServices+serviceSense, "Start", dwordType)
	add(idOnboarding, keyMDEStatus, "OnboardingState", dwordType)
	add(idTelemetryProxy, keyDataCollection, "TelemetryProxyServer", stringType)
	add(idDisableAuthPrx, keyDataCollection, "DisableEnterpriseAuthProxy", dwordType)
	add(idPreferStatic, keyATPPolicy, "PreferStaticProxyForHttpRequest", dwordType)
	add(idDefenderProxy, keyDefenderPolicy, "ProxyServer", stringType)
	add(idStrongCrypto64, keyNetFx64, valueStrongCrypto, dwordType)
	add(idSystemDefault64, keyNetFx64, valueSystemDefault, dwordType)
	add(idStrongCrypto32, keyNetFx32, valueStrongCrypto, dwordType)
	add(idSystemDefault32, keyNetFx32, valueSystemDefault, dwordType)
	return qs
}()

// hostState is what the audit's one registry batch found on a host.
type hostState struct {
	// vals holds every value found (nil = absent) by query ID: binary values as their bytes, DWORDs
	// as 4 little-endian bytes, strings as UTF-8 text.
	vals Values
	// odd lists values of an unexpected type, in plain words; they count as absent.
	odd []string
}

// dword returns a DWORD value and whether it is present.
func (s *hostState) dword(id string) (uint32, bool) {
	b := s.vals[id]
	if len(b) != 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b), true
}

// str returns a string value ("" when absent).
func (s *hostState) str(id string) string { return string(s.vals[id]) }

// readHost reads every value of hostQueries with one command line.
func readHost(ctx context.Context, r remote.Runner) (*hostState, error) {
	b, err := hostBatch()
	if err != nil {
		return nil, err
	}
	out, err := r.Run(ctx, b.line)
	if err != nil {
		return nil, fmt.Errorf("read registry: %w", err)
	}
	return parseHostRead(out.Stdout, b.queries)
}

// hostBatchLines are the command lines of the audit's read, the same for every host.
type hostBatchLines struct {
	queries []reg.Query // hostRegQueries
	line    string      // their batch (reg.BatchQueryCommand)
	// combined is line followed by powershell.exe reading the probe from stdin
	// (probe.CombinedCommand); "" when it cannot be built (combinedErr says why).
	combined    string
	combinedErr error
}

// hostBatch builds hostBatchLines once: at 10,000 hosts, building the 5.5 KB lines per host was
// a measurable share of the client's allocations (BENCHMARKS.md).
var hostBatch = sync.OnceValues(func() (hostBatchLines, error) {
	qs := hostRegQueries()
	line, err := reg.BatchQueryCommand(qs)
	if err != nil {
		return hostBatchLines{}, err
	}
	b := hostBatchLines{queries: qs, line: line}
	b.combined, b.combinedErr = probe.CombinedCommand(line)
	return b, nil
})

// hostRegQueries are the reg.Query of hostQueries, in order.
func hostRegQueries() []reg.Query {
	qs := make([]reg.Query, len(hostQueries))
	for i, q := range hostQueries {
		qs[i] = q.Query
	}
	return qs
}

// parseHostRead turns the stdout of the batch of qs (hostRegQueries) into the host's state.
func parseHostRead(stdout []byte, qs []reg.Query) (*hostState, error) {
	res, err := reg.ParseBatch(string(stdout), qs)
	if err != nil {
		return nil, fmt.Errorf("read registry: %w: %w", remote.ErrProtocol, err)
	}
	st := &hostState{vals: Values{}}
	for i, x := range res {
		q := hostQueries[i]
		if !x.Found {
			st.vals[x.ID] = nil
			continue
		}
		if !typeIn(x.Type, q.types) {
			if q.types[0] == "REG_BINARY" && (x.ID == AccountLocalSystem || x.ID == AccountLocalService || x.ID == AccountCurrentUser) {
				// A settings value that is not binary is what the fix would overwrite: refuse to
				// guess, as the read for a fix does.
				return nil, fmt.Errorf("read registry: %s\\%s is %s, not REG_BINARY: %w", q.Key, q.Value, x.Type, errNotBinary)
			}
			st.odd = append(st.odd, fmt.Sprintf(`%s\%s is %s, not %s`, q.Key, q.Value, x.Type, strings.Join(q.types, " or ")))
			st.vals[x.ID] = nil
			continue
		}
		st.vals[x.ID] = x.Data
	}
	return st, nil
}

func typeIn(t string, ts []string) bool {
	for _, x := range ts {
		if t == x {
			return true
		}
	}
	return false
}
