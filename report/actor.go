package report

import (
	"fmt"
	"strings"

	"github.com/dcproxy/dcproxy/fleet"
)

// Who acts on a finding: the same words in every format (fleet.Actor*).

// checkActor is who acts on a failing, erroring or warning check of h: the check's Actor when the
// audit set it, else derived from its kind and status (reports of older producers). "" for passing
// and informational checks. This is the one place the derivation lives: an endpoint that fails for
// an account whose registry value also fails is the fix's (the missing proxy is why), any other
// failing endpoint is the proxy's or firewall's.
func checkActor(h *fleet.HostResult, c *fleet.Check) string {
	if c.Status == fleet.CheckPass || c.Status == fleet.CheckInfo || c.Status == "" {
		return ""
	}
	if c.Actor != "" {
		return c.Actor
	}
	switch {
	case c.Status == fleet.CheckError:
		return fleet.ActorHost // the check could not run on the host (script refused, ...)
	case c.Kind == fleet.KindRegCompare:
		return fleet.ActorFix
	case c.Kind == fleet.KindEndpoint:
		if h != nil && c.Account != "" {
			for i := range h.Checks {
				o := &h.Checks[i]
				if o.Kind == fleet.KindRegCompare && o.Account == c.Account && o.Status == fleet.CheckFail {
					return fleet.ActorFix
				}
			}
		}
		return fleet.ActorProxy
	case c.Kind == fleet.KindSensor, c.Kind == fleet.KindTLS:
		return fleet.ActorSensor
	}
	return fleet.ActorHost
}

// hostErrorActor is who acts on a host that could not be checked.
func hostErrorActor(e *fleet.HostError) string {
	if e.Actor != "" {
		return e.Actor
	}
	switch e.Kind {
	case fleet.ErrorKindAuth:
		return fleet.ActorCredentials
	case fleet.ErrorKindReference:
		return fleet.ActorHost // no usable HKCU reference: set it on the host (or declare one)
	}
	return fleet.ActorHost
}

// hostActors is who acts on a host, each once, in the order: fix, proxy/firewall, sensor, host,
// credentials.
func hostActors(h *fleet.HostResult) []string {
	seen := map[string]bool{}
	if h.Error != nil {
		seen[hostErrorActor(h.Error)] = true
	}
	for i := range h.Checks {
		if a := checkActor(h, &h.Checks[i]); a != "" {
			seen[a] = true
		}
	}
	var out []string
	for _, a := range []string{fleet.ActorFix, fleet.ActorProxy, fleet.ActorSensor, fleet.ActorHost, fleet.ActorCredentials} {
		if seen[a] {
			out = append(out, a)
			delete(seen, a)
		}
	}
	for a := range seen { // an actor this renderer does not know yet: still shown
		out = append(out, oneLine(a))
	}
	return out
}

// fixable reports whether dcproxy fix is the (only) remedy for the host: its problems are all
// "fix". The Markdown ticket offers the fix line only then.
func fixable(h *fleet.HostResult) bool {
	a := hostActors(h)
	return len(a) == 1 && a[0] == fleet.ActorFix
}

// Headline is a fleet-wide cause: every host of the run (at least two) failed for one reason, so
// the report says it once instead of in N rows.
type Headline struct {
	Actor string // who acts: credentials, host, proxy/firewall
	Text  string // what happened and what to do, in plain words
	Hosts int
}

// FleetHeadline returns the fleet-wide cause of rep, or nil: every host could not be checked and
// all for the same actor (a password refused everywhere, every host timing out or unreachable, a
// KDC that cannot be reached), or every host's endpoint probe failed through the proxy.
func FleetHeadline(rep *fleet.Report) *Headline {
	n := len(rep.Hosts)
	if n < 2 || rep.Interrupted {
		return nil
	}
	actor, kind := "", fleet.ErrorKind("")
	sameKind := true
	for i := range rep.Hosts {
		h := &rep.Hosts[i]
		if h.Error == nil {
			return nil
		}
		a := hostErrorActor(h.Error)
		if actor == "" {
			actor, kind = a, h.Error.Kind
		}
		if a != actor {
			return nil
		}
		sameKind = sameKind && h.Error.Kind == kind
	}
	msg := strings.ToLower(rep.Hosts[0].Error.Message)
	hl := &Headline{Actor: actor, Hosts: n}
	switch {
	case strings.Contains(msg, "kdc") || strings.Contains(msg, "kerberos"):
		hl.Text = fmt.Sprintf("no host could be checked: the Kerberos KDC could not be reached or refused the logon on all %d hosts; check the domain controller for the realm and DNS from this machine", n)
	case actor == fleet.ActorCredentials:
		hl.Text = fmt.Sprintf("the logon was refused on all %d hosts: the password is wrong or expired, or the account is locked or lacks rights; check it before the next run (lockout protection stopped further attempts)", n)
	case sameKind && kind == fleet.ErrorKindTimeout:
		hl.Text = fmt.Sprintf("every host timed out (%d): check the network path and WinRM port from this machine (VPN, firewall)", n)
	case sameKind && kind == fleet.ErrorKindUnreachable:
		hl.Text = fmt.Sprintf("no host was reachable (%d): check the network path and WinRM port from this machine (VPN, firewall)", n)
	default:
		hl.Text = fmt.Sprintf("no host could be checked (%d), all for the same reason (%s): %s", n, oneLine(actor), hostErrorText(rep.Hosts[0].Error))
	}
	return hl
}

// sensorCell is the host's sensor kind and version, e.g. "v2 2.250.18972", or "-" when unknown.
func sensorCell(h *fleet.HostResult) string {
	if h.Sensor == nil {
		return cellNone
	}
	s := oneLine(h.Sensor.Kind)
	if v := oneLine(h.Sensor.Version); v != "" {
		s += " " + v
	}
	return orDefault(s, cellNone)
}

// routeCell is the route the verdict followed: its source and proxy, e.g. "sensor-json proxy:8080".
func routeCell(h *fleet.HostResult) string {
	if h.Route == nil {
		return cellNone
	}
	s := oneLine(h.Route.Source)
	if p := oneLine(h.Route.Proxy); p != "" {
		s += " " + p
	}
	return orDefault(s, cellNone)
}

// routeDecision is the plain-words decision of the route, marked when Microsoft documents no
// precedence for it.
func routeDecision(h *fleet.HostResult) string {
	if h.Route == nil {
		return ""
	}
	d := oneLine(h.Route.Decision)
	if h.Route.Unverified && d != "" {
		d += " (precedence not documented by Microsoft)"
	}
	return d
}

// hasSensorData reports whether any host of rep carries the sensor-aware audit's fields.
func hasSensorData(rep *fleet.Report) bool {
	for i := range rep.Hosts {
		if rep.Hosts[i].Sensor != nil || rep.Hosts[i].Route != nil {
			return true
		}
	}
	return false
}
