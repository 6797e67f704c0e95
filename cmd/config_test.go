package cmd

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// config show prints every key of every section, fix: included, from the merged Config, and what it
// prints loads back to the same configuration.
func TestConfig_showRoundTrip(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("dcproxy.yaml", []byte("concurrency: 20\nfix:\n  write_timeout: 90s\ncredentials:\n  child:\n    user: 'CHILD\\a'\n    password_env: X\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runApp(t, nil, "config", "show")
	if r.code != 0 {
		t.Fatalf("show: %+v", r)
	}
	for key := range keyType() {
		parts := strings.Split(key, ".")
		if !strings.Contains(r.stdout, parts[len(parts)-1]+":") {
			t.Errorf("config show lacks %s:\n%s", key, r.stdout)
		}
	}
	for _, want := range []string{"\nfix:\n", "  write_timeout: 1m30s\n", "concurrency: 20\n", "  child:\n    user: \"CHILD\\\\a\"\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config show lacks %q:\n%s", want, r.stdout)
		}
	}
	if err := os.WriteFile("dcproxy.yaml", []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	r2 := runApp(t, nil, "config", "show")
	if r2.code != 0 || r2.stdout != r.stdout {
		t.Fatalf("show of show differs (exit %d, stderr %q):\n%s\n---\n%s", r2.code, r2.stderr, r.stdout, r2.stdout)
	}
}

// Durations need a unit; every error names where the value came from: file:line, the environment
// variable, or the flag (never "(defaults)").
func TestConfig_errorsNameTheirSource(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		env        map[string]string
		args       []string
		want       string
	}{
		{"unit-less duration in file", "concurrency: 5\ntimeout: 30\n", nil, nil, "dcproxy.yaml:2: timeout: duration 30 has no unit: write 30s"},
		{"unit-less nested duration", "probe:\n  timeout: 15\n", nil, nil, "dcproxy.yaml:2: probe.timeout: duration 15 has no unit"},
		{"fractional unit-less duration", "fix:\n  write_timeout: 1.5\n", nil, nil, "dcproxy.yaml:2: fix.write_timeout: duration 1.5 has no unit"},
		{"not a duration", "retry_backoff: soon\n", nil, nil, `dcproxy.yaml:1: retry_backoff: "soon" is not a duration`},
		{"string for a number", "concurrency: many\n", nil, nil, `dcproxy.yaml:1: concurrency: "many" is not a whole number`},
		{"list for a bool", "https: [true]\n", nil, nil, "dcproxy.yaml:1: https: want true or false"},
		{"bad value in file names its line", "log_level: warn\nconcurrency: 0\n", nil, nil, "dcproxy.yaml:2: concurrency 0: want 1..10000"},
		{"unit-less duration in env", "", map[string]string{"DCPROXY_TIMEOUT": "30"}, nil, "DCPROXY_TIMEOUT=30: duration 30 has no unit: write 30s"},
		{"bad number in env", "", map[string]string{"DCPROXY_CONCURRENCY": "x"}, nil, "DCPROXY_CONCURRENCY=x: concurrency: want a whole number"},
		{"bad value in env", "", map[string]string{"DCPROXY_CONCURRENCY": "0"}, nil, "environment DCPROXY_CONCURRENCY: concurrency 0: want 1..10000"},
		{"env over file is named", "concurrency: 5\n", map[string]string{"DCPROXY_PROBE_URL": "http://x"}, nil, `environment DCPROXY_PROBE_URL: probe.url "http://x"`},
		{"bad value in a flag", "", nil, []string{"--concurrency", "0"}, "flag --concurrency: concurrency 0"},
		{"unit-less duration flag", "", nil, []string{"--timeout", "30"}, "missing unit in duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			if tc.file != "" {
				if err := os.WriteFile("dcproxy.yaml", []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"config", "check"}
			if tc.args != nil {
				args = append([]string{"audit", "-i", "none.yaml"}, tc.args...)
			}
			r := runApp(t, tc.env, args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d stderr %q; want 64 and %q", r.code, r.stderr, tc.want)
			}
			if strings.Contains(r.stderr, "(defaults)") {
				t.Errorf("error blames the defaults: %q", r.stderr)
			}
		})
	}
}

// Every flag bound to a configuration key takes its default from configs/dcproxy.yaml, and every
// key it names exists: defaults are typed once.
func TestConfig_flagDefaultsComeFromTheEmbeddedFile(t *testing.T) {
	a := &app{}
	cmds := []*cobra.Command{a.newAuditCmd(), a.newFixCmd(), a.newRestoreCmd(), a.newDemoCmd()}
	bound := 0
	for _, c := range cmds {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			key, negate := flagConfigKey(f)
			if key == "" {
				return
			}
			bound++
			if _, ok := keyType()[key]; !ok {
				t.Errorf("%s --%s: unknown key %q", c.Name(), f.Name, key)
			}
			want := embedded().GetString(key)
			if negate {
				want = "false"
			}
			if f.Value.Type() == "stringSlice" {
				want = "[" + strings.Join(embedded().GetStringSlice(key), ",") + "]"
			}
			if d, err := parseValue(key, want); err == nil && f.Value.Type() == "duration" {
				want = d.(interface{ String() string }).String()
			}
			if f.DefValue != want {
				t.Errorf("%s --%s: default %q, configs/dcproxy.yaml has %q", c.Name(), f.Name, f.DefValue, want)
			}
		})
	}
	if bound < 20 {
		t.Fatalf("only %d flags are bound to keys", bound)
	}
	// Every key of Config has a default in the embedded file (and no default is orphaned).
	for key := range keyType() {
		if !embedded().IsSet(key) {
			t.Errorf("configs/dcproxy.yaml has no default for %s", key)
		}
	}
}
