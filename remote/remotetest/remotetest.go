// Package remotetest has fakes of the remote interfaces for unit tests: a Runner that answers only
// the commands it was told to expect (and fails the test on any other), and the lab fixture the
// end-to-end tests share.
package remotetest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"

	"github.com/dcproxy/dcproxy/remote"
)

// ErrUnexpected is returned (wrapped) by FakeRunner.Run for a command no expectation matches.
var ErrUnexpected = errors.New("unexpected command")

type expectation struct {
	re    *regexp.Regexp
	out   remote.Output
	err   error
	times int // 0: any number
	used  int
}

// FakeRunner is a remote.Runner that answers commands from expectations: a regular expression
// over the whole command line (first match in the order added wins) and its output or error. A
// command no expectation matches fails the test (t.Errorf, so that code under test that swallows
// errors cannot hide it) and returns an error wrapping ErrUnexpected. It records every command
// line. It is safe for concurrent use.
type FakeRunner struct {
	t      testing.TB
	mu     sync.Mutex
	expect []*expectation
	calls  []string
	closed int
}

var _ remote.Runner = (*FakeRunner)(nil)

// NewFakeRunner returns a FakeRunner reporting unexpected commands to t. With t.Cleanup it also
// reports expectations with a count (Times) that were not used that often.
func NewFakeRunner(t testing.TB) *FakeRunner {
	f := &FakeRunner{t: t}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, e := range f.expect {
			if e.times > 0 && e.used != e.times {
				t.Errorf("remotetest: command matching %q ran %d times, want %d", e.re, e.used, e.times)
			}
		}
	})
	return f
}

// Expect answers command lines matching pattern (a regular expression, unanchored) with out.
// It panics on a bad pattern.
func (f *FakeRunner) Expect(pattern string, out remote.Output) *FakeRunner {
	return f.add(pattern, out, nil, 0)
}

// ExpectOnce is Expect for exactly one command: a second match is unexpected, none at all fails
// the test at cleanup.
func (f *FakeRunner) ExpectOnce(pattern string, out remote.Output) *FakeRunner {
	return f.add(pattern, out, nil, 1)
}

// Fail answers command lines matching pattern with a transport error (err should wrap one of
// remote's sentinels).
func (f *FakeRunner) Fail(pattern string, err error) *FakeRunner {
	return f.add(pattern, remote.Output{}, err, 0)
}

func (f *FakeRunner) add(pattern string, out remote.Output, err error, times int) *FakeRunner {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expect = append(f.expect, &expectation{re: regexp.MustCompile(pattern), out: out, err: err, times: times})
	return f
}

// Run implements remote.Runner.
func (f *FakeRunner) Run(ctx context.Context, line string) (remote.Output, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, line)
	if err := ctx.Err(); err != nil {
		return remote.Output{}, err
	}
	for _, e := range f.expect {
		if e.re.MatchString(line) && (e.times == 0 || e.used < e.times) {
			e.used++
			return e.out, e.err
		}
	}
	f.t.Errorf("remotetest: unexpected command %q", line)
	return remote.Output{}, fmt.Errorf("%w: %q", ErrUnexpected, line)
}

// Close implements remote.Runner; it counts the calls (see Closed).
func (f *FakeRunner) Close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
	return nil
}

// Calls returns the command lines run so far, in order.
func (f *FakeRunner) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Closed reports how often Close was called.
func (f *FakeRunner) Closed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// Stdout is an Output with exit code 0 and the given stdout.
func Stdout(s string) remote.Output { return remote.Output{Stdout: []byte(s)} }
