package fleet

import (
	"context"
	"fmt"
	"strings"

	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
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
