package post

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
)

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
		{Host: "dc2", Status: fleet.StatusError, Error: &fleet.HostError{Kind: fleet.ErrorKindAuth, Message: "401"}, Checks: []fleet.Check{}},
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
			p, err := New(srv.URL+"/hooks/secret-path?key=abc", Options{Format: tc.format, Timeout: 5 * time.Second, Retries: tc.retries,
				Token: token, UserAgent: "dcproxy/test", Backoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			err = p.Send(context.Background(), testReport())
			reqs := h.requests()
			if len(reqs) != tc.wantReqs {
				t.Errorf("requests = %d, want %d", len(reqs), tc.wantReqs)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("send: %v", err)
				}
			} else {
				if !errors.Is(err, ErrDelivery) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("send error %v, want ErrDelivery with %q", err, tc.wantErr)
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
	p, err := New(url, Options{Timeout: time.Second, Retries: 2, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(context.Background(), testReport()); !errors.Is(err, ErrDelivery) || !strings.Contains(err.Error(), "refused") {
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
	p, err = New(slow.URL, Options{Timeout: 200 * time.Millisecond, Retries: 1, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(context.Background(), testReport()); err != nil {
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
		{"http://tickets.example/hook/SECRET", "tok", "json", "refusing to send the bearer token over plain HTTP"},
		{"https://x.example/h", "", "xml", `format "xml": want json or markdown`},
	} {
		_, err := New(tc.url, Options{Format: tc.format, Timeout: time.Second, Token: tc.token})
		if !errors.Is(err, ErrSettings) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.url, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "pw@")) {
			t.Errorf("%s: error reveals a secret: %v", tc.url, err)
		}
	}
	// Plain HTTP with a token is allowed to a loopback receiver (a local relay).
	if _, err := New("http://127.0.0.1:8080/h", Options{Timeout: time.Second, Token: "tok"}); err != nil {
		t.Errorf("loopback: %v", err)
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
	p, err := New(srv.URL+"/hook", Options{Format: "json", Timeout: 5 * time.Second, Retries: 2, Token: "tok", Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Send(context.Background(), testReport())
	if !errors.Is(err, ErrDelivery) || !strings.Contains(err.Error(), "307") || hits.Load() != 0 {
		t.Fatalf("err %v, redirect target hit %d times", err, hits.Load())
	}
}

// A receiver that refuses the post and quotes the request back (headers included, as some
// webhook frameworks do in their 400 page): the error carries the status and the body, never the
// bearer token, in plain or base64 form.
func TestPost_echoedHeadersAreRedacted(t *testing.T) {
	const token = "tok-Zq81x-secret"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "bad request; you sent:\nAuthorization: %s\nIdempotency-Key: %s\nX-Debug: token=%s\n",
			r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), base64.StdEncoding.EncodeToString([]byte(token)))
	}))
	defer srv.Close()
	p, err := New(srv.URL+"/hook", Options{Timeout: 5 * time.Second, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Send(context.Background(), testReport())
	if !errors.Is(err, ErrDelivery) || !strings.Contains(err.Error(), "HTTP 400 Bad Request: bad request; you sent: Authorization: ***") {
		t.Fatalf("error %v", err)
	}
	for _, leak := range []string{token, base64.StdEncoding.EncodeToString([]byte(token)), "Bearer tok"} {
		if strings.Contains(err.Error(), leak) {
			t.Fatalf("error reveals %q: %v", leak, err)
		}
	}
}
