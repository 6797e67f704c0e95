package fleet

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/dcproxy/dcproxy/remote"
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
