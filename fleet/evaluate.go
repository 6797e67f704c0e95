package fleet

import (
	"context"
	"fmt"
	"strings"

	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/wininet"
)

func auditHost(ctx context.Context, h inventory.Host, opt Options) (res HostResult) {
	res = baseResult(h)
	log := opt.Logger.With("host", h.Name)
	s, err := dial(ctx, h, opt)
	if s != nil {
		defer func() { s.close(ctx); res.Stats = s.stats() }()
	}
	if err != nil {
		log.Info("host could not be checked", "err", err)
		res.Status, res.Error = StatusError, hostErr(err)
		return res
	}
	if ri, ok := s.runner.(remote.Interactive); ok && !opt.Probe.Disabled && !opt.Probe.TwoCommands {
		// One command line: the registry batch, then the probe read from stdin (combined.go).
		if r, ok := auditCombined(ctx, ri, res, opt); ok {
			log.Debug("host checked", "status", r.Status)
			return r
		}
	}
	st, err := readHost(ctx, s.runner)
	if err != nil {
		res.Status, res.Error = StatusError, hostErr(err)
		return res
	}
	res = evaluateHost(ctx, s.runner, res, st, opt)
	log.Debug("host checked", "status", res.Status)
	return res
}

// evaluate re-checks a host after a write: vals (what the fix read back) replace the values of the
// state the audit read, and the host is judged again as the audit would.
func evaluate(ctx context.Context, r remote.Runner, base HostResult, vals Values, opt Options) HostResult {
	st := &hostState{vals: Values{}}
	if base.state != nil {
		for k, v := range base.state.vals {
			st.vals[k] = v
		}
	}
	for k, v := range vals {
		st.vals[k] = v
	}
	res := evaluateHost(ctx, r, base, st, opt)
	res.SavedLegacy = savedLegacyOf(vals) // what this read found, as the fix plans from it
	return res
}

// evaluateHost turns what was read from a host into its checks, its sensor, the route the sensor
// really uses, and its status. base keeps the host's identity fields; its checks and error are
// replaced. It runs the host's one endpoint probe (unless disabled) as a command of its own.
func evaluateHost(ctx context.Context, r remote.Runner, base HostResult, st *hostState, opt Options) HostResult {
	p := prepareHost(base, st, opt)
	var out *probe.Output
	var probeErr string
	if p.wantProbe {
		out, probeErr = p.e.runProbe(ctx, r)
	}
	return p.finish(out, probeErr)
}

// hostPrep is a host judged up to its probe: prepareHost's checks and decisions, and whether the
// probe is wanted. The probe's Config is then p.e.probeConfig(); finish completes the judgement
// with the probe's output (or why there is none).
type hostPrep struct {
	res       HostResult
	e         *hostEval
	herr      *HostError
	regChecks []Check
	wantProbe bool
}

// prepareHost is evaluateHost up to the probe: everything that depends on the host read alone.
func prepareHost(base HostResult, st *hostState, opt Options) *hostPrep {
	res := base
	res.Checks, res.Error, res.state = []Check{}, nil, st
	vals := st.vals
	if opt.SavedLegacySettings {
		res.SavedLegacy = savedLegacyOf(vals)
	}
	sn := detectSensor(st)
	res.Sensor = sn
	e := &hostEval{opt: opt, st: st, sensor: sn, rule: ruleFor(sn.Kind, opt.Sensor.Expect)}
	if pu, ok := st.dword(idPerUser); ok && pu == 0 {
		e.perMachine = true
	}
	res.Checks = append(res.Checks, sensorCheck(sn, e.rule))
	for _, o := range st.odd {
		res.Checks = append(res.Checks, Check{ID: "registry.type", Kind: KindInfo, Status: CheckWarn, Actor: ActorSensor,
			Message: "ignored: " + o})
	}

	// The WinINet side: the reference and both service accounts (the seed's procedure).
	ref, refView, herr := reference(vals, opt.Reference)
	res.Checks = append(res.Checks, Check{ID: "reference", Kind: KindInfo, Account: AccountCurrentUser, Status: CheckInfo,
		Actual: refView, Message: referenceMessage(opt.Reference, refView)})
	e.decoded = map[string]*wininet.Settings{}
	var regChecks []Check
	for _, acct := range ServiceAccounts {
		if herr != nil {
			e.decoded[acct] = decodeOrNil(vals[acct])
			continue
		}
		c, s := compareAccount(acct, vals[acct], ref, refView)
		e.decoded[acct] = s
		regChecks = append(regChecks, c)
	}
	if e.perMachine {
		e.machine = decodeOrNil(vals[idMachineDCS])
	}
	res.Checks = append(res.Checks, winHTTPCheck(vals[AccountMachine]))
	res.Checks = append(res.Checks, tlsChecks(st)...)
	res.Checks = append(res.Checks, mdeChecks(st, e.rule)...)

	// The probe: the candidate routes of the kind, in one PowerShell run.
	// Without a usable reference the seed's rule cannot judge the host: unless a v2 sensor's own
	// configuration may decide the route, it is not probed (as before the sensor-aware audit).
	seedOnly := e.rule == ruleWinINet && sensorConfigPath(sn) == ""
	return &hostPrep{res: res, e: e, herr: herr, regChecks: regChecks,
		wantProbe: !opt.Probe.Disabled && !(herr != nil && seedOnly)}
}

// finish judges the host with its probe's output (nil: none, probeErr says why when it was wanted).
func (p *hostPrep) finish(out *probe.Output, probeErr string) HostResult {
	res, e, herr, regChecks, opt := p.res, p.e, p.herr, p.regChecks, p.e.opt
	sn, vals := e.sensor, e.st.vals
	if out != nil && out.Sensor != nil {
		sn.Config = sensorConfigOf(sensorConfigPath(sn), out.Sensor)
	}
	route := e.decide(out)
	res.Route = route
	res.Checks = append(res.Checks, Check{ID: "route", Kind: KindSensor, Status: CheckInfo, Message: route.Decision})
	if sn.Kind == SensorMigrated {
		res.Checks = append(res.Checks, leftoverCheck(sn, vals))
	}
	if out != nil {
		res.Checks = append(res.Checks, rootCheck(out, opt.Probe.cloud()))
	}

	// Registry checks count as the seed says only where WinINet per account is the route.
	switch route.Source {
	case RouteWinINet:
		if herr != nil {
			res.Status, res.Error = StatusError, herr
			res.Error.Actor = ActorSensor
			res.observed = Values{}
			for _, acct := range ServiceAccounts {
				res.observed[acct] = vals[acct]
			}
			return res
		}
		res.Checks = append(res.Checks, e.seedRegistry(regChecks, out)...)
	default:
		for _, c := range regChecks {
			if c.Status == CheckFail {
				c.Status = CheckWarn
				c.Actor = ActorSensor
				c.Message += " (not used: " + notUsedWhy(route.Source) + ")"
			} else if c.Status == CheckPass {
				c.Status = CheckInfo
			}
			res.Checks = append(res.Checks, c)
		}
	}
	res.Checks = append(res.Checks, e.endpointChecks(out, probeErr, route)...)
	fixActsOnEndpoints(res.Checks, route)
	res.Status = verdict(res.Checks)
	if p.e.opt.DropHostState {
		res.dropHostState()
	}
	return res
}

func notUsedWhy(source string) string {
	switch source {
	case RouteSensorJSON:
		return "the sensor uses the proxy of its SensorConfiguration.json"
	case RouteWinINetMachine:
		return "ProxySettingsPerUser=0 applies the machine's WinINet settings to every account"
	default:
		return "the v3 sensor uses Defender for Endpoint's connectivity"
	}
}

func decodeOrNil(raw []byte) *wininet.Settings {
	if raw == nil {
		return nil
	}
	s, err := wininet.Decode(raw)
	if err != nil {
		return nil
	}
	return &s
}

// verdict: any failed check makes the host noncompliant (it needs action whatever else is unknown);
// otherwise an errored check means it could not be fully checked; otherwise it is compliant.
func verdict(checks []Check) HostStatus {
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
			&HostError{Kind: ErrorKindReference, Message: "the connecting account has no " + ValueName + " (HKCU): nothing to compare with; set the proxy for this account or declare the reference in the configuration"}
	}
	s, err := wininet.Decode(raw)
	if err != nil {
		v := &Settings{Present: true, Source: AccountKey(AccountCurrentUser), Raw: hexUpper(raw), DecodeError: err.Error(), bytes: raw, read: true}
		return nil, v, &HostError{Kind: ErrorKindReference, Message: "the reference value (HKCU) does not decode: " + err.Error()}
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
		bytes: raw, read: raw != nil,
	}
}

func hexUpper(b []byte) string { return strings.ToUpper(fmt.Sprintf("%x", b)) }

// compareAccount compares one service account's value with the reference.
func compareAccount(acct string, raw []byte, ref *wininet.Settings, refView *Settings) (Check, *wininet.Settings) {
	c := Check{ID: CheckID(CheckRegistry, acct), Kind: KindRegCompare, Account: acct, Expected: refView}
	key := AccountKey(acct)
	if raw == nil {
		c.Status = CheckFail
		c.Actual = &Settings{Present: false, Source: key, RegCompare: "missing"}
		c.Message = "no proxy set for " + accountRole(acct) + ": its requests go direct (" + acct + " has no " + ValueName + ")"
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
		c.Actual = &Settings{Present: true, Source: key, Raw: hexUpper(raw), DecodeError: err.Error(), RegCompare: rc, bytes: raw, read: true}
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

// accountRole names a service account by what runs as it.
func accountRole(acct string) string {
	switch acct {
	case AccountLocalSystem:
		return "LocalSystem (the sensor's updater)"
	case AccountLocalService:
		return "LocalService (the sensor)"
	}
	return acct
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
		c.Actual = &Settings{Present: true, Source: key, Raw: hexUpper(raw), DecodeError: err.Error(), bytes: raw, read: true}
		c.Message = "WinHttpSettings does not decode: " + err.Error()
		return c
	}
	c.Actual = view(&s, raw, key)
	c.Message = "WinHTTP proxy: " + s.Mode()
	return c
}
