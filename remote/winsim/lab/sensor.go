package lab

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/dcproxy/dcproxy/remote/wininet"
	"github.com/dcproxy/dcproxy/remote/winsim"
	"github.com/dcproxy/dcproxy/remote/winsim/pwsh"
	"github.com/dcproxy/dcproxy/remote/winsim/registry"
)

// Sensor kinds (sensor.kind).
const (
	SensorNone     = "none"     // no sensor: Sense present but stopped (Start 3), not onboarded
	SensorV2       = "v2"       // classic sensor: AATPSensor + AATPSensorUpdater (Start 2), SensorConfiguration.json
	SensorV3       = "v3"       // unified sensor: Sense running (Start 2), onboarded to Defender for Endpoint
	SensorMigrated = "migrated" // v3 plus the v2 services disabled (Start 4) and the old JSON left behind
)

// Clouds (sensor.cloud): where the workspace lives.
const (
	CloudCommercial = "commercial" // <ws>sensorapi.atp.azure.com (default)
	CloudGCC        = "gcc"        // <ws>sensorapi.gcc.atp.azure.com
	CloudGCCHigh    = "gcc-high"   // <ws>sensorapi.atp.azure.us
)

// SensorConfiguration.json states (sensor.config).
const (
	ConfigPresent = "present" // written (default)
	ConfigAbsent  = "absent"  // not there
	ConfigCorrupt = "corrupt" // cut off in the middle: not JSON
)

// Defaults of the sensor fields.
const (
	DefaultSensorVersion = "2.250.18972.18405"
	DefaultWorkspace     = "contoso"
)

// Root certificate names in machine.roots (a 40-digit thumbprint is accepted too).
var rootNames = map[string]string{
	"digicert_global_root_g2": pwsh.RootDigiCertGlobalG2,
	"digicert_global_root_ca": pwsh.RootDigiCertGlobalCA,
}

// Registry keys the lab seeds (the contract table of issue 9), long root names.
const (
	ServicesKey       = `HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services`
	SensorServiceKey  = ServicesKey + `\AATPSensor`
	UpdaterServiceKey = ServicesKey + `\AATPSensorUpdater`
	SenseServiceKey   = ServicesKey + `\Sense`
	ATPStatusKey      = pwsh.ATPKey + `\Status`
	DataCollectionKey = `HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows\DataCollection`
	ATPPolicyKey      = `HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows Advanced Threat Protection`
	DefenderPolicyKey = `HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows Defender`
	NetFXKey          = `HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\.NETFramework\v4.0.30319`
	NetFXWow64Key     = `HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Microsoft\.NETFramework\v4.0.30319`
	// SensorDir is the v2 sensor's installation folder; the version folder is below it.
	SensorDir = `C:\Program Files\Azure Advanced Threat Protection Sensor`
)

// SensorSpec is a host's Defender for Identity sensor (sensor:). Absent means kind none.
type SensorSpec struct {
	Kind      string  `yaml:"kind"`       // none | v2 | v3 | migrated
	Version   string  `yaml:"version"`    // sensor version, digits and dots (default DefaultSensorVersion)
	Workspace string  `yaml:"workspace"`  // workspace name, a DNS label (default DefaultWorkspace)
	Cloud     string  `yaml:"cloud"`      // commercial | gcc | gcc-high
	Proxy     *string `yaml:"proxy"`      // v2 JSON SensorProxyConfiguration.Url; '' or absent = none
	ProxyUser string  `yaml:"proxy_user"` // non-empty: credentials configured (UserName + EncryptedUserPasswordData)
	Config    string  `yaml:"config"`     // present | absent | corrupt: the SensorConfiguration.json file
	Line      int     `yaml:"-"`
}

var (
	versionRE   = regexp.MustCompile(`^[0-9]{1,5}(\.[0-9]{1,10}){1,3}$`)
	workspaceRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?$`)
	thumbRE     = regexp.MustCompile(`^[0-9A-F]{40}$`)
)

// UnmarshalYAML decodes strictly and checks every value, naming the line.
func (s *SensorSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain SensorSpec
	var p plain
	if err := decodeKnown(n, &p); err != nil {
		return err
	}
	*s = SensorSpec(p)
	s.Line = n.Line
	switch s.Kind {
	case "", SensorNone, SensorV2, SensorV3, SensorMigrated:
	default:
		return fmt.Errorf("line %d: sensor kind %q: want none, v2, v3 or migrated", n.Line, s.Kind)
	}
	if s.Version != "" && !versionRE.MatchString(s.Version) {
		return fmt.Errorf("line %d: sensor version %q: want digits and dots, e.g. %s", n.Line, s.Version, DefaultSensorVersion)
	}
	if s.Workspace != "" && !workspaceRE.MatchString(s.Workspace) {
		return fmt.Errorf("line %d: sensor workspace %q: want a lower-case DNS label (a-z, 0-9, -)", n.Line, s.Workspace)
	}
	switch s.Cloud {
	case "", CloudCommercial, CloudGCC, CloudGCCHigh:
	default:
		return fmt.Errorf("line %d: sensor cloud %q: want commercial, gcc or gcc-high", n.Line, s.Cloud)
	}
	switch s.Config {
	case "", ConfigPresent, ConfigAbsent, ConfigCorrupt:
	default:
		return fmt.Errorf("line %d: sensor config %q: want present, absent or corrupt", n.Line, s.Config)
	}
	if s.Proxy != nil && *s.Proxy != "" {
		if len(*s.Proxy) > 512 || strings.ContainsAny(*s.Proxy, " \t\r\n\"'`%") {
			return fmt.Errorf("line %d: sensor proxy %q: want a URL such as http://proxy.lab.test:8080", n.Line, *s.Proxy)
		}
	}
	if len(s.ProxyUser) > 256 || strings.ContainsAny(s.ProxyUser, "\r\n\"") {
		return fmt.Errorf("line %d: sensor proxy_user %q: want a user name such as LAB\\svc-mdi", n.Line, s.ProxyUser)
	}
	if s.ProxyUser != "" && (s.Proxy == nil || *s.Proxy == "") {
		return fmt.Errorf("line %d: sensor proxy_user without a proxy", n.Line)
	}
	if (s.Proxy != nil && *s.Proxy != "" || s.Config != "") && (s.Kind == "" || s.Kind == SensorNone || s.Kind == SensorV3) {
		return fmt.Errorf("line %d: sensor proxy and config describe SensorConfiguration.json: only kinds v2 and migrated have one", n.Line)
	}
	return nil
}

// MDEProxySpec is Defender for Endpoint's static proxy policy (machine.mde_proxy).
type MDEProxySpec struct {
	Server                     string `yaml:"server"`                        // TelemetryProxyServer host:port; '' = absent
	DisableEnterpriseAuthProxy *bool  `yaml:"disable_enterprise_auth_proxy"` // absent = value absent
	PreferStatic               *bool  `yaml:"prefer_static"`                 // PreferStaticProxyForHttpRequest; absent = value absent
}

// UnmarshalYAML decodes strictly (unknown keys are errors naming their line).
func (p *MDEProxySpec) UnmarshalYAML(n *yaml.Node) error {
	type plain MDEProxySpec
	var v plain
	if err := decodeKnown(n, &v); err != nil {
		return err
	}
	*p = MDEProxySpec(v)
	return nil
}

// decodeKnown decodes the mapping n into the struct v (a pointer) after checking that every key is
// one of v's yaml field names. Unlike decodeStrict it decodes the node itself, so errors of nested
// values keep the file's line numbers.
func decodeKnown(n *yaml.Node, v any) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping", n.Line)
	}
	t := reflect.TypeOf(v).Elem()
	known := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			known[name] = true
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !known[k.Value] {
			return fmt.Errorf("line %d: unknown key %q", k.Line, k.Value)
		}
	}
	if err := n.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "line ") {
			return err
		}
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// MachineSpec holds the machine-wide values of a host (machine:). Absent fields leave the value
// absent, except strong_crypto and roots, whose defaults are a healthy machine.
type MachineSpec struct {
	// ProxyPerUser: false writes ProxySettingsPerUser 0 (the per-machine override), true writes 1;
	// absent leaves the policy value absent (per user).
	ProxyPerUser *bool `yaml:"proxy_per_user"`
	// LocalMachine is HKLM ...\Internet Settings\Connections DefaultConnectionSettings, and
	// LocalMachineLegacy its SavedLegacySettings: decoded, {raw: HEX} or absent.
	LocalMachine       *Hive         `yaml:"local_machine"`
	LocalMachineLegacy *Hive         `yaml:"local_machine_legacy"`
	MDEProxy           *MDEProxySpec `yaml:"mde_proxy"`
	// DefenderProxy is Defender Antivirus' ProxyServer policy (REG_SZ); absent or '' = absent.
	DefenderProxy *string `yaml:"defender_proxy"`
	// StrongCrypto: true (default) writes SchUseStrongCrypto=1 and SystemDefaultTlsVersions=1 in both
	// registry views; false leaves all four absent.
	StrongCrypto *bool `yaml:"strong_crypto"`
	// Roots are the root certificates in LocalMachine\Root: digicert_global_root_g2,
	// digicert_global_root_ca or 40-digit thumbprints. Absent = both DigiCert roots; [] = none.
	Roots *[]string `yaml:"roots"`
}

var hostPortRE = regexp.MustCompile(`^[A-Za-z0-9.-]{1,253}:[0-9]{1,5}$`)

// UnmarshalYAML decodes strictly and checks every value, naming the line.
func (m *MachineSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain MachineSpec
	var p plain
	if err := decodeKnown(n, &p); err != nil {
		return err
	}
	*m = MachineSpec(p)
	if m.MDEProxy != nil && m.MDEProxy.Server != "" && !hostPortRE.MatchString(m.MDEProxy.Server) {
		return fmt.Errorf("line %d: mde_proxy server %q: want host:port", n.Line, m.MDEProxy.Server)
	}
	if m.DefenderProxy != nil && (len(*m.DefenderProxy) > 512 || strings.ContainsAny(*m.DefenderProxy, " \t\r\n\"")) {
		return fmt.Errorf("line %d: defender_proxy %q: want host:port or a URL", n.Line, *m.DefenderProxy)
	}
	if m.Roots != nil {
		seen := map[string]bool{}
		for _, r := range *m.Roots {
			t, ok := rootThumb(r)
			if !ok {
				return fmt.Errorf("line %d: root %q: want digicert_global_root_g2, digicert_global_root_ca or a 40-digit thumbprint", n.Line, r)
			}
			if seen[t] {
				return fmt.Errorf("line %d: root %q listed twice", n.Line, r)
			}
			seen[t] = true
		}
	}
	return nil
}

func rootThumb(name string) (string, bool) {
	if t, ok := rootNames[name]; ok {
		return t, true
	}
	if t := strings.ToUpper(name); thumbRE.MatchString(t) {
		return t, true
	}
	return "", false
}

// resolveMachine applies defaults field by field (host fields win).
func resolveMachine(h, d MachineSpec) MachineSpec {
	if h.ProxyPerUser == nil {
		h.ProxyPerUser = d.ProxyPerUser
	}
	if h.LocalMachine == nil {
		h.LocalMachine = d.LocalMachine
	}
	if h.LocalMachineLegacy == nil {
		h.LocalMachineLegacy = d.LocalMachineLegacy
	}
	if h.MDEProxy == nil {
		h.MDEProxy = d.MDEProxy
	}
	if h.DefenderProxy == nil {
		h.DefenderProxy = d.DefenderProxy
	}
	if h.StrongCrypto == nil {
		h.StrongCrypto = d.StrongCrypto
	}
	if h.Roots == nil {
		h.Roots = d.Roots
	}
	return h
}

// SensorAPIHost is the workspace's sensor API host in cloud.
func SensorAPIHost(workspace, cloud string) string {
	switch cloud {
	case CloudGCC:
		return workspace + "sensorapi.gcc.atp.azure.com"
	case CloudGCCHigh:
		return workspace + "sensorapi.atp.azure.us"
	}
	return workspace + "sensorapi.atp.azure.com"
}

// GeoLocationURL is the geoLocationUrl of the lab's MDE onboarding in cloud.
// unverified: the GCC and GCC High gateway names.
func GeoLocationURL(cloud string) string {
	switch cloud {
	case CloudGCC:
		return "https://winatp-gw-usgv.microsoft.com/"
	case CloudGCCHigh:
		return "https://winatp-gw-usgt.microsoft.us/"
	}
	return "https://winatp-gw-cus.microsoft.com/"
}

// SensorConfigPath is where a v2 sensor of version keeps SensorConfiguration.json.
func SensorConfigPath(version string) string {
	return SensorDir + `\` + version + `\SensorConfiguration.json`
}

// FakeEncryptedBytes is the stand-in for the encrypted proxy password the lab writes into host's
// SensorConfiguration.json (Base64, as EncryptedBytes is): deterministic, so tests can assert that it
// reaches no output, report or log.
func FakeEncryptedBytes(host string) string {
	var b []byte
	seed := sha256.Sum256([]byte("dcproxy lab encrypted proxy password: " + strings.ToLower(host)))
	for i := 0; len(b) < 256; i++ {
		seed = sha256.Sum256(seed[:])
		b = append(b, seed[:]...)
	}
	return base64.StdEncoding.EncodeToString(b[:256])
}

func thumbOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return strings.ToUpper(fmt.Sprintf("%x", h[:20]))
}

// sensorJSON is the SensorConfiguration.json the v2 sensor writes (key order as in public samples).
func sensorJSON(host string, s SensorSpec) []byte {
	type endpoint struct {
		Type    string `json:"$type"`
		Address string `json:"Address"`
		Port    int    `json:"Port"`
	}
	type encrypted struct {
		Type                  string  `json:"$type"`
		EncryptedBytes        string  `json:"EncryptedBytes"`
		CertificateThumbprint string  `json:"CertificateThumbprint"`
		SecretVersion         *string `json:"SecretVersion"`
	}
	type proxy struct {
		Type                      string     `json:"$type"`
		URL                       string     `json:"Url"`
		UserName                  *string    `json:"UserName"`
		EncryptedUserPasswordData *encrypted `json:"EncryptedUserPasswordData"`
	}
	type config struct {
		Type                                                               string   `json:"$type"`
		SensorProxyConfiguration                                           *proxy   `json:"SensorProxyConfiguration"`
		WorkspaceApplicationSensorApiWebClientConfigurationServiceEndpoint endpoint `json:"WorkspaceApplicationSensorApiWebClientConfigurationServiceEndpoint"`
		SecretManagerConfigurationCertificateThumbprint                    string   `json:"SecretManagerConfigurationCertificateThumbprint"`
	}
	cert := thumbOf("secret manager certificate " + host)
	c := config{Type: "SensorConfiguration",
		WorkspaceApplicationSensorApiWebClientConfigurationServiceEndpoint: endpoint{Type: "EndpointData", Address: SensorAPIHost(s.Workspace, s.Cloud), Port: 443},
		SecretManagerConfigurationCertificateThumbprint:                    cert}
	if s.Proxy != nil && *s.Proxy != "" {
		p := &proxy{Type: "SensorProxyConfiguration", URL: *s.Proxy}
		if s.ProxyUser != "" {
			u := s.ProxyUser
			p.UserName = &u
			p.EncryptedUserPasswordData = &encrypted{Type: "EncryptedData", EncryptedBytes: FakeEncryptedBytes(host), CertificateThumbprint: cert}
		}
		c.SensorProxyConfiguration = p
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return append([]byte("\ufeff"), append(b, '\r', '\n')...)
}

// onboardingInfo is MDE's OnboardingInfo value (REG_SZ JSON with the body as a string).
func onboardingInfo(s SensorSpec) string {
	h := sha256.Sum256([]byte("orgId " + s.Workspace))
	org := fmt.Sprintf("%x-%x-4%x-8%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])[:36]
	dc := map[string]string{CloudGCC: "USGovCloud", CloudGCCHigh: "USGovArizona"}[s.Cloud]
	if dc == "" {
		dc = "CentralUs"
	}
	body, _ := json.Marshal(map[string]any{"previousOrgIds": []string{}, "orgId": org, "geoLocationUrl": GeoLocationURL(s.Cloud), "datacenter": dc, "vortexGeoLocation": "US", "version": "1.7"})
	sig := base64.StdEncoding.EncodeToString([]byte("dcproxy lab: not a signature"))
	out, _ := json.Marshal(map[string]any{"body": string(body), "sig": sig, "sha256sig": sig, "cert": sig, "chain": []string{}})
	return string(out)
}

// seedMachine writes the sensor's services, onboarding, JSON file and the machine-wide values of hs.
func seedMachine(h *winsim.Host, hs HostSpec) error {
	r := h.Registry()
	var errs []error
	set := func(key string, v registry.Value) {
		if err := r.SetValue(key, v); err != nil {
			errs = append(errs, err)
		}
	}
	dword := func(key, name string, b *bool) {
		if b == nil {
			return
		}
		d := uint32(0)
		if *b {
			d = 1
		}
		set(key, registry.DWORDValue(name, d))
	}
	expand := func(name, s string) registry.Value {
		return registry.Value{Name: name, Type: registry.TypeExpandSZ, Data: registry.UTF16(s)}
	}
	s := SensorSpec{Kind: SensorNone}
	if hs.Sensor != nil {
		s = *hs.Sensor
	}
	if s.Kind == "" {
		s.Kind = SensorNone
	}
	if s.Version == "" {
		s.Version = DefaultSensorVersion
	}
	if s.Workspace == "" {
		s.Workspace = DefaultWorkspace
	}

	// Sense exists on every Server 2019+; it runs (Start 2) when MDE is onboarded.
	senseStart := uint32(3)
	if s.Kind == SensorV3 || s.Kind == SensorMigrated {
		senseStart = 2
	}
	set(SenseServiceKey, expand("ImagePath", `"C:\Program Files\Windows Defender Advanced Threat Protection\MsSense.exe"`))
	set(SenseServiceKey, registry.StringValue("ObjectName", "LocalSystem"))
	set(SenseServiceKey, registry.DWORDValue("Type", 0x10))
	set(SenseServiceKey, registry.DWORDValue("Start", senseStart))

	if s.Kind == SensorV2 || s.Kind == SensorMigrated {
		start := uint32(2)
		if s.Kind == SensorMigrated {
			start = 4 // the v3 migration disables the classic services and leaves them installed
		}
		dir := SensorDir + `\` + s.Version
		for _, svc := range []struct{ key, exe, account, display string }{
			{SensorServiceKey, "Microsoft.Tri.Sensor.exe", `NT AUTHORITY\LocalService`, "Azure Advanced Threat Protection Sensor"},
			{UpdaterServiceKey, "Microsoft.Tri.Sensor.Updater.exe", "LocalSystem", "Azure Advanced Threat Protection Sensor Updater"},
		} {
			set(svc.key, expand("ImagePath", `"`+dir+`\`+svc.exe+`"`))
			set(svc.key, registry.StringValue("ObjectName", svc.account))
			set(svc.key, registry.StringValue("DisplayName", svc.display))
			set(svc.key, registry.DWORDValue("Type", 0x10))
			set(svc.key, registry.DWORDValue("Start", start))
		}
		fs := h.FS()
		if err := fs.MkdirAll(dir); err != nil {
			return err
		}
		for _, exe := range []string{"Microsoft.Tri.Sensor.exe", "Microsoft.Tri.Sensor.Updater.exe"} {
			if err := fs.WriteFile(dir+`\`+exe, []byte("MZ")); err != nil {
				return err
			}
		}
		switch s.Config {
		case "", ConfigPresent:
			if err := fs.WriteFile(SensorConfigPath(s.Version), sensorJSON(hs.Name, s)); err != nil {
				return err
			}
		case ConfigCorrupt:
			// Cut off in the middle of the encrypted password when there is one (it must not
			// leak through a parse error either).
			b := sensorJSON(hs.Name, s)
			cut := len(b) * 2 / 3
			if i := strings.Index(string(b), `"EncryptedBytes": "`); i >= 0 {
				cut = i + len(`"EncryptedBytes": "`) + 100
			}
			if err := fs.WriteFile(SensorConfigPath(s.Version), b[:cut]); err != nil {
				return err
			}
		}
	}
	if s.Kind == SensorV3 || s.Kind == SensorMigrated {
		set(ATPStatusKey, registry.DWORDValue("OnboardingState", 1))
		set(pwsh.ATPKey, registry.StringValue("OnboardingInfo", onboardingInfo(s)))
	}

	m := hs.Machine
	if m.ProxyPerUser != nil {
		dword(pwsh.PolicyInternetSettingsKey, "ProxySettingsPerUser", m.ProxyPerUser)
	}
	for _, v := range []struct {
		name string
		hive *Hive
	}{{"DefaultConnectionSettings", m.LocalMachine}, {"SavedLegacySettings", m.LocalMachineLegacy}} {
		if b := v.hive.Bytes(wininet.VersionIE7); b != nil {
			set(pwsh.MachineConnectionsKey, registry.BinaryValue(v.name, b))
		}
	}
	if p := m.MDEProxy; p != nil {
		if p.Server != "" {
			set(DataCollectionKey, registry.StringValue("TelemetryProxyServer", p.Server))
		}
		dword(DataCollectionKey, "DisableEnterpriseAuthProxy", p.DisableEnterpriseAuthProxy)
		dword(ATPPolicyKey, "PreferStaticProxyForHttpRequest", p.PreferStatic)
	}
	if m.DefenderProxy != nil && *m.DefenderProxy != "" {
		set(DefenderPolicyKey, registry.StringValue("ProxyServer", *m.DefenderProxy))
	}
	for _, k := range []string{NetFXKey, NetFXWow64Key} {
		if err := r.EnsureKey(k); err != nil {
			errs = append(errs, err)
		}
		if m.StrongCrypto == nil || *m.StrongCrypto {
			set(k, registry.DWORDValue("SchUseStrongCrypto", 1))
			set(k, registry.DWORDValue("SystemDefaultTlsVersions", 1))
		}
	}
	if m.Roots != nil {
		want := map[string]bool{}
		for _, name := range *m.Roots {
			t, _ := rootThumb(name)
			want[t] = true
		}
		for _, store := range pwsh.RootStoreKeys {
			subs, err := r.Subkeys(store)
			if err != nil {
				continue // the store key does not exist
			}
			for _, t := range subs {
				if !want[strings.ToUpper(t)] {
					if err := r.DeleteKey(store + `\` + t); err != nil {
						errs = append(errs, err)
					}
				}
			}
		}
		for t := range want {
			if err := r.EnsureKey(pwsh.AuthRootStoreKey + `\` + t); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("seeding the sensor and machine values: %v", errs[0])
	}
	return nil
}
