package fleet

// fixActsOnEndpoints gives the fix an endpoint failure it can repair: under the seed's rule, when a
// service account's registry check failed (its value is missing or differs from the reference) and
// the reference route itself reaches the endpoint, copying the reference is what makes that
// account's probe pass, so the fix, not the proxy team, acts on it.
func fixActsOnEndpoints(checks []Check, route *Route) {
	if route == nil || route.Source != RouteWinINet {
		return
	}
	byID := make(map[string]int, len(checks))
	for i, c := range checks {
		byID[c.ID] = i
	}
	ref, ok := byID[CheckID(CheckEndpoint, AccountCurrentUser)]
	if !ok || !referenceReached(checks[ref]) {
		return
	}
	for _, acct := range ServiceAccounts {
		ri, ok1 := byID[CheckID(CheckRegistry, acct)]
		ei, ok2 := byID[CheckID(CheckEndpoint, acct)]
		if !ok1 || !ok2 || checks[ri].Status != CheckFail || checks[ri].Actor != ActorFix || checks[ei].Status != CheckFail {
			continue
		}
		checks[ei].Actor = ActorFix
		checks[ei].Message += " (the reference route works: dcproxy fix copies it to " + acct + ")"
	}
}

// referenceReached reports whether the connecting account's own probe (information) reached the
// endpoint as a passing probe would: over TLS, an accepted status, an expected issuer.
func referenceReached(c Check) bool {
	p, ok1 := c.Actual.(*Probe)
	exp, ok2 := c.Expected.(*Probe)
	return ok1 && ok2 && p.TLS != nil && *p.TLS && accepted(p.Status, exp.Accepted) && issuerExpected(p.Issuer, exp.ExpectedIssuers)
}
