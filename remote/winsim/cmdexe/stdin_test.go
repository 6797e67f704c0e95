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
