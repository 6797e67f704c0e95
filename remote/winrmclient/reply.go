package winrmclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/dcproxy/dcproxy/remote"
)

// Reply parser limits. A WinRM reply is a flat SOAP envelope (depth under 10); anything deeper, or
// longer than a reply may be, is not WinRM.
const (
	// maxReplyDepth bounds element nesting.
	maxReplyDepth = 64
	// maxReplySize bounds a (decrypted) SOAP reply: a few times w:MaxEnvelopeSize. Windows never
	// exceeds MaxEnvelopeSize; the margin absorbs UTF-16 and whitespace.
	maxReplySize = 4 * envelopeSize
	// maxFieldText bounds the text kept of one scalar field (ids, codes, fault reasons).
	maxFieldText = 4 << 10
	// ctxCheckEvery is how many XML tokens are read between two checks of the context.
	ctxCheckEvery = 64
)

// WS-Man/WinRS values this client acts on.
const (
	stateDone = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
)

// errReplyTooDeep and errReplyTooLarge are wrapped (with remote.ErrProtocol) by parseReply.
var (
	errReplyTooDeep  = fmt.Errorf("XML nested deeper than %d elements", maxReplyDepth)
	errReplyTooLarge = fmt.Errorf("reply larger than %d bytes", maxReplySize)
)

// wsReply is everything this client reads from a WinRM reply. Only the elements WinRS replies carry
// are looked at; the rest is skipped by the tokenizer.
type wsReply struct {
	Action    string // wsa:Action
	ShellID   string // w:Selector Name="ShellId" (header), else rsp:ShellId (body)
	CommandID string // rsp:CommandId of a CommandResponse
	Stdout    []byte // decoded rsp:Stream Name="stdout", in order
	Stderr    []byte // decoded rsp:Stream Name="stderr", in order
	Done      bool   // rsp:CommandState State=".../CommandState/Done"
	ExitCode  int    // rsp:ExitCode (valid when HasExit)
	HasExit   bool
	Fault     *wsFault // s:Fault, when the body is one
}

// wsFault is the part of a SOAP 1.2 fault with a WSManFault detail that messages and
// classification use. All text is whitespace-normalized and capped.
type wsFault struct {
	Code      string // s:Code/s:Value ("s:Sender", "s:Receiver")
	Subcode   string // s:Code/s:Subcode/s:Value ("w:TimedOut", "w:InvalidParameter")
	Reason    string // first s:Reason/s:Text
	WSManCode string // WSManFault@Code ("2150858793")
	Message   string // WSManFault/Message, including a ProviderFault's text
	Provider  string // ProviderFault@provider ("Shell cmd plugin")
	Path      string // ProviderFault@path ("%systemroot%\system32\winrscmd.dll")
}

// timedOut reports the OperationTimeout fault (by code, so a localized reason still counts).
func (f *wsFault) timedOut() bool {
	return f != nil && (f.WSManCode == "2150858793" || strings.HasSuffix(f.Subcode, ":TimedOut") || f.Subcode == "TimedOut")
}

// accessDenied recognises the WSManFault Windows sends to an authenticated but unauthorised user:
// WSManFault Code="5", message "Access is denied.".
// unverified: the exact XML of Windows' access-denied fault (reference 1.7); matched loosely.
func (f *wsFault) accessDenied() bool {
	return f != nil && (f.WSManCode == "5" || strings.HasSuffix(f.Subcode, ":AccessDenied") ||
		strings.Contains(strings.ToLower(f.Reason), "access is denied"))
}

// parseReply reads one SOAP reply with a streaming tokenizer: element nesting is limited to
// maxReplyDepth, the input to maxReplySize, and ctx is checked every few tokens, so a hostile reply
// (deeply nested, huge) costs at most a bounded, cancellable amount of work. The document must be a
// SOAP Envelope. Errors wrap remote.ErrProtocol, or are ctx's error.
//
// Namespace prefixes are ignored (local names are matched), as Windows' prefixes vary; the XML
// encoding declaration may name UTF-8 or UTF-16 (see utf8Reply: the bytes are UTF-8 by then).
func parseReply(ctx context.Context, data []byte) (*wsReply, error) {
	if len(data) > maxReplySize {
		return nil, fmt.Errorf("%w: %w", remote.ErrProtocol, errReplyTooLarge)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "utf-8", "utf8", "utf-16", "utf-16le", "utf-16be", "unicode":
			return in, nil // utf8Reply converted UTF-16 before parsing
		}
		return nil, fmt.Errorf("unsupported charset %q", label)
	}
	p := replyParser{rep: &wsReply{}}
	for n := 0; ; n++ {
		if n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: reply is not XML: %w", remote.ErrProtocol, err)
		}
		if err := p.token(tok); err != nil {
			return nil, fmt.Errorf("%w: %w", remote.ErrProtocol, err)
		}
	}
	if !p.sawRoot {
		return nil, fmt.Errorf("%w: reply is empty", remote.ErrProtocol)
	}
	if len(p.stack) != 0 {
		return nil, fmt.Errorf("%w: reply is not XML: unexpected end of document", remote.ErrProtocol)
	}
	return p.rep, nil
}

// replyParser holds the state of one parse: the stack of open elements (local names) and where
// character data currently goes.
type replyParser struct {
	rep     *wsReply
	stack   []string
	sawRoot bool

	text      *strings.Builder // scalar field being read, or nil
	textCap   bool             // text has been capped
	textDepth int              // stack depth of the element whose text is read
	assign    func(string)     // stores text when its element ends

	stream      *[]byte // stream content being read (base64), or nil
	streamDepth int
	b64         []byte

	reasonOK bool // first Reason/Text already taken
}

func (p *replyParser) parent(i int) string {
	if len(p.stack) < i {
		return ""
	}
	return p.stack[len(p.stack)-i]
}

func attr(e xml.StartElement, name string) (string, bool) {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func (p *replyParser) token(tok xml.Token) error {
	switch t := tok.(type) {
	case xml.StartElement:
		if len(p.stack) >= maxReplyDepth {
			return errReplyTooDeep
		}
		if len(p.stack) == 0 {
			if p.sawRoot {
				return errors.New("more than one root element")
			}
			p.sawRoot = true
			if t.Name.Local != "Envelope" {
				return fmt.Errorf("reply is not a SOAP envelope (root element %q)", clip(t.Name.Local))
			}
		}
		p.stack = append(p.stack, t.Name.Local)
		p.start(t)
	case xml.EndElement:
		if len(p.stack) == 0 || p.stack[len(p.stack)-1] != t.Name.Local {
			return fmt.Errorf("mismatched end element %q", clip(t.Name.Local))
		}
		if err := p.end(); err != nil {
			return err
		}
		p.stack = p.stack[:len(p.stack)-1]
	case xml.CharData:
		switch {
		case p.stream != nil:
			if len(p.b64)+len(t) > maxReplySize {
				return errReplyTooLarge
			}
			p.b64 = append(p.b64, t...)
		case p.text != nil && !p.textCap:
			if p.text.Len()+len(t) > maxFieldText {
				p.text.Write(t[:maxFieldText-p.text.Len()])
				p.textCap = true
			} else {
				p.text.Write(t)
			}
		}
	}
	return nil
}

// start acts on an element that WinRS replies carry; every other element is skipped.
func (p *replyParser) start(e xml.StartElement) {
	name, parent := e.Name.Local, p.parent(2)
	switch {
	case name == "Action" && parent == "Header":
		p.captureAt(func(s string) { p.rep.Action = strings.TrimSpace(s) })
	case name == "Selector" && parent == "SelectorSet":
		if v, _ := attr(e, "Name"); v == "ShellId" {
			p.captureAt(func(s string) { p.rep.ShellID = strings.TrimSpace(s) })
		}
	case name == "ShellId" && parent == "Shell":
		p.captureAt(func(s string) {
			if p.rep.ShellID == "" {
				p.rep.ShellID = strings.TrimSpace(s)
			}
		})
	case name == "CommandId" && parent == "CommandResponse":
		p.captureAt(func(s string) { p.rep.CommandID = strings.TrimSpace(s) })
	case name == "Stream" && parent == "ReceiveResponse":
		switch v, _ := attr(e, "Name"); v {
		case "stdout":
			p.stream = &p.rep.Stdout
		case "stderr":
			p.stream = &p.rep.Stderr
		}
		p.b64 = p.b64[:0]
		p.streamDepth = len(p.stack)
	case name == "CommandState" && parent == "ReceiveResponse":
		if v, _ := attr(e, "State"); strings.TrimSpace(v) == stateDone {
			p.rep.Done = true
		}
	case name == "ExitCode" && parent == "CommandState":
		p.captureAt(func(s string) {
			// Windows exit codes are DWORDs (0..4294967295); negative values are tolerated.
			if v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
				p.rep.ExitCode, p.rep.HasExit = int(v), true
			}
		})
	case name == "Fault" && parent == "Body":
		p.rep.Fault = &wsFault{}
	case p.rep.Fault != nil:
		p.startFault(e, name, parent)
	}
}

func (p *replyParser) startFault(e xml.StartElement, name, parent string) {
	f := p.rep.Fault
	switch {
	case name == "Value" && parent == "Code" && p.parent(3) == "Fault":
		p.captureAt(func(s string) { f.Code = normSpace(s) })
	case name == "Value" && parent == "Subcode":
		p.captureAt(func(s string) {
			if f.Subcode == "" {
				f.Subcode = normSpace(s)
			}
		})
	case name == "Text" && parent == "Reason":
		if !p.reasonOK {
			p.reasonOK = true
			p.captureAt(func(s string) { f.Reason = normSpace(s) })
		}
	case name == "WSManFault" && f.WSManCode == "":
		if v, ok := attr(e, "Code"); ok {
			f.WSManCode = strings.TrimSpace(v)
		}
	case name == "Message" && parent == "WSManFault":
		p.captureAt(func(s string) {
			if f.Message == "" {
				f.Message = normSpace(s)
			}
		})
	case name == "ProviderFault":
		if f.Provider == "" {
			f.Provider, _ = attr(e, "provider")
			f.Path, _ = attr(e, "path")
		}
	}
}

// captureAt starts collecting the text of the current element (and of its children) for set. A
// field nested in one already being read (ProviderFault inside Message) adds to the outer one.
func (p *replyParser) captureAt(set func(string)) {
	if p.text != nil || p.stream != nil {
		return
	}
	p.text, p.textCap, p.assign, p.textDepth = &strings.Builder{}, false, set, len(p.stack)
}

func (p *replyParser) end() error {
	depth := len(p.stack)
	if p.stream != nil && depth == p.streamDepth {
		// Windows sends each chunk as one base64 text; tolerate whitespace inside it.
		enc := bytes.Join(bytes.Fields(p.b64), nil)
		dec := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
		n, err := base64.StdEncoding.Decode(dec, enc)
		if err != nil {
			return fmt.Errorf("stream is not base64: %w", err)
		}
		*p.stream = append(*p.stream, dec[:n]...)
		p.stream = nil
	}
	if p.text != nil && depth == p.textDepth {
		p.assign(p.text.String())
		p.text, p.assign = nil, nil
	}
	return nil
}

func normSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// clip shortens an element name quoted in an error.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
