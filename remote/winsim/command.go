package winsim

import (
	"context"
	"encoding/base64"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/dcproxy/dcproxy/internal/bufpool"
)

// command is one running or finished process of a shell. Output is kept in the shell's code page
// until a Receive takes it.
type command struct {
	id       string
	codepage int
	cancel   context.CancelFunc

	stdin  *io.PipeReader
	stdinW *io.PipeWriter
	// stdinPrev is closed when the previous Send's data has been written to stdin (and the pipe
	// closed if that Send ended it): each Send waits for it, so stdin keeps the Sends' order.
	stdinPrev chan struct{}

	mu      sync.Mutex
	changed chan struct{} // made by a waiting wait, closed (and dropped) when output arrives or the command ends
	out     [2][]byte     // pending stdout, stderr
	done    bool
	exit    int // set by the runner goroutine before finish
	exitVal int
	sentEnd bool
}

func newCommand(id string, codepage int, cancel context.CancelFunc) *command {
	r, w := io.Pipe()
	return &command{id: id, codepage: codepage, cancel: cancel, stdin: r, stdinW: w}
}

func (c *command) notifyLocked() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

func (c *command) finish() {
	c.mu.Lock()
	c.done = true
	c.exitVal = c.exit
	c.notifyLocked()
	c.mu.Unlock()
	_ = c.stdin.CloseWithError(io.ErrClosedPipe)
	c.cancel()
}

// writeStdin hands client input to the process; with end the process sees EOF after it. The pipe
// blocks until the process reads, so the write happens in the background (the HTTP exchange is not
// held up for it), after the previous Send's: a Send of data followed by an empty Send with End
// (what masterzen sends for a stdin reader) must not close the pipe before the data was read.
func (c *command) writeStdin(data []byte, end bool) {
	c.mu.Lock()
	prev, done := c.stdinPrev, make(chan struct{})
	c.stdinPrev = done
	c.mu.Unlock()
	go func() {
		defer close(done)
		if prev != nil {
			<-prev
		}
		if len(data) > 0 {
			_, _ = c.stdinW.Write(data)
		}
		if end {
			_ = c.stdinW.Close()
		}
	}()
}

type streamWriter struct {
	c   *command
	idx int
	enc *encoder
}

func (c *command) stdoutWriter() io.Writer {
	return &streamWriter{c: c, idx: 0, enc: newEncoder(c.codepage)}
}
func (c *command) stderrWriter() io.Writer {
	return &streamWriter{c: c, idx: 1, enc: newEncoder(c.codepage)}
}

// Pending output lives in buffers from bufpool: programs write line by line, and growing from a
// few bytes would copy the output many times over. A chunk takes the bytes it carries along: the
// whole pending slice (with its spare room), or a prefix capped at its length, after which the
// stream keeps only what follows. The two never overlap, so the Receive that sends a chunk hands
// its slices back to bufpool (chunk.release) while the stream goes on writing.

// room returns the stream's pending output with room for n more bytes; the caller holds c.mu.
func (c *command) room(i, n int) []byte {
	out := c.out[i]
	if cap(out)-len(out) >= n {
		return out
	}
	grown := append(bufpool.Get(len(out)+n), out...)
	bufpool.Put(out) // copied; no chunk shares these bytes
	return grown
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	w.c.out[w.idx] = w.enc.appendEncoded(w.c.room(w.idx, len(p)), p)
	w.c.notifyLocked()
	w.c.mu.Unlock()
	return len(p), nil
}

// WriteString is Write for the programs' text (io.WriteString uses it): in a UTF-8 shell the text
// is appended without a conversion to []byte first.
func (w *streamWriter) WriteString(s string) (int, error) {
	if w.enc.cm != nil {
		return w.Write([]byte(s))
	}
	w.c.mu.Lock()
	w.c.out[w.idx] = append(w.c.room(w.idx, len(s)), s...)
	w.c.notifyLocked()
	w.c.mu.Unlock()
	return len(s), nil
}

// chunk is what one Receive response carries.
type chunk struct {
	data [2][]byte // the chunk's own bytes (see room)
	done bool
	exit int
}

// release hands the chunk's data back to bufpool; it must not be used afterwards.
func (ch *chunk) release() {
	for i := range ch.data {
		bufpool.Put(ch.data[i])
		ch.data[i] = nil
	}
}

// wait blocks until output is pending or the command ends (then it returns a chunk of at most room
// bytes of output), or until timeout (ok=false: the caller sends the OperationTimeout fault), or
// until ctx ends.
func (c *command) wait(ctx context.Context, timeout time.Duration, room int) (chunk, bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		c.mu.Lock()
		pending := len(c.out[0]) + len(c.out[1])
		if pending > 0 || (c.done && !c.sentEnd) {
			var ch chunk
			for i := range c.out {
				n := min(len(c.out[i]), room)
				if n > 0 && n == len(c.out[i]) {
					// All of it: the chunk takes the buffer; the stream starts a new one.
					ch.data[i], c.out[i] = c.out[i], nil
				} else {
					ch.data[i] = c.out[i][:n:n]
					c.out[i] = c.out[i][n:]
				}
				room -= n
			}
			if c.done && len(c.out[0])+len(c.out[1]) == 0 {
				ch.done, ch.exit = true, c.exitVal
				c.sentEnd = true
			}
			c.mu.Unlock()
			return ch, true
		}
		if c.done && c.sentEnd {
			// Receive after Done: answered with the final state, exit code kept. unverified: Windows has been
			// seen to report exit code 0 on later polls (winrm-reg-reference.md 1.8); no client polls again.
			c.mu.Unlock()
			return chunk{done: true, exit: c.exitVal}, true
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-t.C:
			return chunk{}, false
		case <-ctx.Done():
			return chunk{}, false
		}
	}
}

// xmlSize is room enough for appendXML's output.
func (ch chunk) xmlSize(id string) int {
	return 512 + 4*len(id) + base64.StdEncoding.EncodedLen(len(ch.data[0])) + base64.StdEncoding.EncodedLen(len(ch.data[1]))
}

// appendXML appends the rsp:ReceiveResponse carrying ch (command id) to b.
func (ch chunk) appendXML(b []byte, id string) []byte {
	b = append(b, `<rsp:ReceiveResponse>`...)
	for i, name := range [...]string{"stdout", "stderr"} {
		if len(ch.data[i]) > 0 {
			b = appendStrings(b, `<rsp:Stream Name="`, name, `" CommandId="`, id, `">`)
			b = base64.StdEncoding.AppendEncode(b, ch.data[i])
			b = append(b, `</rsp:Stream>`...)
		}
	}
	if ch.done {
		b = appendStrings(b, `<rsp:Stream Name="stdout" CommandId="`, id, `" End="true"></rsp:Stream><rsp:Stream Name="stderr" CommandId="`, id, `" End="true"></rsp:Stream>`)
		b = appendStrings(b, `<rsp:CommandState CommandId="`, id, `" State="`, stateDone, `"><rsp:ExitCode>`)
		b = strconv.AppendInt(b, int64(ch.exit), 10)
		b = append(b, `</rsp:ExitCode></rsp:CommandState>`...)
	} else {
		b = appendStrings(b, `<rsp:CommandState CommandId="`, id, `" State="`, stateRunning, `"></rsp:CommandState>`)
	}
	return append(b, `</rsp:ReceiveResponse>`...)
}
