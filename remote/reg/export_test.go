package reg

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const (
	sysKey = `HKU\S-1-5-18\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	svcKey = `HKU\S-1-5-19\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
)

func TestBatchExportCommand(t *testing.T) {
	got, err := BatchExportCommand("ProgramData", `dcproxy\backup`, []Export{{Key: sysKey + `\`, File: "a.reg"}, {Key: svcKey, File: "b.reg"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `echo @@dcproxy:root:%ProgramData% & (if not exist "%ProgramData%\dcproxy\backup" mkdir "%ProgramData%\dcproxy\backup")` +
		` & reg query "` + sysKey + `" >nul 2>&1 && echo @@dcproxy:b0:key` +
		` & reg export "` + sysKey + `" "%ProgramData%\dcproxy\backup\a.reg" /y >nul && echo @@dcproxy:b0:ok || echo @@dcproxy:b0:fail` +
		` & reg query "` + svcKey + `" >nul 2>&1 && echo @@dcproxy:b1:key` +
		` & reg export "` + svcKey + `" "%ProgramData%\dcproxy\backup\b.reg" /y >nul && echo @@dcproxy:b1:ok || echo @@dcproxy:b1:fail`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestBatchExportCommandErrors(t *testing.T) {
	cases := []struct {
		name    string
		base    string
		dir     string
		exports []Export
		want    error
	}{
		{"none", "ProgramData", `Temp`, nil, ErrInvalid},
		{"bad base", "Program Data", `Temp`, []Export{{Key: sysKey, File: "a.reg"}}, ErrInvalid},
		{"base with percent", "x%&del", `Temp`, []Export{{Key: sysKey, File: "a.reg"}}, ErrInvalid},
		{"bad dir", "ProgramData", `Temp\%x%`, []Export{{Key: sysKey, File: "a.reg"}}, ErrInvalid},
		{"bad key", "ProgramData", `Temp`, []Export{{Key: `HKXX\a`, File: "a.reg"}}, ErrInvalid},
		{"bad file", "ProgramData", `Temp`, []Export{{Key: sysKey, File: `a" & del x & "`}}, ErrInvalid},
		{"too long", "ProgramData", `Temp`, []Export{{Key: sysKey + `\` + strings.Repeat("x", MaxCommandLine), File: "a.reg"}}, ErrTooLong},
	}
	for _, tc := range cases {
		if _, err := BatchExportCommand(tc.base, tc.dir, tc.exports); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestParseBatchExport(t *testing.T) {
	cases := []struct {
		name   string
		stdout string
		root   string
		want   []ExportStatus
		err    error
	}{
		{"both exported", "@@dcproxy:root:D:\\WINNT\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:ok\r\n@@dcproxy:b1:key\r\n@@dcproxy:b1:ok\r\n", `D:\WINNT`, []ExportStatus{Exported, Exported}, nil},
		{"missing key", "@@dcproxy:root:C:\\Windows\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:ok\r\n@@dcproxy:b1:fail\r\n", `C:\Windows`, []ExportStatus{Exported, ExportNoKey}, nil},
		{"export failed", "@@dcproxy:root:C:\\Windows\r\nnoise\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:fail\r\n", `C:\Windows`, []ExportStatus{ExportFailed, ExportUnknown}, nil},
		{"unexpanded", "@@dcproxy:root:%SystemRoot%\r\n@@dcproxy:b0:ok\r\n", "", nil, ErrMalformed},
		{"no root", "The system cannot find the path specified.\r\n", "", nil, ErrMalformed},
	}
	for _, tc := range cases {
		root, st, err := ParseBatchExport(tc.stdout, 2)
		if !errors.Is(err, tc.err) || root != tc.root || (tc.err == nil && !slices.Equal(st, tc.want)) {
			t.Errorf("%s: root %q status %v err %v, want %q %v %v", tc.name, root, st, err, tc.root, tc.want, tc.err)
		}
	}
}

func FuzzParseBatchExport(f *testing.F) {
	f.Add("@@dcproxy:root:C:\\Windows\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:ok\r\n", 1)
	f.Add("@@dcproxy:root:%SystemRoot%\r\n", 2)
	f.Add("", 0)
	f.Fuzz(func(t *testing.T, stdout string, n int) {
		n = min(max(n, 0), 64)
		root, st, err := ParseBatchExport(stdout, n)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || root != "" || st != nil {
				t.Fatalf("error %v with root %q status %v", err, root, st)
			}
			return
		}
		if root == "" || strings.ContainsAny(root, `%"`) || len(st) != n {
			t.Fatalf("root %q status %v for n %d", root, st, n)
		}
	})
}
