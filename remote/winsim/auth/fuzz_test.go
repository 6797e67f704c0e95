package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote/ntlm"
)

// FuzzHandler feeds arbitrary Authorization headers, content types and bodies to
// the middleware on a connection that is already NTLM-authenticated with a known
// session key (so sealed frames reach ntlm.Open) and checks that every answer is
// one Windows gives.
func FuzzHandler(f *testing.F) {
	key := bytes.Repeat([]byte{5}, 16)
	const flags = 0xE28A8235
	cli, _ := ntlm.NewSession(ntlm.ClientSide, key, flags)
	f.Add("", ntlm.EncryptedContentType, ntlm.Seal(cli, []byte(soapBody)))
	f.Add("", "application/soap+xml;charset=UTF-8", []byte(soapBody))
	f.Add("Negotiate TlRMTVNTUAABAAAAMYCI4AAAAAAoAAAAAAAAACgAAAAGAbEdAAAADw==", "", []byte(nil))
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte(adminUser+":"+adminPass)), "application/soap+xml;charset=UTF-8", []byte(soapBody))
	f.Add("Negotiate TlRMTVNTUAADAAAA", "", []byte{})
	p := basePolicy()
	p.Basic, p.HTTPS = true, true
	h := p.Wrap(&responder{})
	f.Fuzz(func(t *testing.T, authz, contentType string, body []byte) {
		srv, err := ntlm.NewSession(ntlm.ServerSide, key, flags)
		if err != nil {
			t.Fatal(err)
		}
		st := &connState{session: srv, ident: &Identity{User: adminUser, Admin: true}}
		req := httptest.NewRequest(http.MethodPost, "/wsman", bytes.NewReader(body))
		req = req.WithContext(context.WithValue(req.Context(), connKey{}, st))
		if authz != "" {
			req.Header["Authorization"] = []string{authz}
		}
		if contentType != "" {
			req.Header["Content-Type"] = []string{contentType}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 500:
		case 400, 401, 413:
			if rec.Body.Len() != 0 {
				t.Fatalf("%d with a body", rec.Code)
			}
			if rec.Code == 401 && len(rec.Header().Values("WWW-Authenticate")) == 0 {
				t.Fatal("401 without WWW-Authenticate")
			}
		default:
			t.Fatalf("unexpected status %d", rec.Code)
		}
		if strings.Contains(rec.Body.String(), adminPass) || strings.Contains(strings.Join(rec.Header().Values("WWW-Authenticate"), ""), adminPass) {
			t.Fatal("password in response")
		}
	})
}
