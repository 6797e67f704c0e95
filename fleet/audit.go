package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/reg"
	"github.com/dcproxy/dcproxy/remote/wininet"
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
	if o.Probe.URL == "" {
		o.Probe.URL = DefaultProbeURL
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

// DefaultProbeURL is the sensor endpoint of Microsoft's procedure.
const DefaultProbeURL = "https://triprd1wcuse1sensorapi.eastus.cloudapp.azure.com"

// Audit checks every host and returns the report in inventory order. It returns when every host is
// done or ctx is cancelled; hosts not finished then are reported as errors of kind "canceled".
func Audit(ctx context.Context, hosts []inventory.Host, opt Options) *Report {
	opt.setDefaults()
	rep := &Report{Schema: Schema, Command: "audit", StartedAt: opt.Now().UTC()}
	var gate *logonGate
	if opt.AuthFailureLimit > 0 {
		gate = newLogonGate(opt.AuthFailureLimit)
	}
	rep.Hosts = fanOut(ctx, hosts, opt, gate, auditHost)
	rep.FinishedAt = opt.Now().UTC()
	rep.Interrupted = ctx.Err() != nil
	rep.summarize()
	return rep
}

// fanOut runs fn for every host with at most opt.Concurrency in flight, each under its own deadline,
// each writing only its own slot. A panic in fn becomes that host's error.
// With a gate, a host first waits (on the run's context, not its own deadline) for leave to try a
// logon; fn must pass the outcome of its dial to the release function it is given.
func fanOut(ctx context.Context, hosts []inventory.Host, opt Options, gate *logonGate,
	fn func(context.Context, inventory.Host, Options, func(error)) HostResult) []HostResult {
	results := make([]HostResult, len(hosts))
	var g errgroup.Group // not WithContext: no host returns an error, none cancels another
	g.SetLimit(opt.Concurrency)
	var done atomicCounter
	for i, h := range hosts {
		if ctx.Err() != nil {
			results[i] = canceledResult(h, "not started: the run was interrupted")
			continue
		}
		g.Go(func() error {
			start := opt.Now()
			release := func(error) {}
			if gate != nil {
				if t, err := opt.Target(h); err == nil {
					rel, err := gate.acquire(ctx, t.User, h.Name)
					if err != nil {
						results[i] = errorResult(h, hostErr(err))
						if opt.Progress != nil {
							opt.Progress(done.inc(), results[i])
						}
						return nil
					}
					release = rel
					defer release(errNotDialed) // a panic or early return must not hold the slot
				}
			}
			hctx, cancel := context.WithTimeout(ctx, opt.HostTimeout)
			defer cancel()
			func() {
				defer func() {
					if p := recover(); p != nil {
						opt.Logger.Error("panic while checking host", "host", h.Name, "panic", p, "stack", string(debug.Stack()))
						results[i] = errorResult(h, &HostError{Kind: "error", Message: fmt.Sprintf("internal error: %v", p)})
					}
				}()
				results[i] = fn(hctx, h, opt, release)
			}()
			results[i].DurationMS = opt.Now().Sub(start).Milliseconds()
			if opt.Progress != nil {
				opt.Progress(done.inc(), results[i])
			}
			return nil
		})
	}
	_ = g.Wait()
	return results
}

func baseResult(h inventory.Host) HostResult {
	return HostResult{Host: h.Name, Address: h.Address, Site: h.Site, Tags: h.Tags, Checks: []Check{}}
}

func errorResult(h inventory.Host, e *HostError) HostResult {
	r := baseResult(h)
	r.Status, r.Error = StatusError, e
	return r
}

func canceledResult(h inventory.Host, msg string) HostResult {
	return errorResult(h, &HostError{Kind: "canceled", Message: msg})
}

// hostErr turns a transport error into the report's error, naming its kind.
func hostErr(err error) *HostError {
	return &HostError{Kind: remote.Kind(err), Message: err.Error()}
}

// session is a dialed host with its counters.
type session struct {
	runner   remote.Runner
	attempts int
}

// dial opens a Runner with retries for transient failures only, within ctx.
// dialed, when not nil, learns the outcome of the first attempt (nil, an ErrAuth refusal, or
// errNotDialed when it failed before authentication); see logonGate.
func dial(ctx context.Context, h inventory.Host, opt Options, dialed func(error)) (*session, error) {
	if dialed == nil {
		dialed = func(error) {}
	}
	t, err := opt.Target(h)
	if err != nil {
		return nil, err
	}
	log := opt.Logger.With("host", h.Name)
	delay := opt.Backoff
	for attempt := 1; ; attempt++ {
		r, err := opt.Dialer.Dial(ctx, t)
		switch {
		case err == nil:
			dialed(nil)
			return &session{runner: r, attempts: attempt}, nil
		case errors.Is(err, remote.ErrAuth):
			dialed(err)
		default:
			dialed(errNotDialed)
		}
		if !remote.Transient(err) || attempt > opt.Retries || ctx.Err() != nil {
			return &session{attempts: attempt}, err
		}
		jittered := delay/2 + rand.N(delay)
		log.Info("transient error, retrying", "attempt", attempt, "in", jittered.Round(time.Millisecond), "err", err)
		select {
		case <-time.After(jittered):
		case <-ctx.Done():
			return &session{attempts: attempt}, err
		}
		delay *= 2
	}
}

func (s *session) close(ctx context.Context) {
	if s.runner == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = s.runner.Close(cctx)
}

func (s *session) stats() *Stats {
	st := &Stats{Attempts: s.attempts}
	if sr, ok := s.runner.(remote.StatsReporter); ok {
		x := sr.Stats()
		st.Requests, st.Handshakes, st.WaitMS = x.Requests, x.Handshakes, x.Wait.Milliseconds()
	}
	return st
}

// Values is what the registry read of one host found: the raw value per query ID (nil = absent).
// The IDs are the accounts (AccountCurrentUser, ..., AccountMachine) for DefaultConnectionSettings
// and WinHttpSettings, and SavedLegacyID(account) for SavedLegacySettings when it was read.
type Values map[string][]byte

var readQueries = []reg.Query{
	{ID: AccountCurrentUser, Key: AccountKey(AccountCurrentUser), Value: ValueName},
	{ID: AccountLocalSystem, Key: AccountKey(AccountLocalSystem), Value: ValueName},
	{ID: AccountLocalService, Key: AccountKey(AccountLocalService), Value: ValueName},
	{ID: AccountMachine, Key: AccountKey(AccountMachine), Value: WinHTTPValue},
}

// savedLegacyAccounts are the accounts whose SavedLegacySettings are read with the option.
var savedLegacyAccounts = []string{AccountCurrentUser, AccountLocalSystem, AccountLocalService}

// readQueriesSaved is readQueries plus the SavedLegacySettings of HKCU and both service accounts.
var readQueriesSaved = func() []reg.Query {
	qs := append([]reg.Query{}, readQueries...)
	for _, a := range savedLegacyAccounts {
		qs = append(qs, reg.Query{ID: SavedLegacyID(a), Key: AccountKey(a), Value: SavedLegacyValue})
	}
	return qs
}()

// SavedLegacyID is the Values key of an account's SavedLegacySettings.
func SavedLegacyID(account string) string { return "SAVED_" + account }

// valueID is the Values key of an account's value: the account for DefaultConnectionSettings,
// SavedLegacyID for SavedLegacySettings.
func valueID(account, value string) string {
	if value == SavedLegacyValue {
		return SavedLegacyID(account)
	}
	return account
}

// ReadValues reads the four values with one command line.
func ReadValues(ctx context.Context, r remote.Runner) (Values, error) {
	return readValues(ctx, r, false)
}

// readValues reads the four values, and with saved the three SavedLegacySettings too, with one
// command line. Every value must be REG_BINARY (a SavedLegacySettings of another type is an error
// of the read like any other: WinINet never writes one, and guessing would risk a wrong backup).
func readValues(ctx context.Context, r remote.Runner, saved bool) (Values, error) {
	qs := readQueries
	if saved {
		qs = readQueriesSaved
	}
	line, err := reg.BatchQueryCommand(qs)
	if err != nil {
		return nil, err
	}
	out, err := r.Run(ctx, line)
	if err != nil {
		return nil, fmt.Errorf("read registry: %w", err)
	}
	res, err := reg.ParseBatch(string(out.Stdout), qs)
	if err != nil {
		return nil, fmt.Errorf("read registry: %w: %w", remote.ErrProtocol, err)
	}
	v := Values{}
	for _, x := range res {
		if !x.Found {
			v[x.ID] = nil
			continue
		}
		if x.Type != "REG_BINARY" {
			return nil, fmt.Errorf("read registry: %s\\%s is %s, not REG_BINARY: %w", readKey(x.ID), valueOf(x.ID), x.Type, errNotBinary)
		}
		v[x.ID] = x.Data
	}
	return v, nil
}

var errNotBinary = errors.New("unexpected value type")

func readKey(id string) string {
	for _, q := range readQueriesSaved {
		if q.ID == id {
			return q.Key
		}
	}
	return id
}

func valueOf(id string) string {
	for _, q := range readQueriesSaved {
		if q.ID == id {
			return q.Value
		}
	}
	return ValueName
}

// savedLegacyOf is the report's view of the SavedLegacySettings in vals, per account (nil when
// they were not read).
func savedLegacyOf(vals Values) map[string]*Settings {
	var out map[string]*Settings
	for _, a := range savedLegacyAccounts {
		raw, ok := vals[SavedLegacyID(a)]
		if !ok {
			continue
		}
		if out == nil {
			out = map[string]*Settings{}
		}
		key := AccountKey(a)
		switch s, err := wininet.Decode(raw); {
		case raw == nil:
			out[a] = &Settings{Present: false, Source: key}
		case err != nil:
			out[a] = &Settings{Present: true, Source: key, Raw: hexUpper(raw), DecodeError: err.Error()}
		default:
			out[a] = view(&s, raw, key)
		}
	}
	return out
}

func auditHost(ctx context.Context, h inventory.Host, opt Options, dialed func(error)) (res HostResult) {
	res = baseResult(h)
	log := opt.Logger.With("host", h.Name)
	s, err := dial(ctx, h, opt, dialed)
	if s != nil {
		defer func() { s.close(ctx); res.Stats = s.stats() }()
	}
	if err != nil {
		log.Info("host could not be checked", "err", err)
		res.Status, res.Error = StatusError, hostErr(err)
		return res
	}
	vals, err := readValues(ctx, s.runner, opt.SavedLegacySettings)
	if err != nil {
		res.Status, res.Error = StatusError, hostErr(err)
		return res
	}
	res = evaluate(ctx, s.runner, res, vals, opt)
	log.Debug("host checked", "status", res.Status)
	return res
}

// evaluate turns the values read from a host into its checks and status: the reference, both
// service accounts compared with it, the WinHTTP information, and the endpoint probes. base keeps
// the host's identity fields; its checks and error are replaced.
func evaluate(ctx context.Context, r remote.Runner, base HostResult, vals Values, opt Options) HostResult {
	res := base
	res.Checks, res.Error = []Check{}, nil
	res.SavedLegacy = savedLegacyOf(vals)
	ref, refView, herr := reference(vals, opt.Reference)
	res.Checks = append(res.Checks, Check{ID: "reference", Kind: KindInfo, Account: AccountCurrentUser, Status: CheckInfo,
		Actual: refView, Message: referenceMessage(opt.Reference, refView)})
	if herr != nil {
		res.Status, res.Error = StatusError, herr
		res.observed = Values{}
		for _, acct := range ServiceAccounts {
			res.observed[acct] = vals[acct]
		}
		return res
	}
	decoded := map[string]*wininet.Settings{}
	for _, acct := range ServiceAccounts {
		c, s := compareAccount(acct, vals[acct], ref, refView)
		decoded[acct] = s
		res.Checks = append(res.Checks, c)
	}
	res.Checks = append(res.Checks, winHTTPCheck(vals[AccountMachine]))
	if !opt.Probe.Disabled {
		res.Checks = append(res.Checks, probeChecks(ctx, r, opt.Probe, decoded)...)
	}
	res.Status = verdict(res.Checks)
	return res
}

// verdict: any failed check makes the host noncompliant (it needs action whatever else is unknown);
// otherwise an errored check means it could not be fully checked; otherwise it is compliant.
func verdict(checks []Check) string {
	status := StatusCompliant
	for _, c := range checks {
		switch c.Status {
		case CheckFail:
			return StatusNoncompliant
		case CheckError:
			status = StatusError
		}
	}
	return status
}

// reference returns the settings the service accounts must match.
func reference(vals Values, declared *DeclaredReference) (*wininet.Settings, *Settings, *HostError) {
	if declared != nil {
		s := wininet.New(declared.Proxy, declared.Bypass, declared.AutoConfigURL, declared.AutoDetect, 0)
		v := view(&s, s.Encode(), "config")
		v.Raw = ""
		return &s, v, nil
	}
	raw := vals[AccountCurrentUser]
	if raw == nil {
		return nil, &Settings{Present: false, Source: AccountKey(AccountCurrentUser)},
			&HostError{Kind: "reference", Message: "the connecting account has no " + ValueName + " (HKCU): nothing to compare with; set the proxy for this account or declare the reference in the configuration"}
	}
	s, err := wininet.Decode(raw)
	if err != nil {
		v := &Settings{Present: true, Source: AccountKey(AccountCurrentUser), Raw: hexUpper(raw), DecodeError: err.Error()}
		return nil, v, &HostError{Kind: "reference", Message: "the reference value (HKCU) does not decode: " + err.Error()}
	}
	return &s, view(&s, raw, AccountKey(AccountCurrentUser)), nil
}

func referenceMessage(declared *DeclaredReference, v *Settings) string {
	if declared != nil {
		return "reference declared in configuration: " + v.Mode
	}
	if !v.Present {
		return "no reference value"
	}
	return "reference: connecting account (HKCU): " + v.Mode
}

func view(s *wininet.Settings, raw []byte, source string) *Settings {
	return &Settings{
		Present: true, Source: source, Mode: s.Mode(), Proxy: s.Proxy, Bypass: s.Bypass, AutoConfigURL: s.AutoConfigURL,
		AutoDetect: s.Flags&wininet.FlagAutoDetect != 0, Flags: s.Flags, Counter: s.Counter, Version: s.Version, Raw: hexUpper(raw),
	}
}

func hexUpper(b []byte) string { return strings.ToUpper(fmt.Sprintf("%x", b)) }

// compareAccount compares one service account's value with the reference.
func compareAccount(acct string, raw []byte, ref *wininet.Settings, refView *Settings) (Check, *wininet.Settings) {
	c := Check{ID: "registry." + strings.ToLower(acct), Kind: KindRegCompare, Account: acct, Expected: refView}
	key := AccountKey(acct)
	if raw == nil {
		c.Status = CheckFail
		c.Actual = &Settings{Present: false, Source: key, RegCompare: "missing"}
		c.Message = acct + " has no " + ValueName + ": the sensor's WinINet requests go direct"
		return c, nil
	}
	rc := "different"
	if refView.Raw != "" && strings.EqualFold(refView.Raw, hexUpper(raw)) {
		rc = "identical"
	}
	s, err := wininet.Decode(raw)
	if err != nil {
		// WinINet cannot use a value it cannot parse: this is a finding, not an unknown.
		c.Status = CheckFail
		c.Actual = &Settings{Present: true, Source: key, Raw: hexUpper(raw), DecodeError: err.Error(), RegCompare: rc}
		c.Message = acct + " value does not decode: " + err.Error()
		return c, nil
	}
	v := view(&s, raw, key)
	v.RegCompare = rc
	if refView.Raw == "" {
		v.RegCompare = "" // a declared reference has no bytes to compare with
	}
	c.Actual = v
	switch {
	case s.Equivalent(*ref):
		c.Status = CheckPass
		c.Message = "matches the reference"
		if rc == "different" && refView.Raw != "" {
			c.Message = "matches the reference (reg compare says Different: only the change counter or tail differ)"
		}
	default:
		c.Status = CheckFail
		c.Message = acct + ": " + describeDiff(ref, &s)
	}
	return c, &s
}

func describeDiff(want, got *wininet.Settings) string {
	var d []string
	if got.Mode() != want.Mode() {
		d = append(d, fmt.Sprintf("mode %s, want %s", got.Mode(), want.Mode()))
	}
	if !strings.EqualFold(got.Proxy, want.Proxy) {
		d = append(d, fmt.Sprintf("proxy %q, want %q", got.Proxy, want.Proxy))
	}
	if !strings.EqualFold(got.AutoConfigURL, want.AutoConfigURL) {
		d = append(d, fmt.Sprintf("PAC URL %q, want %q", got.AutoConfigURL, want.AutoConfigURL))
	}
	if len(d) == 0 {
		d = append(d, fmt.Sprintf("bypass %q, want %q", got.Bypass, want.Bypass))
	}
	return strings.Join(d, "; ")
}

func winHTTPCheck(raw []byte) Check {
	c := Check{ID: "winhttp", Kind: KindInfo, Account: AccountMachine, Status: CheckInfo}
	key := AccountKey(AccountMachine)
	if raw == nil {
		c.Actual = &Settings{Present: false, Source: key}
		c.Message = "no machine-wide WinHTTP proxy (netsh winhttp show proxy: direct)"
		return c
	}
	s, err := wininet.Decode(raw)
	if err != nil {
		c.Actual = &Settings{Present: true, Source: key, Raw: hexUpper(raw), DecodeError: err.Error()}
		c.Message = "WinHttpSettings does not decode: " + err.Error()
		return c
	}
	c.Actual = view(&s, raw, key)
	c.Message = "WinHTTP proxy: " + s.Mode()
	return c
}

// probeRoutes derives the probe route of each account for a request to host: the connecting account
// uses its own settings (system), a service account its decoded manual proxy, direct when it has
// none or when its bypass list matches host; PAC and auto-detect are approximated by the system route.
//
// The bypass decision is made here, with WinINet's rules (wininet.Bypassed: "<local>" matches a name
// without a dot, other entries are wildcards), so no bypass list travels in the probe's command line.
// bypassed names the accounts sent direct because of their list.
func probeRoutes(decoded map[string]*wininet.Settings, host string) (routes []probe.Route, approx, bypassed map[string]bool) {
	routes = []probe.Route{{ID: AccountCurrentUser, Mode: probe.ModeSystem}}
	approx, bypassed = map[string]bool{}, map[string]bool{}
	for _, acct := range ServiceAccounts {
		s := decoded[acct]
		switch {
		case s == nil:
			routes = append(routes, probe.Route{ID: acct, Mode: probe.ModeDirect})
		case s.Flags&(wininet.FlagAutoConfig|wininet.FlagAutoDetect) != 0:
			routes = append(routes, probe.Route{ID: acct, Mode: probe.ModeSystem})
			approx[acct] = true
		case s.Flags&wininet.FlagProxy != 0:
			hp, ok := wininet.ProxyFor(*s, "https")
			switch {
			case !ok:
				routes = append(routes, probe.Route{ID: acct, Mode: probe.ModeDirect})
			case wininet.Bypassed(*s, host):
				routes = append(routes, probe.Route{ID: acct, Mode: probe.ModeDirect})
				bypassed[acct] = true
			default:
				routes = append(routes, probe.Route{ID: acct, Mode: probe.ModeProxy, Proxy: hp})
			}
		default:
			routes = append(routes, probe.Route{ID: acct, Mode: probe.ModeDirect})
		}
	}
	return routes, approx, bypassed
}

func probeChecks(ctx context.Context, r remote.Runner, po ProbeOptions, decoded map[string]*wininet.Settings) []Check {
	host := ""
	if u, err := url.Parse(po.URL); err == nil {
		host = u.Hostname()
	}
	routes, approx, bypassed := probeRoutes(decoded, host)
	cfg := probe.Config{URL: po.URL, Timeout: po.Timeout, Routes: routes}
	expected := &Probe{URL: po.URL, Accepted: po.Accept, ExpectedIssuers: po.ExpectedIssuers}
	fail := func(msg string) []Check {
		var cs []Check
		for _, rt := range routes {
			cs = append(cs, Check{ID: "endpoint." + strings.ToLower(rt.ID), Kind: KindEndpoint, Account: rt.ID, Status: CheckError,
				Expected: expected, Message: msg})
		}
		return cs
	}
	line, err := probe.Command(cfg)
	if err != nil {
		return fail("probe: " + err.Error())
	}
	out, err := r.Run(ctx, line)
	if err != nil {
		return fail("probe: " + err.Error())
	}
	results, err := probe.Parse(out.Stdout, cfg)
	if err != nil {
		msg := "probe: " + err.Error()
		if out.ExitCode != 0 {
			msg = fmt.Sprintf("probe: powershell exited %d: %s", out.ExitCode, firstLine(out.Stderr))
		}
		return fail(msg)
	}
	var cs []Check
	for _, pr := range results {
		tls := pr.TLS
		c := Check{ID: "endpoint." + strings.ToLower(pr.ID), Kind: KindEndpoint, Account: pr.ID,
			Expected: expected,
			Actual: &Probe{URL: po.URL, Route: pr.Route, Status: pr.Status, Error: pr.Error, Millis: pr.Millis,
				TLS: &tls, Subject: pr.Subject, Issuer: pr.Issuer},
			Approximate: approx[pr.ID]}
		c.Status, c.Message = judgeProbe(pr, po)
		if bypassed[pr.ID] {
			c.Message += fmt.Sprintf(" (the account's bypass list matches %s)", host)
		}
		if c.Approximate {
			c.Message += " (approximate: the account uses a PAC URL or auto-detection)"
		}
		if pr.ID == AccountCurrentUser && c.Status == CheckFail {
			// The connecting account's own connectivity is informational: it tells whether the reference
			// itself works, the sensor does not run as it.
			c.Status = CheckInfo
			c.Message = "reference route fails: " + c.Message
		}
		cs = append(cs, c)
	}
	return cs
}

// judgeProbe turns one probe result into a check status and message. A status proves the endpoint
// was reached only when it came over TLS with a certificate from an expected issuer: a status
// without TLS is the proxy's own answer to the CONNECT (a blocking proxy's 503 looks exactly like the
// endpoint's), and a certificate from another issuer is TLS inspection, which the sensor does not
// support even when the host trusts the inspecting CA.
func judgeProbe(pr probe.Result, po ProbeOptions) (status, msg string) {
	switch {
	case pr.TLS && !issuerExpected(pr.Issuer, po.ExpectedIssuers):
		issuer := pr.Issuer
		if issuer == "" {
			issuer = "an unnamed issuer"
		}
		msg = fmt.Sprintf("TLS interception by %s via %s: the sensor does not support SSL inspection", issuer, pr.Route)
		switch {
		case pr.Status != 0:
			msg += fmt.Sprintf(" (the inspecting proxy relayed %d)", pr.Status)
		case pr.Error != "":
			msg += " (" + pr.Error + ": the host does not trust the inspecting CA)"
		}
		return CheckFail, msg
	case pr.TLS && accepted(pr.Status, po.Accept):
		return CheckPass, fmt.Sprintf("endpoint answered %d via %s over TLS (certificate issued by %s)", pr.Status, pr.Route, pr.Issuer)
	case pr.TLS && pr.Status != 0:
		return CheckFail, fmt.Sprintf("endpoint answered %d via %s", pr.Status, pr.Route)
	case pr.Status == 407:
		return CheckFail, fmt.Sprintf("proxy authentication required (407) via %s", pr.Route)
	case pr.Status != 0 && strings.HasPrefix(pr.Route, "proxy "):
		return CheckFail, fmt.Sprintf("the proxy answered %d itself via %s (CONNECT failed: no TLS session with the endpoint)", pr.Status, pr.Route)
	case pr.Status != 0:
		return CheckFail, fmt.Sprintf("HTTP %d via %s without a TLS session with the endpoint", pr.Status, pr.Route)
	default:
		return CheckFail, fmt.Sprintf("endpoint not reached via %s: %s", pr.Route, strings.TrimSpace(pr.Error+" "+pr.Message))
	}
}

// accepted reports whether status is one of ok. Callers count it only for a status received over
// TLS (judgeProbe).
func accepted(status int, ok []int) bool {
	for _, s := range ok {
		if s == status {
			return true
		}
	}
	return false
}

// issuerExpected reports whether issuer contains one of want (case-insensitive); an empty want
// accepts every issuer.
func issuerExpected(issuer string, want []string) bool {
	if len(want) == 0 {
		return true
	}
	li := strings.ToLower(issuer)
	for _, w := range want {
		if w != "" && strings.Contains(li, strings.ToLower(w)) {
			return true
		}
	}
	return false
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}
