package fleet

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote/remotetest"
)

// backupLine matches the on-host backup command line (reg.BatchExportCommand).
const backupLine = `^echo @@dcproxy:root:%ProgramData% & \(if not exist "%ProgramData%\\dcproxy\\backup" mkdir "%ProgramData%\\dcproxy\\backup"\) & `

func TestMutateGateRefusesWriteBeforeBackup(t *testing.T) {
	r := remotetest.NewFakeRunner(t).ExpectOnce(`^reg add x$`, remotetest.Stdout(""))
	x := &hostRun{runner: r, recorded: map[string]bool{}, log: slog.New(slog.DiscardHandler)}
	if _, err := x.mutate(context.Background(), AccountLocalSystem, "reg add x"); err == nil || len(r.Calls()) != 0 {
		t.Fatalf("write before backup record: err %v, ran %q", err, r.Calls())
	}
	x.recorded[AccountLocalSystem] = true
	if _, err := x.mutate(context.Background(), AccountLocalSystem, "reg add x"); err != nil || len(r.Calls()) != 1 {
		t.Fatalf("write after backup record: err %v, ran %q", err, r.Calls())
	}
}

func TestHostBackupMarkers(t *testing.T) {
	plan := HostPlan{Host: "dc1", Steps: []Step{
		{Account: AccountLocalSystem, Key: AccountKey(AccountLocalSystem), Value: ValueName, Action: ActionWrite},
		{Account: AccountLocalService, Key: AccountKey(AccountLocalService), Value: ValueName, Action: ActionWrite},
	}}
	cases := []struct {
		name   string
		stdout string
		files  int
		err    string
	}{
		{"both exported", "@@dcproxy:root:D:\\ProgramData\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:ok\r\n@@dcproxy:b1:key\r\n@@dcproxy:b1:ok\r\n", 2, ""},
		{"missing key has nothing to export", "@@dcproxy:root:C:\\ProgramData\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:ok\r\n@@dcproxy:b1:fail\r\n", 1, ""},
		{"export failed", "@@dcproxy:root:C:\\ProgramData\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:fail\r\n@@dcproxy:b1:key\r\n@@dcproxy:b1:ok\r\n", 0, "reg export"},
		{"unexpanded ProgramData", "@@dcproxy:root:%ProgramData%\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:ok\r\n@@dcproxy:b1:key\r\n@@dcproxy:b1:ok\r\n", 0, "backup base directory"},
		{"truncated", "@@dcproxy:root:C:\\ProgramData\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:ok\r\n", 0, "no result marker"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := remotetest.NewFakeRunner(t).ExpectOnce(backupLine, remotetest.Stdout(tc.stdout))
			x := &hostRun{opt: &ApplyOptions{RunID: "20260101T000000Z-abcdef"}, plan: plan, runner: r, recorded: map[string]bool{}, log: slog.New(slog.DiscardHandler)}
			files, err := x.hostBackup(context.Background(), []int{0, 1})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || len(files) != tc.files {
				t.Fatalf("files %v, err %v", files, err)
			}
			if f := files[AccountLocalSystem]; !strings.HasPrefix(f, strings.SplitN(tc.stdout[len("@@dcproxy:root:"):], "\r", 2)[0]+`\dcproxy\backup\DefaultConnectionSettings-S-1-5-18-20260101T000000Z-abcdef.reg`) {
				t.Errorf("file %q", f)
			}
			if calls := r.Calls(); len(calls) != 1 || !strings.Contains(calls[0], `(if not exist "%ProgramData%\dcproxy\backup" mkdir "%ProgramData%\dcproxy\backup")`) || !strings.Contains(calls[0], `reg export "HKU\S-1-5-19\`) {
				t.Errorf("command line %q", calls)
			}
		})
	}
}

func TestGateIsPerValue(t *testing.T) {
	r := remotetest.NewFakeRunner(t).ExpectOnce(`^reg add x$`, remotetest.Stdout(""))
	x := &hostRun{runner: r, recorded: map[string]bool{}, log: slog.New(slog.DiscardHandler)}
	dcs := Step{Account: AccountLocalSystem, Value: ValueName}
	sl := Step{Account: AccountLocalSystem, Value: SavedLegacyValue}
	x.recorded[dcs.id()] = true
	if _, err := x.mutate(context.Background(), sl.id(), "reg add x"); err == nil || len(r.Calls()) != 0 {
		t.Fatalf("SavedLegacySettings written on the DefaultConnectionSettings record: err %v, ran %q", err, r.Calls())
	}
	x.recorded[sl.id()] = true
	if _, err := x.mutate(context.Background(), sl.id(), "reg add x"); err != nil || len(r.Calls()) != 1 {
		t.Fatalf("after its own record: err %v, ran %q", err, r.Calls())
	}
}

func TestHostBackupOneExportPerAccount(t *testing.T) {
	k := AccountKey(AccountLocalSystem)
	plan := HostPlan{Host: "dc1", Steps: []Step{
		{Account: AccountLocalSystem, Key: k, Value: ValueName, Action: ActionWrite},
		{Account: AccountLocalSystem, Key: k, Value: SavedLegacyValue, Action: ActionWrite},
	}}
	r := remotetest.NewFakeRunner(t).ExpectOnce(backupLine, remotetest.Stdout("@@dcproxy:root:C:\\ProgramData\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:ok\r\n"))
	x := &hostRun{opt: &ApplyOptions{RunID: "20260101T000000Z-abcdef"}, plan: plan, runner: r, recorded: map[string]bool{}, log: slog.New(slog.DiscardHandler)}
	files, err := x.hostBackup(context.Background(), []int{0, 1})
	if err != nil || len(files) != 1 || files[AccountLocalSystem] == "" {
		t.Fatalf("files %v, err %v", files, err)
	}
	if n := strings.Count(r.Calls()[0], "reg export "); n != 1 {
		t.Errorf("%d exports of one key: %s", n, r.Calls()[0])
	}
}
