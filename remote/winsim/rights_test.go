package winsim_test

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/winrmclient"
	"github.com/dcproxy/dcproxy/remote/winsim"
)

// TestRightsRefusals: an account that logs on but is not an administrator, audited with dcproxy's
// client, gets each form of fidelity D2 as the host is configured, in English and German: the two
// faults over sealed NTLM are "rights" (never ErrAuth), Basic over HTTPS is a 401 ("auth", the
// message says it may be rights). No shell is created.
func TestRightsRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, form, locale, auth string
		https                    bool
		kind                     string
		want                     []string
	}{
		{"code 5", "", "en-US", remote.AuthNTLM, false, "rights", []string{"wsman fault 5 (w:AccessDenied): Access is denied."}},
		{"code 5 German", winsim.RightsAccessDenied, "de-DE", remote.AuthNTLM, false, "rights", []string{"wsman fault 5 (w:AccessDenied): Zugriff verweigert"}},
		{"internal error", winsim.RightsInternalError, "en-US", remote.AuthNTLM, false, "rights",
			[]string{"wsman fault 2147942405 (w:InternalError): Access is denied.", "[provider Shell cmd plugin]"}},
		{"internal error German", winsim.RightsInternalError, "de-DE", remote.AuthNTLM, true, "rights",
			[]string{"wsman fault 2147942405 (w:InternalError): Zugriff verweigert"}},
		{"basic", winsim.RightsInternalError, "en-US", remote.AuthBasic, true, "auth", []string{"401", "lacks the rights"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, winsim.Config{Basic: true, RightsRefusal: tc.form, Locale: tc.locale})
			s := serve(t, h, tc.https)
			u, _ := url.Parse(s.ts.URL)
			port, _ := strconv.Atoi(u.Port())
			tg := remote.Target{Host: u.Hostname(), Port: port, HTTPS: tc.https, InsecureSkipVerify: true,
				Auth: tc.auth, User: `LAB\reader`, Password: "x", Timeout: 5 * time.Second}
			tg.SetDefaults()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := winrmclient.Dialer{}.Dial(ctx, tg)
			if err == nil {
				_ = r.Close(ctx)
				t.Fatal("a non-admin got a shell")
			}
			if k := remote.Kind(err); k != tc.kind {
				t.Errorf("kind %q, want %q: %v", k, tc.kind, err)
			}
			if tc.kind == "rights" && (errors.Is(err, remote.ErrAuth) || !strings.Contains(err.Error(), "lacks the rights")) {
				t.Errorf("rights refusal reported as %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not contain %q", err, w)
				}
			}
			if h.ShellCount() != 0 {
				t.Errorf("%d shells", h.ShellCount())
			}
		})
	}
	if _, err := winsim.NewHost(winsim.Config{Name: "dc01.lab.test", Accounts: []winsim.Account{{User: `LAB\a`}}, RightsRefusal: "denied"}); err == nil ||
		!strings.Contains(err.Error(), `rights refusal "denied"`) {
		t.Errorf("unknown form accepted: %v", err)
	}
}
