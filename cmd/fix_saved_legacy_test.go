package cmd

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

const savedLegacyFleet = `
defaults:
  user: 'LAB\auditor'
  password: 'Lab-Passw0rd!'
  registry:
    current_user: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
    current_user_legacy: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 4}
    local_system: absent
    local_service: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
  network: {direct: false, proxies: {'proxy.lab.test:8080': ok}}
hosts:
  - name: dc01.lab.test
  - name: dc02.lab.test
    registry: {current_user_legacy: absent}
`

// TestFixCLI_savedLegacy: --saved-legacy-settings plans and writes SavedLegacySettings, the config
// key does the same, restore (without the flag) puts both values back; without it none is planned.
func TestFixCLI_savedLegacy(t *testing.T) {
	spec, err := lab.ParseSpec([]byte(savedLegacyFleet))
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.97.2.1"), PSStart: 10 * time.Millisecond, ProbeTime: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	dir := t.TempDir()
	if err := writeLabFiles(l, dir); err != nil {
		t.Fatal(err)
	}
	env := labEnv(t, dir)
	work := t.TempDir()
	t.Chdir(work)
	before := labRegistries(l)
	common := []string{"-i", filepath.Join(dir, "inventory.yaml"), "--timeout", "5s", "--retries", "0", "--backup", filepath.Join(work, "backups.jsonl"), "--format", "json"}

	// Without the option: nothing about SavedLegacySettings.
	r := runApp(t, env, append([]string{"fix"}, common...)...)
	if r.code != ExitNoncompliant || strings.Contains(r.stderr+r.stdout, fleet.SavedLegacyValue) {
		t.Fatalf("plain dry run: exit %d\n%s", r.code, r.stderr)
	}

	// Dry run with the flag: the write on dc01, the notice on dc02.
	r = runApp(t, env, append([]string{"fix", "--saved-legacy-settings"}, common...)...)
	if r.code != ExitNoncompliant {
		t.Fatalf("dry run: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		`dc01.lab.test  LOCAL_SYSTEM   HKU\S-1-5-18\…\SavedLegacySettings        absent -> proxy.lab.test:8080 bypass <local>`,
		`dc02.lab.test  LOCAL_SYSTEM  SavedLegacySettings left alone: the reference (HKCU of the connecting account) has no SavedLegacySettings`,
		"--apply writes 4 values on 2 hosts",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("dry run plan lacks %q:\n%s", want, r.stderr)
		}
	}
	if !reflect.DeepEqual(before, labRegistries(l)) {
		t.Fatal("dry run changed a registry")
	}

	// The configuration key, applied.
	if err := os.WriteFile("dcproxy.yaml", []byte("fix:\n  saved_legacy_settings: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runApp(t, env, append([]string{"fix", "--apply", "--yes"}, common...)...)
	if r.code != ExitOK || !strings.Contains(r.stderr, "4 verified") {
		t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
	}
	m := l.Members[0].Host.Registry()
	ref, _ := m.Value(`HKEY_USERS\`+sidOf(t, l, 0)+`\`+fleet.ConnectionsKey, fleet.SavedLegacyValue)
	got, ok := m.Value(`HKEY_USERS\S-1-5-18\`+fleet.ConnectionsKey, fleet.SavedLegacyValue)
	if !ok || !reflect.DeepEqual(got.Data, ref.Data) || len(ref.Data) == 0 {
		t.Errorf("dc01 LOCAL_SYSTEM SavedLegacySettings %X, want the reference's %X", got.Data, ref.Data)
	}
	if err := os.Remove("dcproxy.yaml"); err != nil {
		t.Fatal(err)
	}

	// restore, without the flag, reads and puts back SavedLegacySettings too.
	r = runApp(t, env, append([]string{"restore", "--apply", "--yes"}, common...)...)
	if r.code != ExitNoncompliant || !strings.Contains(r.stderr, "4 verified") {
		t.Fatalf("restore: exit %d\n%s", r.code, r.stderr)
	}
	if !reflect.DeepEqual(before, labRegistries(l)) {
		t.Errorf("restore did not bring the fleet back byte for byte; stderr %s", r.stderr)
	}
}

// sidOf finds the connecting account's SID on lab member i (the HKU key holding HKCU's values).
func sidOf(t *testing.T, l *lab.Lab, i int) string {
	t.Helper()
	for k := range l.Members[i].Host.Registry().Snapshot() {
		if parts := strings.Split(k, `\`); len(parts) > 2 && strings.HasPrefix(parts[1], "S-1-5-21-") {
			return parts[1]
		}
	}
	t.Fatal("no connecting account hive")
	return ""
}
