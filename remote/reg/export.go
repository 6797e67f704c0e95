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

// BatchExportCommand returns one cmd.exe command line that prints the base directory (marker
// "root:" with %base% expanded), creates %base%\dir when it does not exist, and for the n-th
// export notes whether its key exists (marker "bN:key") and runs
//
//	reg export "KEY" "%base%\dir\FILE" /y >nul && echo @@dcproxy:bN:ok || echo @@dcproxy:bN:fail
//
// base names an environment variable of the shell (e.g. ProgramData: C:\ProgramData) and dir is
// relative to it (e.g. `dcproxy\backup`). The directory is created by
// `(if not exist "%base%\dir" mkdir "%base%\dir")`: in parentheses, because an IF's command runs
// to the end of the line and would swallow the exports; mkdir creates the missing parents too.
// ParseBatchExport reads the markers. Errors wrap ErrInvalid (no exports, a bad variable, key,
// directory or file name) or ErrTooLong.
func BatchExportCommand(base, dir string, exports []Export) (string, error) {
	if len(exports) == 0 {
		return "", fmt.Errorf("%w: no exports", ErrInvalid)
	}
	if !validID(base) {
		return "", fmt.Errorf("%w: export base %q is not an environment variable name", ErrInvalid, base)
	}
	if err := ValidateFileName(dir); err != nil {
		return "", fmt.Errorf("export directory: %w", err)
	}
	full := `%` + base + `%\` + dir
	parts := []string{"echo " + MarkerPrefix + "root:%" + base + "%", `(if not exist "` + full + `" mkdir "` + full + `")`}
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

// ParseBatchExport reads the output of BatchExportCommand for n exports: the expanded base
// directory and each export's status, in order. Lines without the marker prefix are ignored.
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
		return "", nil, fmt.Errorf("%w: could not locate the backup base directory (output %q)", ErrMalformed, strings.TrimSpace(first))
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
