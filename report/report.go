// Package report renders a finished fleet.Report for people and machines: an aligned table for the
// terminal, JSON, CSV, a Markdown ticket body, JUnit XML for CI, and a self-contained HTML page.
//
// Renderers are pure: they read the report, write to the given io.Writer and do no other I/O. They
// never modify the report, keep no state between calls and are safe for concurrent use. Output is
// deterministic for a given report and Options: nothing depends on map iteration order or on the
// clock unless Options.Now is consulted (HTML footer only).
package report

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
)

// Errors callers may branch on.
var (
	// ErrUnknownFormat is returned by New for a format name it does not know.
	ErrUnknownFormat = errors.New("unknown report format")
	// ErrNilReport is returned by Render when the report is nil.
	ErrNilReport = errors.New("nil report")
)

// Renderer writes a finished report and does no other I/O.
//
// Render returns ErrNilReport for a nil report and a wrapped write error when w fails; output written
// before the failure is not taken back. Implementations are safe for concurrent use.
type Renderer interface {
	Render(w io.Writer, rep *fleet.Report) error
}

// Options tune human-oriented output. The zero value is valid: plain output without colour, no
// width limit, the real clock.
type Options struct {
	// TTY says that w is an interactive terminal: the table puts problems first and may be coloured
	// and fitted to Width and Height. When false, the table is plain aligned text in inventory
	// order, without colour, every cell in full.
	TTY bool
	// Color enables ANSI colours in the table; ignored unless TTY is set.
	Color bool
	// Width is the terminal width in columns; 0 means no limit. Only used for the table on a TTY:
	// every line fits, cells are cut with an ellipsis.
	Width int
	// Height is the terminal height in lines; 0 means no limit. Only used for the table on a TTY:
	// when the hosts would not fit, compliant hosts are left out (the table says how many).
	Height int
	// All shows every host in the TTY table even when they do not fit Height (--all).
	All bool
	// Now returns the time shown as "generated at" (HTML); nil means time.Now.
	Now func() time.Time
	// Inventory is the inventory path written into the fix commands of the Markdown ticket; empty
	// means the placeholder "INVENTORY".
	Inventory string
	// Run is the run's metadata (tool version, operator, inventory, reference source, probe
	// target): JSON carries it as "tool" and "run", HTML and Markdown show it. nil: none.
	Run *RunInfo
	// NewOnly restricts the Markdown ticket body to what a baseline comparison found new (dcproxy
	// --fail-on new): the headline counts hosts with new findings and the host tables list only
	// them. Ignored when the report has no baseline; the other formats always show every host.
	NewOnly bool
}

// RunInfo is what a reader of a report needs to know about the run beyond its results.
type RunInfo struct {
	ToolVersion     string `json:"-"`
	Operator        string `json:"operator,omitempty"`         // local user and connecting account
	Inventory       string `json:"inventory,omitempty"`        // the inventory file
	ReferenceSource string `json:"reference_source,omitempty"` // current_user or declared
	ProbeTarget     string `json:"probe_target,omitempty"`     // the probe URL, or how it is chosen
}

// runMeta is RunInfo as name/value pairs for the human formats, in a fixed order.
func runMeta(rep *fleet.Report, o Options) [][2]string {
	r := o.Run
	if r == nil {
		return nil
	}
	var out [][2]string
	add := func(k, v string) {
		if v = oneLine(v); v != "" {
			out = append(out, [2]string{k, v})
		}
	}
	add("dcproxy", r.ToolVersion)
	add("operator", r.Operator)
	add("inventory", r.Inventory)
	add("reference", r.ReferenceSource)
	add("probe target", r.ProbeTarget)
	return out
}

// Format names accepted by New.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatCSV   = "csv"
	// FormatCSVChecks is the per-check CSV: one record per host and check.
	FormatCSVChecks = "csv-checks"
	FormatMarkdown  = "markdown"
	FormatJUnit     = "junit"
	FormatHTML      = "html"
)

var constructors = []struct {
	name string
	make func(Options) Renderer
}{
	{FormatCSV, func(o Options) Renderer { return csvWideRenderer{opt: o} }},
	{FormatCSVChecks, func(o Options) Renderer { return csvRenderer{} }},
	{FormatHTML, func(o Options) Renderer { return htmlRenderer{opt: o} }},
	{FormatJSON, func(o Options) Renderer { return jsonRenderer{opt: o} }},
	{FormatJUnit, func(o Options) Renderer { return junitRenderer{} }},
	{FormatMarkdown, func(o Options) Renderer { return markdownRenderer{opt: o} }},
	{FormatTable, func(o Options) Renderer { return tableRenderer{opt: o} }},
}

// Formats returns the format names New accepts, sorted. The slice is a fresh copy.
func Formats() []string {
	out := make([]string, 0, len(constructors))
	for _, c := range constructors {
		out = append(out, c.name)
	}
	slices.Sort(out)
	return out
}

// New returns the renderer for format (case-insensitive; "md" is accepted for markdown). An unknown
// format yields an error wrapping ErrUnknownFormat that lists the valid names.
func New(format string, opt Options) (Renderer, error) {
	name := strings.ToLower(strings.TrimSpace(format))
	if name == "md" {
		name = FormatMarkdown
	}
	for _, c := range constructors {
		if c.name == name {
			return c.make(opt), nil
		}
	}
	return nil, fmt.Errorf("%w %q: valid formats are %s", ErrUnknownFormat, format, strings.Join(Formats(), ", "))
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func writeErr(format string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("write %s report: %w", format, err)
}
