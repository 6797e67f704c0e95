package winrmclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/dcproxy/dcproxy/internal/bufpool"

	"github.com/dcproxy/dcproxy/internal/xmlscan"
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

// parseReply reads one SOAP reply with a streaming tokenizer (internal/xmlscan: strict XML 1.0
// with namespaces, linear in its input): element nesting is limited to maxReplyDepth, the input to
// maxReplySize, and ctx is checked every few tokens, so a hostile reply (deeply nested, huge) costs
// at most a bounded, cancellable amount of work. The document must be a SOAP Envelope. Errors wrap
// remote.ErrProtocol, or are ctx's error.
//
// Namespace prefixes are ignored (local names are matched), as Windows' prefixes vary. data is
// UTF-8 (utf8Reply converts a UTF-16 reply and drops its declaration); a declaration of any other
// encoding is refused.
func parseReply(ctx context.Context, data []byte) (*wsReply, error) {
	return parseReplyAppend(ctx, data, nil, nil)
}

// parseReplyAppend is parseReply decoding the streams onto stdout and stderr: the reply's Stdout
// and Stderr are those slices with the reply's output appended (a Receive appends to the output
// so far without another copy). After an error the slices' bytes up to their lengths are as they
// were.
func parseReplyAppend(ctx context.Context, data, stdout, stderr []byte) (*wsReply, error) {
	if len(data) > maxReplySize {
		return nil, fmt.Errorf("%w: %w", remote.ErrProtocol, errReplyTooLarge)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: reply is empty", remote.ErrProtocol)
	}
	s := scanners.Get().(*xmlscan.Scanner)
	defer scanners.Put(s)
	s.Reset(data)
	p := replyParser{rep: &wsReply{Stdout: stdout, Stderr: stderr}, s: s}
	defer func() { bufpool.Put(p.b64) }()
	for n := 0; ; n++ {
		if n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		k, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: reply is not XML: %w", remote.ErrProtocol, err)
		}
		if err := p.token(k); err != nil {
			return nil, fmt.Errorf("%w: %w", remote.ErrProtocol, err)
		}
	}
	return p.rep, nil
}

// scanners are reused: a Scanner keeps its buffers across Resets.
var scanners = sync.Pool{New: func() any { return new(xmlscan.Scanner) }}

// elem names the elements the parser acts on; every other element is elemOther.
type elem uint8

const (
	elemOther elem = iota
	elemEnvelope
	elemHeader
	elemBody
	elemAction
	elemSelectorSet
	elemSelector
	elemShell
	elemShellID
	elemCommandResponse
	elemCommandID
	elemReceiveResponse
	elemStream
	elemCommandState
	elemExitCode
	elemFault
	elemCode
	elemValue
	elemSubcode
	elemReason
	elemText
	elemWSManFault
	elemMessage
	elemProviderFault
)

// elemOf maps a local name to its elem (a switch on string(b) does not allocate).
func elemOf(local []byte) elem {
	switch string(local) {
	case "Envelope":
		return elemEnvelope
	case "Header":
		return elemHeader
	case "Body":
		return elemBody
	case "Action":
		return elemAction
	case "SelectorSet":
		return elemSelectorSet
	case "Selector":
		return elemSelector
	case "Shell":
		return elemShell
	case "ShellId":
		return elemShellID
	case "CommandResponse":
		return elemCommandResponse
	case "CommandId":
		return elemCommandID
	case "ReceiveResponse":
		return elemReceiveResponse
	case "Stream":
		return elemStream
	case "CommandState":
		return elemCommandState
	case "ExitCode":
		return elemExitCode
	case "Fault":
		return elemFault
	case "Code":
		return elemCode
	case "Value":
		return elemValue
	case "Subcode":
		return elemSubcode
	case "Reason":
		return elemReason
	case "Text":
		return elemText
	case "WSManFault":
		return elemWSManFault
	case "Message":
		return elemMessage
	case "ProviderFault":
		return elemProviderFault
	}
	return elemOther
}

// replyParser holds the state of one parse: the stack of open elements and where character data
// currently goes.
type replyParser struct {
	rep   *wsReply
	s     *xmlscan.Scanner
	stack []elem

	text      *strings.Builder // scalar field being read, or nil
	textCap   bool             // text has been capped
	textDepth int              // stack depth of the element whose text is read
	assign    func(string)     // stores text when its element ends

	stream      *[]byte // stream content being read (base64), or nil
	streamDepth int
	b64         []byte

	reasonOK bool // first Reason/Text already taken
}

func (p *replyParser) parent(i int) elem {
	if len(p.stack) < i {
		return elemOther
	}
	return p.stack[len(p.stack)-i]
}

// attr returns the value of the current start element's attribute with the local name (any
// namespace but the namespace declarations').
func (p *replyParser) attr(local string) (string, bool) {
	for _, a := range p.s.Attrs() {
		if string(a.Name.Local) == local && a.Name.Space != xmlscan.XMLNSNamespace {
			return string(a.Value), true
		}
	}
	return "", false
}

func (p *replyParser) token(k xmlscan.Kind) error {
	switch k {
	case xmlscan.StartElement:
		if len(p.stack) >= maxReplyDepth {
			return errReplyTooDeep
		}
		local := p.s.Name().Local
		e := elemOf(local)
		if len(p.stack) == 0 && e != elemEnvelope {
			return fmt.Errorf("reply is not a SOAP envelope (root element %q)", clip(string(local)))
		}
		p.stack = append(p.stack, e)
		p.start(e)
	case xmlscan.EndElement:
		if err := p.end(); err != nil {
			return err
		}
		p.stack = p.stack[:len(p.stack)-1]
	case xmlscan.CharData:
		t := p.s.Text()
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
func (p *replyParser) start(name elem) {
	parent := p.parent(2)
	switch {
	case name == elemAction && parent == elemHeader:
		p.captureAt(func(s string) { p.rep.Action = strings.TrimSpace(s) })
	case name == elemSelector && parent == elemSelectorSet:
		if v, _ := p.attr("Name"); v == "ShellId" {
			p.captureAt(func(s string) { p.rep.ShellID = strings.TrimSpace(s) })
		}
	case name == elemShellID && parent == elemShell:
		p.captureAt(func(s string) {
			if p.rep.ShellID == "" {
				p.rep.ShellID = strings.TrimSpace(s)
			}
		})
	case name == elemCommandID && parent == elemCommandResponse:
		p.captureAt(func(s string) { p.rep.CommandID = strings.TrimSpace(s) })
	case name == elemStream && parent == elemReceiveResponse:
		switch v, _ := p.attr("Name"); v {
		case "stdout":
			p.stream = &p.rep.Stdout
		case "stderr":
			p.stream = &p.rep.Stderr
		}
		if p.b64 == nil {
			p.b64 = bufpool.Get(0) // the base64 text of the streams, handed back after the parse
		}
		p.b64 = p.b64[:0]
		p.streamDepth = len(p.stack)
	case name == elemCommandState && parent == elemReceiveResponse:
		if v, _ := p.attr("State"); strings.TrimSpace(v) == stateDone {
			p.rep.Done = true
		}
	case name == elemExitCode && parent == elemCommandState:
		p.captureAt(func(s string) {
			// Windows exit codes are DWORDs (0..4294967295); negative values are tolerated.
			if v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
				p.rep.ExitCode, p.rep.HasExit = int(v), true
			}
		})
	case name == elemFault && parent == elemBody:
		p.rep.Fault = &wsFault{}
	case p.rep.Fault != nil:
		p.startFault(name, parent)
	}
}

func (p *replyParser) startFault(name, parent elem) {
	f := p.rep.Fault
	switch {
	case name == elemValue && parent == elemCode && p.parent(3) == elemFault:
		p.captureAt(func(s string) { f.Code = normSpace(s) })
	case name == elemValue && parent == elemSubcode:
		p.captureAt(func(s string) {
			if f.Subcode == "" {
				f.Subcode = normSpace(s)
			}
		})
	case name == elemText && parent == elemReason:
		if !p.reasonOK {
			p.reasonOK = true
			p.captureAt(func(s string) { f.Reason = normSpace(s) })
		}
	case name == elemWSManFault && f.WSManCode == "":
		if v, ok := p.attr("Code"); ok {
			f.WSManCode = strings.TrimSpace(v)
		}
	case name == elemMessage && parent == elemWSManFault:
		p.captureAt(func(s string) {
			if f.Message == "" {
				f.Message = normSpace(s)
			}
		})
	case name == elemProviderFault:
		if f.Provider == "" {
			f.Provider, _ = p.attr("provider")
			f.Path, _ = p.attr("path")
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
		// Windows sends each chunk as one base64 text; tolerate whitespace inside it (the decoder
		// itself skips CR and LF).
		enc := p.b64
		if bytes.ContainsAny(enc, " \t") {
			enc = bytes.Join(bytes.Fields(enc), nil)
		}
		out, err := base64.StdEncoding.AppendDecode(*p.stream, enc)
		if err != nil {
			return fmt.Errorf("stream is not base64: %w", err)
		}
		*p.stream = out
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
