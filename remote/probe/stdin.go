package probe

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf16"
)

// The probe through standard input: one command line carries a batch that runs first (the host
// read) and then starts powershell.exe with Bootstrap, which reads the probe script from its
// standard input and runs it. The client reads the batch's output while PowerShell starts, decides
// the routes from it, builds the script with Script and sends it as stdin (End=true). PowerShell's
// start-up then overlaps the client's receive, decision and send, and the script, which travels in
// stdin, is bound by no command-line limit (the line itself still is: CombinedCommand checks it).
//
// Windows PowerShell 5.1 notes:
//   - -Command with a string runs that string; the process's standard input (the WinRS shell's
//     stdin pipe, inherited from cmd.exe) is left alone, so [Console]::In reads all of it.
//     ReadToEnd returns at the client's End=true (EOF).
//   - Invoke-Expression runs the text in the current scope, which for -Command is the global
//     scope: the script runs as it would run as the -Command string itself (its $ErrorActionPreference
//     and $ProgressPreference, dynamic scoping of the certificate callback, exit code 1 when it ends
//     in a terminating error).
//   - An empty or blank stdin runs nothing (Invoke-Expression refuses an empty string): the client
//     sends an empty End=true when the host read shows that no probe is needed.
//   - The bootstrap holds no double quote and no percent sign (cmd.exe passes it on untouched) and
//     no character cmd.exe treats specially outside quotes matters inside them.
//
// Evidence: a real Server 2016 host streams a running command's output to Receive and accepts Send
// to a powershell.exe of the shell (pypsrp captures test_winrs_operation_timeout.yml and
// test_winrs_send.yml, remote/winsim/testdata/pypsrp).
// unverified: that [Console]::In of powershell.exe 5.1 started with -Command "<string>" reads the
// WinRS stdin pipe it inherits from cmd.exe to EOF (Console.InputEncoding is the shell's code page;
// the script is ASCII, so the code page does not matter).
// unverified: that Windows answers the Send before PowerShell has read the data (if it answered only
// after the read, the overlap would shrink; the result would not change).
const (
	// Bootstrap is the -Command script of the powershell.exe that CombinedCommand starts.
	Bootstrap = "$dcproxyStdin=[Console]::In.ReadToEnd();if($dcproxyStdin.Trim()){Invoke-Expression -Command $dcproxyStdin}"
	// StdinCommand starts powershell.exe with Bootstrap.
	StdinCommand = CommandPrefix + `"` + Bootstrap + `"`
	// StderrMarker is the line (cmd.exe's echo, to stderr) that CombinedCommand prints just before it
	// starts powershell.exe: stderr before it belongs to the batch, after it to PowerShell (or to
	// cmd.exe failing to start it). echo leaves a blank before the redirection in the line, so the
	// line may end in blanks (SplitStderr ignores them).
	StderrMarker = "DCPROXY:probe:stdin"
)

// CombinedCommand returns the one command line that runs batch and then the probe from stdin:
// `<batch> & echo DCPROXY:probe:stdin 1>&2 & powershell.exe -NoProfile -NonInteractive -Command "<Bootstrap>"`.
// '&' runs the next command whatever the batch's last command returned. batch must be one line with
// balanced double quotes (else cmd.exe would read the rest as quoted text); the whole line must fit
// cmd.exe's limit (MaxCommandLen UTF-16 units). Errors wrap ErrInvalidConfig or ErrTooLong.
func CombinedCommand(batch string) (string, error) {
	if strings.TrimSpace(batch) == "" {
		return "", fmt.Errorf("%w: empty batch", ErrInvalidConfig)
	}
	if strings.ContainsAny(batch, "\r\n\x00") {
		return "", fmt.Errorf("%w: the batch holds a line break or NUL", ErrInvalidConfig)
	}
	if strings.Count(batch, `"`)%2 != 0 {
		return "", fmt.Errorf("%w: the batch has an unbalanced double quote", ErrInvalidConfig)
	}
	line := batch + " & echo " + StderrMarker + " 1>&2 & " + StdinCommand
	if n := len(utf16.Encode([]rune(line))); n > MaxCommandLen {
		return "", fmt.Errorf("%w: %d characters with the batch, limit %d (split the batch)", ErrTooLong, n, MaxCommandLen)
	}
	return line, nil
}

// StdinScript returns what the client sends as stdin to the powershell.exe of CombinedCommand:
// Script(c) (LF line ends, no length limit but the Config's own). Errors wrap ErrInvalidConfig.
func StdinScript(c Config) (string, error) { return Script(c) }

// AppendStdinScript appends StdinScript(c) to dst.
func AppendStdinScript(dst []byte, c Config) ([]byte, error) { return AppendScript(dst, c) }

// SplitStderr splits the stderr of CombinedCommand at StderrMarker's line: before is the batch's,
// after PowerShell's (or cmd.exe's message that it could not start it). ok is false when the marker
// line is not (yet) complete in stderr; before is then all of stderr.
func SplitStderr(stderr []byte) (before, after []byte, ok bool) {
	for off := 0; off < len(stderr); {
		end := bytes.IndexByte(stderr[off:], '\n')
		if end < 0 {
			break
		}
		line := bytes.TrimRight(stderr[off:off+end], "\r \t")
		if string(line) == StderrMarker {
			return stderr[:off], stderr[off+end+1:], true
		}
		off += end + 1
	}
	return stderr, nil, false
}
