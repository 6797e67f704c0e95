package winsim_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote/krb"
	"github.com/dcproxy/dcproxy/remote/krb/krbtest"
	"github.com/dcproxy/dcproxy/remote/winsim"
)

// TestPywinrmKerberos: Debian's python3-winrm with requests-kerberos (and the python3-kerberos shim
// of testdata/pywinrm_kerberos.py) talks Kerberos with message encryption to a simulated DC whose
// keys come from a real MIT KDC's keytab, with AES and RC4 session keys, and runs reg.exe.
func TestPywinrmKerberos(t *testing.T) {
	py := "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import winrm, requests_kerberos, kerberos").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-winrm and python3-requests-kerberos are required on CI: %v %s", err, out)
		}
		t.Skipf("python3-winrm/requests-kerberos not installed: %v", err)
	}
	krbtest.Require(t, "krb5kdc", "kdb5_util", "kadmin.local", "kinit")
	k := krbtest.Start(t, krbtest.Options{RC4: true})
	k.AddUser("auditor", adminPass)
	kt, err := krb.LoadKeytab(k.AddService("HTTP/dc01.lab.test"))
	if err != nil {
		t.Fatal(err)
	}
	acc := krb.NewAcceptor(kt, krb.AcceptorOptions{})
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "testdata", "pywinrm_kerberos.py")
	rc4 := k.ClientConf("arcfour-hmac")
	for _, tc := range []struct {
		name, conf string
		https      bool
	}{{"aes/http", k.Conf, false}, {"rc4/http", rc4, false}, {"aes/https", k.Conf, true}} {
		t.Run(tc.name, func(t *testing.T) {
			cc := k.Kinit("auditor", adminPass, tc.conf)
			h := newHost(t, winsim.Config{Kerberos: acc})
			s := serve(t, h, tc.https)
			scheme := "http"
			if tc.https {
				scheme = "https"
			}
			cmd := exec.Command(py, script, fmt.Sprintf("%s://%s/wsman", scheme, net.JoinHostPort(s.addr, strconv.Itoa(s.port))),
				"auditor@LAB.TEST", "dc01.lab.test",
				`reg query "`+sysKey+`" /v DefaultConnectionSettings`, `reg query "HKU\S-1-5-19\Software\NoSuchKey" /v Missing`)
			cmd.Env = append(pyEnv(), "KRB5_CONFIG="+tc.conf, "KRB5CCNAME=FILE:"+cc)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("pywinrm: %v\n%s", err, out)
			}
			var res struct {
				Encrypted bool `json:"encrypted"`
				Out       []struct {
					Stdout, Stderr string
					Code           int
				} `json:"out"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("pywinrm output: %v\n%s", err, out)
			}
			dec := func(s string) string { b, _ := base64.StdEncoding.DecodeString(s); return string(b) }
			if !res.Encrypted || len(res.Out) != 2 {
				t.Fatalf("result %+v", res)
			}
			if res.Out[0].Code != 0 || !strings.Contains(dec(res.Out[0].Stdout), "DefaultConnectionSettings    REG_BINARY    ") {
				t.Errorf("reg query: %d %q", res.Out[0].Code, dec(res.Out[0].Stdout))
			}
			if res.Out[1].Code != 1 || !strings.HasPrefix(dec(res.Out[1].Stderr), "ERROR: ") {
				t.Errorf("missing value: %d %q", res.Out[1].Code, dec(res.Out[1].Stderr))
			}
			if h.ShellCount() != 0 {
				t.Errorf("%d shells left", h.ShellCount())
			}
		})
	}
}
