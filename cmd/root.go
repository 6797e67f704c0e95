// Package cmd is dcproxy's command line: cobra commands, configuration (viper), credentials, and
// the one place where outcomes become exit statuses.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/report"
)

// Exit statuses. Audit-like commands combine the two bits: 0 all compliant, 1 some noncompliant,
// 2 some could not be checked, 3 both.
const (
	ExitOK           = 0
	ExitNoncompliant = 1 // bit 0
	ExitHostErrors   = 2 // bit 1
	// ExitFleetWide: no host could be checked, all for one fleet-wide cause (a password refused
	// everywhere, a KDC unreachable, every host timing out); the report leads with a headline.
	ExitFleetWide   = 4
	ExitUsage       = 64
	ExitFailure     = 70 // the run itself failed (cannot write the report, internal error)
	ExitInterrupted = 130
)

// Version is set at build time with -ldflags "-X github.com/dcproxy/dcproxy/cmd.Version=..."; when
// it is not, version() reads the module version and VCS revision from the build info.
var Version = ""

// version is the tool's version: Version, else the main module's version and the commit it was
// built from ("v1.2.0 (commit 1a2b3c4d5e6f, modified)"), else "dev".
func version() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " (commit " + rev + modified + ")"
	}
	return v
}

// app carries the process's streams and the outcome of the command that ran.
type app struct {
	ctx       context.Context
	stdin     *os.File
	stdoutFd  *os.File // stdout as a file, for the terminal size; nil in tests
	stdout    io.Writer
	stderr    io.Writer
	env       func(string) string
	stdoutTTY bool
	stderrTTY bool

	report      *fleet.Report // set by report-producing commands; decides the exit status
	notes       []string      // for the closing line: post delivered or skipped
	written     []string      // report files written, for the closing line
	quiet       bool          // --quiet: no closing line
	failOnNew   bool
	interrupted bool
	command     string   // the subcommand that ran (audit, fix, ...), for the run's log
	journals    []string // fix/restore --apply: the backup file and audit log written, for the run's log
	runLog      *runLog  // set by newLogger; the run's start and finish summaries (cmd/runlog.go)

	secMu sync.Mutex
	sec   *secrets // the run's passwords (secretStore)
}

// Main runs dcproxy with the process's arguments, streams and environment and returns the exit status.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer startProfiles(os.Getenv)() // DCPROXY_CPUPROFILE / DCPROXY_MEMPROFILE (benchmarks, BENCHMARKS.md)
	a := &app{ctx: ctx, stdin: os.Stdin, stdout: os.Stdout, stdoutFd: os.Stdout, stderr: os.Stderr, env: os.Getenv,
		stdoutTTY: isTerminal(os.Stdout), stderrTTY: isTerminal(os.Stderr)}
	return a.run(args)
}

// defaultMemoryLimit is the soft memory limit of a fleet run (audit, fix, restore) unless GOMEMLIMIT
// says otherwise. (Not of the lab, whose simulated hosts are live by design.)
// A fleet run keeps one small result per host and a burst of per-connection buffers for the hosts
// in flight; with Go's default pacing the heap may grow to twice what is live before a collection,
// which at 10,000 hosts meant ~300 MB of RSS on an admin workstation or a scheduled job. Under the
// limit the collector runs earlier instead (its CPU share is capped by the runtime, so a fleet whose
// live results exceed the limit costs CPU, never a failure).
const defaultMemoryLimit = 160 << 20

// fleetGCPercent is a fleet run's GOGC unless the environment sets one. With the memory limit as
// the bound on the heap, the collector need not also run every time the heap doubles: the live
// results are a few KB per host and the rest is garbage from the hosts in flight, so at 10,000
// hosts the default 100 meant collections every few MB of garbage, an eighth of the client's CPU
// (BENCHMARKS.md). The peak RSS stays under the limit either way.
const fleetGCPercent = 400

// setMemoryLimit applies defaultMemoryLimit and fleetGCPercent to a fleet run (audit, fix,
// restore), each unless the environment sets its own (GOMEMLIMIT, GOGC).
func setMemoryLimit(getenv func(string) string) {
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
		if getenv("GOGC") == "" {
			debug.SetGCPercent(fleetGCPercent)
		}
	}
}

// labGCPercent is the lab's GOGC unless the environment sets one. A lab's heap is mostly its
// simulated hosts' state (~23 KB each, live for the whole run) and the garbage of the requests it
// answers; with the default 100 its collector re-marks all the hosts every time that garbage
// equals them, which at 10,000 hosts took CPU from the client under test on the same machine. A
// lab is a test fixture: it trades memory (RSS ~1.1 GB at 10,000 hosts instead of ~0.7 GB) for
// that CPU.
const labGCPercent = 200

func setLabGCPercent(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(labGCPercent)
	}
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func (a *app) run(args []string) int {
	root := a.newRootCmd()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	if c, _, err := root.Find(args); err == nil && c != root {
		a.command = c.Name()
	}
	err := root.ExecuteContext(a.ctx)
	a.closingLine()
	code := a.exitCode(err)
	a.logRunFinish(code, err) // and closes the log file
	return code
}

// exitCode is the only place where outcomes become exit statuses. Errors are classified by type:
// a UsageError (and cobra's untyped "unknown command") is 64, an interrupted run is 130, anything
// else 70. Without an error, the report decides (see fleetCode).
func (a *app) exitCode(err error) int {
	interrupted := a.interrupted || (a.ctx != nil && a.ctx.Err() != nil && a.report != nil)
	if err != nil {
		fmt.Fprintf(a.stderr, "dcproxy: %v\n", err)
		var ue *UsageError
		switch {
		case errors.As(err, &ue), isCobraUnknownCommand(err):
			return ExitUsage
		case errors.Is(err, context.Canceled) && a.ctx != nil && a.ctx.Err() != nil:
			return ExitInterrupted
		default:
			return ExitFailure
		}
	}
	if interrupted {
		// Ctrl-C: the partial report was written; exit as shells expect of a SIGINT (128+2).
		return ExitInterrupted
	}
	if a.report == nil {
		return ExitOK
	}
	return a.fleetCode(a.report)
}

// closingLine ends every report-producing run on stderr with one line: the fleet's summary, the
// report files written and what became of the post. Not with --quiet.
func (a *app) closingLine() {
	if a.report == nil || a.quiet {
		return
	}
	var b strings.Builder
	b.WriteString("dcproxy: " + report.SummaryLine(a.report))
	if len(a.written) > 0 {
		b.WriteString("; wrote " + strings.Join(a.written, ", "))
	}
	for _, n := range a.notes {
		b.WriteString("; " + n)
	}
	fmt.Fprintln(a.stderr, b.String())
}

// setReport records the report that decides the exit status (nil: none was produced).
func (a *app) setReport(rep *fleet.Report) {
	if rep == nil {
		return
	}
	a.report = rep
	a.interrupted = rep.Interrupted
}

// fleetCode is the exit status of a finished report: 4 when one fleet-wide cause kept every host
// from being checked, else bit 0 some host noncompliant, bit 1 some host could not be checked
// (with --fail-on new: only new findings count).
func (a *app) fleetCode(rep *fleet.Report) int {
	if report.FleetHeadline(rep) != nil {
		return ExitFleetWide
	}
	code := ExitOK
	if d := rep.Summary.Drift; a.failOnNew && d != nil {
		// --fail-on new: only findings the baseline did not have set the bits.
		if d.NewFail > 0 {
			code |= ExitNoncompliant
		}
		if d.NewError > 0 {
			code |= ExitHostErrors
		}
		return code
	}
	for _, h := range rep.Hosts {
		switch h.Status {
		case fleet.StatusNoncompliant:
			code |= ExitNoncompliant
		case fleet.StatusError:
			code |= ExitHostErrors
		}
	}
	return code
}

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "dcproxy",
		Short: "Audit and fix the WinINet proxy of the Defender for Identity sensor's accounts on every domain controller",
		Long: `dcproxy checks, over WinRM and for a whole fleet of domain controllers, that LOCAL_SYSTEM (S-1-5-18) and
LOCAL_SERVICE (S-1-5-19) carry the WinINet proxy settings the Defender for Identity sensor needs, and that the
sensor endpoint is reachable from each host through them.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.AddCommand(a.newAuditCmd(), a.newFixCmd(), a.newRestoreCmd(), a.newDecodeCmd(), a.newLabCmd(), a.newDemoCmd(), a.newConfigCmd(), a.newDiscoverCmd())
	root.SetFlagErrorFunc(flagError)
	return root
}

// newLogger builds the run's logger: stderr (or the log file), text or JSON, at the configured level.
func (a *app) newLogger(c *Config) (*slog.Logger, func(), error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, nil, usageErr("log_level: %w", err)
	}
	w, closeFn := a.stderr, func() {}
	if c.LogFile != "" {
		f, err := os.OpenFile(expandNow(c.LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) // {date}: cmd/output.go
		if err != nil {
			return nil, nil, usageErr("log_file: %w", err)
		}
		w, closeFn = f, func() { _ = f.Close() }
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	// The log file stays open for the run's finish summary, written after the command returned
	// (it needs the exit status); run closes it then. The caller's close is a no-op.
	a.runLog = &runLog{always: c.LogFile != "" || c.LogFormat == "json", close: closeFn}
	return slog.New(h), func() {}, nil
}
