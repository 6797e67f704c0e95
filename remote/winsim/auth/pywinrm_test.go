package auth

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const python = "/usr/bin/python3"

// pywinrmScript opens and closes a shell with Debian's pywinrm 0.3.0; the
// password comes from the environment so that it never shows in argv or output.
const pywinrmScript = `
import os, sys
from winrm.protocol import Protocol
from winrm.exceptions import InvalidCredentialsError
endpoint, transport, user, encryption = sys.argv[1:5]
p = Protocol(endpoint=endpoint, transport=transport, username=user, message_encryption=encryption,
             password=os.environ["WINRM_TEST_PASSWORD"], server_cert_validation="ignore")
try:
    shell = p.open_shell()
except InvalidCredentialsError:
    print("INVALID_CREDENTIALS")
    sys.exit(0)
print("SHELL " + shell)
p.close_shell(shell)
print("CLOSED")
print("ENCRYPTED" if p.transport.encryption else "PLAIN")
`

func requirePywinrm(t *testing.T) {
	t.Helper()
	cmd := exec.Command(python, "-c", "import winrm")
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-winrm is required in CI: %v\n%s", err, out)
		}
		t.Skipf("python3-winrm not available: %v", err)
	}
}

// pythonEnv is the environment without CA-bundle variables: pywinrm 0.3.0 lets
// REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override server_cert_validation='ignore'.
func pythonEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "REQUESTS_CA_BUNDLE" && k != "CURL_CA_BUNDLE" {
			env = append(env, kv)
		}
	}
	return env
}

func TestPywinrm(t *testing.T) {
	requirePywinrm(t)
	tests := []struct {
		name      string
		policy    func(*Policy)
		transport string
		enc       string
		user      string
		pass      string
		want      []string
		sealed    bool
	}{
		{"ntlm with message encryption over HTTP", func(*Policy) {}, "ntlm", "auto", adminUser, adminPass, []string{"SHELL " + testShell, "CLOSED", "ENCRYPTED"}, true},
		{"ntlm over HTTPS (channel bindings, no encryption)", func(p *Policy) { p.HTTPS = true }, "ntlm", "auto", adminUser, adminPass, []string{"SHELL " + testShell, "CLOSED", "PLAIN"}, false},
		{"basic over HTTPS", func(p *Policy) { p.HTTPS, p.Basic = true, true }, "basic", "auto", adminUser, adminPass, []string{"SHELL " + testShell, "CLOSED", "PLAIN"}, false},
		{"ntlm without encryption over HTTP is refused", func(*Policy) {}, "ntlm", "never", adminUser, adminPass, []string{"INVALID_CREDENTIALS"}, false},
		{"ntlm without encryption over HTTP with AllowUnencrypted", func(p *Policy) { p.AllowUnencrypted = true }, "ntlm", "never", adminUser, adminPass, []string{"SHELL " + testShell, "CLOSED", "PLAIN"}, false},
		{"ntlm wrong password", func(*Policy) {}, "ntlm", "auto", adminUser, "wrong", []string{"INVALID_CREDENTIALS"}, false},
		{"basic disabled", func(p *Policy) { p.HTTPS = true }, "basic", "auto", adminUser, adminPass, []string{"INVALID_CREDENTIALS"}, false},
		{"ntlm AuthFail", func(p *Policy) { p.AuthFail = true }, "ntlm", "auto", adminUser, adminPass, []string{"INVALID_CREDENTIALS"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			tc.policy(&p)
			ts := start(t, p)
			cmd := exec.Command(python, "-c", pywinrmScript, ts.URL+"/wsman", tc.transport, tc.user, tc.enc)
			cmd.Env = append(pythonEnv(), "OPENSSL_CONF=/work/shared/bench/openssl-legacy.cnf", "WINRM_TEST_PASSWORD="+tc.pass)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("pywinrm: %v\n%s", err, out)
			}
			got := strings.Fields(strings.TrimSpace(string(out)))
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("pywinrm printed %q, want %q", out, tc.want)
			}
			calls := ts.rs.snapshot()
			if tc.want[0] == "INVALID_CREDENTIALS" {
				if len(calls) != 0 {
					t.Fatalf("inner handler reached %d times", len(calls))
				}
				return
			}
			if len(calls) != 2 {
				t.Fatalf("inner handler saw %d requests, want 2", len(calls))
			}
			for _, c := range calls {
				if c.id != (Identity{User: adminUser, Admin: true, Sealed: tc.sealed}) {
					t.Errorf("identity %+v", c.id)
				}
			}
		})
	}
}
