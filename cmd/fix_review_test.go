package cmd

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/remote/wininet"
	"github.com/dcproxy/dcproxy/remote/winsim/registry"
)

// TestRestoreChangedSinceCLI: a value changed after the fix run is not restored without --force;
// journals that others can read are refused.
func TestRestoreChangedSinceCLI(t *testing.T) {
	dir, l := startLab(t, 9, "127.98.0.1")
	env := labEnv(t, dir)
	state := t.TempDir()
	env["XDG_STATE_HOME"] = state
	t.Chdir(t.TempDir())
	inv := filepath.Join(dir, "inventory.yaml")
	common := []string{"-i", inv, "--timeout", "3s", "--retries", "0", "--format", "json"}
	backups := filepath.Join(state, "dcproxy", "backups.jsonl")

	r := runApp(t, env, append([]string{"fix", "--apply", "--yes"}, common...)...)
	if r.code != ExitHostErrors {
		t.Fatalf("fix: exit %d, stderr %s", r.code, r.stderr)
	}
	recs, err := fleet.ReadBackups(backups)
	if err != nil || len(recs) == 0 {
		t.Fatalf("backups: %v %v", recs, err)
	}
	// An administrator sets another proxy on one of the written accounts.
	changed := recs[0]
	sid := map[string]string{fleet.AccountLocalSystem: "S-1-5-18", fleet.AccountLocalService: "S-1-5-19"}[changed.Account]
	later := wininet.New("later.lab.test:3128", "<local>", "", false, 77).Encode()
	for _, m := range l.Members {
		if m.Spec.Name == changed.Host {
			key := `HKEY_USERS\` + sid + `\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
			if err := m.Host.Registry().SetValue(key, registry.BinaryValue(fleet.ValueName, later)); err != nil {
				t.Fatal(err)
			}
		}
	}

	r = runApp(t, env, append([]string{"restore"}, common...)...)
	if !strings.Contains(r.stderr, "1 host refused: changed since the run it restores (audit again, or restore the later run first; --force puts the recorded value back anyway): "+changed.Host) {
		t.Errorf("restore dry run: exit %d, stderr %s", r.code, r.stderr)
	}
	r = runApp(t, env, append([]string{"restore", "--force"}, common...)...)
	if strings.Contains(r.stderr, "refused") || !strings.Contains(r.stderr, "[--force: overwrites a change made since the run]") {
		t.Errorf("restore --force dry run: exit %d, stderr %s", r.code, r.stderr)
	}

	if runtime.GOOS == "windows" {
		return
	}
	if err := os.Chmod(backups, 0o640); err != nil {
		t.Fatal(err)
	}
	r = runApp(t, env, append([]string{"restore", "--force", "--apply", "--yes"}, common...)...)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "chmod 600 "+backups) {
		t.Errorf("loose backup file: exit %d, stderr %s", r.code, r.stderr)
	}
}
