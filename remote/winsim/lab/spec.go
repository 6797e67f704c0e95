// Package lab runs a fleet of simulated domain controllers (remote/winsim) on this machine: each host
// on its own loopback address (127.x.y.z) on the standard WinRM ports, described by a YAML fleet file
// or generated, with the files dcproxy needs to audit it (inventory, credentials, CA certificate).
package lab

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/wininet"
	"github.com/dcproxy/dcproxy/remote/winsim"
	"github.com/dcproxy/dcproxy/remote/winsim/pwsh"
)

// Fault models of a host's network behaviour.
const (
	FaultNone      = "none"
	FaultRefuse    = "refuse"    // nothing listens: connection refused
	FaultBlackhole = "blackhole" // TCP accepted, never answered
	FaultSlow      = "slow"      // every HTTP exchange takes SlowLatency more
	FaultHTTP500   = "http500"   // a web server that is not WinRM answers 500 text/html
	FaultDrop      = "drop"      // the connection is closed after the request is read
	FaultAuthFail  = "authfail"  // every logon fails with 401
	// FaultNoPowerShell: powershell.exe is not installed (the Windows PowerShell feature removed):
	// cmd.exe answers it with "is not recognized"; WinRM and reg.exe work.
	FaultNoPowerShell = "no_powershell"
)

// SlowLatency is what the slow fault adds to every HTTP exchange.
const SlowLatency = 3 * time.Second

// Spec is a fleet file: defaults applied to every host, then the hosts.
type Spec struct {
	Defaults HostSpec   `yaml:"defaults"`
	Hosts    []HostSpec `yaml:"hosts"`
}

// AccountSpec is an extra account of a host.
type AccountSpec struct {
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	Admin    bool   `yaml:"admin"`
}

// AuthSpec is the WinRM service's auth configuration (Windows defaults: both false).
type AuthSpec struct {
	Basic            *bool `yaml:"basic"`
	AllowUnencrypted *bool `yaml:"allow_unencrypted"`
}

// Hive is one DefaultConnectionSettings (or WinHttpSettings) value in a fleet file: decoded
// settings, {raw: HEX}, or the word absent.
type Hive struct {
	Absent        bool
	Raw           []byte
	Proxy         string
	Bypass        string
	AutoConfigURL string
	AutoDetect    bool
	Counter       uint32
}

// UnmarshalYAML accepts `absent`, `{raw: HEX}` or the decoded fields.
func (h *Hive) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value == "absent" || n.Value == "" || n.Tag == "!!null" {
			*h = Hive{Absent: true}
			return nil
		}
		return fmt.Errorf("line %d: registry value %q: want absent, {raw: HEX} or settings", n.Line, n.Value)
	}
	var raw struct {
		Raw           *string `yaml:"raw"`
		Proxy         string  `yaml:"proxy"`
		Bypass        string  `yaml:"bypass"`
		AutoConfigURL string  `yaml:"autoconfig_url"`
		AutoDetect    bool    `yaml:"autodetect"`
		Counter       uint32  `yaml:"counter"`
	}
	if err := decodeStrict(n, &raw); err != nil {
		return err
	}
	if raw.Raw != nil {
		if raw.Proxy != "" || raw.Bypass != "" || raw.AutoConfigURL != "" || raw.AutoDetect || raw.Counter != 0 {
			return fmt.Errorf("line %d: raw and decoded settings together", n.Line)
		}
		b, err := wininet.ParseHex(*raw.Raw)
		if err != nil {
			return fmt.Errorf("line %d: raw: %w", n.Line, err)
		}
		*h = Hive{Raw: b}
		return nil
	}
	*h = Hive{Proxy: raw.Proxy, Bypass: raw.Bypass, AutoConfigURL: raw.AutoConfigURL, AutoDetect: raw.AutoDetect, Counter: raw.Counter}
	return nil
}

// Bytes returns the value's bytes (nil when absent). version is the first field for decoded settings.
func (h *Hive) Bytes(version uint32) []byte {
	switch {
	case h == nil || h.Absent:
		return nil
	case h.Raw != nil:
		return h.Raw
	}
	s := wininet.New(h.Proxy, h.Bypass, h.AutoConfigURL, h.AutoDetect, h.Counter)
	s.Version = version
	return s.Encode()
}

// RegistrySpec holds the four values dcproxy reads, and the SavedLegacySettings beside the three
// DefaultConnectionSettings (read only by fix --saved-legacy-settings). A nil pointer means "not
// given" (inherit the default; a SavedLegacySettings given nowhere does not exist); Hive.Absent
// means the value does not exist.
type RegistrySpec struct {
	CurrentUser  *Hive `yaml:"current_user"`
	LocalSystem  *Hive `yaml:"local_system"`
	LocalService *Hive `yaml:"local_service"`
	WinHTTP      *Hive `yaml:"winhttp"`
	// SavedLegacySettings of the same keys (same layout as DefaultConnectionSettings).
	CurrentUserLegacy  *Hive `yaml:"current_user_legacy"`
	LocalSystemLegacy  *Hive `yaml:"local_system_legacy"`
	LocalServiceLegacy *Hive `yaml:"local_service_legacy"`
}

// NetworkSpec is what the host can reach.
type NetworkSpec struct {
	Direct *bool `yaml:"direct"`
	// Proxies: "host:port" -> ok | down | auth_required (407) | unauthorized_401 | forbidden_403 |
	// blocked_NNN (the proxy answers the CONNECT itself with HTTP status NNN, 400-599).
	Proxies        map[string]string `yaml:"proxies"`
	EndpointStatus int               `yaml:"endpoint_status"`
	// EndpointVersion is the body of the sensor API's 200 from /tri/sensor/api/ping (the latest
	// sensor version); '' or absent: the ping answers endpoint_status (503 by default).
	EndpointVersion *string    `yaml:"endpoint_version"`
	TLSIntercept    *Intercept `yaml:"tls_intercept"`
	// TLSInterceptIssuer names the inspection CA (printable ASCII or not: the probe folds it);
	// "" = the simulator's default.
	TLSInterceptIssuer string  `yaml:"tls_intercept_issuer"`
	PACProxy           *string `yaml:"pac_proxy"`
}

// Intercept is the TLS inspection of a host's proxies (tls_intercept): none, untrusted or
// trusted. YAML false means none and true means untrusted (the meaning before the flavours existed).
type Intercept string

// Interception flavours.
const (
	InterceptNone      Intercept = "none"      // proxies tunnel TLS untouched
	InterceptUntrusted Intercept = "untrusted" // the inspection CA is not trusted: TrustFailure
	InterceptTrusted   Intercept = "trusted"   // the inspection CA is trusted: requests succeed with its certificate
)

// UnmarshalYAML accepts a boolean or one of the flavour names.
func (x *Intercept) UnmarshalYAML(n *yaml.Node) error {
	switch strings.ToLower(n.Value) {
	case "false", "none":
		*x = InterceptNone
	case "true", "untrusted":
		*x = InterceptUntrusted
	case "trusted":
		*x = InterceptTrusted
	default:
		return fmt.Errorf("line %d: tls_intercept %q: want none, untrusted, trusted, true (= untrusted) or false", n.Line, n.Value)
	}
	return nil
}

// HostSpec is one host; in Spec.Defaults every field is optional.
type HostSpec struct {
	Name      string        `yaml:"name"`
	Address   string        `yaml:"address"`
	Site      string        `yaml:"site"`
	Tags      []string      `yaml:"tags"`
	User      string        `yaml:"user"`
	Password  string        `yaml:"password"`
	Locale    string        `yaml:"locale"`
	HTTPS     *bool         `yaml:"https"`
	Latency   *Duration     `yaml:"latency"`
	ExecTime  *Duration     `yaml:"exec_time"`
	PSStart   *Duration     `yaml:"ps_start"`
	ProbeTime *Duration     `yaml:"probe_time"`
	Accounts  []AccountSpec `yaml:"accounts"`
	Auth      AuthSpec      `yaml:"auth"`
	Registry  RegistrySpec  `yaml:"registry"`
	Network   NetworkSpec   `yaml:"network"`
	// Sensor is the host's Defender for Identity sensor; absent = kind none.
	Sensor *SensorSpec `yaml:"sensor"`
	// Machine holds machine-wide values: the per-machine WinINet override, MDE's static proxy, TLS
	// settings, root certificates.
	Machine MachineSpec `yaml:"machine"`
	Fault   string      `yaml:"fault"`
	// RightsRefusal is how the host refuses its non-admin accounts (admin: false) over Negotiate:
	// access-denied (default: WSManFault Code 5) or internal-error (w:InternalError 2147942405);
	// over Basic they get 401 either way (winsim.RightsAccessDenied, fidelity D2).
	RightsRefusal string         `yaml:"rights_refusal"`
	Backup        *BackupSpec    `yaml:"backup"`
	Policy        *PolicySpec    `yaml:"policy"`
	Line          int            `yaml:"-"`
	Extra         map[string]any `yaml:",inline"`
}

// BackupSpec models a host where the on-host backup directory cannot be written.
type BackupSpec struct {
	ReadOnly bool `yaml:"read_only"`
}

// PolicySpec models a policy engine on the host.
//
// Enforce: a Group Policy enforces the LOCAL_SYSTEM and LOCAL_SERVICE DefaultConnectionSettings
// values the host was seeded with. Right after every reg.exe command it sets them back (or deletes
// them when they were seeded absent), as a policy refresh triggered by the change would. A client that
// writes another value and reads it back sees the seeded value (its verification fails); writing the
// seeded value back (a rollback) is left as it is and verifies. This is the worst case of a real
// policy, which refreshes every 90 minutes or on a change notification.
type PolicySpec struct {
	Enforce bool `yaml:"enforce"`
}

// Duration is a YAML duration ("50ms", "2s", 0).
type Duration time.Duration

// UnmarshalYAML parses Go duration syntax; a bare 0 is allowed.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Value == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: bad duration %q (want e.g. 50ms, 2s)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

func decodeStrict(n *yaml.Node, v any) error {
	// Re-encode the node and decode with KnownFields so unknown keys are errors with their line.
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(n); err != nil {
		return err
	}
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// LoadSpec reads and validates a fleet file.
func LoadSpec(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ParseSpec(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ParseSpec parses a fleet file; unknown keys and invalid values are errors naming the line.
func ParseSpec(b []byte) (*Spec, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("empty fleet file")
	}
	var s Spec
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, err
	}
	// Record each host's line for messages.
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "hosts" {
			for j, hn := range root.Content[i+1].Content {
				if j < len(s.Hosts) {
					s.Hosts[j].Line = hn.Line
				}
			}
		}
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *Spec) validate() error {
	if len(s.Hosts) == 0 {
		return errors.New("no hosts")
	}
	seen := map[string]int{}
	for i := range s.Hosts {
		h := s.Resolve(i)
		where := fmt.Sprintf("host %d (line %d)", i+1, s.Hosts[i].Line)
		if len(s.Hosts[i].Extra) > 0 || len(s.Defaults.Extra) > 0 {
			for k := range s.Hosts[i].Extra {
				return fmt.Errorf("%s: unknown key %q", where, k)
			}
			for k := range s.Defaults.Extra {
				return fmt.Errorf("defaults: unknown key %q", k)
			}
		}
		if h.Name == "" {
			return fmt.Errorf("%s: no name", where)
		}
		where = fmt.Sprintf("host %s (line %d)", h.Name, s.Hosts[i].Line)
		if j, ok := seen[strings.ToLower(h.Name)]; ok {
			return fmt.Errorf("%s: duplicate of host at line %d", where, s.Hosts[j].Line)
		}
		seen[strings.ToLower(h.Name)] = i
		if h.User == "" || !strings.Contains(h.User, `\`) {
			return fmt.Errorf(`%s: user %q: want DOMAIN\name`, where, h.User)
		}
		if h.Locale != "" && h.Locale != "en-US" && h.Locale != "de-DE" {
			return fmt.Errorf("%s: locale %q: want en-US or de-DE", where, h.Locale)
		}
		if h.Address != "" {
			a, err := netip.ParseAddr(h.Address)
			if err != nil || !a.Is4() || !a.IsLoopback() {
				return fmt.Errorf("%s: address %q: want a 127.x.y.z loopback address", where, h.Address)
			}
		}
		switch h.RightsRefusal {
		case "", winsim.RightsAccessDenied, winsim.RightsInternalError:
		default:
			return fmt.Errorf("%s: rights_refusal %q: want %s or %s", where, h.RightsRefusal, winsim.RightsAccessDenied, winsim.RightsInternalError)
		}
		switch h.Fault {
		case "", FaultNone, FaultRefuse, FaultBlackhole, FaultSlow, FaultHTTP500, FaultDrop, FaultAuthFail, FaultNoPowerShell:
		default:
			return fmt.Errorf("%s: fault %q: want none, refuse, blackhole, slow, http500, drop, authfail or no_powershell", where, h.Fault)
		}
		for p, st := range h.Network.Proxies {
			if !pwsh.ValidProxyState(st) {
				return fmt.Errorf("%s: proxy %s: state %q: want ok, down, auth_required, unauthorized_401, forbidden_403 or blocked_NNN (400-599)", where, p, st)
			}
		}
		if v := h.Network.EndpointVersion; v != nil && (len(*v) > probe.MaxBody || strings.IndexFunc(*v, func(r rune) bool { return r < ' ' || r > '~' }) >= 0) {
			return fmt.Errorf("%s: endpoint_version %q: want printable ASCII of at most %d characters", where, *v, probe.MaxBody)
		}
		if len(h.Network.TLSInterceptIssuer) > 512 {
			return fmt.Errorf("%s: tls_intercept_issuer longer than 512 bytes", where)
		}
		if st := h.Network.EndpointStatus; st != 0 && (st < 100 || st > 599) {
			return fmt.Errorf("%s: endpoint_status %d is not an HTTP status", where, st)
		}
	}
	return nil
}

// Resolve returns host i with the defaults applied (host fields win).
func (s *Spec) Resolve(i int) HostSpec {
	d, h := s.Defaults, s.Hosts[i]
	str := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	h.User = str(h.User, d.User)
	h.Password = str(h.Password, d.Password)
	h.Locale = str(h.Locale, d.Locale)
	h.Fault = str(h.Fault, d.Fault)
	h.RightsRefusal = str(h.RightsRefusal, d.RightsRefusal)
	if h.HTTPS == nil {
		h.HTTPS = d.HTTPS
	}
	for _, p := range []struct{ a, b **Duration }{{&h.Latency, &d.Latency}, {&h.ExecTime, &d.ExecTime}, {&h.PSStart, &d.PSStart}, {&h.ProbeTime, &d.ProbeTime}} {
		if *p.a == nil {
			*p.a = *p.b
		}
	}
	if h.Accounts == nil {
		h.Accounts = d.Accounts
	}
	if h.Auth.Basic == nil {
		h.Auth.Basic = d.Auth.Basic
	}
	if h.Auth.AllowUnencrypted == nil {
		h.Auth.AllowUnencrypted = d.Auth.AllowUnencrypted
	}
	for _, p := range []struct{ a, b **Hive }{{&h.Registry.CurrentUser, &d.Registry.CurrentUser}, {&h.Registry.LocalSystem, &d.Registry.LocalSystem},
		{&h.Registry.LocalService, &d.Registry.LocalService}, {&h.Registry.WinHTTP, &d.Registry.WinHTTP},
		{&h.Registry.CurrentUserLegacy, &d.Registry.CurrentUserLegacy}, {&h.Registry.LocalSystemLegacy, &d.Registry.LocalSystemLegacy},
		{&h.Registry.LocalServiceLegacy, &d.Registry.LocalServiceLegacy}} {
		if *p.a == nil {
			*p.a = *p.b
		}
	}
	if h.Network.Direct == nil {
		h.Network.Direct = d.Network.Direct
	}
	if h.Network.Proxies == nil {
		h.Network.Proxies = d.Network.Proxies
	}
	if h.Network.EndpointStatus == 0 {
		h.Network.EndpointStatus = d.Network.EndpointStatus
	}
	if h.Network.TLSIntercept == nil {
		h.Network.TLSIntercept = d.Network.TLSIntercept
	}
	if h.Network.TLSInterceptIssuer == "" {
		h.Network.TLSInterceptIssuer = d.Network.TLSInterceptIssuer
	}
	if h.Network.PACProxy == nil {
		h.Network.PACProxy = d.Network.PACProxy
	}
	if h.Network.EndpointVersion == nil {
		h.Network.EndpointVersion = d.Network.EndpointVersion
	}
	if h.Sensor == nil {
		h.Sensor = d.Sensor
	}
	h.Machine = resolveMachine(h.Machine, d.Machine)
	if h.Backup == nil {
		h.Backup = d.Backup
	}
	if h.Policy == nil {
		h.Policy = d.Policy
	}
	return h
}
