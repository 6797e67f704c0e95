// Package post delivers a rendered dcproxy report to an HTTP endpoint, such as a ticket system's
// inbound webhook: one POST per attempt, retried on network errors, 408, 429 and 5xx with a
// doubling, jittered delay (or the server's Retry-After), never after another 4xx, never
// following a redirect.
//
// Nothing it returns or logs carries a secret: the URL is shown as scheme and host only (a
// webhook's key often sits in its path or query), and the text a server sends back is passed
// through remote/redact (the bearer token and any authentication header the server quotes become
// "***") and cut to one short line.
package post

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/remote/redact"
	"github.com/dcproxy/dcproxy/report"
)

// Errors callers may branch on.
var (
	// ErrDelivery wraps every failure of Send: the report was not accepted by the receiver.
	ErrDelivery = errors.New("report not delivered")
	// ErrSettings wraps every error of New: the options cannot work.
	ErrSettings = errors.New("post settings")
	// ErrURLCredentials and ErrTokenOverHTTP (each with ErrSettings) are New's refusals that the
	// bearer token's setting answers: credentials belong in the token, not the URL, and the token
	// goes over https only.
	ErrURLCredentials = errors.New("credentials in the URL are refused; use a bearer token")
	ErrTokenOverHTTP  = errors.New("refusing to send the bearer token over plain HTTP; use https")
)

// MaxRetryAfter caps how long a Retry-After header makes Send wait between attempts.
const MaxRetryAfter = 2 * time.Minute

// Options configure a Poster. Format is report.FormatJSON (default) or report.FormatMarkdown.
type Options struct {
	Format  string
	Timeout time.Duration // per attempt; must be positive
	Retries int           // extra attempts, 0..10
	// Token is sent as "Authorization: Bearer TOKEN"; refused over plain HTTP except to loopback.
	Token string
	// NewOnly is passed to the Markdown renderer (report.Options.NewOnly).
	NewOnly   bool
	UserAgent string
	Log       *slog.Logger  // nil: discard
	Backoff   time.Duration // first delay between attempts; 0 means one second
}

// Poster sends reports to one URL. It is used by one goroutine at a time.
type Poster struct {
	url      *url.URL
	format   string
	ctype    string
	r        report.Renderer
	token    string
	ua       string
	attempts int
	backoff  time.Duration
	client   *http.Client
	log      *slog.Logger
	red      *redact.Redactor
}

// New checks the URL and options. Its errors wrap ErrSettings and never quote the URL's path,
// query or user info.
func New(raw string, o Options) (*Poster, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: want an http:// or https:// URL", ErrSettings) // never echo the URL
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: %w", ErrSettings, ErrURLCredentials)
	}
	if o.Token != "" && u.Scheme != "https" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%w: %s: %w", ErrSettings, Redact(u), ErrTokenOverHTTP)
	}
	p := &Poster{url: u, token: o.Token, ua: o.UserAgent, attempts: o.Retries + 1, backoff: o.Backoff, log: o.Log,
		red: redact.New(o.Token)}
	if p.ua == "" {
		p.ua = "dcproxy"
	}
	if p.backoff <= 0 {
		p.backoff = time.Second
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	switch strings.ToLower(o.Format) {
	case "", report.FormatJSON:
		p.format, p.ctype = report.FormatJSON, "application/json"
	case report.FormatMarkdown, "md":
		p.format, p.ctype = report.FormatMarkdown, "text/markdown; charset=utf-8"
	default:
		return nil, fmt.Errorf("%w: format %q: want json or markdown", ErrSettings, o.Format)
	}
	if o.Timeout <= 0 {
		return nil, fmt.Errorf("%w: timeout %s: want a positive duration", ErrSettings, o.Timeout)
	}
	if o.Retries < 0 || o.Retries > 10 {
		return nil, fmt.Errorf("%w: retries %d: want 0..10", ErrSettings, o.Retries)
	}
	p.r, _ = report.New(p.format, report.Options{NewOnly: o.NewOnly})
	p.client = &http.Client{Timeout: o.Timeout, CheckRedirect: refuseRedirect}
	return p, nil
}

// Where is the URL as messages show it: scheme and host, "/..." when there is more.
func (p *Poster) Where() string { return Redact(p.url) }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Redact shows where a report goes without the path and query, which may hold a secret.
func Redact(u *url.URL) string {
	s := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		s += "/..."
	}
	return s
}

// Send posts rep until it is accepted (2xx), refused (another status), the attempts are used up or
// ctx ends. Every attempt carries the same Idempotency-Key so that a receiver can drop a duplicate
// of an attempt whose answer was lost. Errors wrap ErrDelivery.
func (p *Poster) Send(ctx context.Context, rep *fleet.Report) error {
	var body bytes.Buffer
	if err := p.r.Render(&body, rep); err != nil {
		return fmt.Errorf("%w: render %s: %w", ErrDelivery, p.format, err)
	}
	var key [16]byte
	_, _ = crand.Read(key[:])
	idem := hex.EncodeToString(key[:])
	where := p.Where()
	delay := p.backoff
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
			return fmt.Errorf("%w: post to %s: %w (then interrupted)", ErrDelivery, where, last)
		}
	}
	return fmt.Errorf("%w: post to %s: %w", ErrDelivery, where, last)
}

// once makes one attempt. It says whether another attempt may succeed and how long the server
// asked to wait (0: not said).
func (p *Poster) once(ctx context.Context, body []byte, idem string) (retry bool, wait time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url.String(), bytes.NewReader(body))
	if err != nil {
		return false, 0, errors.New("cannot build the request") // its text would quote the URL
	}
	req.Header.Set("Content-Type", p.ctype)
	req.Header.Set("User-Agent", p.ua)
	req.Header.Set("Idempotency-Key", idem)
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		// net/http's error text quotes the URL: keep only the cause, redacted.
		msg := strings.ReplaceAll(err.Error(), p.url.String(), p.Where())
		var ue *url.Error
		if errors.As(err, &ue) && ue.Err != nil {
			msg = ue.Err.Error()
		}
		return ctx.Err() == nil, 0, errors.New(p.serverText(msg))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, 0, nil
	}
	err = fmt.Errorf("HTTP %s", p.serverText(resp.Status))
	if s := strings.TrimSpace(string(snippet)); s != "" && resp.StatusCode >= 400 && resp.StatusCode < 500 {
		err = fmt.Errorf("HTTP %s: %s", p.serverText(resp.Status), p.serverText(s))
	}
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return true, retryAfter(resp.Header.Get("Retry-After")), err
	}
	return false, 0, err
}

// serverText is text a server (or the network) sent back, made safe for a message: the token and
// any authentication header value redacted, one printable ASCII line of at most 200 bytes.
func (p *Poster) serverText(s string) string {
	return oneLineASCII(p.red.String(s), 200)
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date, capped at MaxRetryAfter.
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
	return min(d, MaxRetryAfter)
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
