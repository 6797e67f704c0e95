package winrmclient

import (
	"context"

	"github.com/dcproxy/dcproxy/remote"
)

var _ remote.Interactive = (*runner)(nil)

// maxSendChunk bounds the stdin bytes of one Send: base64 makes them 4/3 larger, and the envelope
// must stay well under w:MaxEnvelopeSize (envelopeSize) and the host's MaxEnvelopeSizekb.
const maxSendChunk = 32 << 10

// RunInteractive implements remote.Interactive over one WinRS command: Command, Receive until
// ready (each Receive returns what the host has produced so far: WinRS streams output while the
// command runs), then Send of stdin's result with End="true" (in pieces of at most maxSendChunk
// bytes, End on the last; an empty result is one Send of no data with End), then Receive until
// Done. On a compliant audit this replaces the registry batch's Command+Receive, its terminate
// Signal and the probe's Command+Receive by one Command, its Receives and one Send.
//
// The command's terminate Signal is owed as after Run (sent before the next Command, or never when
// Close deletes the shell). When ctx ends, a Receive or Send fails, the output exceeds maxOutput,
// or stdin returns an error, the command is terminated at once; after remote.ErrNoInput it is left
// to the next Command's terminate Signal or to Close's Delete (no request of its own).
func (r *runner) RunInteractive(ctx context.Context, commandLine string, ready func(remote.Output) bool,
	stdin func(remote.Output) ([]byte, error)) (remote.Output, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cmdID, err := r.startCommand(ctx, commandLine)
	if err != nil {
		return remote.Output{}, err
	}

	var out remote.Output
	sent := false
	for {
		done, err := r.receive(ctx, cmdID, &out)
		if err != nil {
			return out, err
		}
		if done {
			break
		}
		if sent || !ready(out) {
			continue
		}
		sent = true
		data, err := stdin(out)
		if err == remote.ErrNoInput {
			// Left running: terminated like a finished command, before the next Command (Signal)
			// or with the shell by Close's Delete, which ends the shell's processes.
			// unverified: that Windows' Delete ends a command still waiting for stdin without a
			// Signal first (winsim does; WinRM's IdleTimeout would end it otherwise).
			r.finished = cmdID
			return out, nil
		}
		if err != nil {
			r.signal(cmdID)
			return out, err
		}
		if err := r.send(ctx, cmdID, data); err != nil {
			r.signal(cmdID)
			return out, r.wrap(ctx, "send", err)
		}
	}
	r.finished = cmdID
	return out, nil
}

// send writes data to the command's stdin and ends it. An empty data is one Send of no bytes with
// End="true", as masterzen's RunWithString sends for an empty stdin.
func (r *runner) send(ctx context.Context, cmdID string, data []byte) error {
	for {
		n := min(len(data), maxSendChunk)
		last := n == len(data)
		if _, err := r.exchange(ctx, r.req.send(r.shellID, cmdID, data[:n], last)); err != nil {
			return err
		}
		if last {
			return nil
		}
		data = data[n:]
	}
}
