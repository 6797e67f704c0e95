package cmdexe

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
)

// notifyWriter records what is written and signals each write.
type notifyWriter struct {
	mu    sync.Mutex
	b     strings.Builder
	wrote chan struct{}
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.b.Write(p)
	w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *notifyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// The output of the commands before a program that waits for stdin reaches the line's stdout
// while that program still waits (cmd.exe and its children write straight into the pipe that WinRS
// reads; nothing holds the earlier output back), and stderr keeps its own order.
func TestEarlierOutputWhileLaterProgramWaitsForStdin(t *testing.T) {
	sh := testShell("en-US")
	sh.Programs["cat"] = func(_ context.Context, p *Proc) int {
		b, _ := io.ReadAll(p.Stdin)
		_, _ = p.Stdout.Write(b)
		return 0
	}
	pr, pw := io.Pipe()
	out := &notifyWriter{wrote: make(chan struct{}, 16)}
	errw := &notifyWriter{wrote: make(chan struct{}, 16)}
	done := make(chan int, 1)
	go func() {
		done <- sh.Run(context.Background(), `echo one & reg fail & echo MARK 1>&2 & cat`, pr, out, errw)
	}()
	for !strings.Contains(out.String(), "ARGS:fail\r\n") || !strings.Contains(errw.String(), "MARK") {
		select {
		case <-out.wrote:
		case <-errw.wrote:
		case code := <-done:
			t.Fatalf("line ended (exit %d) before stdin was closed", code)
		}
	}
	if got := out.String(); got != "one \r\nARGS:fail\r\n" {
		t.Fatalf("stdout while cat waits = %q", got)
	}
	if got := errw.String(); got != "ERROR: failed\r\nMARK  \r\n" {
		t.Fatalf("stderr while cat waits = %q", got)
	}
	if _, err := io.WriteString(pw, "from stdin\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := out.String(); got != "one \r\nARGS:fail\r\nfrom stdin\r\n" {
		t.Fatalf("stdout = %q", got)
	}
}

// A system program listed with a nil Program was removed from the host: cmd.exe says it is not
// recognized (exit 1 for the line, 9009 inside it), and the rest of the line still runs; a system
// program that is not listed at all still fails loudly.
func TestRemovedProgramIsNotRecognized(t *testing.T) {
	sh := testShell("en-US")
	sh.Programs["powershell"] = nil
	var out, errb strings.Builder
	code := sh.Run(context.Background(), `echo before & powershell.exe -NoProfile -Command x`, nil, &out, &errb)
	want := "'powershell.exe' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
	if code != ExitLaunchFailed || out.String() != "before \r\n" || errb.String() != want {
		t.Errorf("got exit %d, %q, %q; want exit %d and %q on stderr", code, out.String(), errb.String(), ExitLaunchFailed, want)
	}
	delete(sh.Programs, "powershell")
	errb.Reset()
	if code := sh.Run(context.Background(), `echo before & powershell.exe -Command x`, nil, nil, &errb); code != ExitNotRecognized ||
		!strings.Contains(errb.String(), "is not simulated") {
		t.Errorf("unlisted system program: exit %d, %q; want the not-simulated failure", code, errb.String())
	}
}
