package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/report"
	"github.com/dcproxy/dcproxy/report/post"
)

// outputOptions are the audit command's report-delivery flags: extra report files, the baseline,
// what fails the run, and the HTTP post.
type outputOptions struct {
	reports     []string // FORMAT=FILE, repeatable
	baseline    string
	failOn      string // any (default) or new
	post        string
	postFormat  string
	postTimeout time.Duration
	postRetries int
	postWhen    string // always, new, changes; "" = new with a baseline, else always
}

// Values of --post-when.
const (
	postAlways  = "always"
	postNew     = "new"
	postChanges = "changes"
)

// Values of --fail-on.
const (
	failOnAny = "any"
	failOnNew = "new"
)

// Environment variables of the post: the URL may carry a secret (many inbound webhooks embed their
// key in the path), so it can stay out of the command line; the bearer token is only ever read
// from the environment.
const (
	envPostURL   = "DCPROXY_POST_URL"
	envPostToken = "DCPROXY_POST_TOKEN"
)

// errDelivery marks a report that was written locally but could not be posted: exit status 70.
var errDelivery = post.ErrDelivery

func addOutputFlags(f *pflag.FlagSet, o *outputOptions) {
	f.StringArrayVar(&o.reports, "report", nil, "also write the report as FORMAT to FILE (atomically), e.g. --report html=audit-{date}.html; repeatable; {date} and {time} expand to the run's start")
	f.StringVar(&o.baseline, "baseline", "", "earlier JSON report: mark each finding new or persisting and list the resolved ones (a missing file means every finding is new)")
	f.StringVar(&o.failOn, "fail-on", failOnAny, "which findings set the exit status: any, or new (needs --baseline)")
	f.StringVar(&o.post, "post", "", "POST the report to this URL after writing it (ticket webhook); env "+envPostURL+"; bearer token from env "+envPostToken)
	f.StringVar(&o.postFormat, "post-format", report.FormatJSON, "format of the posted report: json or markdown")
	f.DurationVar(&o.postTimeout, "post-timeout", 30*time.Second, "deadline of one post attempt")
	f.IntVar(&o.postRetries, "post-retries", 3, "extra post attempts after a network error, 408, 429 or 5xx (never after another 4xx)")
	f.StringVar(&o.postWhen, "post-when", "", "when to post: always, new (only when a finding is new since --baseline) or changes (new or resolved findings); default new with --baseline, else always")
}

// outputTarget is one extra report file.
type outputTarget struct {
	format string
	path   string // may hold {date} and {time}
	r      report.Renderer
}

// outputPlan is everything decided about delivery before any host is contacted.
type outputPlan struct {
	extra    []outputTarget
	baseline *fleet.Report // nil: none given, or the file did not exist
	basePath string
	post     *post.Poster
	postWhen string
	log      *slog.Logger
}

// planOutputs validates the delivery flags and loads the baseline, so that every mistake in them is
// a usage error (64) before the audit starts. It also records --fail-on in the app for exitCode.
func (a *app) planOutputs(cfg *Config, o *auditOptions, log *slog.Logger) (*outputPlan, error) {
	oo := &o.out
	p := &outputPlan{log: log}
	switch oo.failOn {
	case "", failOnAny:
	case failOnNew:
		if oo.baseline == "" {
			return nil, usageErr("--fail-on new needs --baseline PREVIOUS.json")
		}
		a.failOnNew = true
	default:
		return nil, usageErr("--fail-on %q: want any or new", oo.failOn)
	}
	ropt := a.reportOptions(cfg, o)
	seen := map[string]bool{}
	if cfg.Output != "" {
		seen[filepath.Clean(cfg.Output)] = true
	}
	for _, spec := range oo.reports {
		format, path, ok := strings.Cut(spec, "=")
		if !ok || strings.TrimSpace(format) == "" || strings.TrimSpace(path) == "" {
			return nil, usageErr("--report %q: want FORMAT=FILE (formats: %s)", spec, strings.Join(report.Formats(), ", "))
		}
		r, err := report.New(format, ropt)
		if err != nil {
			return nil, usageErr("--report %q: %w", spec, err)
		}
		if seen[filepath.Clean(path)] {
			return nil, usageErr("--report %q: %s is already an output of this run", spec, path)
		}
		seen[filepath.Clean(path)] = true
		p.extra = append(p.extra, outputTarget{format: strings.ToLower(strings.TrimSpace(format)), path: path, r: r})
	}
	if oo.baseline != "" {
		p.basePath = oo.baseline
		f, err := os.Open(oo.baseline)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if !o.quiet {
				fmt.Fprintf(a.stderr, "dcproxy: warning: baseline %s does not exist (first run?): every finding is new\n", oo.baseline)
			}
		case err != nil:
			return nil, usageErr("baseline: %w", err)
		default:
			prev, err := readBaseline(f, oo.baseline)
			f.Close()
			if err != nil {
				return nil, err
			}
			p.baseline = prev
		}
	}
	raw := oo.post
	if raw == "" {
		raw = a.env(envPostURL)
	}
	switch oo.postWhen {
	case "":
		p.postWhen = postAlways
		if oo.baseline != "" {
			p.postWhen = postNew
		}
	case postAlways:
		p.postWhen = postAlways
	case postNew, postChanges:
		if oo.baseline == "" {
			return nil, usageErr("--post-when %s needs --baseline PREVIOUS.json (what is new is new since the baseline)", oo.postWhen)
		}
		p.postWhen = oo.postWhen
	default:
		return nil, usageErr("--post-when %q: want always, new or changes", oo.postWhen)
	}
	if raw != "" {
		pst, err := post.New(raw, post.Options{Format: oo.postFormat, Timeout: oo.postTimeout, Retries: oo.postRetries,
			Token: a.env(envPostToken), NewOnly: oo.failOn == failOnNew, UserAgent: "dcproxy/" + strings.Fields(version())[0], Log: log, Backoff: postBackoff})
		if err != nil {
			return nil, usageErr("--post: %w", postSettingsHint(err))
		}
		p.post = pst
	}
	return p, nil
}

// deliver classifies rep against the baseline, writes the main report (stdout or out) and every
// extra file, then posts. Every output is attempted even when an earlier one failed; the errors are
// joined. A post failure wraps errDelivery.
func (a *app) deliver(ctx context.Context, p *outputPlan, main report.Renderer, rep *fleet.Report, out string) error {
	if p.basePath != "" {
		rep.Baseline = &fleet.BaselineRef{File: p.basePath}
		if err := fleet.ApplyBaseline(rep, p.baseline); err != nil {
			return fmt.Errorf("baseline %s: %w", p.basePath, err)
		}
	}
	var errs []error
	if err := a.writeReport(main, rep, expandPath(out, rep.StartedAt)); err != nil {
		errs = append(errs, err)
	}
	for _, t := range p.extra {
		r, path := t.r, expandPath(t.path, rep.StartedAt)
		if err := renderFileAtomic(path, 0o644, func(w io.Writer) error { return r.Render(w, rep) }); err != nil {
			errs = append(errs, fmt.Errorf("%s report: %w", t.format, err))
		} else {
			a.written = append(a.written, path)
		}
	}
	if p.post != nil {
		if why := skipPost(p.postWhen, rep); why != "" {
			p.log.Info("report not posted", "url", p.post.Where(), "why", why)
			a.notes = append(a.notes, "not posted: "+why)
		} else if err := p.post.Send(ctx, rep); err != nil {
			errs = append(errs, err)
		} else {
			a.notes = append(a.notes, "posted to "+p.post.Where())
		}
	}
	return errors.Join(errs...)
}

// postBackoff is the first delay between post attempts (it doubles, with jitter). Tests shorten it.
var postBackoff = time.Second

// postSettingsHint names the environment variable of the bearer token when the refusal is about it.
func postSettingsHint(err error) error {
	if errors.Is(err, post.ErrURLCredentials) || errors.Is(err, post.ErrTokenOverHTTP) {
		return fmt.Errorf("%w (%s)", err, envPostToken)
	}
	return err
}

// skipPost says why rep is not worth posting under --post-when, or "" to post it.
func skipPost(when string, rep *fleet.Report) string {
	var d fleet.DriftSummary
	if rep.Summary.Drift != nil {
		d = *rep.Summary.Drift
	}
	switch when {
	case postNew:
		if d.New == 0 {
			return "no new findings since the baseline (--post-when new)"
		}
	case postChanges:
		if d.New == 0 && d.Resolved == 0 {
			return "no new or resolved findings since the baseline (--post-when changes)"
		}
	}
	return ""
}

// readBaseline reads an earlier JSON report. A report of the previous schema (v1, before the
// sensor-aware audit) gets its own error saying what to do; anything else that is not a current
// report is the usage error fleet.ReadBaseline describes.
func readBaseline(r io.Reader, name string) (*fleet.Report, error) {
	var buf bytes.Buffer
	prev, err := fleet.ReadBaseline(io.TeeReader(r, &buf))
	if err == nil {
		return prev, nil
	}
	if errors.Is(err, fleet.ErrBaselineSchema) {
		var head struct {
			Schema string `json:"schema"`
		}
		if json.Unmarshal(buf.Bytes(), &head) == nil && head.Schema == fleet.SchemaV1 {
			return nil, usageErr("baseline %s is a %s report (written before the sensor-aware audit); this dcproxy writes %s, "+
				"whose findings are keyed differently: run once without --baseline (or give a new baseline file) to start a new series", name, fleet.SchemaV1, fleet.Schema)
		}
	}
	return nil, usageErr("baseline %s: %w", name, err)
}

// expandPath replaces {date} (2006-01-02) and {time} (150405) in an output path with the run's start
// in local time, so that a scheduled run writes one file per day without shell or systemd %-escapes.
func expandPath(p string, t time.Time) string {
	if p == "" || !strings.Contains(p, "{") {
		return p
	}
	if t.IsZero() {
		t = time.Now()
	}
	t = t.Local()
	return strings.NewReplacer("{date}", t.Format("2006-01-02"), "{time}", t.Format("150405")).Replace(p)
}

// expandNow is expandPath at the current time (the log file is opened before the run starts).
func expandNow(p string) string { return expandPath(p, time.Now()) }
