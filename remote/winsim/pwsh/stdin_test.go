package pwsh

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/winsim/cmdexe"
)

// runStdin runs the powershell.exe part of probe.StdinCommand with stdin.
func runStdin(ctx context.Context, h *Host, stdin io.Reader) (stdout, stderr string, code int) {
	_, argline, _ := strings.Cut(probe.StdinCommand, " ")
	var out, errb bytes.Buffer
	p := &cmdexe.Proc{Name: "powershell.exe", Args: cmdexe.SplitArgs(argline), ArgLine: argline, Stdin: stdin, Stdout: &out, Stderr: &errb}
	code = h.Program()(ctx, p)
	return out.String(), errb.String(), code
}

// The probe script read from stdin prints exactly what the same script prints as -Command.
func TestBootstrapRunsProbeFromStdin(t *testing.T) {
	cfg := probe.Config{URL: sensorURL, Timeout: time.Second, Routes: []probe.Route{
		{ID: "CURRENT_USER", Mode: probe.ModeSystem},
		{ID: "LOCAL_SYSTEM", Mode: probe.ModeProxy, Proxy: "proxy.lab.test:8080"},
		{ID: "LOCAL_SERVICE", Mode: probe.ModeDirect},
	}}
	for _, locale := range []string{"en-US", "de-DE"} {
		h := &Host{Locale: locale, Network: Network{Direct: false, Proxies: map[string]string{"proxy.lab.test:8080": ProxyOK}, EndpointStatus: 503}}
		line, err := probe.Command(cfg)
		if err != nil {
			t.Fatal(err)
		}
		wantOut, wantErr, wantCode := run(t, h, line)
		script, err := probe.StdinScript(cfg)
		if err != nil {
			t.Fatal(err)
		}
		out, errs, code := runStdin(context.Background(), h, strings.NewReader(script))
		if out != wantOut || errs != wantErr || code != wantCode {
			t.Errorf("%s: from stdin: %q %q %d; as -Command: %q %q %d", locale, out, errs, code, wantOut, wantErr, wantCode)
		}
		if _, err := probe.Parse([]byte(out), cfg); err != nil {
			t.Errorf("%s: the output does not parse: %v", locale, err)
		}
		if !strings.Contains(out, `"id":"LOCAL_SERVICE"`) {
			t.Errorf("%s: no result for LOCAL_SERVICE: %q", locale, out)
		}
	}
}

// Nothing is printed, and the process does not end, before stdin reaches EOF.
func TestBootstrapWaitsForEOF(t *testing.T) {
	cfg := probe.Config{URL: sensorURL, Timeout: time.Second, Routes: []probe.Route{{ID: "A", Mode: probe.ModeDirect}}}
	script, _ := probe.StdinScript(cfg)
	h := &Host{Network: Network{Direct: true}}
	pr, pw := io.Pipe()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		_, argline, _ := strings.Cut(probe.StdinCommand, " ")
		done <- h.RunStdin(context.Background(), cmdexe.SplitArgs(argline), pr, &out, &errb)
	}()
	// The pipe's Write returns once the process has read the data: the script is in, EOF is not.
	if _, err := io.WriteString(pw, script); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // give a wrong implementation the chance to run early
	select {
	case code := <-done:
		t.Fatalf("powershell.exe ended (exit %d) before stdin's EOF; stdout %q", code, out.String())
	default:
	}
	_ = pw.Close()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if _, err := probe.Parse(out.Bytes(), cfg); err != nil {
		t.Fatalf("output after EOF: %v: %q", err, out.String())
	}
}

func TestBootstrapBlankStdin(t *testing.T) {
	for _, in := range []string{"", " \r\n\t"} {
		out, errs, code := runStdin(context.Background(), &Host{}, strings.NewReader(in))
		if out != "" || errs != "" || code != 0 {
			t.Errorf("stdin %q: %q %q exit %d, want nothing and exit 0", in, out, errs, code)
		}
	}
}

func TestBootstrapOtherScriptFailsLoudly(t *testing.T) {
	out, errs, code := runStdin(context.Background(), &Host{}, strings.NewReader("Get-ChildItem C:\\\n"))
	if code != ExitNotSimulated || out != "" || !strings.Contains(errs, "winsim: powershell.exe: script from stdin is not simulated") {
		t.Errorf("got %q %q exit %d, want the not-simulated message and exit %d", out, errs, code, ExitNotSimulated)
	}
	big := strings.Repeat("#", maxStdinScript+1)
	if _, errs, code := runStdin(context.Background(), &Host{}, strings.NewReader(big)); code != ExitNotSimulated || !strings.Contains(errs, "over") {
		t.Errorf("oversized stdin: %q exit %d", errs, code)
	}
}

// Canceled while waiting for stdin (the client gave up or hit Ctrl-C): no output, ExitCanceled.
func TestBootstrapCanceledWaitingForStdin(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	type res struct {
		out, errs string
		code      int
	}
	done := make(chan res, 1)
	go func() {
		o, e, c := runStdin(ctx, &Host{}, pr)
		done <- res{o, e, c}
	}()
	cancel()
	r := <-done
	if r.code != cmdexe.ExitCanceled || r.out != "" || r.errs != "" {
		t.Errorf("got %q %q exit %#x, want no output and ExitCanceled", r.out, r.errs, r.code)
	}
}

// Only the exact bootstrap reads stdin: an -EncodedCommand of the same text does not (the simulator
// answers only what dcproxy sends).
func TestBootstrapOnlyAsCommand(t *testing.T) {
	var out, errb bytes.Buffer
	code := (&Host{}).RunStdin(context.Background(), []string{"-NoProfile", "-EncodedCommand", probe.EncodeCommand(probe.Bootstrap)},
		strings.NewReader("x"), &out, &errb)
	if code == 0 {
		t.Errorf("encoded bootstrap ran: %q %q", out.String(), errb.String())
	}
}
