package redact

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHeaderValuesStripped(t *testing.T) {
	r := New()
	cases := map[string]string{
		"Authorization: Basic dXNlcjpwYXNz\r\nHost: dc1":                           "Authorization: ***\r\nHost: dc1",
		`{"Authorization": "Bearer abc.def-ghi", "x": 1}`:                          `{"Authorization": "***", "x": 1}`,
		"WWW-Authenticate: Negotiate TlRMTVNTUAACAAAA\nnext":                       "WWW-Authenticate: ***\nnext",
		"proxy-authorization=NTLM TlRMTVNTUAADAAAA":                                "proxy-authorization=***",
		"<h:Authorization>Kerberos YIIFyQYJKoZIhvcSAQICAQBuggW4</h:Authorization>": "<h:Authorization>Kerberos ***</h:Authorization>",
		"the server sent Negotiate TlRMTVNTUAACAAAADAAMADgAAAA1gomi and quit":      "the server sent Negotiate *** and quit",
		"Basic authentication is disabled on this listener":                        "Basic authentication is disabled on this listener",
		"Negotiate failed; Kerberos unavailable":                                   "Negotiate failed; Kerberos unavailable",
		"bearer token abcd1234efgh5678 rejected":                                   "bearer token abcd1234efgh5678 rejected",
		"Bearer abcd1234efgh5678 rejected":                                         "Bearer *** rejected",
		"The WinRM client cannot process the request. Authorization failed.":       "The WinRM client cannot process the request. Authorization failed.",
	}
	for in, want := range cases {
		if got := r.String(in); got != want {
			t.Errorf("String(%q)\n got %q\nwant %q", in, got, want)
		}
	}
	// A nil Redactor still strips headers.
	var nilR *Redactor
	if got := nilR.String("Authorization: Basic Zm9vOmJhcg=="); got != "Authorization: ***" {
		t.Errorf("nil redactor: %q", got)
	}
}

func TestStrongSecretAndBase64Forms(t *testing.T) {
	const user, pw = `CORP\svc`, "S3cr3t!pa?ss>"
	r := New(pw, Basic(user, pw))
	forms := []string{
		pw,
		base64.StdEncoding.EncodeToString([]byte(pw)),
		base64.URLEncoding.EncodeToString([]byte(pw)),
		base64.RawURLEncoding.EncodeToString([]byte(pw)),
		base64.StdEncoding.EncodeToString([]byte(user + ":" + pw)),
	}
	for _, f := range forms {
		in := "fault: the request carried x" + f + "y in a header"
		got := r.String(in)
		if strings.Contains(got, f) || !strings.Contains(got, Mask) {
			t.Errorf("form %q survived: %q", f, got)
		}
		if !strings.HasPrefix(got, "fault: the request carried") || !strings.HasSuffix(got, "in a header") {
			t.Errorf("surrounding text damaged: %q", got)
		}
	}
}

// A weak password that is an ordinary word must neither mangle prose nor reveal itself.
func TestWeakSecretLeavesProse(t *testing.T) {
	r := New("verify")
	prose := []string{
		"failed to verify certificate",
		"x509: certificate could not verify; verifying again",
		"Verify the listener",
		"unverify", // part of a word
	}
	for _, in := range prose {
		if got := r.String(in); got != in {
			t.Errorf("String(%q) = %q, prose must be left alone", in, got)
		}
	}
	echoes := map[string]string{
		"password=verify&user=bob":            "password=***&user=bob",
		`{"user":"bob","password": "verify"}`: `{"user":"bob","password": "***"}`,
		"login failed: pwd verify refused":    "login failed: pwd *** refused",
		"token: 'verify'":                     "token: '***'",
		"q=verify":                            "q=***",
	}
	for in, want := range echoes {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShortDigitSecret(t *testing.T) {
	r := New("1234")
	for _, in := range []string{"HTTP 1234 error", "code 12345", "port 51234"} {
		if got := r.String(in); got != in {
			t.Errorf("String(%q) = %q", in, got)
		}
	}
	if got := r.String("pin=1234"); got != "pin=***" {
		t.Errorf("got %q", got)
	}
}

func TestStrongSecretInsideWord(t *testing.T) {
	r := New("Tr0ub4dor&3")
	got := r.String("xxTr0ub4dor&3yy")
	if got != "xx***yy" {
		t.Errorf("got %q", got)
	}
}

func TestExcerpt(t *testing.T) {
	if got := Excerpt("  a\r\n\tb   c  ", 10); got != "a b c" {
		t.Errorf("got %q", got)
	}
	long := strings.Repeat("é", 500)
	got := Excerpt(long, 300)
	if !utf8.ValidString(got) || utf8.RuneCountInString(got) != 301 || !strings.HasSuffix(got, "…") {
		t.Errorf("bad cut: %d runes", utf8.RuneCountInString(got))
	}
	if got := Excerpt("abc\x00\x1bdef", 0); got != "abcdef" {
		t.Errorf("controls: %q", got)
	}
	if got := Excerpt("exactly10!", 10); got != "exactly10!" {
		t.Errorf("got %q", got)
	}
	r := New("S3cr3t!pa?ss")
	if got := r.Excerpt("Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte("u:S3cr3t!pa?ss"))+"\nS3cr3t!pa?ss", 300); strings.Contains(got, "S3cr3t") || strings.Contains(got, "dTpTM2") {
		t.Errorf("leak: %q", got)
	}
}

func TestErrorKeepsChain(t *testing.T) {
	r := New("S3cr3t!pa?ss")
	base := fmt.Errorf("reply: password=S3cr3t!pa?ss: %w", io.ErrUnexpectedEOF)
	err := r.Error(base)
	if strings.Contains(err.Error(), "S3cr3t") || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %v", err)
	}
	clean := errors.New("nothing here")
	if r.Error(clean) != clean {
		t.Error("clean error must be returned unchanged")
	}
	if r.Error(nil) != nil {
		t.Error("nil")
	}
}

func FuzzRedactorNeverLeaks(f *testing.F) {
	f.Add("Zx9!kkkkkk", "failed to verify certificate Zx9!kkkkkk")
	f.Add("verify", "password=verify")
	f.Fuzz(func(t *testing.T, secret, text string) {
		if !utf8.ValidString(secret) || !utf8.ValidString(text) {
			return
		}
		r := New(secret)
		got := r.String(text)
		// A strong secret never survives (unless it contains the mask's characters, which
		// replacing could form again).
		if isStrong(secret) && !strings.Contains(secret, "*") && strings.Contains(got, secret) {
			t.Errorf("strong secret %q survived in %q -> %q", secret, text, got)
		}
		_ = Excerpt(got, 50)
	})
}
