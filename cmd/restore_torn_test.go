package cmd

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A backup file damaged by a torn write (a partial line joined by the next append, as versions that
// did not repair their journals left it, and a partial last line) no longer sinks restore: the
// damaged line is named in a warning, the record joined to it is recovered, and every value is put
// back. The next fix run cuts the partial last line into a side file and says so.
func TestRestoreTornBackupFile(t *testing.T) {
	dir, l := startLab(t, 9, "127.95.7.1")
	env := labEnv(t, dir)
	state := t.TempDir()
	env["XDG_STATE_HOME"] = state
	chdir(t, t.TempDir())
	inv := filepath.Join(dir, "inventory.yaml")
	before := labRegistries(l)
	common := []string{"-i", inv, "--timeout", "3s", "--retries", "0"}
	backups := filepath.Join(state, "dcproxy", "backups.jsonl")

	r := runApp(t, env, append([]string{"fix", "--apply", "--yes", "--format", "json"}, common...)...)
	if r.code != ExitHostErrors {
		t.Fatalf("fix: exit %d, stderr %s", r.code, r.stderr)
	}
	content, err := os.ReadFile(backups)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(content), "\n")
	if len(lines) != 4 || lines[3] != "" {
		t.Fatalf("backup file: %q", content)
	}
	torn := lines[0][:len(lines[0])/2]
	damaged := lines[0] + torn + lines[1] + lines[2] + torn
	if err := os.WriteFile(backups, []byte(damaged), 0o600); err != nil {
		t.Fatal(err)
	}

	r = runApp(t, env, append([]string{"restore", "--apply", "--yes", "--format", "json"}, common...)...)
	if r.code != ExitNoncompliant {
		t.Fatalf("restore: exit %d, stderr %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "dcproxy restore: warning: "+backups+" line 2: the first ") ||
		!strings.Contains(r.stderr, backups+" line 4: incomplete last line") {
		t.Errorf("restore warnings: %s", r.stderr)
	}
	if !reflect.DeepEqual(before, labRegistries(l)) {
		t.Errorf("restore did not bring the fleet back to its pre-fix state; stderr %s", r.stderr)
	}
	// restore appended its own records after cutting the partial last line into a side file.
	side, _ := filepath.Glob(backups + ".torn-*")
	if len(side) != 1 || !strings.Contains(r.stderr, "ended in a torn write") {
		t.Fatalf("side files %v; stderr %s", side, r.stderr)
	}
	if b, err := os.ReadFile(side[0]); err != nil || string(b) != torn {
		t.Errorf("side file %q, %v; want %q", b, err, torn)
	}
}
