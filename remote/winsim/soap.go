package winsim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
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

func parseRequest(body []byte) (*request, error) {
	var r request
	if err := xml.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	return &r, nil
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
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// envelope wraps a body in the response envelope Windows sends: prefixes s/a/x/w/rsp/p, Action,
// MessageID, anonymous To and RelatesTo (winrm-reg-reference.md 1.5, 6).
func envelope(lang, action, relatesTo, body string) []byte {
	var b strings.Builder
	b.Grow(1024 + len(body))
	fmt.Fprintf(&b, `<s:Envelope xml:lang="%s" xmlns:s="%s" xmlns:a="%s" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:w="%s" xmlns:rsp="%s" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">`,
		lang, nsSOAP, nsAddr, nsWSMan, nsShell)
	fmt.Fprintf(&b, `<s:Header><a:Action>%s</a:Action><a:MessageID>uuid:%s</a:MessageID><a:To>%s</a:To>`, action, newUUID(), anonymousRole)
	if relatesTo != "" {
		fmt.Fprintf(&b, `<a:RelatesTo>%s</a:RelatesTo>`, xmlText(relatesTo))
	}
	b.WriteString(`</s:Header><s:Body>`)
	b.WriteString(body)
	b.WriteString(`</s:Body></s:Envelope>`)
	return []byte(b.String())
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
