package cmd

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/report/post"
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

// End to end: the report is on disk before the post arrives, the exit status is the fleet's when
// delivery works and 70 when it does not, and neither the token nor the password is printed.
func TestPost_CLI(t *testing.T) {
	inv, env := driftLab(t, "127.94.3.1")
	t.Chdir(t.TempDir())
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

// The CLI end to end with a receiver that answers 400 quoting the request headers: exit 70, and
// the token appears nowhere on stdout or stderr.
func TestPost_CLI_echoedTokenNotPrinted(t *testing.T) {
	inv, env := driftLab(t, "127.94.3.9")
	t.Chdir(t.TempDir())
	const token = "tok-Echo-4711-secret"
	env["DCPROXY_POST_TOKEN"] = token
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		for k, v := range r.Header {
			_, _ = io.WriteString(w, k+": "+strings.Join(v, ",")+"\n")
		}
	}))
	defer srv.Close()
	r := runApp(t, env, "audit", "-i", inv, "--timeout", "5s", "--retries", "0", "-o", "r.json", "--post", srv.URL+"/in", "--log-level", "debug")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "HTTP 400") {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, token) || strings.Contains(r.stdout, token) {
		t.Fatalf("token printed: %q", r.stderr)
	}
}

// --post-when: with a baseline the default posts only when a finding is new; changes also posts
// for resolved findings; always posts every run; new without a baseline is a usage error.
func TestPost_when(t *testing.T) {
	inv, env := driftLab(t, "127.94.3.17")
	t.Chdir(t.TempDir())
	h := &hook{statuses: []int{200}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	run := func(args ...string) runResult {
		return runApp(t, env, append([]string{"audit", "-i", inv, "--timeout", "5s", "--retries", "0", "--format", "json", "--post", srv.URL}, args...)...)
	}
	// First run: no baseline file yet, every finding is new: posted.
	if r := run("--baseline", "base.json", "-o", "base.json"); len(h.requests()) != 1 {
		t.Fatalf("first run with findings not posted: exit %d stderr %q", r.code, r.stderr)
	}
	// Same fleet again: nothing new, not posted by default, nor with changes.
	for _, when := range []string{"", "changes"} {
		args := []string{"--baseline", "base.json", "-o", "again.json"}
		if when != "" {
			args = append(args, "--post-when", when)
		}
		if r := run(args...); len(h.requests()) != 1 || !strings.Contains(r.stderr, "not posted: no new") {
			t.Fatalf("--post-when %q: requests %d stderr %q", when, len(h.requests()), r.stderr)
		}
	}
	if run("--baseline", "base.json", "-o", "again.json", "--post-when", "always"); len(h.requests()) != 2 {
		t.Fatalf("always: %d requests", len(h.requests()))
	}
	if r := run("--post-when", "new"); r.code != ExitUsage || !strings.Contains(r.stderr, "--post-when new needs --baseline") {
		t.Fatalf("new without baseline: exit %d stderr %q", r.code, r.stderr)
	}
	if r := run("--post-when", "sometimes"); r.code != ExitUsage {
		t.Fatalf("bad value: exit %d", r.code)
	}
}

// TestPostSettingsHint: the refusals about the bearer token name its variable; others do not.
func TestPostSettingsHint(t *testing.T) {
	for _, tc := range []struct {
		url, token string
		hint       bool
	}{
		{"https://user:pw@tickets.example/hook", "", true},
		{"http://tickets.example/hook", "tok", true},
		{"ftp://tickets.example/hook", "", false},
	} {
		_, err := post.New(tc.url, post.Options{Token: tc.token})
		if err == nil {
			t.Fatalf("%s: accepted", tc.url)
		}
		got := postSettingsHint(err)
		if strings.Contains(got.Error(), envPostToken) != tc.hint || !errors.Is(got, post.ErrSettings) {
			t.Errorf("%s: %v (hint wanted: %v)", tc.url, got, tc.hint)
		}
	}
}
