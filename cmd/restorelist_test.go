package cmd

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
)

// restore --list names every run of the backup file with its date, operator (from the audit log),
// hosts and values; restore --run with an unknown id lists the known ones.
func TestRestoreList(t *testing.T) {
	t.Chdir(t.TempDir())
	t0 := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	var b, l strings.Builder
	for _, r := range []fleet.BackupRecord{
		{RunID: "20261127T020000Z-1a2b3c", Command: "fix", Time: t0, Host: "dc01.corp.example", Account: "LOCAL_SYSTEM", Key: "k", Value: "DefaultConnectionSettings", Absent: true},
		{RunID: "20261127T020000Z-1a2b3c", Command: "fix", Time: t0.Add(time.Second), Host: "dc02.corp.example", Account: "LOCAL_SERVICE", Key: "k", Value: "DefaultConnectionSettings", Previous: "46"},
		{RunID: "20261128T020000Z-4d5e6f", Command: "restore", Time: t0.Add(24 * time.Hour), Host: "dc01.corp.example", Account: "LOCAL_SYSTEM", Key: "k", Value: "DefaultConnectionSettings", Previous: "46"},
	} {
		j, _ := json.Marshal(r)
		b.Write(append(j, '\n'))
	}
	j, _ := json.Marshal(fleet.AuditEntry{RunID: "20261127T020000Z-1a2b3c", Operator: `alice as CORP\svc-dcproxy`, Host: "dc01.corp.example"})
	l.Write(append(j, '\n'))
	if err := os.WriteFile("b.jsonl", []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("audit.jsonl", []byte(l.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runApp(t, nil, "restore", "--list", "--backup", "b.jsonl")
	if r.code != 0 {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"2 runs in b.jsonl (newest first):", "20261128T020000Z-4d5e6f  restore", "20261127T020000Z-1a2b3c  fix",
		`by alice as CORP\svc-dcproxy`, "2 hosts: dc01.corp.example, dc02.corp.example", `LOCAL_SERVICE\DefaultConnectionSettings`, "unknown (no audit log entry)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--list lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Index(r.stdout, "4d5e6f") > strings.Index(r.stdout, "1a2b3c") {
		t.Errorf("not newest first:\n%s", r.stdout)
	}
	r = runApp(t, map[string]string{"DCPROXY_USER": "u", "DCPROXY_PASSWORD": "p"}, "restore", "-i", "inv.yaml", "--backup", "b.jsonl", "--run", "20260101T000000Z-nope")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "has no run 20260101T000000Z-nope") || !strings.Contains(r.stderr, "20261127T020000Z-1a2b3c  fix") {
		t.Fatalf("unknown run: exit %d stderr %q", r.code, r.stderr)
	}
}
