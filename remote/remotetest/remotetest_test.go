package remotetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

// recordingTB captures Errorf calls instead of failing.
type recordingTB struct {
	testing.TB
	errs     []string
	cleanups []func()
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recordingTB) done() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestFakeRunner_answersExpectations(t *testing.T) {
	f := NewFakeRunner(t).
		Expect(`^reg query "HKCU\\`, Stdout("ok\r\n")).
		Fail(`^reg add`, fmt.Errorf("%w: reset", remote.ErrUnreachable))
	out, err := f.Run(context.Background(), `reg query "HKCU\Software"`)
	if err != nil || string(out.Stdout) != "ok\r\n" || out.ExitCode != 0 {
		t.Fatalf("query: %q %v", out.Stdout, err)
	}
	if _, err := f.Run(context.Background(), `reg add x`); !errors.Is(err, remote.ErrUnreachable) {
		t.Fatalf("add: %v", err)
	}
	if got := f.Calls(); len(got) != 2 || got[1] != "reg add x" {
		t.Fatalf("calls %q", got)
	}
	_ = f.Close(context.Background())
	if f.Closed() != 1 {
		t.Fatal("close not counted")
	}
}

func TestFakeRunner_unexpectedCommandFailsTheTest(t *testing.T) {
	rt := &recordingTB{TB: t}
	f := NewFakeRunner(rt).ExpectOnce(`^echo a$`, Stdout("a"))
	if _, err := f.Run(context.Background(), "echo a"); err != nil {
		t.Fatal(err)
	}
	_, err := f.Run(context.Background(), "echo a") // a second time: not expected
	if !errors.Is(err, ErrUnexpected) || len(rt.errs) != 1 || !strings.Contains(rt.errs[0], `unexpected command "echo a"`) {
		t.Fatalf("err %v, reported %q", err, rt.errs)
	}
	rt.done()
	if len(rt.errs) != 1 {
		t.Fatalf("an ExpectOnce used once must not be reported at cleanup: %q", rt.errs)
	}
}

func TestFakeRunner_unusedOnceIsReported(t *testing.T) {
	rt := &recordingTB{TB: t}
	NewFakeRunner(rt).ExpectOnce(`^del`, Stdout(""))
	rt.done()
	if len(rt.errs) != 1 || !strings.Contains(rt.errs[0], "ran 0 times, want 1") {
		t.Fatalf("reported %q", rt.errs)
	}
}

func TestFakeRunner_canceledContext(t *testing.T) {
	f := NewFakeRunner(t).Expect(`.`, Stdout("x"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Run(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func TestLabFleet_parses(t *testing.T) {
	y := LabFleet("{direct: false, proxies: {'proxy.lab.test:8080': ok}}", "\n  - name: a\n  - name: b\n    locale: de-DE\n")
	spec, err := lab.ParseSpec([]byte(y))
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	if len(spec.Hosts) != 2 || spec.Hosts[1].Locale != "de-DE" {
		t.Fatalf("hosts %+v", spec.Hosts)
	}
	l := StartLab(t, y, "127.99.6.1")
	if len(l.Members) != 2 {
		t.Fatalf("members %d", len(l.Members))
	}
}
