package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/dcproxy/dcproxy/fleet"
)

// jsonRenderer writes the Report as indented JSON with a trailing newline. With Options.Run, the
// keys "tool" ({"name", "version"}) and "run" (operator, inventory, reference_source,
// probe_target) follow "schema"; readers of fleet.Report ignore them.
//
// Field order is the struct order of fleet.Report, so output is stable. HTML characters are not
// escaped ("<local>" stays readable). An empty Schema is filled in with fleet.Schema; nothing else
// is changed, Summary included.
type jsonRenderer struct{ opt Options }

// Render implements Renderer.
func (j jsonRenderer) Render(w io.Writer, rep *fleet.Report) error {
	if rep == nil {
		return ErrNilReport
	}
	cp := *rep // shallow copy: only Schema is changed
	if cp.Schema == "" {
		cp.Schema = fleet.Schema
	}
	if cp.Hosts == nil {
		cp.Hosts = []fleet.HostResult{} // "hosts": [] rather than null
	}
	// Encode the report with an empty host list, then stream the hosts into its place one at a
	// time: the output is byte-identical to encoding everything at once, but only one host's JSON
	// is in memory (a 10,000-host report is tens of MB).
	hosts := cp.Hosts
	cp.Hosts = []fleet.HostResult{}
	head, err := encodeJSON(&cp, "")
	if err != nil {
		return err
	}
	if j.opt.Run != nil {
		// "tool" and "run" follow "schema": the tool version and the run's metadata.
		meta, err := json.Marshal(j.opt.Run)
		if err != nil {
			return fmt.Errorf("encode json report: %w", err)
		}
		tool, _ := json.Marshal(map[string]string{"name": "dcproxy", "version": j.opt.Run.ToolVersion})
		if nl := bytes.IndexByte(head[2:], '\n'); nl >= 0 {
			at := nl + 3
			ins := "  \"tool\": " + string(tool) + ",\n  \"run\": " + string(meta) + ",\n"
			head = append(head[:at:at], append([]byte(ins), head[at:]...)...)
		}
	}
	const marker = "\n  \"hosts\": []"
	i := bytes.Index(head, []byte(marker))
	if i < 0 {
		return fmt.Errorf("encode json report: no hosts field in %.40q", head)
	}
	if len(hosts) == 0 {
		_, err = w.Write(head)
		return writeErr(FormatJSON, err)
	}
	if _, err := w.Write(head[:i+len(marker)-1]); err != nil {
		return writeErr(FormatJSON, err)
	}
	if err := writeHostsJSON(w, hosts); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n  ]")
	if err == nil {
		_, err = w.Write(head[i+len(marker):])
	}
	return writeErr(FormatJSON, err)
}

// hostsPerChunk is how many hosts one encoding job takes: big enough that handing out jobs costs
// nothing, small enough that the chunks in flight stay a few MB.
const hostsPerChunk = 64

// writeHostsJSON writes the hosts' elements of the "hosts" array, each on its own lines after a
// separator, exactly as one encoder writing them one after another would, but encoded on every CPU:
// at the end of a fleet run the report is the only work left (10,000 hosts: about a second of CPU
// on one core). Chunks of hostsPerChunk hosts are encoded concurrently and written in order; at
// most 2*GOMAXPROCS chunks are in flight. The first error (of encoding or of w) is returned, after
// the encoders in flight have stopped.
func writeHostsJSON(w io.Writer, hosts []fleet.HostResult) error {
	type chunk struct {
		b   []byte
		err error
	}
	workers := runtime.GOMAXPROCS(0)
	inFlight := make(chan chan chunk, 2*workers)
	free := make(chan []byte, 2*workers+1) // written chunks' buffers, for the next chunks
	sem := make(chan struct{}, workers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	go func() {
		defer close(inFlight)
		for lo := 0; lo < len(hosts); lo += hostsPerChunk {
			hi := min(lo+hostsPerChunk, len(hosts))
			out := make(chan chunk, 1)
			select {
			case inFlight <- out:
			case <-stop:
				return
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				var dst []byte
				select {
				case dst = <-free:
				default:
				}
				b, err := encodeHosts(dst, hosts[lo:hi], lo == 0)
				out <- chunk{b, err}
			}()
		}
	}()
	var err error
	for out := range inFlight {
		c := <-out
		if err = c.err; err == nil {
			_, err = w.Write(c.b)
			err = writeErr(FormatJSON, err)
			select {
			case free <- c.b:
			default:
			}
		}
		if err != nil {
			break
		}
	}
	close(stop)
	for range inFlight { // let the producer see stop, then wait for the encoders it started
	}
	wg.Wait()
	return err
}

// encodeHosts appends hosts to dst[:0] as consecutive elements of the report's "hosts" array
// (indented by four spaces, each after ",\n    ", the first of the array after "\n    ").
func encodeHosts(dst []byte, hosts []fleet.HostResult, first bool) ([]byte, error) {
	var buf bytes.Buffer
	b := dst[:0]
	enc := json.NewEncoder(&buf) // compact: appendIndented indents
	enc.SetEscapeHTML(false)
	for n := range hosts {
		buf.Reset()
		if err := enc.Encode(&hosts[n]); err != nil {
			return nil, fmt.Errorf("encode json report: %w", err)
		}
		if n == 0 && first {
			b = append(b, "\n    "...)
		} else {
			b = append(b, ",\n    "...)
		}
		b = appendIndented(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n")), "    ")
		if n == 0 {
			b = slices.Grow(b, len(b)*len(hosts)*9/8) // hosts of a fleet are much alike in size
		}
	}
	return b, nil
}

// encodeJSON encodes v indented by two spaces per level after prefix, HTML characters unescaped,
// with a trailing newline.
func encodeJSON(v any, prefix string) ([]byte, error) {
	var buf bytes.Buffer
	if err := newJSONEncoder(&buf, prefix).Encode(v); err != nil {
		return nil, fmt.Errorf("encode json report: %w", err)
	}
	return buf.Bytes(), nil
}

// newJSONEncoder is the report's encoder: indented by two spaces per level after prefix, HTML
// characters unescaped, a newline after each value.
func newJSONEncoder(w io.Writer, prefix string) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, "  ")
	return enc
}
