package winsim

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Exec runs one command line as the given account, the way a WinRS shell created with the given
// code page would, but in-process, without HTTP or authentication. It exists for tests of code
// above the transport (the audit engine) and for tools; everything that matters for WinRM
// fidelity goes through Handler.
func (h *Host) Exec(ctx context.Context, user, line string, codepage int) (stdout, stderr []byte, exit int, err error) {
	acct, ok := h.Account(user)
	if !ok {
		return nil, nil, 0, fmt.Errorf("winsim: %s: no account %q", h.cfg.Name, user)
	}
	if codepage != 65001 && codepages[codepage] == nil {
		return nil, nil, 0, fmt.Errorf("winsim: code page %d is not simulated", codepage)
	}
	_, name, _ := strings.Cut(acct.User, `\`)
	s := &shell{id: newUUID(), owner: acct.User, sid: acct.SID, profile: profileDir(name), codepage: codepage, commands: map[string]*command{}}
	c := h.start(s, line)
	defer c.cancel()
	for {
		ch, ok := c.wait(ctx, time.Hour, 1<<30)
		if !ok {
			return stdout, stderr, 0, ctx.Err()
		}
		stdout = append(stdout, ch.data[0]...)
		stderr = append(stderr, ch.data[1]...)
		ch.release() // copied
		if ch.done {
			return stdout, stderr, ch.exit, nil
		}
	}
}
