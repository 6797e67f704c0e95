package reg

import (
	"fmt"
	"strings"
)

// Export is one key that BatchExportCommand saves to a .reg file.
type Export struct {
	Key  string // short or long root form
	File string // file name inside the export directory (see ValidateFileName)
}

// ExportStatus is what the markers of a BatchExportCommand say about one export.
type ExportStatus int

// Export statuses.
const (
	ExportUnknown ExportStatus = iota // no ok/fail marker: the line did not get that far
	Exported                          // reg export succeeded: the file holds the key
	ExportNoKey                       // the key does not exist: there is nothing to export
	ExportFailed                      // the key exists and reg export failed (stderr says why)
)

// BatchExportCommand returns one cmd.exe command line that prints the Windows directory (marker
// "root:" with %SystemRoot% expanded), creates %SystemRoot%\dir, and for the n-th export notes
// whether its key exists (marker "bN:key") and runs
//
//	reg export "KEY" "%SystemRoot%\dir\FILE" /y >nul && echo @@dcproxy:bN:ok || echo @@dcproxy:bN:fail
//
// dir is relative to %SystemRoot% (e.g. `Temp\dcproxy`). ParseBatchExport reads the markers. Errors
// wrap ErrInvalid (no exports, a bad key, directory or file name) or ErrTooLong.
func BatchExportCommand(dir string, exports []Export) (string, error) {
	if len(exports) == 0 {
		return "", fmt.Errorf("%w: no exports", ErrInvalid)
	}
	if err := ValidateFileName(dir); err != nil {
		return "", fmt.Errorf("export directory: %w", err)
	}
	full := `%SystemRoot%\` + dir
	parts := []string{"echo " + MarkerPrefix + "root:%SystemRoot%", `mkdir "` + full + `" 2>nul`}
	for n, e := range exports {
		k, err := cleanKey(e.Key)
		if err != nil {
			return "", err
		}
		if err := ValidateFileName(e.File); err != nil {
			return "", err
		}
		m := fmt.Sprintf("%sb%d:", MarkerPrefix, n)
		parts = append(parts,
			`reg query "`+k+`" >nul 2>&1 && echo `+m+"key",
			`reg export "`+k+`" "`+full+`\`+e.File+`" /y >nul && echo `+m+"ok || echo "+m+"fail")
	}
	line := strings.Join(parts, " & ")
	if n := utf16Len(line); n > MaxCommandLine {
		return "", fmt.Errorf("%w: %d exports need %d characters, cmd.exe allows %d", ErrTooLong, len(exports), n, MaxCommandLine)
	}
	return line, nil
}

// ParseBatchExport reads the output of BatchExportCommand for n exports: the expanded
// %SystemRoot% and each export's status, in order. Lines without the marker prefix are ignored.
// The error wraps ErrMalformed when the root marker is missing or not expanded.
func ParseBatchExport(stdout string, n int) (root string, status []ExportStatus, err error) {
	marks := map[string]bool{}
	for _, l := range splitLines(stdout) {
		l = strings.TrimRight(l, "\r \t")
		rest, ok := strings.CutPrefix(l, MarkerPrefix)
		if !ok {
			continue
		}
		if r, ok := strings.CutPrefix(rest, "root:"); ok {
			root = r
			continue
		}
		marks[rest] = true
	}
	if root == "" || strings.ContainsAny(root, `%"`) {
		first, _, _ := strings.Cut(strings.TrimSpace(stdout), "\n")
		return "", nil, fmt.Errorf("%w: could not locate %%SystemRoot%% (output %q)", ErrMalformed, strings.TrimSpace(first))
	}
	status = make([]ExportStatus, n)
	for i := range status {
		id := fmt.Sprintf("b%d:", i)
		switch {
		case marks[id+"ok"]:
			status[i] = Exported
		case marks[id+"fail"] && !marks[id+"key"]:
			status[i] = ExportNoKey
		case marks[id+"fail"]:
			status[i] = ExportFailed
		}
	}
	return root, status, nil
}
