package winsim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dcproxy/dcproxy/internal/xmlscan"
)

// Namespace URIs and action URIs of WS-Management and WinRS (winrm-reg-reference.md 1.2, 1.3).
const (
	nsSOAP  = "http://www.w3.org/2003/05/soap-envelope"
	nsAddr  = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsWSMan = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	nsShell = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"

	resourceCmd = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"

	actionCreate   = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
	actionDelete   = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
	actionCommand  = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
	actionSend     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
	actionReceive  = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
	actionSignal   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"
	actionFault    = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
	signalTerm     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
	signalCtrlC    = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c"
	stateDone      = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
	stateRunning   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"
	anonymousRole  = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
	soapContentTyp = "application/soap+xml;charset=UTF-8"
)

type selector struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
}

type option struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
}

type variable struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
}

type stream struct {
	Name      string `xml:"Name,attr"`
	CommandID string `xml:"CommandId,attr"`
	End       string `xml:"End,attr"`
	Value     string `xml:",chardata"`
}

// request is the subset of a WS-Man request the simulator reads. Prefixes do not matter, namespace URIs do.
type request struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  struct {
		Action           string     `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
		MessageID        string     `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
		ResourceURI      string     `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
		MaxEnvelopeSize  string     `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd MaxEnvelopeSize"`
		OperationTimeout string     `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
		Selectors        []selector `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet>Selector"`
		Options          []option   `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OptionSet>Option"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body struct {
		Shell *struct {
			InputStreams     string     `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell InputStreams"`
			OutputStreams    string     `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell OutputStreams"`
			Environment      []variable `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Environment>Variable"`
			WorkingDirectory *string    `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell WorkingDirectory"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
		CommandLine *struct {
			Command   string   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Command"`
			Arguments []string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Arguments"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandLine"`
		Receive *struct {
			DesiredStream struct {
				CommandID string `xml:"CommandId,attr"`
				Value     string `xml:",chardata"`
			} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell DesiredStream"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Receive"`
		Send *struct {
			Streams []stream `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Stream"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Send"`
		Signal *struct {
			CommandID string `xml:"CommandId,attr"`
			Code      string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Code"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Signal"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

var scanners = sync.Pool{New: func() any { return new(xmlscan.Scanner) }}

// parseRequest reads a WS-Man request. It fills request exactly as xml.Unmarshal would from the
// struct tags above (soap_parse_test.go keeps that Unmarshal-based parser as the oracle and
// compares both): elements match by namespace URI and local name, prefixes do not matter;
// unknown elements are skipped; a string field gets the concatenated character data directly
// inside its element (child elements and comments left out, no trimming) and a repeated element
// overwrites it; slices append; a struct met twice is filled again (attributes absent the second
// time keep their value); an untagged-namespace attribute field matches an attribute of that
// local name in ANY namespace, the last one winning.
//
// The whole body must be one well-formed XML document (internal/xmlscan). That is stricter than
// xml.Unmarshal, which stops reading at the end of the root element and skips whatever precedes
// it: trailing content after </s:Envelope>, text or a DOCTYPE before it, duplicate attributes and
// undeclared prefixes are now refused (callers answer them as they answer any unparsable body).
// unverified: that Windows refuses each of these with the same fault as other malformed XML; its
// WinRM service parses requests with a namespace-aware, DTD-refusing parser, so it refuses them
// in some way.
func parseRequest(body []byte) (*request, error) {
	s := scanners.Get().(*xmlscan.Scanner)
	s.Reset(body)
	r, err := readRequest(s)
	s.Reset(nil)
	scanners.Put(s)
	return r, err
}

func readRequest(s *xmlscan.Scanner) (*request, error) {
	for {
		k, err := s.Next()
		if err != nil {
			return nil, err
		}
		if k == xmlscan.StartElement {
			break
		}
	}
	if n := s.Name(); !n.Is(nsSOAP, "Envelope") {
		return nil, fmt.Errorf("root element is {%s}%s, want {%s}Envelope", n.Space, n.Local, nsSOAP)
	}
	r := request{XMLName: xml.Name{Space: nsSOAP, Local: "Envelope"}}
	err := eachChild(s, func(n xmlscan.Name) error {
		switch {
		case n.Is(nsSOAP, "Header"):
			return readHeader(s, &r)
		case n.Is(nsSOAP, "Body"):
			return readBody(s, &r)
		}
		return s.Skip()
	})
	if err != nil {
		return nil, err
	}
	for { // the rest of the document must be well-formed too
		if _, err := s.Next(); err == io.EOF {
			return &r, nil
		} else if err != nil {
			return nil, err
		}
	}
}

// eachChild calls f on each child element of the element whose start tag was just read; f must
// consume the child through its end tag. Character data, comments and PIs between are ignored.
func eachChild(s *xmlscan.Scanner, f func(xmlscan.Name) error) error {
	for {
		k, err := s.Next()
		if err != nil {
			return err
		}
		switch k {
		case xmlscan.StartElement:
			if err := f(s.Name()); err != nil {
				return err
			}
		case xmlscan.EndElement:
			return nil
		}
	}
}

// elemText reads the element whose start tag was just read through its end tag and returns the
// character data directly inside it (xml.Unmarshal's value for a string field or ",chardata").
func elemText(s *xmlscan.Scanner) (string, error) {
	var text string
	var buf []byte
	n := 0
	for {
		k, err := s.Next()
		if err != nil {
			return "", err
		}
		switch k {
		case xmlscan.CharData:
			if n++; n == 1 {
				text = string(s.Text())
			} else {
				if n == 2 {
					buf = append(buf, text...)
				}
				buf = append(buf, s.Text()...)
			}
		case xmlscan.StartElement:
			if err := s.Skip(); err != nil {
				return "", err
			}
		case xmlscan.EndElement:
			if n > 1 {
				return string(buf), nil
			}
			return text, nil
		}
	}
}

// attr sets *dst to the value of the current start element's last attribute named local, in any
// namespace (xml.Unmarshal's rule for an `xml:"Name,attr"` tag); it leaves *dst alone if none.
func attr(s *xmlscan.Scanner, local string, dst *string) {
	as := s.Attrs()
	for i := len(as) - 1; i >= 0; i-- {
		if string(as[i].Name.Local) == local {
			*dst = string(as[i].Value)
			return
		}
	}
}

func readHeader(s *xmlscan.Scanner, r *request) error {
	h := &r.Header
	return eachChild(s, func(n xmlscan.Name) error {
		var err error
		switch {
		case n.Is(nsAddr, "Action"):
			h.Action, err = elemText(s)
		case n.Is(nsAddr, "MessageID"):
			h.MessageID, err = elemText(s)
		case n.Is(nsWSMan, "ResourceURI"):
			h.ResourceURI, err = elemText(s)
		case n.Is(nsWSMan, "MaxEnvelopeSize"):
			h.MaxEnvelopeSize, err = elemText(s)
		case n.Is(nsWSMan, "OperationTimeout"):
			h.OperationTimeout, err = elemText(s)
		case n.Is(nsWSMan, "SelectorSet"):
			err = eachChild(s, func(n xmlscan.Name) error {
				if !n.Is(nsWSMan, "Selector") {
					return s.Skip()
				}
				var v selector
				attr(s, "Name", &v.Name)
				v.Value, err = elemText(s)
				h.Selectors = append(h.Selectors, v)
				return err
			})
		case n.Is(nsWSMan, "OptionSet"):
			err = eachChild(s, func(n xmlscan.Name) error {
				if !n.Is(nsWSMan, "Option") {
					return s.Skip()
				}
				var v option
				attr(s, "Name", &v.Name)
				v.Value, err = elemText(s)
				h.Options = append(h.Options, v)
				return err
			})
		default:
			err = s.Skip()
		}
		return err
	})
}

// alloc returns *p, allocating it first if nil (xml.Unmarshal's handling of pointer fields).
func alloc[T any](p **T) *T {
	if *p == nil {
		*p = new(T)
	}
	return *p
}

func readBody(s *xmlscan.Scanner, r *request) error {
	b := &r.Body
	return eachChild(s, func(n xmlscan.Name) error {
		if n.Space != nsShell {
			return s.Skip()
		}
		switch string(n.Local) {
		case "Shell":
			sh := alloc(&b.Shell)
			return eachChild(s, func(n xmlscan.Name) error {
				var err error
				switch {
				case n.Is(nsShell, "InputStreams"):
					sh.InputStreams, err = elemText(s)
				case n.Is(nsShell, "OutputStreams"):
					sh.OutputStreams, err = elemText(s)
				case n.Is(nsShell, "WorkingDirectory"):
					var wd string
					wd, err = elemText(s)
					*alloc(&sh.WorkingDirectory) = wd
				case n.Is(nsShell, "Environment"):
					err = eachChild(s, func(n xmlscan.Name) error {
						if !n.Is(nsShell, "Variable") {
							return s.Skip()
						}
						var v variable
						attr(s, "Name", &v.Name)
						v.Value, err = elemText(s)
						sh.Environment = append(sh.Environment, v)
						return err
					})
				default:
					err = s.Skip()
				}
				return err
			})
		case "CommandLine":
			cl := alloc(&b.CommandLine)
			return eachChild(s, func(n xmlscan.Name) error {
				var err error
				switch {
				case n.Is(nsShell, "Command"):
					cl.Command, err = elemText(s)
				case n.Is(nsShell, "Arguments"):
					var a string
					a, err = elemText(s)
					cl.Arguments = append(cl.Arguments, a)
				default:
					err = s.Skip()
				}
				return err
			})
		case "Receive":
			rc := alloc(&b.Receive)
			return eachChild(s, func(n xmlscan.Name) error {
				if !n.Is(nsShell, "DesiredStream") {
					return s.Skip()
				}
				var err error
				attr(s, "CommandId", &rc.DesiredStream.CommandID)
				rc.DesiredStream.Value, err = elemText(s)
				return err
			})
		case "Send":
			sd := alloc(&b.Send)
			return eachChild(s, func(n xmlscan.Name) error {
				if !n.Is(nsShell, "Stream") {
					return s.Skip()
				}
				var v stream
				attr(s, "Name", &v.Name)
				attr(s, "CommandId", &v.CommandID)
				attr(s, "End", &v.End)
				var err error
				v.Value, err = elemText(s)
				sd.Streams = append(sd.Streams, v)
				return err
			})
		case "Signal":
			sg := alloc(&b.Signal)
			attr(s, "CommandId", &sg.CommandID)
			return eachChild(s, func(n xmlscan.Name) error {
				if !n.Is(nsShell, "Code") {
					return s.Skip()
				}
				var err error
				sg.Code, err = elemText(s)
				return err
			})
		}
		return s.Skip()
	})
}

func (r *request) selector(name string) string {
	for _, s := range r.Header.Selectors {
		if s.Name == name {
			return strings.TrimSpace(s.Value)
		}
	}
	return ""
}

func (r *request) option(name string) (string, bool) {
	for _, o := range r.Header.Options {
		if o.Name == name {
			return strings.TrimSpace(o.Value), true
		}
	}
	return "", false
}

// maxEnvelope returns the client's MaxEnvelopeSize in bytes (153600 when absent or unreadable).
func (r *request) maxEnvelope() int {
	n, err := strconv.Atoi(strings.TrimSpace(r.Header.MaxEnvelopeSize))
	if err != nil || n <= 0 {
		return 153600
	}
	return n
}

// operationTimeout parses the ISO-8601 w:OperationTimeout (PT60S, PT20.000S, PT1M30S); 60 s by default,
// capped by max (the service's MaxTimeoutms).
func (r *request) operationTimeout(max time.Duration) time.Duration {
	d, ok := parseISODuration(strings.TrimSpace(r.Header.OperationTimeout))
	if !ok || d <= 0 {
		d = 60 * time.Second
	}
	if d > max {
		d = max
	}
	return d
}

func parseISODuration(s string) (time.Duration, bool) {
	if !strings.HasPrefix(s, "PT") {
		return 0, false
	}
	s = s[2:]
	var total time.Duration
	for s != "" {
		i := strings.IndexAny(s, "HMS")
		if i <= 0 {
			return 0, false
		}
		f, err := strconv.ParseFloat(s[:i], 64)
		if err != nil || f < 0 {
			return 0, false
		}
		unit := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second}[s[i]]
		total += time.Duration(f * float64(unit))
		s = s[i+1:]
	}
	return total, true
}

func xmlText(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// needsEscape reports whether xml.EscapeText would change s: it escapes " ' & < > tab, newline and
// carriage return and replaces control and invalid characters; printable ASCII otherwise stays.
func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\'', c == '&', c == '<', c == '>':
			return true
		}
	}
	return false
}

// envelope wraps a body in the response envelope Windows sends: prefixes s/a/x/w/rsp/p, Action,
// MessageID, anonymous To and RelatesTo (winrm-reg-reference.md 1.5, 6).
func envelope(lang, action, relatesTo, body string) []byte {
	return appendEnvelope(make([]byte, 0, envelopeSize(action, relatesTo, body)), lang, action, relatesTo, body)
}

// appendEnvelope appends envelope's bytes to b.
func appendEnvelope(b []byte, lang, action, relatesTo, body string) []byte {
	return envelopeTail(append(envelopeHead(b, lang, action, relatesTo), body...))
}

// envelopeSize is room enough for envelope's bytes.
func envelopeSize(action, relatesTo, body string) int {
	return envelopeRoom + len(action) + len(relatesTo) + len(body)
}

// envelopeRoom is room enough for envelopeHead and envelopeTail without the action and RelatesTo.
const envelopeRoom = 1024

// envelopeHead appends the response envelope up to and including <s:Body> to b.
func envelopeHead(b []byte, lang, action, relatesTo string) []byte {
	b = appendStrings(b, `<s:Envelope xml:lang="`, lang, `" xmlns:s="`, nsSOAP, `" xmlns:a="`, nsAddr,
		`" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:w="`, nsWSMan, `" xmlns:rsp="`, nsShell,
		`" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">`)
	b = appendStrings(b, `<s:Header><a:Action>`, action, `</a:Action><a:MessageID>uuid:`)
	b = appendStrings(appendUUID(b), `</a:MessageID><a:To>`, anonymousRole, `</a:To>`)
	if relatesTo != "" {
		b = appendStrings(b, `<a:RelatesTo>`, xmlText(relatesTo), `</a:RelatesTo>`)
	}
	return append(b, `</s:Header><s:Body>`...)
}

// envelopeTail appends what closes an envelope after its body to b.
func envelopeTail(b []byte) []byte { return append(b, `</s:Body></s:Envelope>`...) }

// appendStrings appends the strings to b in order.
func appendStrings(b []byte, s ...string) []byte {
	for _, x := range s {
		b = append(b, x...)
	}
	return b
}

// fault is a WS-Man fault; it is sent with HTTP 500 (winrm-reg-reference.md 1.7).
type fault struct {
	Code        string // s:Receiver or s:Sender
	Subcode     string // w:TimedOut, w:InvalidSelectors, ...
	Reason      string
	WSManCode   uint32
	Message     string // f:Message content (already XML, may hold a ProviderFault)
	FaultDetail string // optional w:FaultDetail URI
}

func (f fault) envelope(lang, relatesTo, machine string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<s:Envelope xml:lang="%s" xmlns:s="%s" xmlns:a="%s" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="%s" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">`,
		lang, nsSOAP, nsAddr, nsWSMan)
	fmt.Fprintf(&b, `<s:Header><a:Action>%s</a:Action><a:MessageID>uuid:%s</a:MessageID><a:To>%s</a:To>`, actionFault, newUUID(), anonymousRole)
	if relatesTo != "" {
		fmt.Fprintf(&b, `<a:RelatesTo>%s</a:RelatesTo>`, xmlText(relatesTo))
	}
	fmt.Fprintf(&b, `</s:Header><s:Body><s:Fault><s:Code><s:Value>%s</s:Value><s:Subcode><s:Value>%s</s:Value></s:Subcode></s:Code>`, f.Code, f.Subcode)
	fmt.Fprintf(&b, `<s:Reason><s:Text xml:lang="%s">%s</s:Text></s:Reason><s:Detail>`, lang, xmlText(f.Reason))
	if f.FaultDetail != "" {
		fmt.Fprintf(&b, `<w:FaultDetail>%s</w:FaultDetail>`, f.FaultDetail)
	}
	fmt.Fprintf(&b, `<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="%d" Machine="%s"><f:Message>%s</f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`,
		f.WSManCode, xmlText(machine), f.Message)
	return []byte(b.String())
}
