package winsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestOutputBuffersHandedOver: pending output lives in pooled buffers that whole-output chunks
// take along and give back when released. With a program writing both streams line by line (in
// UTF-8 and in a code page) while Receives take chunks of random sizes (whole and partial) and
// release them, every byte arrives once, in order; the package's tests poison buffers given back,
// so one given back while a chunk or the stream still used it would show as garbage here.
func TestOutputBuffersHandedOver(t *testing.T) {
	for _, cp := range []int{65001, 850} {
		for run := range 20 {
			c := newCommand("C", cp, func() {})
			var want [2]bytes.Buffer
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.finish()
				ws := [2]io.Writer{c.stdoutWriter(), c.stderrWriter()}
				r := rand.New(rand.NewPCG(uint64(run), 1))
				for i := range 400 {
					k := r.IntN(2)
					line := fmt.Sprintf("%d line %d %s\r\n", k, i, bytes.Repeat([]byte("x"), r.IntN(3000)))
					want[k].WriteString(line)
					if i%2 == 0 {
						_, _ = io.WriteString(ws[k], line)
					} else {
						_, _ = ws[k].Write([]byte(line))
					}
				}
			}()
			// Chunks are copied and released a few waits later and out of order, as concurrent
			// Receives might: a chunk's bytes must stay intact until it is released.
			var copies [][2][]byte
			var pending []int
			var chunks []chunk
			consume := func(k int) {
				idx := pending[k]
				pending = append(pending[:k], pending[k+1:]...)
				ch := &chunks[idx]
				copies[idx] = [2][]byte{bytes.Clone(ch.data[0]), bytes.Clone(ch.data[1])}
				ch.release()
			}
			r := rand.New(rand.NewPCG(uint64(run), 2))
			for {
				ch, ok := c.wait(context.Background(), time.Minute, 1+r.IntN(9000))
				if !ok {
					t.Fatal("wait timed out")
				}
				chunks = append(chunks, ch)
				copies = append(copies, [2][]byte{})
				pending = append(pending, len(chunks)-1)
				if len(pending) > 3 {
					consume(r.IntN(len(pending)))
				}
				if ch.done {
					break
				}
			}
			for len(pending) > 0 {
				consume(r.IntN(len(pending)))
			}
			var got [2]bytes.Buffer
			for _, cp := range copies {
				got[0].Write(cp[0])
				got[1].Write(cp[1])
			}
			wg.Wait()
			for i := range got {
				if !bytes.Equal(got[i].Bytes(), want[i].Bytes()) {
					t.Fatalf("code page %d run %d stream %d: got %d bytes, want %d", cp, run, i, got[i].Len(), want[i].Len())
				}
			}
		}
	}
}
