package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
)

func init() { postBackoff = time.Millisecond }

// hook is a local inbound webhook that answers with the given statuses in turn (the last one
// repeats) and records what it received.
type hook struct {
	mu       sync.Mutex
	statuses []int
	reqs     []hookReq
	onReq    func()
}

type hookReq struct {
	ctype, auth, idem, ua string
	body                  []byte
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if h.onReq != nil {
		h.onReq()
	}
	h.mu.Lock()
	h.reqs = append(h.reqs, hookReq{r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), r.Header.Get("User-Agent"), b})
	st := h.statuses[min(len(h.reqs)-1, len(h.statuses)-1)]
	h.mu.Unlock()
	if r.Method != http.MethodPost {
		st = http.StatusMethodNotAllowed
	}
	w.WriteHeader(st)
	_, _ = io.WriteString(w, http.StatusText(st))
}

func (h *hook) requests() []hookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookReq(nil), h.reqs...)
}

func testReport() *fleet.Report {
	return &fleet.Report{Schema: fleet.Schema, Command: "audit", StartedAt: time.Now(), Hosts: []fleet.HostResult{
		{Host: "dc1", Status: fleet.StatusNoncompliant, Checks: []fleet.Check{{ID: "registry.local_system", Status: fleet.CheckFail, Message: "no value"}}},
		{Host: "dc2", Status: fleet.StatusError, Error: &fleet.HostError{Kind: "auth", Message: "401"}, Checks: []fleet.Check{}},
	}}
}

func TestPost_retries(t *testing.T) {
	const token = "s3cret-token"
	for _, tc := range []struct {
		name     string
		statuses []int
		retries  int
		format   string
		wantReqs int
		wantErr  string // "" = delivered
	}{
		{"accepted at once", []int{201}, 3, "json", 1, ""},
		{"5xx then accepted", []int{503, 502, 200}, 3, "json", 3, ""},
		{"429 and 408 are retried", []int{429, 408, 204}, 3, "markdown", 3, ""},
		{"4xx is not retried", []int{400}, 3, "json", 1, "HTTP 400 Bad Request: Bad Request"},
		{"401 is not retried", []int{401, 200}, 3, "json", 1, "HTTP 401 Unauthorized"},
		{"5xx until the retries are used up", []int{500}, 2, "json", 3, "HTTP 500 Internal Server Error"},
		{"no retries", []int{503, 200}, 0, "json", 1, "HTTP 503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hook{statuses: tc.statuses}
			srv := httptest.NewServer(h)
			defer srv.Close()
			p, err := newPoster(srv.URL+"/hooks/secret-path?key=abc", &outputOptions{postFormat: tc.format, postTimeout: 5 * time.Second, postRetries: tc.retries},
				token, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			err = p.send(context.Background(), testReport())
			reqs := h.requests()
			if len(reqs) != tc.wantReqs {
				t.Errorf("requests = %d, want %d", len(reqs), tc.wantReqs)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("send: %v", err)
				}
			} else {
				if !errors.Is(err, errDelivery) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("send error %v, want errDelivery with %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secret-path") || strings.Contains(err.Error(), "key=abc") || strings.Contains(err.Error(), token) {
					t.Fatalf("error reveals the URL's secret or the token: %v", err)
				}
			}
			for i, r := range reqs {
				if r.auth != "Bearer "+token || r.idem == "" || r.idem != reqs[0].idem || !strings.HasPrefix(r.ua, "dcproxy/") {
					t.Errorf("request %d headers: auth %q idem %q ua %q", i, r.auth, r.idem, r.ua)
				}
				switch tc.format {
				case "json":
					var rep fleet.Report
					if r.ctype != "application/json" || json.Unmarshal(r.body, &rep) != nil || len(rep.Hosts) != 2 {
						t.Errorf("request %d: %q body %.100q", i, r.ctype, r.body)
					}
				case "markdown":
					if r.ctype != "text/markdown; charset=utf-8" || !strings.HasPrefix(string(r.body), "## dcproxy audit: 1 of 2 domain controllers need action") {
						t.Errorf("request %d: %q body %.100q", i, r.ctype, r.body)
					}
				}
			}
		})
	}
}

func TestPost_networkErrorsAndTimeout(t *testing.T) {
	// Nobody listens: every attempt is a network error, retried.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	p, err := newPoster(url, &outputOptions{postTimeout: time.Second, postRetries: 2}, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.send(context.Background(), testReport()); !errors.Is(err, errDelivery) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("closed port: %v", err)
	}

	// A server that does not answer within --post-timeout: each attempt times out, then it answers.
	release := make(chan struct{})
	var n int
	var mu sync.Mutex
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer slow.Close()
	defer close(release)
	p, err = newPoster(slow.URL, &outputOptions{postTimeout: 200 * time.Millisecond, postRetries: 1}, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.send(context.Background(), testReport()); err != nil {
		t.Fatalf("after a timed-out attempt the retry should deliver: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 2 {
		t.Fatalf("attempts = %d, want 2", n)
	}
}

func TestPost_badSettings(t *testing.T) {
	for _, tc := range []struct {
		url, token, format string
		want               string
	}{
		{"ftp://x.example/", "", "json", "want an http:// or https:// URL"},
		{"not a url", "", "json", "want an http:// or https:// URL"},
		{"https://user:pw@x.example/h", "", "json", "credentials in the URL are refused"},
		{"http://tickets.example/hook/SECRET", "tok", "json", "refusing to send DCPROXY_POST_TOKEN over plain HTTP"},
		{"https://x.example/h", "", "xml", `--post-format "xml": want json or markdown`},
	} {
		_, err := newPoster(tc.url, &outputOptions{postFormat: tc.format, postTimeout: time.Second}, tc.token, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.url, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "pw@")) {
			t.Errorf("%s: error reveals a secret: %v", tc.url, err)
		}
	}
	// Plain HTTP with a token is allowed to a loopback receiver (a local relay).
	if _, err := newPoster("http://127.0.0.1:8080/h", &outputOptions{postTimeout: time.Second}, "tok", slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("loopback: %v", err)
	}
}

// End to end: the report is on disk before the post arrives, the exit status is the fleet's when
// delivery works and 70 when it does not, and neither the token nor the password is printed.
func TestPost_CLI(t *testing.T) {
	inv, env := driftLab(t, "127.94.3.1")
	chdir(t, t.TempDir())
	env["DCPROXY_POST_TOKEN"] = "tok-123456"
	out := "report.json"
	var onDisk bool
	h := &hook{statuses: []int{503, 200}}
	h.onReq = func() {
		if _, err := os.Stat(out); err == nil {
			h.mu.Lock()
			onDisk = true
			h.mu.Unlock()
		}
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	r := runApp(t, env, "audit", "-i", inv, "--timeout", "5s", "--retries", "0", "-o", out, "--post", srv.URL+"/inbound")
	if r.code != ExitNoncompliant|ExitHostErrors {
		t.Fatalf("delivered: exit %d stderr %q", r.code, r.stderr)
	}
	h.mu.Lock()
	written := onDisk
	h.mu.Unlock()
	if reqs := h.requests(); len(reqs) != 2 || !written {
		t.Fatalf("requests %d, report on disk before the post: %v", len(reqs), written)
	}

	// The URL from the environment, markdown, and a receiver that refuses: exit 70, report kept.
	bad := &hook{statuses: []int{422}}
	srv2 := httptest.NewServer(bad)
	defer srv2.Close()
	env["DCPROXY_POST_URL"] = srv2.URL + "/hook/SECRETKEY"
	os.Remove(out)
	r = runApp(t, env, "audit", "-i", inv, "--timeout", "5s", "--retries", "0", "-o", out, "--post-format", "markdown")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "report not delivered") || !strings.Contains(r.stderr, "HTTP 422") {
		t.Fatalf("refused: exit %d stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("report not written locally: %v", err)
	}
	if reqs := bad.requests(); len(reqs) != 1 || !strings.HasPrefix(reqs[0].ctype, "text/markdown") {
		t.Fatalf("markdown post: %+v", reqs)
	}
	for _, secret := range []string{"SECRETKEY", "tok-123456", env["DCPROXY_PASSWORD"]} {
		if strings.Contains(r.stderr, secret) || strings.Contains(r.stdout, secret) {
			t.Fatalf("output reveals %q: %q", secret, r.stderr)
		}
	}
}

// TestPost_redirectNotFollowed: a redirect (even to the same host over plain HTTP) is not followed, so
// the token is never re-sent and the report is not re-posted; the post counts as undelivered.
func TestPost_redirectNotFollowed(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	p, err := newPoster(srv.URL+"/hook", &outputOptions{postFormat: "json", postTimeout: 5 * time.Second, postRetries: 2},
		"tok", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	err = p.send(context.Background(), testReport())
	if !errors.Is(err, errDelivery) || !strings.Contains(err.Error(), "307") || hits.Load() != 0 {
		t.Fatalf("err %v, redirect target hit %d times", err, hits.Load())
	}
}
