package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Errors of baseline handling that callers branch on.
var (
	// ErrBaselineSchema is returned for a baseline that is not a JSON report of the current Schema.
	ErrBaselineSchema = errors.New("baseline is not a " + Schema + " report")
	// ErrBaselineSyntax is returned for a baseline that is not valid JSON of a report.
	ErrBaselineSyntax = errors.New("baseline is not valid report JSON")
)

// maxBaselineSize bounds what ReadBaseline reads: a report of 10 000 hosts is about 30 MB.
const maxBaselineSize = 256 << 20

// ReadBaseline parses a JSON report written earlier (the json format of any dcproxy command) for
// use with ApplyBaseline. It returns an error wrapping ErrBaselineSyntax when the input is not one
// JSON report object, and ErrBaselineSchema when its schema is not Schema. It reads at most 256 MiB.
func ReadBaseline(r io.Reader) (*Report, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBaselineSize+1))
	if err != nil {
		return nil, fmt.Errorf("read baseline: %w", err)
	}
	if len(b) > maxBaselineSize {
		return nil, fmt.Errorf("%w: larger than %d MiB", ErrBaselineSyntax, maxBaselineSize>>20)
	}
	// Check the schema first so that another JSON document gets the clearer error.
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBaselineSyntax, err)
	}
	if head.Schema == nil {
		return nil, fmt.Errorf("%w: it has no \"schema\" field", ErrBaselineSchema)
	}
	if *head.Schema == SchemaV1 {
		return nil, fmt.Errorf("%w: it is a %s report from an older dcproxy (before the sensor-aware audit); run an audit with this version to make a new baseline", ErrBaselineSchema, SchemaV1)
	}
	if *head.Schema != Schema {
		return nil, fmt.Errorf("%w: its schema is %q", ErrBaselineSchema, truncate(*head.Schema, 60))
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBaselineSyntax, err)
	}
	return &rep, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// findingKey identifies a finding across runs: the host name (case-insensitive, as DNS) and the
// check id, or FindingHost for the host's own error.
type findingKey struct{ host, check string }

func hostKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// isFinding reports whether a check is a problem drift tracks: failed or errored.
func isFinding(c *Check) bool { return c.Status == CheckFail || c.Status == CheckError }

// ApplyBaseline classifies every finding of cur against prev, the report of an earlier run, and
// records the result in cur: Check.Drift and HostError.Drift (new or persisting), HostResult.Drift
// (the host's roll-up), Report.Resolved, Summary.Drift and Report.Baseline (File is left to the
// caller). A nil prev (no earlier run) makes every finding new. Earlier drift fields of cur are
// replaced, so applying twice is harmless; prev is not modified.
//
// A finding is a failed or errored check, keyed by (host, check id), or a host error, keyed by
// (host, "host"). It persists when prev has a finding with the same key, whatever its status or
// message, and is new otherwise. A finding of prev is resolved only when cur checked it again and
// found no problem: the host is in cur without a host error and the check id is present and passes
// (or is informational); for a host error, the host is in cur without one. Findings of hosts cur
// could not check, of hosts not in cur (another inventory or --limit) and of checks cur did not run
// (--no-probe) are neither persisting nor resolved: they are unknown and not listed.
//
// ApplyBaseline returns an error wrapping ErrBaselineSchema when prev's schema is not Schema; cur
// is then unchanged. It is not safe to call concurrently on the same cur.
func ApplyBaseline(cur, prev *Report) error {
	if cur == nil {
		return nil
	}
	if prev != nil && prev.Schema != Schema {
		return fmt.Errorf("%w: its schema is %q", ErrBaselineSchema, truncate(prev.Schema, 60))
	}
	old := map[findingKey]bool{}
	if prev != nil {
		for i := range prev.Hosts {
			h := &prev.Hosts[i]
			k := hostKey(h.Host)
			if h.Error != nil {
				old[findingKey{k, FindingHost}] = true
			}
			for j := range h.Checks {
				if isFinding(&h.Checks[j]) {
					old[findingKey{k, h.Checks[j].ID}] = true
				}
			}
		}
	}
	classify := func(k findingKey) string {
		if old[k] {
			return DriftPersisting
		}
		return DriftNew
	}

	sum := &DriftSummary{}
	for i := range cur.Hosts {
		h := &cur.Hosts[i]
		k := hostKey(h.Host)
		h.Drift = ""
		newFail, newErr := false, false
		count := func(d string, status CheckStatus) {
			switch d {
			case DriftNew:
				sum.New++
				h.Drift = DriftNew
				if status == CheckFail {
					newFail = true
				} else {
					newErr = true
				}
			case DriftPersisting:
				sum.Persisting++
				if h.Drift == "" {
					h.Drift = DriftPersisting
				}
			}
		}
		if h.Error != nil {
			h.Error.Drift = classify(findingKey{k, FindingHost})
			count(h.Error.Drift, CheckError)
		}
		for j := range h.Checks {
			c := &h.Checks[j]
			c.Drift = ""
			if isFinding(c) {
				c.Drift = classify(findingKey{k, c.ID})
				count(c.Drift, c.Status)
			}
		}
		if newFail {
			sum.NewFail++
		}
		if newErr {
			sum.NewError++
		}
	}

	cur.Resolved = nil
	if prev != nil {
		cur.Resolved = resolved(cur, prev)
	}
	sum.Resolved = len(cur.Resolved)
	cur.Summary.Drift = sum
	ref := &BaselineRef{}
	if cur.Baseline != nil {
		ref.File = cur.Baseline.File
	}
	if prev != nil {
		ref.RunID, ref.StartedAt = prev.RunID, prev.StartedAt
	} else {
		ref.Missing = true
	}
	cur.Baseline = ref
	return nil
}

// resolved lists the findings of prev that cur checked again and found gone, in prev's order.
func resolved(cur, prev *Report) []Finding {
	type state struct {
		h      *HostResult
		checks map[string]*Check
	}
	now := map[string]*state{}
	for i := range cur.Hosts {
		h := &cur.Hosts[i]
		k := hostKey(h.Host)
		if _, dup := now[k]; dup {
			continue // inventories reject duplicates; keep the first if a report has them anyway
		}
		st := &state{h: h, checks: map[string]*Check{}}
		for j := range h.Checks {
			if _, dup := st.checks[h.Checks[j].ID]; !dup {
				st.checks[h.Checks[j].ID] = &h.Checks[j]
			}
		}
		now[k] = st
	}
	var out []Finding
	seen := map[findingKey]bool{}
	add := func(f Finding) {
		k := findingKey{hostKey(f.Host), f.Check}
		if !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	for i := range prev.Hosts {
		ph := &prev.Hosts[i]
		st, ok := now[hostKey(ph.Host)]
		if !ok || st.h.Error != nil {
			continue // not checked in this run: unknown, not resolved
		}
		if ph.Error != nil {
			msg := string(ph.Error.Kind)
			if ph.Error.Message != "" {
				msg += ": " + ph.Error.Message
			}
			add(Finding{Host: ph.Host, Check: FindingHost, Status: CheckError, Message: msg})
		}
		for j := range ph.Checks {
			pc := &ph.Checks[j]
			if !isFinding(pc) {
				continue
			}
			c, ok := st.checks[pc.ID]
			if !ok || isFinding(c) {
				continue // not run again (unknown), or still a finding (persisting)
			}
			add(Finding{Host: ph.Host, Check: pc.ID, Account: pc.Account, Status: pc.Status, Message: pc.Message})
		}
	}
	return out
}
