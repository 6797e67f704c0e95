package probe

import (
	"errors"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(`[{"id":"CURRENT_USER","status":503,"error":"ProtocolError","message":"x","route":"direct","tls":true,"subject":"CN=a","issuer":"CN=b \u0026 c","ms":1},{"id":"LOCAL_SYSTEM","status":200,"error":"","message":"","route":"proxy p:8080","tls":false,"subject":"","issuer":"","ms":2},{"id":"LOCAL_SERVICE","status":0,"error":"Timeout","message":"The operation has timed out","route":"direct","tls":false,"subject":"","issuer":"","ms":10000}]` + "\r\n"))
	f.Add([]byte(`[]`))
	f.Add([]byte("\xef\xbb\xbf[{}]"))
	f.Add([]byte(`#< CLIXML`))
	c := configs["three_accounts"]
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := Parse(b, c)
		if err != nil {
			if !errors.Is(err, ErrBadOutput) {
				t.Fatalf("error does not wrap ErrBadOutput: %v", err)
			}
			return
		}
		if len(res) != len(c.Routes) {
			t.Fatalf("%d results for %d routes", len(res), len(c.Routes))
		}
		for i, r := range res {
			if r.ID != c.Routes[i].ID {
				t.Fatalf("result %d is %s, want %s", i, r.ID, c.Routes[i].ID)
			}
		}
	})
}

func FuzzExtract(f *testing.F) {
	for _, c := range configs {
		s, _ := Script(c)
		f.Add(s)
	}
	f.Add("Get-Date")
	f.Add(scriptHead + dataPrefix + `{"url":"https://a","timeoutMs":1,"routes":[]}` + dataSuffix + scriptBody)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Extract(s)
		if err != nil {
			if !errors.Is(err, ErrNotProbe) {
				t.Fatalf("error does not wrap ErrNotProbe: %v", err)
			}
			return
		}
		again, err := Script(c)
		if err != nil || again != s {
			t.Fatalf("Extract accepted a text Script does not reproduce: %v", err)
		}
		if c.Timeout <= 0 || c.Timeout%time.Millisecond != 0 {
			t.Fatalf("bad timeout %v", c.Timeout)
		}
	})
}
