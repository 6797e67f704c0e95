package cmd

import (
	"context"
	"log/slog"
	"runtime"
	"time"
)

// runLog writes two summary records to the run's log: "run started" (command, version, inventory,
// host count, concurrency, operator) once the hosts are known, and "run finished" (hosts by status,
// duration, files written, exit status) after the exit status is decided. With a log file or
// --log-format json they are written whatever log_level says (they are the record of the run a
// scheduled job's log exists for); a text log on stderr gets them at info level only.
type runLog struct {
	always bool   // write the summaries regardless of the level
	close  func() // closes the log file
	h      slog.Handler
	start  time.Time
}

// logRunStart records the start summary on log (the run's effective logger: --quiet without a
// log file discards it).
func (a *app) logRunStart(cfg *Config, o *auditOptions, log *slog.Logger, hosts int) {
	rl := a.runLog
	if rl == nil {
		return
	}
	rl.h, rl.start = log.Handler(), time.Now()
	attrs := []slog.Attr{
		slog.String("command", a.command), slog.String("version", version()),
		slog.String("inventory", inventoryName(o)), slog.Int("hosts", hosts),
		slog.Int("concurrency", cfg.Concurrency), slog.String("operator", operator(cfg)),
	}
	if a.command == "fix" || a.command == "restore" {
		attrs = append(attrs, slog.Int("fix_concurrency", cfg.Fix.Concurrency))
	}
	rl.write("run started", attrs)
}

// logRunFinish records the finish summary (only after a start summary: a usage error before any
// host was known has no run to summarize) and closes the log file.
func (a *app) logRunFinish(code int, err error) {
	rl := a.runLog
	if rl == nil {
		return
	}
	defer rl.close()
	if rl.h == nil {
		return
	}
	files := append(append([]string{}, a.written...), a.journals...)
	attrs := []slog.Attr{slog.String("command", a.command), slog.Int("exit_code", code)}
	if rep := a.report; rep != nil {
		s := rep.Summary
		attrs = append(attrs, slog.Group("hosts", "total", s.Hosts, "compliant", s.Compliant,
			"noncompliant", s.Noncompliant, "error", s.Error), slog.Bool("interrupted", a.interrupted))
	}
	attrs = append(attrs, slog.Int64("duration_ms", time.Since(rl.start).Milliseconds()), slog.Any("files", files))
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	rl.write("run finished", attrs)
}

func (rl *runLog) write(msg string, attrs []slog.Attr) {
	ctx := context.Background()
	if !rl.always && !rl.h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	var pcs [1]uintptr
	runtime.Callers(3, pcs[:])
	r := slog.NewRecord(time.Now(), slog.LevelInfo, msg, pcs[0])
	r.AddAttrs(attrs...)
	_ = rl.h.Handle(ctx, r) // Handle writes whatever the level: the summaries bypass log_level
}
