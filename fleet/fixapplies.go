package fleet

// fixApplies reports whether dcproxy fix may write a host's per-account WinINet values: only when
// the audit decided that the sensor's route is the seed's per-account WinINet rule (RouteWinINet).
// Otherwise reason is the refusal for the report: the audit's decision in plain words and the
// command the admin would run instead. A host whose route the audit could not decide (Route nil)
// is refused too: writing WinINet would be a guess.
func fixApplies(hr *HostResult) (ok bool, reason string) {
	rt := hr.Route
	switch {
	case rt == nil:
		return false, "not fixed: the audit could not decide which route the sensor uses, so it is not known that WinINet is what it reads; audit again"
	case rt.Source == RouteWinINet:
		return true, ""
	}
	reason = "not fixed: WinINet is not what the sensor uses here: "
	if rt.Decision != "" {
		reason += rt.Decision
	} else {
		reason += "its route is " + rt.Source
	}
	if rt.Instead != "" {
		reason += "; instead: " + rt.Instead
	}
	return false, reason
}
