package winrmclient

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/ntlm"
)

// fakeHost is a small WinRM responder for tests: per-connection NTLM (server side from
// remote/ntlm), sealed bodies on HTTP, plain SOAP inside TLS, optional Basic, and just enough of
// the WinRS shell (Create, Command, Receive, Signal, Delete) for masterzen's parsers. It records
// what it saw on the wire.
type fakeHost struct {
	password   string
	basic      bool   // accept Basic for "admin"
	tls        bool   // plain SOAP accepted on an NTLM-authenticated connection (HTTPS)
	closeAfter int    // close the connection after this many SOAP replies (0 = never)
	denyCreate bool   // answer Create with the access-denied fault
	stripSeal  bool   // clear NEGOTIATE_SEAL in the CHALLENGE
	clearFlags uint32 // clear these NTLM flags in the CHALLENGE

	cfg *ntlm.ServerConfig

	mu        sync.Mutex
	requests  int
	handshake int // NEGOTIATE messages received
	conns     int
	soaps     int
	actions   []string
	wire      [][]byte // raw request bodies
	shells    map[string]bool
	cmds      map[string]*fakeCmd
	nextID    int
	signaled  []string
	lastOpTO  string
	commands  map[string]fakeProgram
	srv       *httptest.Server
}

type fakeProgram struct {
	chunks []string // stdout per Receive; the last Receive reports Done
	stderr string
	exit   int
	hang   bool // never finishes: Receive long-polls until OperationTimeout, then faults
	// timeoutsFirst Receives long-poll until OperationTimeout and fault before output comes.
	timeoutsFirst int
}

type fakeCmd struct {
	prog       fakeProgram
	next       int
	timeouts   int
	terminated chan struct{}
	once       sync.Once
}

type connKey struct{}

type connState struct {
	acc     *ntlm.Acceptor
	authed  bool
	session *ntlm.Session
}

const testPassword = "S3cr3t-Pa55!"

func newFakeHost(t testing.TB, mutate func(*fakeHost)) *fakeHost {
	t.Helper()
	h := &fakeHost{
		password: testPassword,
		shells:   map[string]bool{},
		cmds:     map[string]*fakeCmd{},
		commands: map[string]fakeProgram{
			`reg query "HKU\S-1-5-18\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections" /v DefaultConnectionSettings`: {
				chunks: []string{"\r\nHKEY_USERS\\S-1-5-18\\...\r\n    DefaultConnectionSettings    REG_BINARY    46000000\r\n\r\n"},
			},
			`reg query HKU\S-1-5-19 /v Missing`: {stderr: "ERROR: The system was unable to find the specified registry key or value.\r\n", exit: 1},
			`chunky`:                            {chunks: []string{"part1 ", "part2 ", "part3\r\n"}},
			`hang`:                              {hang: true},
			`utf8`:                              {chunks: []string{"Grüße ß\r\n"}},
			`slow`:                              {chunks: []string{"late\r\n"}, timeoutsFirst: 2},
		},
	}
	if mutate != nil {
		mutate(h)
	}
	h.cfg = &ntlm.ServerConfig{
		NbDomain: "LAB", NbComputer: "DC01", DNSDomain: "lab.local", DNSComputer: "dc01.lab.local",
		Lookup: func(user, domain string) ([]byte, bool) {
			if strings.EqualFold(user, "admin") || strings.EqualFold(user, "admin@lab.local") {
				return ntlm.NTOWFv1(h.password), true
			}
			return nil, false
		},
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, &connState{})
	}
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			h.mu.Lock()
			h.conns++
			h.mu.Unlock()
		}
	}
	if h.tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	h.srv = srv
	t.Cleanup(srv.Close)
	return h
}

// target returns a Target pointing at the fake host.
func (h *fakeHost) target(t testing.TB) remote.Target {
	t.Helper()
	host, port, err := net.SplitHostPort(h.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	tg := remote.Target{Host: host, Port: p, HTTPS: h.tls, User: `LAB\admin`, Password: testPassword, Timeout: 10 * time.Second}
	if h.tls {
		dir := t.TempDir()
		ca := filepath.Join(dir, "ca.pem")
		cert := h.srv.Certificate()
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		tg.CAFile = ca
		tg.TLSServerName = "example.com"
	}
	return tg
}

func (h *fakeHost) snapshot() (requests, handshakes, conns int, actions []string, wire [][]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests, h.handshake, h.conns, append([]string(nil), h.actions...), append([][]byte(nil), h.wire...)
}

func (h *fakeHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.requests++
	h.wire = append(h.wire, body)
	h.mu.Unlock()
	ct := r.Header.Get("Content-Type")
	auth := r.Header.Get("Authorization")

	switch {
	case strings.HasPrefix(auth, "Negotiate "):
		tok, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(auth, "Negotiate "))
		if err != nil || len(tok) < 12 {
			h.unauthorized(w)
			return
		}
		switch tok[8] {
		case 1:
			h.mu.Lock()
			h.handshake++
			h.mu.Unlock()
			cs.authed, cs.session = false, nil
			cs.acc = ntlm.NewAcceptor(h.cfg)
			ch, err := cs.acc.Challenge(tok)
			if err != nil {
				h.unauthorized(w)
				return
			}
			if h.stripSeal {
				ch[20] &^= 0x20
			}
			if h.clearFlags != 0 {
				binary.LittleEndian.PutUint32(ch[20:], binary.LittleEndian.Uint32(ch[20:])&^h.clearFlags)
			}
			w.Header().Set("WWW-Authenticate", "Negotiate "+base64.StdEncoding.EncodeToString(ch))
			w.WriteHeader(http.StatusUnauthorized)
		case 3:
			if cs.acc == nil {
				h.unauthorized(w)
				return
			}
			res, err := cs.acc.Authenticate(tok)
			if err != nil {
				h.unauthorized(w)
				return
			}
			cs.authed, cs.session = true, res.Session
			if len(body) == 0 {
				w.WriteHeader(http.StatusOK)
				return
			}
			h.plainSOAP(w, r, body)
		default:
			h.unauthorized(w)
		}
	case strings.HasPrefix(auth, "Basic "):
		u, p, _ := r.BasicAuth()
		if !h.basic || u != "admin" || p != h.password {
			h.unauthorized(w)
			return
		}
		h.plainSOAP(w, r, body)
	case cs.authed && cs.session != nil && ntlm.IsEncrypted(ct):
		plain, err := ntlm.Open(cs.session, body)
		if err != nil {
			http.Error(w, "bad frame", http.StatusBadRequest)
			return
		}
		status, reply := h.soap(r.Context(), plain)
		h.closeMaybe(w)
		w.Header().Set("Content-Type", ntlm.EncryptedContentType)
		w.WriteHeader(status)
		_, _ = w.Write(ntlm.Seal(cs.session, []byte(reply)))
	case cs.authed && h.tls && len(body) > 0:
		h.plainSOAP(w, r, body)
	default:
		// Unauthenticated, or an unencrypted body on an HTTP connection (AllowUnencrypted=false),
		// or an empty request even on an authenticated connection (reference 2.4 pitfall).
		h.unauthorized(w)
	}
}

func (h *fakeHost) unauthorized(w http.ResponseWriter) {
	w.Header().Add("WWW-Authenticate", "Negotiate")
	if h.basic {
		w.Header().Add("WWW-Authenticate", `Basic realm="WSMAN"`)
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
}

func (h *fakeHost) closeMaybe(w http.ResponseWriter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.soaps++
	if h.closeAfter > 0 && h.soaps == h.closeAfter {
		w.Header().Set("Connection", "close")
	}
}

func (h *fakeHost) plainSOAP(w http.ResponseWriter, r *http.Request, body []byte) {
	if !strings.Contains(r.Header.Get("Content-Type"), "application/soap+xml") {
		http.Error(w, "bad content type", http.StatusUnsupportedMediaType)
		return
	}
	status, reply := h.soap(r.Context(), body)
	h.closeMaybe(w)
	w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, reply)
}

var (
	reAction    = regexp.MustCompile(`<a:Action[^>]*>([^<]*)</a:Action>`)
	reMessageID = regexp.MustCompile(`<a:MessageID>([^<]*)</a:MessageID>`)
	reShellID   = regexp.MustCompile(`<w:Selector Name="ShellId">([^<]*)</w:Selector>`)
	reCommandID = regexp.MustCompile(`CommandId="([^"]*)"`)
	reCommand   = regexp.MustCompile(`(?s)<rsp:Command>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</rsp:Command>`)
	reOpTimeout = regexp.MustCompile(`<w:OperationTimeout>PT([0-9.]+)S</w:OperationTimeout>`)
)

const (
	nsAll    = `xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"`
	shellNS  = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	faultAct = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
)

func envelope(action, relatesTo, body string) string {
	return `<s:Envelope xml:lang="en-US" ` + nsAll + `><s:Header><a:Action>` + action + `</a:Action><a:MessageID>uuid:00000000-0000-0000-0000-000000000001</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><a:RelatesTo>` + relatesTo + `</a:RelatesTo></s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
}

func fault(relatesTo, code, subcode, wsmanCode, msg string) string {
	return envelope(faultAct, relatesTo, `<s:Fault><s:Code><s:Value>`+code+`</s:Value><s:Subcode><s:Value>`+subcode+`</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">`+msg+`</s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="`+wsmanCode+`" Machine="dc01"><f:Message>`+msg+`</f:Message></f:WSManFault></s:Detail></s:Fault>`)
}

func first(re *regexp.Regexp, s string) string {
	if m := re.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// soap answers one plaintext WinRS request.
func (h *fakeHost) soap(ctx context.Context, req []byte) (int, string) {
	s := string(req)
	action, mid := first(reAction, s), first(reMessageID, s)
	h.mu.Lock()
	h.actions = append(h.actions, action[strings.LastIndex(action, "/")+1:])
	if to := first(reOpTimeout, s); to != "" {
		h.lastOpTO = to
	}
	h.mu.Unlock()
	shellID := first(reShellID, s)
	badSelector := fault(mid, "s:Sender", "w:InvalidSelectors", "2150858843", "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. ")
	switch action {
	case "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create":
		if h.denyCreate {
			return 500, fault(mid, "s:Sender", "w:AccessDenied", "5", "Access is denied. ")
		}
		h.mu.Lock()
		h.nextID++
		id := fmt.Sprintf("SHELL-%04d", h.nextID)
		h.shells[id] = true
		h.mu.Unlock()
		return 200, envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", mid,
			`<x:ResourceCreated><a:Address>http://dc01:5985/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">`+id+`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated><rsp:Shell><rsp:ShellId>`+id+`</rsp:ShellId></rsp:Shell>`)
	case shellNS + "/Command":
		h.mu.Lock()
		defer h.mu.Unlock()
		if !h.shells[shellID] {
			return 500, badSelector
		}
		line := first(reCommand, s)
		prog, ok := h.commands[line]
		if !ok {
			prog = fakeProgram{stderr: "'" + line + "' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", exit: 1}
		}
		h.nextID++
		id := fmt.Sprintf("CMD-%04d", h.nextID)
		h.cmds[id] = &fakeCmd{prog: prog, terminated: make(chan struct{})}
		return 200, envelope(shellNS+"/CommandResponse", mid, `<rsp:CommandResponse><rsp:CommandId>`+id+`</rsp:CommandId></rsp:CommandResponse>`)
	case shellNS + "/Receive":
		id := first(reCommandID, s)
		h.mu.Lock()
		c := h.cmds[id]
		h.mu.Unlock()
		if c == nil || !h.shellExists(shellID) {
			return 500, badSelector
		}
		h.mu.Lock()
		timeout := c.prog.hang || c.timeouts < c.prog.timeoutsFirst
		c.timeouts++
		h.mu.Unlock()
		if timeout {
			to, _ := strconv.ParseFloat(first(reOpTimeout, s), 64)
			select {
			case <-ctx.Done():
			case <-c.terminated:
			case <-time.After(time.Duration(to * float64(time.Second))):
			}
			return 500, fault(mid, "s:Receiver", "w:TimedOut", "2150858793", "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  ")
		}
		var b strings.Builder
		b.WriteString(`<rsp:ReceiveResponse>`)
		stream := func(name, data string, end bool) {
			fmt.Fprintf(&b, `<rsp:Stream Name="%s" CommandId="%s"`, name, id)
			if end {
				b.WriteString(` End="true"`)
			}
			b.WriteString(`>` + base64.StdEncoding.EncodeToString([]byte(data)) + `</rsp:Stream>`)
		}
		h.mu.Lock()
		done := c.next >= len(c.prog.chunks)-1
		if c.next < len(c.prog.chunks) {
			stream("stdout", c.prog.chunks[c.next], false)
		}
		c.next++
		h.mu.Unlock()
		if done {
			if c.prog.stderr != "" {
				stream("stderr", c.prog.stderr, false)
			}
			stream("stdout", "", true)
			stream("stderr", "", true)
			fmt.Fprintf(&b, `<rsp:CommandState CommandId="%s" State="%s/CommandState/Done"><rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState>`, id, shellNS, c.prog.exit)
		} else {
			fmt.Fprintf(&b, `<rsp:CommandState CommandId="%s" State="%s/CommandState/Running"></rsp:CommandState>`, id, shellNS)
		}
		b.WriteString(`</rsp:ReceiveResponse>`)
		return 200, envelope(shellNS+"/ReceiveResponse", mid, b.String())
	case shellNS + "/Signal":
		id := first(reCommandID, s)
		h.mu.Lock()
		c := h.cmds[id]
		h.signaled = append(h.signaled, id)
		h.mu.Unlock()
		if c == nil {
			return 500, badSelector
		}
		c.once.Do(func() { close(c.terminated) })
		return 200, envelope(shellNS+"/SignalResponse", mid, `<rsp:SignalResponse/>`)
	case "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete":
		h.mu.Lock()
		defer h.mu.Unlock()
		if !h.shells[shellID] {
			return 500, badSelector
		}
		delete(h.shells, shellID)
		return 200, envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", mid, ``)
	}
	return 500, fault(mid, "s:Sender", "w:ActionNotSupported", "2150858754", "The action is not supported by the service. ")
}

func (h *fakeHost) shellExists(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.shells[id]
}

func (h *fakeHost) openShells() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.shells)
}
