package pwsh

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/dcproxy/dcproxy/internal/bufpool"
	"github.com/dcproxy/dcproxy/internal/readall"
	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/winsim/cmdexe"
)

// maxStdinScript bounds what runBootstrap reads from stdin: the probe script is a few KiB.
const maxStdinScript = 1 << 20

// stdinScriptHint is the room runBootstrap's read starts with: the probe script fits.
const stdinScriptHint = 16<<10 - 1

// extracted caches probe.Extract for runBootstrap: a lab's hosts are sent the same few probe
// scripts, and recovering a script's Config (which regenerates the script to compare) costs more
// than the rest of the probe's simulation.
var extracted struct {
	mu sync.Mutex
	m  map[string]probe.Config // script text -> its Config; at most maxExtracted entries
}

const maxExtracted = 64

// extract is probe.Extract of the script text with the cache (a hit copies no text); each caller
// gets its own copy of the Config's slices.
func extract(text []byte) (probe.Config, error) {
	extracted.mu.Lock()
	c, ok := extracted.m[string(text)]
	extracted.mu.Unlock()
	if ok {
		return cloneConfig(c), nil
	}
	script := string(text)
	c, err := probe.Extract(script)
	if err != nil {
		return c, err
	}
	extracted.mu.Lock()
	if extracted.m == nil || len(extracted.m) >= maxExtracted {
		extracted.m = make(map[string]probe.Config, maxExtracted)
	}
	extracted.m[script] = cloneConfig(c)
	extracted.mu.Unlock()
	return c, nil
}

func cloneConfig(c probe.Config) probe.Config {
	c.Routes = slices.Clone(c.Routes)
	c.Roots = slices.Clone(c.Roots)
	return c
}

// runBootstrap is powershell.exe running probe.Bootstrap: it reads its whole standard input
// ([Console]::In.ReadToEnd(), which returns at EOF: the client's Send with End=true) and runs it
// with Invoke-Expression. The start-up (StartTime) runs from the process start, while the client may
// still be deciding what to send: the script runs once both the start-up and the read are over, and
// nothing is printed before it has run. A blank stdin runs nothing (exit 0, no output). A script
// other than the dcproxy probe fails loudly (the simulator answers only the probe).
func (h *Host) runBootstrap(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) int {
	type read struct {
		text []byte // a bufpool buffer, handed back by the receiver
		err  error
	}
	got := make(chan read, 1)
	go func() {
		// The read ends at EOF, or when the command's stdin pipe is closed as it finishes (a
		// canceled command), so this goroutine does not outlive the command.
		buf := bufpool.Get(stdinScriptHint + 1)
		b, err := readall.Append(buf, io.LimitReader(stdin, maxStdinScript+1), stdinScriptHint)
		got <- read{b, err}
	}()
	if !sleep(ctx, h.StartTime) {
		return cmdexe.ExitCanceled
	}
	var in read
	select {
	case in = <-got:
	case <-ctx.Done():
		return cmdexe.ExitCanceled
	}
	defer bufpool.Put(in.text)
	if in.err != nil {
		fmt.Fprintf(stderr, "winsim: powershell.exe: reading stdin failed: %v\r\n", in.err)
		return ExitNotSimulated
	}
	if len(in.text) > maxStdinScript {
		fmt.Fprintf(stderr, "winsim: powershell.exe: a stdin script over %d bytes is not simulated\r\n", maxStdinScript)
		return ExitNotSimulated
	}
	if len(bytes.TrimSpace(in.text)) == 0 {
		return 0
	}
	c, err := extract(in.text)
	if err != nil {
		fmt.Fprintf(stderr, "winsim: powershell.exe: script from stdin is not simulated (only the dcproxy probe is): %q\r\n", clip(string(in.text)))
		return ExitNotSimulated
	}
	return h.runProbe(ctx, c, stdout)
}
