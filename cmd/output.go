package cmd

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/report"
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
}

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
var errDelivery = errors.New("report not delivered")

// postBackoff is the first delay between post attempts; it doubles, with jitter. Tests shorten it.
var postBackoff = time.Second

// maxRetryAfter caps how long a Retry-After header makes dcproxy wait between post attempts.
const maxRetryAfter = 2 * time.Minute

func addOutputFlags(f *pflag.FlagSet, o *outputOptions) {
	f.StringArrayVar(&o.reports, "report", nil, "also write the report as FORMAT to FILE (atomically), e.g. --report html=audit-{date}.html; repeatable; {date} and {time} expand to the run's start")
	f.StringVar(&o.baseline, "baseline", "", "earlier JSON report: mark each finding new or persisting and list the resolved ones (a missing file means every finding is new)")
	f.StringVar(&o.failOn, "fail-on", failOnAny, "which findings set the exit status: any, or new (needs --baseline)")
	f.StringVar(&o.post, "post", "", "POST the report to this URL after writing it (ticket webhook); env "+envPostURL+"; bearer token from env "+envPostToken)
	f.StringVar(&o.postFormat, "post-format", report.FormatJSON, "format of the posted report: json or markdown")
	f.DurationVar(&o.postTimeout, "post-timeout", 30*time.Second, "deadline of one post attempt")
	f.IntVar(&o.postRetries, "post-retries", 3, "extra post attempts after a network error, 408, 429 or 5xx (never after another 4xx)")
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
	post     *poster
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
	ropt := report.Options{NewOnly: a.failOnNew, Inventory: o.inventory, Now: time.Now}
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
	if raw != "" {
		pst, err := newPoster(raw, oo, a.env(envPostToken), log)
		if err != nil {
			return nil, usageErr("%w", err)
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
		r := t.r
		if err := renderFileAtomic(expandPath(t.path, rep.StartedAt), 0o644, func(w io.Writer) error { return r.Render(w, rep) }); err != nil {
			errs = append(errs, fmt.Errorf("%s report: %w", t.format, err))
		}
	}
	if p.post != nil {
		if err := p.post.send(ctx, rep); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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

// poster sends a rendered report to an HTTP endpoint with retries. It is used by one goroutine.
type poster struct {
	url      *url.URL
	format   string
	ctype    string
	r        report.Renderer
	token    string
	timeout  time.Duration
	attempts int
	client   *http.Client
	log      *slog.Logger
}

func newPoster(raw string, oo *outputOptions, token string, log *slog.Logger) (*poster, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// Never echo the URL: it may carry the webhook's secret.
		return nil, errors.New("--post: want an http:// or https:// URL")
	}
	if u.User != nil {
		return nil, errors.New("--post: credentials in the URL are refused; use " + envPostToken)
	}
	if token != "" && u.Scheme != "https" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("--post %s: refusing to send %s over plain HTTP; use https", redactURL(u), envPostToken)
	}
	p := &poster{url: u, token: token, timeout: oo.postTimeout, attempts: oo.postRetries + 1, log: log}
	switch strings.ToLower(oo.postFormat) {
	case "", report.FormatJSON:
		p.format, p.ctype = report.FormatJSON, "application/json"
	case report.FormatMarkdown, "md":
		p.format, p.ctype = report.FormatMarkdown, "text/markdown; charset=utf-8"
	default:
		return nil, fmt.Errorf("--post-format %q: want json or markdown", oo.postFormat)
	}
	if p.timeout <= 0 {
		return nil, fmt.Errorf("--post-timeout %s: want a positive duration", oo.postTimeout)
	}
	if oo.postRetries < 0 || oo.postRetries > 10 {
		return nil, fmt.Errorf("--post-retries %d: want 0..10", oo.postRetries)
	}
	p.r, _ = report.New(p.format, report.Options{NewOnly: oo.failOn == failOnNew})
	p.client = &http.Client{Timeout: p.timeout, CheckRedirect: refuseRedirect}
	return p, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactURL shows where a report goes without the path and query, which may hold a secret.
func redactURL(u *url.URL) string {
	s := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		s += "/..."
	}
	return s
}

// send posts rep, retrying network errors, 408, 429 and 5xx with a doubling, jittered delay (or the
// server's Retry-After), until it is accepted (2xx), refused (another status), the attempts are
// used up or ctx ends. Every attempt carries the same Idempotency-Key so that a receiver can drop
// a duplicate of an attempt whose answer was lost.
func (p *poster) send(ctx context.Context, rep *fleet.Report) error {
	var body bytes.Buffer
	if err := p.r.Render(&body, rep); err != nil {
		return fmt.Errorf("%w: render %s: %w", errDelivery, p.format, err)
	}
	var key [16]byte
	_, _ = crand.Read(key[:])
	idem := hex.EncodeToString(key[:])
	where := redactURL(p.url)
	delay := postBackoff
	var last error
	for attempt := 1; attempt <= p.attempts; attempt++ {
		retry, wait, err := p.once(ctx, body.Bytes(), idem)
		if err == nil {
			p.log.Info("report posted", "url", where, "attempt", attempt, "bytes", body.Len())
			return nil
		}
		last = err
		if !retry || attempt == p.attempts {
			break
		}
		if wait <= 0 {
			wait = delay/2 + rand.N(delay)
			delay *= 2
		}
		p.log.Warn("post failed, retrying", "url", where, "attempt", attempt, "in", wait.Round(time.Millisecond), "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("%w: post to %s: %w (then interrupted)", errDelivery, where, last)
		}
	}
	return fmt.Errorf("%w: post to %s: %w", errDelivery, where, last)
}

// once makes one attempt. It says whether another attempt may succeed and how long the server
// asked to wait (0: not said).
func (p *poster) once(ctx context.Context, body []byte, idem string) (retry bool, wait time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url.String(), bytes.NewReader(body))
	if err != nil {
		return false, 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", p.ctype)
	req.Header.Set("User-Agent", "dcproxy/"+Version)
	req.Header.Set("Idempotency-Key", idem)
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		// The error text of net/http quotes the URL: replace it with the redacted form.
		msg := strings.ReplaceAll(err.Error(), p.url.String(), redactURL(p.url))
		var ue *url.Error
		if errors.As(err, &ue) && ue.Err != nil {
			msg = ue.Err.Error()
		}
		return ctx.Err() == nil, 0, errors.New(msg)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, 0, nil
	}
	err = fmt.Errorf("HTTP %s", resp.Status)
	if s := strings.TrimSpace(string(snippet)); s != "" && resp.StatusCode >= 400 && resp.StatusCode < 500 {
		err = fmt.Errorf("HTTP %s: %s", resp.Status, oneLineASCII(s, 200))
	}
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return true, retryAfter(resp.Header.Get("Retry-After")), err
	}
	return false, 0, err
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date, capped at maxRetryAfter.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	if d < 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// oneLineASCII keeps a server's answer printable on one line and at most n bytes.
func oneLineASCII(s string, n int) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c >= 0x7f {
			b[i] = ' '
		}
	}
	s = strings.Join(strings.Fields(string(b)), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

// refuseRedirect stops the post at a redirect: net/http would re-send the bearer token to the new
// location when only the scheme changes (https to http), and re-post the report on 307/308. The
// 3xx is then reported as an undelivered post naming the status.
func refuseRedirect(req *http.Request, via []*http.Request) error {
	return http.ErrUseLastResponse
}
