package cmd

import (
	"os"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/fleet"
)

// The keys of issues 9 and 10 (probe.workspace, probe.cloud, sensor.expect, auth, ntlm,
// keytab_file, realm, kdc) come from the embedded defaults, the file, DCPROXY_* and the flags, in
// that order of precedence.
func TestConfig_sensorAndKerberosKeys(t *testing.T) {
	noEnv := func(string) string { return "" }
	cfg, err := loadConfig("", nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Probe.URL != "" || cfg.Probe.Workspace != "" || cfg.Probe.Cloud != fleet.CloudCommercial || cfg.Sensor.Expect != fleet.ExpectAny ||
		cfg.Auth != "negotiate" || !cfg.NTLM || cfg.KeytabFile != "" || cfg.Realm != "" || len(cfg.KDC) != 0 {
		t.Fatalf("defaults: %+v", cfg)
	}
	t.Chdir(t.TempDir())
	file := "probe:\n  workspace: fabrikam\n  cloud: gcc\nsensor:\n  expect: v3\nauth: kerberos\nntlm: false\nrealm: CORP.EXAMPLE\n" +
		"kdc: [kdc1.corp.example, 'kdc2.corp.example:88']\nkeytab_file: /etc/dcproxy/audit.keytab\n" +
		"credentials:\n  child:\n    user: auditor@CHILD.CORP.EXAMPLE\n    keytab_file: /etc/dcproxy/child.keytab\n"
	if err := os.WriteFile("dcproxy.yaml", []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err = loadConfig("", nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Probe.Workspace != "fabrikam" || cfg.Probe.Cloud != fleet.CloudGCC || cfg.Sensor.Expect != fleet.ExpectV3 || cfg.Auth != "kerberos" || cfg.NTLM ||
		cfg.Realm != "CORP.EXAMPLE" || strings.Join(cfg.KDC, ",") != "kdc1.corp.example,kdc2.corp.example:88" || cfg.KeytabFile != "/etc/dcproxy/audit.keytab" ||
		cfg.Credentials["child"].KeytabFile != "/etc/dcproxy/child.keytab" {
		t.Fatalf("file: %+v", cfg)
	}
	env := map[string]string{"DCPROXY_PROBE_WORKSPACE": "contoso", "DCPROXY_PROBE_CLOUD": "gcc-high", "DCPROXY_SENSOR_EXPECT": "v2",
		"DCPROXY_AUTH": "negotiate", "DCPROXY_NTLM": "true", "DCPROXY_REALM": "LAB.TEST", "DCPROXY_KDC": "a.lab.test,b.lab.test:750", "DCPROXY_KEYTAB_FILE": "/k"}
	cfg, err = loadConfig("", nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Probe.Workspace != "contoso" || cfg.Probe.Cloud != fleet.CloudGCCHigh || cfg.Sensor.Expect != fleet.ExpectV2 || cfg.Auth != "negotiate" || !cfg.NTLM ||
		cfg.Realm != "LAB.TEST" || strings.Join(cfg.KDC, ",") != "a.lab.test,b.lab.test:750" || cfg.KeytabFile != "/k" {
		t.Fatalf("env over file: %+v", cfg)
	}
	fs := flagSet(t, "--probe-workspace", "woodgrove", "--probe-cloud", "commercial", "--sensor-expect", "any", "--no-ntlm",
		"--realm", "CORP.EXAMPLE", "--kdc", "k1.corp.example", "--kdc", "k2.corp.example", "--keytab-file", "/f", "--auth", "kerberos")
	cfg, err = loadConfig("", fs, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Probe.Workspace != "woodgrove" || cfg.Probe.Cloud != fleet.CloudCommercial || cfg.Sensor.Expect != fleet.ExpectAny || cfg.Auth != "kerberos" || cfg.NTLM ||
		cfg.Realm != "CORP.EXAMPLE" || strings.Join(cfg.KDC, ",") != "k1.corp.example,k2.corp.example" || cfg.KeytabFile != "/f" {
		t.Fatalf("flags over env: %+v", cfg)
	}
	// An explicit probe.url still wins over the workspace: the report names it as the target.
	if got := probeTarget(cfg); got != "https://woodgrovesensorapi.atp.azure.com/tri/sensor/api/ping" {
		t.Errorf("probe target %q", got)
	}
	cfg.Probe.URL = "https://proxy-test.corp.example/ping"
	if got := probeTarget(cfg); got != cfg.Probe.URL {
		t.Errorf("probe target with url %q", got)
	}
}

// Errors of the new keys name their source, and the probe URL is checked the way the probe checks it.
func TestConfig_sensorAndKerberosErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"bad cloud", "probe:\n  cloud: azure-china\n", nil, `dcproxy.yaml:2: probe.cloud "azure-china": want commercial, gcc or gcc-high`},
		{"bad workspace", "probe:\n  workspace: 'contoso.atp.azure.com'\n", nil, `dcproxy.yaml:2: probe.workspace "contoso.atp.azure.com": want the workspace name`},
		{"bad workspace in env", "", map[string]string{"DCPROXY_PROBE_WORKSPACE": "-x-"}, `environment DCPROXY_PROBE_WORKSPACE: probe.workspace "-x-"`},
		{"bad expect", "sensor:\n  expect: v4\n", nil, `dcproxy.yaml:2: sensor.expect "v4": want any, v2 or v3`},
		{"unknown sensor key", "sensor:\n  kind: v2\n", nil, `dcproxy.yaml:2: unknown key "sensor.kind"`},
		{"probe url with a quote", "probe:\n  url: \"https://x.example/p'ing\"\n", nil, `dcproxy.yaml:2: probe.url "https://x.example/p'ing": want an https:// URL the probe can request`},
		{"probe url with user info", "probe:\n  url: https://u@x.example/\n", nil, "user info is not allowed"},
		{"probe timeout the probe refuses", "probe:\n  timeout: 11m\n", nil, "dcproxy.yaml:2: probe.timeout 11m0s"},
		{"ntlm off but auth ntlm", "auth: ntlm\nntlm: false\n", nil, "dcproxy.yaml:2: ntlm: false forbids NTLM, but auth is ntlm"},
		{"ntlm not a bool", "ntlm: never\n", nil, `dcproxy.yaml:1: ntlm: "never" is not true or false`},
		{"bad kdc", "kdc: ['kdc1.corp.example:0']\n", nil, `dcproxy.yaml:1: kdc "kdc1.corp.example:0": bad port`},
		{"kdc url", "", map[string]string{"DCPROXY_KDC": "http://kdc"}, `environment DCPROXY_KDC: kdc "http://kdc"`},
		{"kdc not a list", "kdc: kdc1\n", nil, "dcproxy.yaml:1: kdc: want a list"},
		{"bad realm", "realm: 'CORP EXAMPLE'\n", nil, `dcproxy.yaml:1: realm "CORP EXAMPLE"`},
		{"credential without a secret", "credentials:\n  child:\n    user: a\n", nil, "dcproxy.yaml:2: credentials.child: give password_env, password_file or keytab_file"},
		{"credential with both passwords", "credentials:\n  child:\n    user: a\n    password_env: X\n    password_file: /p\n", nil, "credentials.child: give one of password_env and password_file, not both"},
		{"credential unknown key", "credentials:\n  child:\n    user: a\n    ccache: /tmp/x\n", nil, `dcproxy.yaml:4: credential "child": unknown key "ccache" (want user, password_env, password_file, keytab_file)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			if tc.file != "" {
				if err := os.WriteFile("dcproxy.yaml", []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := runApp(t, tc.env, "config", "check")
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d stderr %q; want 64 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
	// A flag error names the flag.
	r := runApp(t, nil, "audit", "-i", "none.yaml", "--probe-cloud", "gov")
	if r.code != ExitUsage || !strings.Contains(r.stderr, `flag --probe-cloud: probe.cloud "gov"`) {
		t.Fatalf("flag: exit %d %q", r.code, r.stderr)
	}
}
