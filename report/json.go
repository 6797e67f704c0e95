package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/dcproxy/dcproxy/fleet"
)

// jsonRenderer writes the Report as indented JSON with a trailing newline.
//
// Field order is the struct order of fleet.Report, so output is stable. HTML characters are not
// escaped ("<local>" stays readable). An empty Schema is filled in with fleet.Schema; nothing else
// is changed, Summary included.
type jsonRenderer struct{}

// Render implements Renderer.
func (jsonRenderer) Render(w io.Writer, rep *fleet.Report) error {
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
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&cp); err != nil { // Encode appends the trailing newline
		return fmt.Errorf("encode json report: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return writeErr(FormatJSON, err)
}
