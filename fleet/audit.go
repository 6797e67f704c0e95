package fleet

import (
	"context"
	"log/slog"
	"time"

	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
)

// Registry locations dcproxy reads (winrm-reg-reference.md 4.8, domain.md).
const (
	ConnectionsKey = `Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	ValueName      = "DefaultConnectionSettings"
	WinHTTPValue   = "WinHttpSettings"
	// SavedLegacyValue is WinINet's copy of the settings before the last change (same key, same
	// layout). dcproxy reads and writes it only when asked (Options.SavedLegacySettings); it is never
	// part of compliance.
	SavedLegacyValue = "SavedLegacySettings"
)

// AccountKey returns the Connections key of an account (short form, as the seed procedure writes it).
func AccountKey(account string) string {
	switch account {
	case AccountCurrentUser:
		return `HKCU\` + ConnectionsKey
	case AccountLocalSystem:
		return `HKU\S-1-5-18\` + ConnectionsKey
	case AccountLocalService:
		return `HKU\S-1-5-19\` + ConnectionsKey
	default:
		return `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	}
}

// ServiceAccounts are the accounts the sensor runs as, in report order.
var ServiceAccounts = []string{AccountLocalSystem, AccountLocalService}

// DeclaredReference is a reference given in configuration instead of HKCU of the connecting account.
type DeclaredReference struct {
	Proxy         string
	Bypass        string
	AutoConfigURL string
	AutoDetect    bool
}

// ProbeOptions configure the endpoint probe.
type ProbeOptions struct {
	Disabled bool
	URL      string
	// Accept are the HTTP statuses that prove the endpoint was reached, counted only when they came
	// over a TLS session with the endpoint (Probe.TLS).
	Accept  []int
	Timeout time.Duration
	// ExpectedIssuers are substrings (case-insensitive) of which one must occur in the issuer of the
	// certificate the endpoint presents; any other issuer is TLS interception, which the sensor does
	// not support. nil means DefaultExpectedIssuers; an empty non-nil slice disables the issuer check.
	ExpectedIssuers []string
	// Workspace and Cloud name the sensor API the probe requests when the host names none itself
	// (v2: SensorConfiguration.json) and URL is empty: https://<workspace>sensorapi... (WorkspaceURL).
	Workspace string
	Cloud     string // commercial (default), gcc, gcc-high
	// TwoCommands runs the registry read and the probe as two commands, even where the Runner could
	// carry both in one command line (remote.Interactive): an escape hatch for a host that would not
	// stream the read's output while powershell.exe waits for its script (unverified on Windows).
	TwoCommands bool
}

func (p ProbeOptions) cloud() string {
	if p.Cloud == "" {
		return CloudCommercial
	}
	return p.Cloud
}

// DefaultExpectedIssuers are the issuers of the certificates of Microsoft's sensor endpoints:
// Microsoft's own public CAs ("Microsoft Azure RSA TLS Issuing CA 04", "Microsoft Azure TLS
// Issuing CA 01", ...) and DigiCert, which issued the earlier ones and roots Microsoft's.
var DefaultExpectedIssuers = []string{"Microsoft", "DigiCert"}

// Options configure an audit. Dialer and Target are required.
type Options struct {
	Concurrency int           // hosts in flight, >= 1
	HostTimeout time.Duration // deadline per host, including retries
	Retries     int           // extra attempts after a transient failure
	Backoff     time.Duration // first retry delay; doubles, with jitter
	Reference   *DeclaredReference
	Probe       ProbeOptions
	Sensor      SensorOptions
	// DropHostState forgets what was read from each host once it is judged. By default a result
	// keeps it (in-process only) for the fix and restore plans and the re-check after a write, which
	// work from the bytes read, never from rendered text; an audit alone sets it: ~4 KB less per
	// host, which counts at 10,000 hosts.
	DropHostState bool
	// SavedLegacySettings adds the SavedLegacySettings of HKCU and both service accounts to the
	// host's one batched read (fix --saved-legacy-settings, restore of such records). What is read is
	// reported in HostResult.SavedLegacy; it does not change any check or verdict.
	SavedLegacySettings bool
	Dialer              remote.Dialer
	// Target builds the connection settings of a host (credentials included).
	Target func(inventory.Host) (remote.Target, error)
	Logger *slog.Logger
	// AuthFailureLimit: until a logon with an account has succeeded, at most this many hosts try it
	// at once, and after this many refusals no more hosts are tried with it (lockout protection).
	// 0 means DefaultAuthFailureLimit; negative disables the protection.
	AuthFailureLimit int
	// Progress, when set, is called after each host finishes (from the host's goroutine).
	Progress func(done int, r HostResult)
	Now      func() time.Time
}

func (o *Options) setDefaults() {
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	if o.HostTimeout <= 0 {
		o.HostTimeout = 60 * time.Second
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AuthFailureLimit == 0 {
		o.AuthFailureLimit = DefaultAuthFailureLimit
	}
	if len(o.Probe.Accept) == 0 {
		o.Probe.Accept = []int{503, 200}
	}
	if o.Probe.ExpectedIssuers == nil {
		o.Probe.ExpectedIssuers = DefaultExpectedIssuers
	}
	if o.Probe.Timeout <= 0 {
		o.Probe.Timeout = 15 * time.Second
	}
}

// Audit checks every host and returns the report in inventory order. It returns when every host is
// done or ctx is cancelled; hosts not finished then are reported as errors of kind "canceled".
func Audit(ctx context.Context, hosts []inventory.Host, opt Options) *Report {
	opt.setDefaults()
	rep := &Report{Schema: Schema, Command: "audit", StartedAt: opt.Now().UTC()}
	rep.Hosts = auditHosts(ctx, hosts, opt)
	rep.FinishedAt = opt.Now().UTC()
	rep.Interrupted = ctx.Err() != nil
	rep.summarize()
	return rep
}
