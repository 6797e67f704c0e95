package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

type runResult struct {
	code           int
	stdout, stderr string
}

// runApp runs dcproxy in-process with the given environment (nothing else leaks in) and no terminal.
func runApp(t *testing.T, env map[string]string, args ...string) runResult {
	t.Helper()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	var out, errb bytes.Buffer
	a := &app{ctx: context.Background(), stdin: devnull, stdout: &out, stderr: &errb,
		env: func(k string) string { return env[k] }}
	code := a.run(args)
	return runResult{code, out.String(), errb.String()}
}

// chdir is t.Chdir (kept for tests written before it).
func chdir(t *testing.T, dir string) { t.Helper(); t.Chdir(dir) }

func TestConfig_precedence(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	// embedded default
	r := runApp(t, nil, "config", "show")
	if r.code != 0 || !strings.Contains(r.stdout, "concurrency: 50\n") || !strings.Contains(r.stdout, "# source: (defaults)") {
		t.Fatalf("defaults: %+v", r)
	}
	// file over default
	if err := os.WriteFile("dcproxy.yaml", []byte("concurrency: 20\nprobe:\n  accept: [200]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runApp(t, nil, "config", "show")
	if !strings.Contains(r.stdout, "concurrency: 20\n") || !strings.Contains(r.stdout, "accept: [200]") || !strings.Contains(r.stdout, "timeout: 1m0s") {
		t.Fatalf("file: %+v", r)
	}
	// env over file
	r = runApp(t, map[string]string{"DCPROXY_CONCURRENCY": "7", "DCPROXY_PROBE_URL": "https://x.example/ping"}, "config", "show")
	if !strings.Contains(r.stdout, "concurrency: 7\n") || !strings.Contains(r.stdout, `url: "https://x.example/ping"`) {
		t.Fatalf("env: %+v", r)
	}
	// flag over env: a flag value reaches the audit's configuration.
	cfg, err := loadConfig("", flagSet(t, "--concurrency", "3"), func(k string) string {
		return map[string]string{"DCPROXY_CONCURRENCY": "7"}[k]
	})
	if err != nil || cfg.Concurrency != 3 {
		t.Fatalf("flag: %v %+v", err, cfg)
	}
	// an unset flag does not override the file
	cfg, err = loadConfig("", flagSet(t), func(string) string { return "" })
	if err != nil || cfg.Concurrency != 20 {
		t.Fatalf("unset flag: %v %+v", err, cfg)
	}
}

func flagSet(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	c := (&app{}).newAuditCmd()
	if err := c.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return c.Flags()
}

func TestConfig_errors(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"unknown key", "concurency: 5\n", `dcproxy.yaml:1: unknown key "concurency"`},
		{"unknown nested key", "probe:\n  urls: x\n", `dcproxy.yaml:2: unknown key "probe.urls"`},
		{"password in file", "user: a\npassword: hunter2\n", "dcproxy.yaml:2: passwords are not configuration"},
		{"credential password", "credentials:\n  child:\n    user: 'C\\u'\n    password: x\n", `dcproxy.yaml:4: credential "child": passwords are not configuration`},
		{"bad value", "concurrency: 0\n", "concurrency 0: want 1..10000"},
		{"bad auth", "auth: sspi\n", `dcproxy.yaml:1: auth "sspi": want negotiate, kerberos, ntlm or basic`},
		{"basic over http", "auth: basic\n", "auth basic over plain HTTP"},
		{"bad probe url", "probe:\n  url: http://x\n", "want an https:// URL"},
		{"declared without proxy", "reference:\n  source: declared\n", "reference.source declared needs"},
		{"not yaml", "concurrency: [\n", "dcproxy.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			if err := os.WriteFile("dcproxy.yaml", []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			r := runApp(t, map[string]string{"DCPROXY_PASSWORD": "hunter2"}, "config", "check")
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 64 and %q", r.code, r.stderr, tc.want)
			}
			if strings.Contains(r.stderr, "hunter2") {
				t.Fatalf("password in error: %q", r.stderr)
			}
		})
	}
}

func TestConfig_showHasNoSecret(t *testing.T) {
	t.Chdir(t.TempDir())
	r := runApp(t, map[string]string{"DCPROXY_PASSWORD": "hunter2", "DCPROXY_USER": `LAB\x`}, "config", "show")
	if r.code != 0 || strings.Contains(r.stdout, "hunter2") || !strings.Contains(r.stdout, `user: "LAB\\x"`) {
		t.Fatalf("%+v", r)
	}
}

// startLab serves a generated fleet on free ports and writes its files into a directory.
func startLab(t *testing.T, n int, first string) (string, *lab.Lab) {
	t.Helper()
	spec, _ := lab.Generate(n, 1)
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr(first), PSStart: 10 * time.Millisecond, ProbeTime: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	dir := t.TempDir()
	if err := writeLabFiles(l, dir); err != nil {
		t.Fatal(err)
	}
	return dir, l
}

// labEnv reads lab.env the way `. lab.env` would.
func labEnv(t *testing.T, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, lab.EnvFile))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if ok && !strings.HasPrefix(line, "#") {
			env[k] = strings.Trim(v, "'")
		}
	}
	return env
}

func TestAuditCLI_againstLab(t *testing.T) {
	dir, l := startLab(t, 9, "127.93.0.1")
	env := labEnv(t, dir)
	if env["DCPROXY_USER"] != lab.GenUser || env["DCPROXY_PASSWORD"] != lab.GenPassword {
		t.Fatalf("lab.env: %v", env)
	}
	t.Chdir(t.TempDir())
	out := filepath.Join(t.TempDir(), "report.json")
	r := runApp(t, env, "audit", "-i", filepath.Join(dir, "inventory.yaml"), "--timeout", "3s", "--retries", "0", "-o", out)
	if r.code != ExitNoncompliant|ExitHostErrors {
		t.Fatalf("exit %d (stderr %q)", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Fatalf("stdout with -o: %q", r.stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep fleet.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Schema != fleet.Schema || len(rep.Hosts) != len(l.Members) {
		t.Fatalf("report: schema %q, %d hosts", rep.Schema, len(rep.Hosts))
	}
	for i, m := range l.Members {
		if rep.Hosts[i].Host != m.Spec.Name {
			t.Fatalf("host %d is %s, want %s", i, rep.Hosts[i].Host, m.Spec.Name)
		}
	}
	if strings.Contains(string(b), lab.GenPassword) || strings.Contains(r.stderr, lab.GenPassword) {
		t.Fatal("password in report or logs")
	}
	// --limit narrows the run to matching hosts; a healthy host alone exits 0.
	r = runApp(t, env, "audit", "-i", dir, "--limit", "dc01*", "--format", "json")
	if r.code != ExitOK || !strings.Contains(r.stdout, `"host": "dc01.lab.test"`) || strings.Contains(r.stdout, "dc02") {
		t.Fatalf("limit: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestAuditCLI_usageErrors(t *testing.T) {
	dir, _ := startLab(t, 1, "127.93.1.1")
	inv := filepath.Join(dir, "inventory.yaml")
	t.Chdir(t.TempDir())
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(lab.GenPassword+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no inventory", map[string]string{"DCPROXY_USER": "u", "DCPROXY_PASSWORD": "p"}, nil, "no inventory"},
		{"missing inventory", map[string]string{"DCPROXY_USER": "u", "DCPROXY_PASSWORD": "p"}, []string{"-i", "nope.yaml"}, "nope.yaml"},
		{"no user", map[string]string{"DCPROXY_PASSWORD": "p"}, []string{"-i", inv}, "no user"},
		{"no password", map[string]string{"DCPROXY_USER": "u"}, []string{"-i", inv}, "no password for u"},
		{"readable password file", map[string]string{"DCPROXY_USER": "u"}, []string{"-i", inv, "--password-file", pwFile}, "lets group or others read it"},
		{"unknown flag", nil, []string{"-i", inv, "--password", "x"}, "unknown flag: --password"},
		{"bad format", map[string]string{"DCPROXY_USER": "u", "DCPROXY_PASSWORD": "p"}, []string{"-i", inv, "--format", "yaml"}, `format "yaml"`},
		{"limit matches nothing", map[string]string{"DCPROXY_USER": "u", "DCPROXY_PASSWORD": "p"}, []string{"-i", inv, "--limit", "zz*"}, "matches no host"},
		{"basic over http", map[string]string{"DCPROXY_USER": "u", "DCPROXY_PASSWORD": "p"}, []string{"-i", inv, "--auth", "basic"}, "auth basic over plain HTTP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runApp(t, tc.env, append([]string{"audit"}, tc.args...)...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d stderr %q; want 64 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
	// A private password file works.
	if err := os.Chmod(pwFile, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runApp(t, map[string]string{"DCPROXY_USER": lab.GenUser}, "audit", "-i", inv, "--password-file", pwFile, "--format", "json", "--probe-workspace", lab.DefaultWorkspace)
	if r.code != ExitOK {
		t.Fatalf("password file: exit %d stderr %q", r.code, r.stderr)
	}
}

func authEverywhere(n int) *fleet.Report {
	rep := &fleet.Report{}
	for i := 0; i < n; i++ {
		rep.Hosts = append(rep.Hosts, fleet.HostResult{Host: fmt.Sprint("dc", i), Status: fleet.StatusError, Error: &fleet.HostError{Kind: fleet.ErrorKindAuth, Message: "401"}})
	}
	return rep
}

func TestExitCode(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	report := func(statuses ...fleet.HostStatus) *fleet.Report {
		rep := &fleet.Report{}
		for _, s := range statuses {
			rep.Hosts = append(rep.Hosts, fleet.HostResult{Status: s})
		}
		return rep
	}
	// A 400 from a webhook whose body happens to contain cobra's phrases ("accepts", "invalid
	// argument"): the run failed to deliver, it is not a usage error.
	webhook400 := fmt.Errorf("%w: post to https://hooks.example/...: HTTP 400 Bad Request: field 'text' accepts at most 4000 characters", errDelivery)
	for _, tc := range []struct {
		name        string
		ctx         context.Context
		err         error
		rep         *fleet.Report
		interrupted bool
		want        int
	}{
		{"no report", nil, nil, nil, false, ExitOK},
		{"compliant", nil, nil, report(fleet.StatusCompliant), false, ExitOK},
		{"noncompliant", nil, nil, report(fleet.StatusCompliant, fleet.StatusNoncompliant), false, ExitNoncompliant},
		{"host error", nil, nil, report(fleet.StatusError, fleet.StatusCompliant), false, ExitHostErrors},
		{"both", nil, nil, report(fleet.StatusError, fleet.StatusNoncompliant), false, ExitNoncompliant | ExitHostErrors},
		{"password refused everywhere", nil, nil, authEverywhere(3), false, ExitFleetWide},
		{"one host refused", nil, nil, authEverywhere(1), false, ExitHostErrors},
		{"usage error", nil, usageErr("--limit %q: bad pattern", "["), nil, false, ExitUsage},
		{"wrapped usage error", nil, fmt.Errorf("audit: %w", usageErr("x")), nil, false, ExitUsage},
		{"usage error joined with a write error", nil, errors.Join(errors.New("write a: disk full"), usageErr("x")), nil, false, ExitUsage},
		{"cobra unknown command", nil, errors.New(`unknown command "audti" for "dcproxy"`), nil, false, ExitUsage},
		{"write failed with EINVAL", nil, &os.PathError{Op: "write", Path: "report.json", Err: syscall.EINVAL}, report(fleet.StatusCompliant), false, ExitFailure},
		{"write error text", nil, errors.New("write report.json: invalid argument"), nil, false, ExitFailure},
		{"webhook 400 quoting accepts", nil, webhook400, report(fleet.StatusCompliant), false, ExitFailure},
		{"text that only looks like cobra's", nil, errors.New("server: requires at least TLS 1.2; unknown flag: x"), nil, false, ExitFailure},
		{"interrupted audit", nil, nil, report(fleet.StatusCompliant, fleet.StatusError), true, ExitInterrupted},
		{"canceled error after Ctrl-C", canceled, fmt.Errorf("demo: %w", context.Canceled), nil, false, ExitInterrupted},
		{"canceled error without Ctrl-C", context.Background(), fmt.Errorf("x: %w", context.Canceled), nil, false, ExitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			a := &app{ctx: tc.ctx, stderr: &stderr, report: tc.rep, interrupted: tc.interrupted}
			if got := a.exitCode(tc.err); got != tc.want {
				t.Errorf("exit %d, want %d (stderr %q)", got, tc.want, stderr.String())
			}
			if tc.err != nil && !strings.Contains(stderr.String(), tc.err.Error()) {
				t.Errorf("stderr %q lacks the error", stderr.String())
			}
		})
	}
}

// Cobra's own usage errors reach exitCode as UsageErrors (flags, arguments) or as the one text match
// kept (an unknown command); a mistyped flag names the closest one.
func TestUsageErrors_fromCobra(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audti"}, `unknown command "audti"`},
		{[]string{"audit", "extra"}, `unknown command "extra" for "dcproxy audit"`},
		{[]string{"decode"}, "requires at least 1 arg"},
		{[]string{"audit", "--inventroy", "x"}, "did you mean --inventory?"},
		{[]string{"audit", "--concurency=3"}, "did you mean --concurrency?"},
		{[]string{"audit", "-limit", "x"}, "did you mean --limit?"},
		{[]string{"fix", "--aply"}, "did you mean --apply?"},
		{[]string{"audit", "--timeout"}, "flag needs an argument"},
		{[]string{"audit", "--retries", "many"}, "invalid argument"},
		{[]string{"lab", "--hosts", "2", "--fleet", "f.yaml", "--out", "x"}, "not both"},
	} {
		r := runApp(t, nil, tc.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d stderr %q; want 64 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if r := runApp(t, nil, "audit", "--zzzzzz"); strings.Contains(r.stderr, "did you mean") {
		t.Errorf("suggestion for a flag that resembles none: %q", r.stderr)
	}
}

func TestDecodeCommand(t *testing.T) {
	r := runApp(t, nil, "decode", "46000000050000000300000016000000", "70726F78792E6578616D706C652E636F6D3A38303830070000003C6C6F63616C3E00000000")
	if r.code != 0 || !strings.Contains(r.stdout, "proxy.example.com:8080") || !strings.Contains(r.stdout, "<local>") {
		t.Fatalf("%+v", r)
	}
	r = runApp(t, nil, "decode", "zz")
	if r.code != ExitUsage {
		t.Fatalf("bad hex: %+v", r)
	}
}

// The demo's default fleet (lab.DemoHosts) shows every sensor kind and every route source the
// verdict can follow, probed against the fleet's workspace (no "workspace is unknown"), and a
// smaller fleet still works.
func TestDemo(t *testing.T) {
	r := runApp(t, nil, "demo", "--format", "json")
	if r.code != ExitNoncompliant|ExitHostErrors {
		t.Fatalf("demo exit %d stderr %q", r.code, r.stderr)
	}
	var rep fleet.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Hosts) != lab.DemoHosts {
		t.Fatalf("demo: %d hosts, want %d", len(rep.Hosts), lab.DemoHosts)
	}
	kinds, routes := map[string]bool{}, map[string]bool{}
	for _, h := range rep.Hosts {
		if h.Sensor != nil {
			kinds[h.Sensor.Kind] = true
		}
		if h.Route != nil {
			routes[h.Route.Source] = true
		}
		for _, c := range h.Checks {
			if strings.Contains(c.Message, "workspace is unknown") {
				t.Errorf("%s: %s: %s", h.Host, c.ID, c.Message)
			}
		}
	}
	for _, k := range []string{fleet.SensorNone, fleet.SensorV2, fleet.SensorV3, fleet.SensorMigrated} {
		if !kinds[k] {
			t.Errorf("no host of sensor kind %s (kinds %v)", k, kinds)
		}
	}
	for _, s := range []string{"wininet", "sensor-json", "mde-static"} {
		if !routes[s] {
			t.Errorf("no host whose route is %s (routes %v)", s, routes)
		}
	}
	if strings.Contains(r.stderr, "no probe.workspace") {
		t.Errorf("the demo warns about the workspace: %s", r.stderr)
	}
	r = runApp(t, nil, "demo", "--hosts", "5", "--format", "json")
	rep = fleet.Report{}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != ExitNoncompliant {
		t.Fatalf("demo --hosts 5: exit %d %v %s", r.code, err, r.stderr)
	}
	if len(rep.Hosts) != 5 || rep.Hosts[0].Status != fleet.StatusCompliant {
		t.Fatalf("demo report %+v", rep.Summary)
	}
}
