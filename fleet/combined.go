package fleet

import (
	"bytes"
	"context"
	"fmt"

	"github.com/dcproxy/dcproxy/internal/bufpool"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/reg"
)

// auditCombined reads a host and runs its probe with ONE command line (probe.CombinedCommand): the
// registry batch of hostQueries, then powershell.exe reading the probe script from stdin. The
// client receives until the batch is complete (its last marker line on stdout and the probe's
// marker on stderr), judges the host up to its probe (prepareHost), builds the script from that
// (hostEval.probeConfig) and sends it as stdin, then receives the probe's output with the command's
// end. PowerShell starts while the client receives, decides and sends; the registry batch's
// terminate Signal and the probe's own Command and first Receive are gone.
//
// When no probe is wanted after the read (see prepareHost), or its Config cannot be built, nothing
// is sent: the PowerShell waiting for stdin ends with the shell (Close's Delete), so such a host
// costs no request more than the registry batch alone. When PowerShell does not start (missing, or
// the line ends early), the registry part is still judged and the probe reported as an error in
// cmd.exe's or PowerShell's words.
//
// ready needs the stderr marker too: cmd.exe writes reg.exe's errors and the marker to stderr in
// order, so stderr splits exactly between the batch and PowerShell (WinRS may deliver the two
// streams in different Receives: ready waits for both). ok is false (and nothing was sent) when the
// combined line cannot be built: the caller then uses the two commands.
// stdinScriptSize is room for a probe script (about 5 KB; a larger one grows its buffer).
const stdinScriptSize = 8 << 10

func auditCombined(ctx context.Context, ri remote.Interactive, base HostResult, opt Options) (HostResult, bool) {
	b, err := hostBatch()
	if err != nil || b.combinedErr != nil {
		return HostResult{}, false
	}
	qs, line := b.queries, b.combined
	lastID := qs[len(qs)-1].ID
	ready := func(o remote.Output) bool {
		_, _, regDone := splitBatch(o.Stdout, lastID)
		_, _, started := probe.SplitStderr(o.Stderr)
		return regDone && started
	}
	var (
		p       *hostPrep
		sending bool   // a probe script was sent
		cfgErr  string // why no probe script was built though one was wanted
		readErr error  // the host read failed inside the stdin callback
	)
	// prepare judges the registry part; it is called once, from the stdin callback or after the end.
	prepare := func(stdout []byte) error {
		regOut, _, _ := splitBatch(stdout, lastID)
		st, err := parseHostRead(regOut, qs)
		if err != nil {
			return err
		}
		p = prepareHost(base, st, opt)
		if p.wantProbe {
			cfgErr = ""
			if _, perr := p.e.probeConfig(); perr != "" {
				cfgErr = perr
			}
		}
		return nil
	}
	var script []byte // the probe script sent, in a pooled buffer
	stdin := func(o remote.Output) ([]byte, error) {
		if err := prepare(o.Stdout); err != nil {
			readErr = err
			return nil, err
		}
		if !p.wantProbe || cfgErr != "" {
			return nil, remote.ErrNoInput // Close's Delete ends the waiting PowerShell with the shell
		}
		b, err := probe.AppendStdinScript(bufpool.Get(stdinScriptSize), p.e.cfg)
		if err != nil {
			cfgErr = "probe: " + err.Error()
			return nil, remote.ErrNoInput
		}
		sending = true
		script = b
		return b, nil
	}
	out, err := ri.RunInteractive(ctx, line, ready, stdin)
	bufpool.Put(script) // RunInteractive keeps no stdin once it returned (remote.Interactive)
	res := base
	switch {
	case readErr != nil:
		res.Status, res.Error = StatusError, hostErr(readErr)
		return res, true
	case p == nil && err != nil:
		res.Status, res.Error = StatusError, hostErr(fmt.Errorf("read registry: %w", err))
		return res, true
	case p == nil:
		// The command ended before the batch was seen complete with PowerShell waiting: judge the
		// registry from what came back; the probe gets the line's end as its outcome.
		if perr := prepare(out.Stdout); perr != nil {
			res.Status, res.Error = StatusError, hostErr(perr)
			return res, true
		}
	}
	if !p.wantProbe {
		return p.finish(nil, ""), true
	}
	if cfgErr != "" {
		return p.finish(nil, cfgErr), true
	}
	if err != nil {
		return p.finish(nil, "probe: "+err.Error()), true
	}
	_, psOut, _ := splitBatch(out.Stdout, lastID)
	psErr := out.Stderr
	if _, after, ok := probe.SplitStderr(out.Stderr); ok {
		psErr = after
	}
	if !sending && out.ExitCode == 0 {
		// Not expected: PowerShell cannot have run the probe without its script.
		return p.finish(nil, "probe: the command ended before the probe script was sent"), true
	}
	return p.finish(p.e.probeOutput(remote.Output{Stdout: psOut, Stderr: psErr, ExitCode: out.ExitCode})), true
}

// splitBatch splits the stdout of probe.CombinedCommand after the line of the registry batch's last
// marker (lastID's ok or fail, as reg.BatchQueryCommand echoes them): regOut is the batch's output,
// rest what followed. done is false while that line is not complete; regOut is then all of stdout.
func splitBatch(stdout []byte, lastID string) (regOut, rest []byte, done bool) {
	m := []byte(reg.MarkerPrefix + lastID + ":")
	for off := 0; off < len(stdout); {
		end := bytes.IndexByte(stdout[off:], '\n')
		if end < 0 {
			break
		}
		l := bytes.TrimRight(stdout[off:off+end], "\r \t")
		if k, ok := bytes.CutPrefix(l, m); ok && (string(k) == "ok" || string(k) == "fail") {
			return stdout[:off+end+1], stdout[off+end+1:], true
		}
		off += end + 1
	}
	return stdout, nil, false
}
