package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfig_expectedIssuers: the default list, an explicit empty list (no issuer check), a file
// list, the environment, and an empty entry rejected.
func TestConfig_expectedIssuers(t *testing.T) {
	noEnv := func(string) string { return "" }
	cfg, err := loadConfig("", nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Probe.ExpectedIssuers, ",") != "Microsoft,DigiCert" {
		t.Fatalf("default: %q", cfg.Probe.ExpectedIssuers)
	}
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "dcproxy.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err = loadConfig(write("probe:\n  expected_issuers: []\n"), nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Probe.ExpectedIssuers) != 0 {
		t.Fatalf("empty list: %q", cfg.Probe.ExpectedIssuers)
	}
	cfg, err = loadConfig(write("probe:\n  expected_issuers: ['Contoso Root']\n"), nil, noEnv)
	if err != nil || strings.Join(cfg.Probe.ExpectedIssuers, ",") != "Contoso Root" {
		t.Fatalf("file list: %v %q", err, cfg.Probe.ExpectedIssuers)
	}
	cfg, err = loadConfig("", nil, func(k string) string {
		return map[string]string{"DCPROXY_PROBE_EXPECTED_ISSUERS": "Microsoft,Sectigo"}[k]
	})
	if err != nil || strings.Join(cfg.Probe.ExpectedIssuers, ",") != "Microsoft,Sectigo" {
		t.Fatalf("env: %v %q", err, cfg.Probe.ExpectedIssuers)
	}
	if _, err := loadConfig(write("probe:\n  expected_issuers: ['Microsoft', ' ']\n"), nil, noEnv); err == nil || !strings.Contains(err.Error(), "probe.expected_issuers: empty entry") {
		t.Fatalf("empty entry: %v", err)
	}
}
