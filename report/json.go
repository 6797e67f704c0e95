package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

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
	// One buffer and encoder for all hosts: the encoder reuses its indentation buffer, so a host
	// costs no allocation beyond encoding/json's own.
	var buf bytes.Buffer
	enc := newJSONEncoder(&buf, "    ")
	for n := range hosts {
		buf.Reset()
		if err := enc.Encode(&hosts[n]); err != nil {
			return fmt.Errorf("encode json report: %w", err)
		}
		b := buf.Bytes()
		sep := ",\n    "
		if n == 0 {
			sep = "\n    "
		}
		if _, err := io.WriteString(w, sep); err != nil {
			return writeErr(FormatJSON, err)
		}
		if _, err := w.Write(bytes.TrimSuffix(b, []byte("\n"))); err != nil {
			return writeErr(FormatJSON, err)
		}
	}
	_, err = io.WriteString(w, "\n  ]")
	if err == nil {
		_, err = w.Write(head[i+len(marker):])
	}
	return writeErr(FormatJSON, err)
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
