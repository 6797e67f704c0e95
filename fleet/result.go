// Package fleet audits a fleet of domain controllers: it fans out over the inventory with a bounded
// number of concurrent hosts, runs the registry and endpoint checks on each through one remote.Runner,
// and combines the per-host findings into a Report in inventory order.
//
// A host's failure is data in its HostResult, never an error of the run: one unreachable, hung or
// misbehaving host cannot affect another.
package fleet

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Schema is the version tag of the JSON report. Bump it on any incompatible change of Report.
const Schema = "dcproxy.report/v2"

// SchemaV1 is the schema of reports written before the sensor-aware audit (no sensor, route or
// actor); readers refuse it with a clear error.
const SchemaV1 = "dcproxy.report/v1"

// HostStatus is a host's verdict.
type HostStatus string

// Host statuses.
const (
	StatusCompliant    HostStatus = "compliant"
	StatusNoncompliant HostStatus = "noncompliant"
	StatusError        HostStatus = "error"
)

// CheckStatus is a check's outcome.
type CheckStatus string

// CheckKind says what a check compares, and so the types of its Expected and Actual.
type CheckKind string

// Check statuses and kinds.
const (
	CheckPass  CheckStatus = "pass"
	CheckFail  CheckStatus = "fail"
	CheckError CheckStatus = "error"
	CheckInfo  CheckStatus = "info"
	// CheckWarn is a finding that does not stop the sensor (for example WinINet values that differ
	// while the sensor uses its own proxy): reported, never a reason for noncompliance.
	CheckWarn CheckStatus = "warn"

	KindRegCompare CheckKind = "regcompare"
	KindEndpoint   CheckKind = "endpoint"
	KindInfo       CheckKind = "info"
	KindSensor     CheckKind = "sensor" // the sensor's kind, configuration and route decision
	KindTLS        CheckKind = "tls"    // TLS prerequisites: .NET registry values, trusted roots
)

// Who acts on a finding (issue "decisions"): the same words in every format.
const (
	ActorFix         = "fix"            // dcproxy fix can repair it
	ActorProxy       = "proxy/firewall" // the route is blocked, intercepted or wants credentials
	ActorSensor      = "sensor"         // sensor-side configuration (its proxy, TLS prerequisites, roots)
	ActorHost        = "host"           // unreachable, timeout, WinRM not answering
	ActorCredentials = "credentials"    // logon refused, lacking rights
)

// Sensor kinds.
const (
	SensorNone     = "none"     // no Defender for Identity sensor (readiness check)
	SensorV2       = "v2"       // classic sensor: AATPSensor and AATPSensorUpdater services
	SensorV3       = "v3"       // unified sensor: Defender for Endpoint onboarded
	SensorMigrated = "migrated" // v3 with v2 leftovers (disabled services, old configuration)
)

// Route sources: where the proxy the sensor really uses comes from.
const (
	RouteSensorJSON     = "sensor-json"     // v2: SensorProxyConfiguration in SensorConfiguration.json
	RouteWinINet        = "wininet"         // v2 without a JSON proxy (and none): the seed's per-account WinINet rule
	RouteWinINetMachine = "wininet-machine" // ProxySettingsPerUser=0: HKLM DefaultConnectionSettings for every account
	RouteMDEStatic      = "mde-static"      // v3: TelemetryProxyServer policy
	RouteWinHTTP        = "winhttp"         // v3 without a static proxy: netsh winhttp
	RouteDirect         = "direct"          // v3 with neither: direct (or a transparent proxy / WPAD)
)

// Accounts whose settings are checked.
const (
	AccountCurrentUser  = "CURRENT_USER"
	AccountLocalSystem  = "LOCAL_SYSTEM"
	AccountLocalService = "LOCAL_SERVICE"
	AccountMachine      = "MACHINE"
)

// Report is the result of one run. Hosts are in inventory order.
type Report struct {
	Schema      string       `json:"schema"`
	Command     string       `json:"command,omitempty"` // audit, fix, restore
	RunID       string       `json:"run_id,omitempty"`
	StartedAt   time.Time    `json:"started_at"`
	FinishedAt  time.Time    `json:"finished_at"`
	Interrupted bool         `json:"interrupted,omitempty"` // the run was cancelled (Ctrl-C): some hosts were not checked
	Summary     Summary      `json:"summary"`
	Hosts       []HostResult `json:"hosts"`
	// Baseline names the earlier report this one was compared with (--baseline); nil without one.
	Baseline *BaselineRef `json:"baseline,omitempty"`
	// Resolved lists the findings of the baseline that this run checked again and found gone.
	Resolved []Finding `json:"resolved,omitempty"`
}

// Drift classes of a finding compared with a baseline report.
const (
	DriftNew        = "new"        // not a finding of the baseline
	DriftPersisting = "persisting" // also a finding of the baseline (same host and check id)
	DriftResolved   = "resolved"   // a finding of the baseline that this run found gone
)

// BaselineRef identifies the baseline report a run was compared with.
type BaselineRef struct {
	File      string    `json:"file,omitempty"`
	RunID     string    `json:"run_id,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	// Missing is set when the baseline file did not exist (first run): every finding is new.
	Missing bool `json:"missing,omitempty"`
}

// Finding is one problem of a host as drift tracks it: a failing or erroring check (Check is its
// id) or the host's own error (Check is FindingHost).
type Finding struct {
	Host    string      `json:"host"`
	Check   string      `json:"check"`
	Account string      `json:"account,omitempty"`
	Status  CheckStatus `json:"status"` // fail or error, as in the report it comes from
	Message string      `json:"message,omitempty"`
}

// FindingHost is the Check of a Finding that is the host's error rather than one of its checks.
const FindingHost = "host"

// DriftSummary counts findings by drift class, and the hosts with new findings by kind. It is
// present when the run was compared with a baseline.
type DriftSummary struct {
	New        int `json:"new"`
	Persisting int `json:"persisting"`
	Resolved   int `json:"resolved"`
	NewFail    int `json:"new_fail_hosts"`  // hosts with a new failed check (noncompliance)
	NewError   int `json:"new_error_hosts"` // hosts with a new host error or errored check
}

// Summary counts hosts by status.
type Summary struct {
	Hosts        int `json:"hosts"`
	Compliant    int `json:"compliant"`
	Noncompliant int `json:"noncompliant"`
	Error        int `json:"error"`
	// Drift is set when the run was compared with a baseline (see ApplyBaseline).
	Drift *DriftSummary `json:"drift,omitempty"`
}

// HostResult is everything found on one host.
type HostResult struct {
	Host        string        `json:"host"`
	Address     string        `json:"address"`
	Site        string        `json:"site,omitempty"`
	Tags        []string      `json:"tags,omitempty"`
	Status      HostStatus    `json:"status"`
	Error       *HostError    `json:"error,omitempty"`
	DurationMS  int64         `json:"duration_ms"`
	Checks      []Check       `json:"checks"`
	Stats       *Stats        `json:"stats,omitempty"`
	Remediation []Remediation `json:"remediation,omitempty"`
	// SavedLegacy is the SavedLegacySettings of CURRENT_USER, LOCAL_SYSTEM and LOCAL_SERVICE, keyed by
	// account, when the run read them (Options.SavedLegacySettings); nil otherwise. Information for
	// the fix and restore plans only: no check or verdict depends on it.
	SavedLegacy map[string]*Settings `json:"saved_legacy_settings,omitempty"`
	// Sensor is what the host runs of Defender for Identity; nil when the host could not be read.
	Sensor *Sensor `json:"sensor,omitempty"`
	// Route is the decision of which proxy the sensor really uses, the one the verdict follows; nil
	// when the host could not be read.
	Route *Route `json:"route,omitempty"`
	// Drift is the host's roll-up against a baseline: new when any of its findings is new,
	// persisting when it has findings and all persist, empty without findings or baseline.
	Drift string `json:"drift,omitempty"`
	// observed holds the values the audit read when it could not compare them (no usable
	// reference): a restore does not need the reference and plans from these. In-process only.
	observed Values
	// state is everything the audit's registry read found (in-process only): a fix re-check
	// replaces the values it wrote and judges the host again with the rest.
	state *hostState
}

// ErrorKind classifies a host's error: the transport's kinds (remote.Kind) and the audit's own.
type ErrorKind string

// Host error kinds (HostError.Kind).
const (
	ErrorKindAuth        ErrorKind = "auth"        // logon refused
	ErrorKindRights      ErrorKind = "rights"      // logged on, but access denied
	ErrorKindTLS         ErrorKind = "tls"         // the HTTPS listener's certificate or handshake
	ErrorKindTimeout     ErrorKind = "timeout"     // the host timeout elapsed
	ErrorKindUnreachable ErrorKind = "unreachable" // WinRM did not accept a connection
	ErrorKindProtocol    ErrorKind = "protocol"    // a fault or an answer dcproxy cannot read
	ErrorKindCanceled    ErrorKind = "canceled"    // the run was interrupted
	ErrorKindError       ErrorKind = "error"       // anything else
	// ErrorKindReference: the connecting account has no usable reference value to compare with.
	ErrorKindReference ErrorKind = "reference"
)

// HostError says why a host could not be checked.
type HostError struct {
	Kind    ErrorKind `json:"kind"`
	Message string    `json:"message"`
	// Actor is who acts on it (ActorHost, ActorCredentials, ActorSensor ...).
	Actor string `json:"actor,omitempty"`
	// Detail is the technical text behind Message (the transport's error), for the JSON report.
	Detail string `json:"detail,omitempty"`
	// Drift is new or persisting when the run was compared with a baseline.
	Drift string `json:"drift,omitempty"`
}

// Stats is what the host cost on the wire.
type Stats struct {
	Requests   int   `json:"requests"`
	Handshakes int   `json:"handshakes"`
	WaitMS     int64 `json:"wait_ms"`
	Attempts   int   `json:"attempts"`
}

// Check is one finding.
type Check struct {
	ID       string      `json:"id"`
	Kind     CheckKind   `json:"kind"`
	Account  string      `json:"account"`
	Status   CheckStatus `json:"status"`
	Expected any         `json:"expected,omitempty"` // by Kind: *Settings, *Probe, *Sensor (see UnmarshalJSON)
	Actual   any         `json:"actual,omitempty"`
	Message  string      `json:"message"`
	// Approximate marks an endpoint probe of an account that uses a PAC URL or auto-detection: the
	// probe used the connecting account's resolution, not the account's own.
	Approximate bool `json:"approximate,omitempty"`
	// Actor is who acts on a failing, erroring or warning check (ActorFix, ActorProxy, ...); empty
	// for passing and informational checks.
	Actor string `json:"actor,omitempty"`
	// Drift is new or persisting for a failing or erroring check when the run was compared with a
	// baseline; empty otherwise.
	Drift string `json:"drift,omitempty"`
}

// UnmarshalJSON decodes a check read back from a report, giving Expected and Actual their types by
// Kind (regcompare: *Settings; endpoint: *Probe; info: *Settings; sensor: *Sensor; tls: none), so
// readers never guess a type from a map.
func (c *Check) UnmarshalJSON(b []byte) error {
	type plain Check // no methods: no recursion
	var w struct {
		plain
		Expected json.RawMessage `json:"expected,omitempty"`
		Actual   json.RawMessage `json:"actual,omitempty"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Check(w.plain)
	c.Expected, c.Actual = nil, nil
	decode := func(raw json.RawMessage, what string) (any, error) {
		if len(raw) == 0 || string(raw) == "null" {
			return nil, nil
		}
		var v any
		switch c.Kind {
		case KindRegCompare, KindInfo:
			v = new(Settings)
		case KindEndpoint:
			v = new(Probe)
		case KindSensor:
			v = new(Sensor)
		default:
			return nil, fmt.Errorf("check %q: kind %q carries no %s value", c.ID, c.Kind, what)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			return nil, fmt.Errorf("check %q: %s: %w", c.ID, what, err)
		}
		return v, nil
	}
	var err error
	if c.Expected, err = decode(w.Expected, "expected"); err != nil {
		return err
	}
	c.Actual, err = decode(w.Actual, "actual")
	return err
}

// Check id prefixes: an account's registry comparison and endpoint probe.
const (
	CheckRegistry = "registry"
	CheckEndpoint = "endpoint"
)

// CheckID builds a check id from its parts: CheckID(CheckEndpoint, "LOCAL_SYSTEM") is
// "endpoint.local_system".
func CheckID(prefix, account string) string { return prefix + "." + strings.ToLower(account) }

// Settings is a decoded DefaultConnectionSettings (or WinHttpSettings) value as reported.
type Settings struct {
	Present       bool   `json:"present"`
	Source        string `json:"source,omitempty"` // registry path, or "config" for a declared reference
	Mode          string `json:"mode,omitempty"`   // direct, proxy, pac, autodetect, combinations with '+'
	Proxy         string `json:"proxy,omitempty"`
	Bypass        string `json:"bypass,omitempty"`
	AutoConfigURL string `json:"autoconfig_url,omitempty"`
	AutoDetect    bool   `json:"autodetect,omitempty"`
	Flags         uint32 `json:"flags,omitempty"`
	Counter       uint32 `json:"counter,omitempty"`
	Version       uint32 `json:"version,omitempty"`
	Raw           string `json:"raw,omitempty"`          // the value's bytes in hex, as reg query prints them
	DecodeError   string `json:"decode_error,omitempty"` // the value exists but is not a settings blob
	// RegCompare is what `reg compare` against the reference would say: identical, different, missing.
	RegCompare string `json:"regcompare,omitempty"`
	// bytes are the value's bytes exactly as read from the host (in-process only, read set): a fix or
	// restore plans from them, never from the rendered Raw text.
	bytes []byte
	read  bool
}

// Probe is the outcome of one endpoint request made from the host.
type Probe struct {
	URL      string `json:"url,omitempty"`
	Route    string `json:"route,omitempty"` // direct, system, proxy host:port
	Status   int    `json:"status,omitempty"`
	Accepted []int  `json:"accepted,omitempty"`
	Error    string `json:"error,omitempty"`
	Millis   int    `json:"ms,omitempty"`
	// TLS (actual only): whether the request reached a TLS handshake in which a server certificate
	// was presented; a status without it is the proxy's own answer. Always set in an actual result.
	TLS     *bool  `json:"tls,omitempty"`
	Subject string `json:"subject,omitempty"` // actual: subject of the presented certificate
	Issuer  string `json:"issuer,omitempty"`  // actual: issuer of the presented certificate
	// ExpectedIssuers (expected only): substrings of which the issuer must contain one; empty = any.
	ExpectedIssuers []string `json:"expected_issuers,omitempty"`
}

// dropHostState forgets the bytes read from the host (state, and the bytes behind each Settings),
// which only fix and restore plans need (Options.DropHostState), replaces each Settings, Probe,
// Sensor and Route by the copy of its value shared with other hosts' results (share.go), shares its text with
// equal text of other results (unique.Make: in a fleet most hosts report the same messages and
// decisions) and drops the spare capacity of its checks (they were appended group by group). A
// result is kept until the report is written: at 10,000 hosts results are most of the audit's
// live heap, which the collector would mark again and again under the fleet commands' memory
// limit (BENCHMARKS.md).
func (h *HostResult) dropHostState() {
	h.state = nil
	h.Checks = slices.Clip(slices.Clone(h.Checks))
	for i := range h.Checks {
		c := &h.Checks[i]
		c.Message = in(c.Message)
		c.Expected = sharedDetail(c.Expected)
		c.Actual = sharedDetail(c.Actual)
	}
	if h.SavedLegacy != nil {
		saved := make(map[string]*Settings, len(h.SavedLegacy))
		for acct, s := range h.SavedLegacy {
			saved[acct] = s
			if s != nil {
				saved[acct] = sharedSettingsOf(s)
			}
		}
		h.SavedLegacy = saved
	}
	if h.Route != nil {
		h.Route = sharedRouteOf(h.Route)
	}
	if h.Sensor != nil {
		h.Sensor = sharedSensorOf(h.Sensor) // the same copy as the sensor check's (sharedDetail)
	}
	if e := h.Error; e != nil {
		e.Message = in(e.Message)
	}
}

// sharedDetail returns the shared copy of a check's Settings, Probe or Sensor; other values as
// they are.
func sharedDetail(v any) any {
	switch d := v.(type) {
	case *Settings:
		if d != nil {
			return sharedSettingsOf(d)
		}
	case *Probe:
		if d != nil {
			return sharedProbeOf(d)
		}
	case *Sensor:
		if d != nil {
			return sharedSensorOf(d)
		}
	}
	return v
}

// Sensor is the Defender for Identity sensor found on a host.
type Sensor struct {
	Kind    string `json:"kind"`              // SensorNone, SensorV2, SensorV3, SensorMigrated
	Version string `json:"version,omitempty"` // v2: from the sensor's folder name
	// Service and Updater are the v2 services (nil when absent).
	Service *Service `json:"service,omitempty"`
	Updater *Service `json:"updater,omitempty"`
	// MDEOnboarded: Defender for Endpoint is onboarded and its Sense service is not disabled.
	MDEOnboarded bool `json:"mde_onboarded,omitempty"`
	// Config is the v2 SensorConfiguration.json as read on the host (never its encrypted bytes).
	Config *SensorConfig `json:"config,omitempty"`
	// Leftovers are what a migration from v2 left behind, in plain words.
	Leftovers []string `json:"leftovers,omitempty"`
}

// Service is one Windows service entry as the registry holds it.
type Service struct {
	Name      string `json:"name"`
	ImagePath string `json:"image_path,omitempty"`
	Account   string `json:"account,omitempty"` // ObjectName
	Start     string `json:"start,omitempty"`   // auto, manual, disabled, boot, system, or the number
}

// SensorConfig is the part of SensorConfiguration.json dcproxy reports. The proxy password is never
// read into it: only whether one is configured.
type SensorConfig struct {
	Path        string `json:"path"`
	Found       bool   `json:"found"`
	Error       string `json:"error,omitempty"`
	ProxyURL    string `json:"proxy_url,omitempty"`
	ProxyUser   string `json:"proxy_user,omitempty"`
	Credentials bool   `json:"credentials,omitempty"`
	Endpoint    string `json:"endpoint,omitempty"` // the workspace's sensor API host[:port]
}

// Route is the decision of which route the sensor uses to reach its workspace.
type Route struct {
	Source string `json:"source"`          // RouteSensorJSON, RouteWinINet, ...
	Proxy  string `json:"proxy,omitempty"` // host:port, empty for direct or per-account routes
	// Decision says in plain words why this route, and what the verdict therefore rests on.
	Decision string `json:"decision"`
	// Unverified marks a decision where Microsoft documents no precedence.
	Unverified bool `json:"unverified,omitempty"`
	// Instead is what an admin would run instead of dcproxy fix when the route is not WinINet's.
	Instead string `json:"instead,omitempty"`
	// URL is the workspace URL probed.
	URL string `json:"url,omitempty"`
}

// Remediation is what a fix or restore did (or would do) to one account's value on a host.
type Remediation struct {
	Account string  `json:"account"`
	Key     string  `json:"key"`
	Value   string  `json:"value"`
	Action  Action  `json:"action"`  // write, delete, none, refused
	Outcome Outcome `json:"outcome"` // planned, unchanged, skipped, verified, rolled_back, failed
	Before  string  `json:"before,omitempty"`
	After   string  `json:"after,omitempty"`
	Backup  string  `json:"backup,omitempty"` // on-host export file
	Message string  `json:"message,omitempty"`
}

func (r *Report) summarize() {
	r.Summary = Summary{Hosts: len(r.Hosts)}
	for _, h := range r.Hosts {
		switch h.Status {
		case StatusCompliant:
			r.Summary.Compliant++
		case StatusNoncompliant:
			r.Summary.Noncompliant++
		default:
			r.Summary.Error++
		}
	}
}
