package winrmclient

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/winsim"
	"github.com/dcproxy/dcproxy/remote/winsim/pwsh"
)

const interactiveBatch = `echo DCPROXY:A:begin & reg query "HKU\S-1-5-18\Software\NoSuchKey" /v X && echo DCPROXY:A:ok || echo DCPROXY:A:fail`

var interactiveProbe = probe.Config{URL: "https://contososensorapi.atp.azure.com/tri/sensor/api/ping", Timeout: time.Second,
	Routes: []probe.Route{{ID: "LOCAL_SERVICE", Mode: probe.ModeDirect}}}

// batchDone is the ready test fleet uses: the batch's last marker line and the stderr marker.
func batchDone(o remote.Output) bool {
	_, _, ok := probe.SplitStderr(o.Stderr)
	return ok && bytes.Contains(o.Stdout, []byte("DCPROXY:A:fail \r\n"))
}

func dialInteractive(t *testing.T, cfg winsim.Config) (*winsim.Host, remote.Interactive, remote.Runner, context.Context) {
	t.Helper()
	h, srv := startWinsim(t, cfg, false)
	ctx := testCtx(t, 30*time.Second)
	r, err := Dialer{}.Dial(ctx, winsimTarget(t, srv))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	ri, ok := r.(remote.Interactive)
	if !ok {
		t.Fatal("the WinRM runner does not implement remote.Interactive")
	}
	return h, ri, r, ctx
}

// The batch's output is received while powershell.exe waits for its stdin (winsim streams output
// as it is produced); the probe script then goes in one Send and its output comes back with Done.
// One Command and one Send: no second Command and no terminate Signal in between.
func TestRunInteractiveProbeThroughStdin(t *testing.T) {
	for _, locale := range []string{"en-US", "de-DE"} {
		t.Run(locale, func(t *testing.T) {
			h, ri, r, ctx := dialInteractive(t, winsim.Config{Locale: locale, PSStart: 50 * time.Millisecond,
				Network: pwsh.Network{Direct: true, EndpointStatus: 503}})
			line, err := probe.CombinedCommand(interactiveBatch)
			if err != nil {
				t.Fatal(err)
			}
			var atStdin remote.Output
			calls := 0
			out, err := ri.RunInteractive(ctx, line, batchDone, func(sofar remote.Output) ([]byte, error) {
				calls++
				atStdin = remote.Output{Stdout: bytes.Clone(sofar.Stdout), Stderr: bytes.Clone(sofar.Stderr)}
				s, err := probe.StdinScript(interactiveProbe)
				return []byte(s), err
			})
			if err != nil {
				t.Fatalf("RunInteractive: %v", err)
			}
			if calls != 1 {
				t.Fatalf("stdin called %d times, want 1", calls)
			}
			// At the time of the call the batch was complete and PowerShell had printed nothing.
			if got := string(atStdin.Stdout); got != "DCPROXY:A:begin \r\nDCPROXY:A:fail \r\n" {
				t.Errorf("stdout when stdin was asked for = %q", got)
			}
			regErr, psErr, _ := probe.SplitStderr(out.Stderr)
			if !strings.HasPrefix(string(regErr), "ERROR:") && !strings.HasPrefix(string(regErr), "FEHLER:") || len(psErr) != 0 {
				t.Errorf("stderr = %q, want reg.exe's error before the marker and nothing after", out.Stderr)
			}
			rest, ok := bytes.CutPrefix(out.Stdout, atStdin.Stdout)
			if !ok || out.ExitCode != 0 {
				t.Fatalf("stdout %q exit %d does not continue what stdin saw", out.Stdout, out.ExitCode)
			}
			po, err := probe.Parse(rest, interactiveProbe)
			if err != nil || len(po.Results) != 1 || po.Results[0].Status != 503 {
				t.Errorf("probe output %q: %+v, %v", rest, po, err)
			}
			if err := r.Close(ctx); err != nil {
				t.Fatal(err)
			}
			waitDeleted(t, r)
			got := h.Requests()
			want := winsim.RequestCounts{HTTP: 2 + got.Operations(), Create: 1, Command: 1, Send: 1, Receive: got.Receive, Delete: 1}
			if got != want || got.Receive < 2 {
				t.Errorf("requests = %+v, want %+v with at least 2 Receives", got, want)
			}
		})
	}
}

// powershell.exe is missing: the line ends before the stderr marker's PowerShell part could wait,
// so stdin is (at most) asked for while the command may already be done; either way the batch's
// output and cmd.exe's message come back, and no Send is made to a finished command.
func TestRunInteractiveNoPowerShell(t *testing.T) {
	h, ri, _, ctx := dialInteractive(t, winsim.Config{NoPowerShell: true})
	line, _ := probe.CombinedCommand(interactiveBatch)
	out, err := ri.RunInteractive(ctx, line, batchDone, func(remote.Output) ([]byte, error) {
		s, err := probe.StdinScript(interactiveProbe)
		return []byte(s), err
	})
	if err != nil {
		t.Fatalf("RunInteractive: %v", err)
	}
	_, after, ok := probe.SplitStderr(out.Stderr)
	if !ok || !strings.Contains(string(after), "'powershell.exe' is not recognized") || out.ExitCode != 1 {
		t.Errorf("stderr %q exit %d, want cmd.exe's not-recognized message after the marker and exit 1", out.Stderr, out.ExitCode)
	}
	if !strings.Contains(string(out.Stdout), "DCPROXY:A:fail") {
		t.Errorf("stdout %q lacks the batch", out.Stdout)
	}
	if c := h.Requests(); c.Command != 1 {
		t.Errorf("requests = %+v, want one Command", c)
	}
}

// A command that ends before ready: stdin is never asked for.
func TestRunInteractiveDoneBeforeReady(t *testing.T) {
	h, ri, _, ctx := dialInteractive(t, winsim.Config{})
	out, err := ri.RunInteractive(ctx, "echo hello", func(remote.Output) bool { return false },
		func(remote.Output) ([]byte, error) { t.Error("stdin called"); return nil, nil })
	if err != nil || string(out.Stdout) != "hello\r\n" || out.ExitCode != 0 {
		t.Errorf("got %q exit %d, %v", out.Stdout, out.ExitCode, err)
	}
	if c := h.Requests(); c.Send != 0 {
		t.Errorf("requests = %+v, want no Send", c)
	}
}

// stdin's error comes back unwrapped, the command is terminated (Signal), and the runner stays usable.
func TestRunInteractiveStdinError(t *testing.T) {
	h, ri, r, ctx := dialInteractive(t, winsim.Config{PSStart: time.Hour})
	line, _ := probe.CombinedCommand(interactiveBatch)
	errBad := errors.New("registry output does not parse")
	out, err := ri.RunInteractive(ctx, line, batchDone, func(remote.Output) ([]byte, error) { return nil, errBad })
	if err != errBad {
		t.Fatalf("err = %v, want the stdin callback's error itself", err)
	}
	if !strings.Contains(string(out.Stdout), "DCPROXY:A:fail") {
		t.Errorf("output so far = %q", out.Stdout)
	}
	if c := h.Requests(); c.Signal != 1 || c.Send != 0 {
		t.Errorf("requests = %+v, want one terminate Signal and no Send", c)
	}
	if o, err := r.Run(ctx, "echo next"); err != nil || string(o.Stdout) != "next\r\n" {
		t.Errorf("Run after: %q, %v", o.Stdout, err)
	}
}

// The client gives up (Ctrl-C, host timeout) while PowerShell runs: the command is terminated and
// the context's error returned with the output so far; a deadline is remote.ErrTimeout.
func TestRunInteractiveCanceledWaiting(t *testing.T) {
	for _, deadline := range []bool{false, true} {
		h, ri, _, _ := dialInteractive(t, winsim.Config{PSStart: time.Hour})
		line, _ := probe.CombinedCommand(interactiveBatch)
		ctx, cancel := context.WithCancel(context.Background())
		if deadline {
			ctx, cancel = context.WithTimeout(context.Background(), 1500*time.Millisecond)
		}
		sent := make(chan struct{})
		go func() {
			if !deadline {
				<-sent
				time.Sleep(100 * time.Millisecond) // the client is in the Receive after the Send
				cancel()
			}
		}()
		out, err := ri.RunInteractive(ctx, line, batchDone, func(remote.Output) ([]byte, error) {
			close(sent)
			s, err := probe.StdinScript(interactiveProbe)
			return []byte(s), err
		})
		cancel()
		switch {
		case deadline && !errors.Is(err, remote.ErrTimeout):
			t.Errorf("deadline: err = %v, want remote.ErrTimeout", err)
		case !deadline && !errors.Is(err, context.Canceled):
			t.Errorf("cancel: err = %v, want context.Canceled", err)
		}
		if !strings.Contains(string(out.Stdout), "DCPROXY:A:fail") {
			t.Errorf("output so far = %q", out.Stdout)
		}
		if c := h.Requests(); c.Signal != 1 || c.Send != 1 {
			t.Errorf("requests = %+v, want the Send and one terminate Signal", c)
		}
	}
}

// A stdin larger than one Send goes in pieces, End on the last only.
func TestRunInteractiveChunkedSend(t *testing.T) {
	h, ri, _, ctx := dialInteractive(t, winsim.Config{})
	line, _ := probe.CombinedCommand(interactiveBatch)
	blank := bytes.Repeat([]byte(" "), 2*maxSendChunk+1) // the bootstrap runs nothing for blank input
	out, err := ri.RunInteractive(ctx, line, batchDone, func(remote.Output) ([]byte, error) { return blank, nil })
	if err != nil || out.ExitCode != 0 {
		t.Fatalf("exit %d, %v (stderr %q)", out.ExitCode, err, out.Stderr)
	}
	if c := h.Requests(); c.Send != 3 {
		t.Errorf("requests = %+v, want 3 Sends", c)
	}
}

// remote.ErrNoInput: nothing is sent and the command is left running; it costs no request of its
// own (the next Command's terminate Signal, or Close's Delete, ends it).
func TestRunInteractiveNoInput(t *testing.T) {
	h, ri, r, ctx := dialInteractive(t, winsim.Config{PSStart: time.Hour})
	line, _ := probe.CombinedCommand(interactiveBatch)
	out, err := ri.RunInteractive(ctx, line, batchDone, func(remote.Output) ([]byte, error) { return nil, remote.ErrNoInput })
	if err != nil || !strings.Contains(string(out.Stdout), "DCPROXY:A:fail") {
		t.Fatalf("got %q, %v; want the output so far and no error", out.Stdout, err)
	}
	if c := h.Requests(); c.Send != 0 || c.Signal != 0 {
		t.Errorf("requests = %+v, want no Send and no Signal yet", c)
	}
	if o, err := r.Run(ctx, "echo next"); err != nil || string(o.Stdout) != "next\r\n" {
		t.Errorf("Run after: %q, %v", o.Stdout, err)
	}
	if c := h.Requests(); c.Signal != 1 {
		t.Errorf("requests = %+v, want the terminate Signal before the next Command", c)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitDeleted(t, r)
	if n := h.ShellCount(); n != 0 {
		t.Errorf("%d shells left", n)
	}
}
