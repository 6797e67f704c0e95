package fleet

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/clixml"
	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/wininet"
)

// probeRoutes derives the probe route of each account for a request to host: the connecting account
// uses its own settings (system), a service account its decoded manual proxy, direct when it has
// none or when its bypass list matches host; PAC and auto-detect are approximated by the system route.
//
// The bypass decision is made here, with WinINet's rules (wininet.Bypassed: "<local>" matches a name
// without a dot, other entries are wildcards), so no bypass list travels in the probe's command line.
// bypassed names the accounts sent direct because of their list.
//
// Each route is validated alone: an account whose proxy entry cannot be parsed, or that only a
// socks= entry serves (WinINet uses SOCKS only for what it cannot reach otherwise, and an HTTP
// probe cannot speak it), gets no route and a reason in unprobed; the other accounts are probed.
func probeRoutes(decoded map[string]*wininet.Settings, host string) (routes []probe.Route, approx, bypassed map[string]bool, unprobedAccts map[string]unprobed) {
	routes = []probe.Route{{ID: AccountCurrentUser, Mode: probe.ModeSystem}}
	approx, bypassed, unprobedAccts = map[string]bool{}, map[string]bool{}, map[string]unprobed{}
	for _, acct := range ServiceAccounts {
		s := decoded[acct]
		switch {
		case s == nil:
			routes = append(routes, probe.Route{ID: acct, Mode: probe.ModeDirect})
		case s.Flags&(wininet.FlagAutoConfig|wininet.FlagAutoDetect) != 0:
			routes = append(routes, probe.Route{ID: acct, Mode: probe.ModeSystem})
			approx[acct] = true
		case s.Flags&wininet.FlagProxy != 0:
			rt, ok, err := wininet.ProxyRouteFor(*s, "https")
			switch {
			case !ok:
				routes = append(routes, probe.Route{ID: acct, Mode: probe.ModeDirect})
			case wininet.Bypassed(*s, host):
				routes = append(routes, probe.Route{ID: acct, Mode: probe.ModeDirect})
				bypassed[acct] = true
			case err != nil:
				unprobedAccts[acct] = unprobed{msg: fmt.Sprintf("%s's proxy entry cannot be used: %v", acct, err)}
			case rt.SOCKS:
				unprobedAccts[acct] = unprobed{socks: true, msg: fmt.Sprintf("%s reaches https only through the SOCKS entry %q (WinINet uses SOCKS only for what it cannot reach otherwise); dcproxy cannot probe a SOCKS route", acct, rt.Raw)}
			default:
				r := probe.Route{ID: acct, Mode: probe.ModeProxy, Proxy: rt.Addr()}
				if err := (probe.Config{URL: "https://x.invalid", Timeout: time.Second, Routes: []probe.Route{r}}).Validate(); err != nil {
					unprobedAccts[acct] = unprobed{msg: fmt.Sprintf("%s's proxy %s cannot be probed: %v", acct, rt.Addr(), err)}
					continue
				}
				routes = append(routes, r)
			}
		default:
			routes = append(routes, probe.Route{ID: acct, Mode: probe.ModeDirect})
		}
	}
	return routes, approx, bypassed, unprobedAccts
}

// unprobed is why an account gets no probe route: a proxy entry that cannot be used (the account's
// check fails), or a route only SOCKS serves (it cannot be checked).
type unprobed struct {
	msg   string
	socks bool
}

// runProbe builds the host's probe from its rule and runs it: the connecting account (reference,
// information), both service accounts' WinINet routes (or the machine's under ProxySettingsPerUser=0)
// and, on a v2 sensor, its own JSON proxy; under MDE's rule, Defender for Endpoint's one route.
// Identical routes are requested once on the host. It returns the output, or why there is none.
func (e *hostEval) runProbe(ctx context.Context, r remote.Runner) (*probe.Output, string) {
	cfg, perr := e.probeConfig()
	if perr != "" {
		return nil, perr
	}
	line, err := probe.Command(cfg)
	if err != nil {
		return nil, "probe: " + err.Error()
	}
	res, err := r.Run(ctx, line)
	if err != nil {
		return nil, "probe: " + err.Error()
	}
	return e.probeOutput(res)
}

// probeConfig builds the host's probe from its rule (see runProbe) and keeps it in e.cfg, with the
// route decisions the judgement needs (e.urlKnown, e.approx, e.bypassed, e.unprobed, e.mdeRoute).
// It returns why there is no probe when the Config cannot be built.
func (e *hostEval) probeConfig() (probe.Config, string) {
	po := e.opt.Probe
	cfg := probe.Config{Timeout: po.Timeout, Roots: []string{rootFor(po.cloud())}}
	switch {
	case po.URL != "":
		cfg.URL, e.urlKnown = po.URL, true
	case po.Workspace != "":
		u, err := WorkspaceURL(po.Workspace, po.Cloud)
		if err != nil {
			return probe.Config{}, "probe: " + err.Error()
		}
		cfg.URL, e.urlKnown = u, true
	default:
		cfg.URL = unknownWorkspaceURL
	}
	if e.rule == ruleMDE {
		if po.URL == "" {
			cfg.URLSource = probe.URLMDE
		}
		e.mdeRoute = e.mdeRouteOf()
		rt := probe.Route{ID: RouteIDMDE, Mode: probe.ModeDirect}
		if e.mdeRoute.Proxy != "" {
			rt = probe.Route{ID: RouteIDMDE, Mode: probe.ModeProxy, Proxy: e.mdeRoute.Proxy}
		}
		cfg.Routes = []probe.Route{rt}
		if e.sensor.Kind == SensorMigrated {
			cfg.SensorConfig = sensorConfigPath(e.sensor) // to report a stale JSON proxy
		}
	} else {
		host := ""
		if u, err := url.Parse(cfg.URL); err == nil {
			host = u.Hostname()
		}
		settings := e.decoded
		if e.perMachine {
			settings = map[string]*wininet.Settings{AccountLocalSystem: e.machine, AccountLocalService: e.machine}
		}
		cfg.Routes, e.approx, e.bypassed, e.unprobed = probeRoutes(settings, host)
		if path := sensorConfigPath(e.sensor); path != "" {
			cfg.SensorConfig = path
			cfg.Routes = append(cfg.Routes, probe.Route{ID: RouteIDSensorJSON, Mode: probe.ModeSensor})
			if po.URL == "" {
				cfg.URLSource = probe.URLSensor
			}
		}
	}
	e.cfg = cfg
	return cfg, ""
}

// probeOutput parses what the probe printed (res: its stdout, stderr and exit code) against e.cfg,
// or says why there is no output.
func (e *hostEval) probeOutput(res remote.Output) (*probe.Output, string) {
	out, err := probe.Parse(res.Stdout, e.cfg)
	if err != nil {
		if res.ExitCode != 0 {
			// PowerShell writes its errors as CLIXML over WinRS: say the error, not "#< CLIXML".
			return nil, fmt.Sprintf("probe: powershell exited %d: %s", res.ExitCode, clixml.FirstError(res.Stderr))
		}
		return nil, "probe: " + err.Error()
	}
	return &out, ""
}

// accept is what counts as reaching the endpoint for the URL requested: Microsoft's v3 test
// counts 500 from Defender for Endpoint's identity API.
func (e *hostEval) accept(from string) []int {
	if from == probe.FromMDE {
		return []int{500, 200}
	}
	return e.opt.Probe.Accept
}

// judged reports which probe routes decide the verdict under a route decision.
func judged(source, id string) bool {
	switch source {
	case RouteSensorJSON:
		return id == RouteIDSensorJSON
	case RouteWinINet, RouteWinINetMachine:
		return id == AccountLocalSystem || id == AccountLocalService
	default:
		return id == RouteIDMDE
	}
}

// endpointChecks turns the probe's results into checks. Only the routes of the decision count; the
// others are reported as information.
func (e *hostEval) endpointChecks(out *probe.Output, probeErr string, route *Route) []Check {
	po := e.opt.Probe
	if po.Disabled {
		return nil
	}
	expected := &Probe{URL: e.cfg.URL, Accepted: po.Accept, ExpectedIssuers: po.ExpectedIssuers}
	if out == nil {
		var cs []Check
		for _, rt := range e.cfg.Routes {
			if !judged(route.Source, rt.ID) {
				continue
			}
			cs = append(cs, Check{ID: CheckID(CheckEndpoint, rt.ID), Kind: KindEndpoint, Account: rt.ID, Status: CheckError,
				Expected: expected, Message: probeErr, Actor: ActorHost})
		}
		if len(cs) == 0 {
			cs = append(cs, Check{ID: "endpoint", Kind: KindEndpoint, Status: CheckError, Expected: expected, Message: probeErr, Actor: ActorHost})
		}
		return cs
	}
	expected.URL = out.URL
	expected.Accepted = e.accept(out.URLFrom)
	pox := po
	pox.Accept = expected.Accepted
	var cs []Check
	for _, acct := range ServiceAccounts {
		u, ok := e.unprobed[acct]
		if !ok {
			continue
		}
		msg := u.msg
		c := Check{ID: CheckID(CheckEndpoint, acct), Kind: KindEndpoint, Account: acct, Expected: expected, Status: CheckFail, Actor: ActorFix, Message: msg}
		switch {
		case !judged(route.Source, acct):
			c.Status, c.Actor, c.Message = CheckInfo, "", "not the sensor's route: "+msg
		case u.socks:
			c.Status, c.Actor = CheckError, ActorSensor
		}
		cs = append(cs, c)
	}
	for _, pr := range out.Results {
		if pr.Error == probe.ErrNoSensorProxy {
			continue // the JSON has no proxy: the decision already says so
		}
		tls := pr.TLS
		c := Check{ID: CheckID(CheckEndpoint, pr.ID), Kind: KindEndpoint, Account: pr.ID, Expected: expected,
			Actual: &Probe{URL: pr.URL, Route: pr.Route, Status: pr.Status, Error: pr.Error, Millis: pr.Millis,
				TLS: &tls, Subject: pr.Subject, Issuer: pr.Issuer},
			Approximate: e.approx[pr.ID]}
		c.Status, c.Message = judgeProbe(pr, pox)
		if c.Status == CheckPass && pr.Status == 200 && pr.Body != "" && out.URLFrom != probe.FromMDE {
			c.Message += " (latest sensor version " + pr.Body + ")"
		}
		if !e.urlKnown && out.URLFrom == probe.FromGiven {
			c.Status = CheckError
			c.Message = "the workspace is unknown: set probe.workspace (and probe.cloud) or probe.url"
			c.Actor = ActorSensor
			cs = append(cs, c)
			continue
		}
		if c.Status == CheckFail {
			c.Actor = ActorProxy
			c.Status, c.Message = e.proxyAuth(pr, c.Status, c.Message, route)
			if pr.Error == "TrustFailure" && rootMissing(out, e.opt.Probe.cloud()) {
				c.Actor = ActorSensor
				c.Message += " (the sensor's trusted root is missing: see tls.root)"
			}
		}
		if e.bypassed[pr.ID] {
			c.Message += fmt.Sprintf(" (the account's bypass list matches %s)", hostOf(out.URL))
		}
		if c.Approximate {
			c.Message += " (approximate: the account uses a PAC URL or auto-detection)"
		}
		switch {
		case pr.ID == AccountCurrentUser:
			// The connecting account's own connectivity is informational: it tells whether the
			// reference itself works; the sensor does not run as it.
			if c.Status == CheckFail || c.Status == CheckWarn {
				c.Message = "reference route fails: " + c.Message
			}
			c.Status, c.Actor = CheckInfo, ""
		case !judged(route.Source, pr.ID):
			if c.Status != CheckPass {
				c.Message = "not the sensor's route: " + c.Message
			}
			c.Status, c.Actor = CheckInfo, ""
		}
		if c.Status == CheckPass || c.Status == CheckInfo {
			c.Actor = ""
		}
		cs = append(cs, c)
	}
	return cs
}

func hostOf(u string) string {
	if x, err := url.Parse(u); err == nil {
		return x.Hostname()
	}
	return u
}

// rootMissing reports whether the host lacks the root its cloud's endpoint chains to.
func rootMissing(out *probe.Output, cloud string) bool {
	present, ok := out.Roots[rootFor(cloud)]
	return ok && !present
}

// proxyAuth refines a failed probe whose proxy wants credentials or refuses the computer: a 407
// where the sensor has credentials configured is a warning (dcproxy cannot present them), a 401 or
// 403 from the proxy itself is what the sensor reports as a licensing error.
func (e *hostEval) proxyAuth(pr probe.Result, status CheckStatus, msg string, route *Route) (CheckStatus, string) {
	if pr.TLS {
		return status, msg
	}
	sc := e.sensor.Config
	switch pr.Status {
	case 407:
		if pr.ID == RouteIDSensorJSON && sc != nil && sc.Credentials {
			return CheckWarn, fmt.Sprintf("407 via %s: the sensor has credentials for %s configured (not verified: dcproxy does not present them)", pr.Route, sc.ProxyUser)
		}
		if pr.ID == AccountLocalSystem {
			// unverified: whether WinINet authenticates LocalSystem's requests to this proxy with the
			// computer account (Negotiate) depends on the proxy and zone settings; dcproxy cannot
			// present the computer account from a WinRM session.
			return CheckWarn, fmt.Sprintf("the proxy wants credentials (407) via %s: the updater (LocalSystem) would present the computer account (not verified: dcproxy probes anonymously)", pr.Route)
		}
		return status, fmt.Sprintf("the proxy wants credentials (407) via %s and the sensor presents none (LocalService goes out anonymously): let the computer through without authentication, or give the sensor its own proxy credentials (Set-MDISensorProxyConfiguration -ProxyCredential)", pr.Route)
	case 401, 403:
		return status, fmt.Sprintf("the proxy refused the request with %d via %s (not 407): the sensor reports this as \"failed to register due to licensing issues\"; allow the DC through the proxy", pr.Status, pr.Route)
	}
	return status, msg
}

// seedRegistry applies the seed's rule to the service accounts' registry checks: a missing value is
// a failure unless that account's direct probe reached the endpoint (a transparent proxy or direct
// route works), which makes it a warning.
func (e *hostEval) seedRegistry(regChecks []Check, out *probe.Output) []Check {
	reached := map[string]bool{}
	if out != nil {
		for _, pr := range out.Results {
			st, _ := judgeProbe(pr, ProbeOptions{Accept: e.accept(out.URLFrom), ExpectedIssuers: e.opt.Probe.ExpectedIssuers})
			reached[pr.ID] = st == CheckPass && e.urlKnown
		}
	}
	for i, c := range regChecks {
		if c.Status != CheckFail {
			continue
		}
		missing := false
		if a, ok := c.Actual.(*Settings); ok && !a.Present {
			missing = true
		}
		if missing && reached[c.Account] {
			c.Status, c.Actor = CheckWarn, ActorSensor
			c.Message = "no proxy set for " + accountRole(c.Account) + ", and the endpoint is reachable direct (or through a transparent proxy): the sensor works without it"
		} else {
			c.Actor = ActorFix
		}
		regChecks[i] = c
	}
	return regChecks
}

// judgeProbe turns one probe result into a check status and message. A status proves the endpoint
// was reached only when it came over TLS with a certificate from an expected issuer: a status
// without TLS is the proxy's own answer to the CONNECT (a blocking proxy's 503 looks exactly like the
// endpoint's), and a certificate from another issuer is TLS inspection, which the sensor does not
// support even when the host trusts the inspecting CA.
func judgeProbe(pr probe.Result, po ProbeOptions) (status CheckStatus, msg string) {
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
		return CheckFail, notReached(pr)
	}
}

// notReached says in plain words why a request got no answer; the .NET status name and the host's
// message stay in the check's Actual (Probe.Error) for the JSON report.
func notReached(pr probe.Result) string {
	proxy, viaProxy := strings.CutPrefix(pr.Route, "proxy ")
	var why string
	switch pr.Error {
	case "ConnectFailure":
		if viaProxy {
			return "proxy " + proxy + " refused the connection or is down"
		}
		why = "the connection was refused or blocked"
	case "ProxyNameResolutionFailure":
		return "the proxy name " + proxy + " does not resolve on the DC"
	case "NameResolutionFailure":
		why = "the endpoint's name does not resolve on the DC (DNS)"
	case "Timeout":
		why = "no answer within the probe timeout"
	case "TrustFailure":
		why = "the DC does not trust the endpoint's certificate"
	case "SecureChannelFailure":
		why = "the TLS handshake failed"
	case "ConnectionClosed", "ReceiveFailure", "SendFailure", "KeepAliveFailure", "PipelineFailure":
		why = "the connection was closed before an answer"
	case "":
		why = "no answer"
	default:
		why = strings.TrimSpace(pr.Error + " " + pr.Message)
	}
	return "endpoint not reached via " + pr.Route + ": " + why
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
