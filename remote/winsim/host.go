// Package winsim is a simulated Windows Server domain controller that speaks real WinRM.
//
// A Host serves WS-Management (WinRS shells: Create, Command, Send, Receive, Signal, Delete) over
// HTTP or HTTPS with Windows' authentication rules (remote/winsim/auth), runs command lines through a
// simulated cmd.exe (remote/winsim/cmdexe) with reg.exe (remote/winsim/registry) and powershell.exe
// (remote/winsim/pwsh), and answers with the bytes, faults and exit codes a real host produces,
// encoded in the code page the client asked for. Its registry and file system persist for the life of
// the Host. See ../../../shared/reference/winrm-reg-reference.md for the behaviour it reproduces.
//
// A Host is safe for concurrent use by any number of connections.
package winsim

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dcproxy/dcproxy/internal/bufpool"
	"github.com/dcproxy/dcproxy/internal/readall"
	"github.com/dcproxy/dcproxy/remote/krb"
	"github.com/dcproxy/dcproxy/remote/winsim/auth"
	"github.com/dcproxy/dcproxy/remote/winsim/cmdexe"
	"github.com/dcproxy/dcproxy/remote/winsim/pwsh"
	"github.com/dcproxy/dcproxy/remote/winsim/registry"
	"github.com/dcproxy/dcproxy/remote/winsim/winfs"
)

// Account is a user that can log on to the host.
type Account struct {
	User     string // DOMAIN\name
	Password string
	Admin    bool
	SID      string // filled by NewHost when empty
}

// Config describes one simulated host. The zero values of the limits are Windows' defaults.
type Config struct {
	Name     string // FQDN, e.g. dc01.lab.test
	Locale   string // en-US (default) or de-DE
	Accounts []Account

	Basic            bool // WinRM service Auth/Basic (Windows default false)
	AllowUnencrypted bool // WinRM service AllowUnencrypted (Windows default false)
	AuthFail         bool // fault model: every logon fails
	// RightsRefusal is how the host refuses a non-admin account that logged on: RightsAccessDenied
	// (default, "") or RightsInternalError (rights.go). Basic logons of such accounts get 401.
	RightsRefusal string
	// Kerberos, when set, makes the host accept Negotiate Kerberos with the keys of a keytab exported by
	// a real KDC for HTTP/<Name>: krb.NewAcceptor(krb.LoadKeytab(file)); one acceptor may serve many hosts.
	Kerberos *krb.Acceptor

	Latency   time.Duration // added to every HTTP exchange
	ExecTime  time.Duration // added to every command
	PSStart   time.Duration // PowerShell start-up
	ProbeTime time.Duration // one endpoint request made by the probe
	Network   pwsh.Network
	// NoPowerShell: powershell.exe is not installed (the Windows PowerShell feature removed), so
	// cmd.exe answers it with "is not recognized".
	NoPowerShell bool

	// RegistryPolicy, when set, runs with the host's registry right after every reg.exe process has
	// exited (before its exit code is reported). It models a policy engine (Group Policy preferences,
	// a configuration agent) that rewrites values as soon as they change, so a client that writes a
	// value and reads it back sees the policy's value instead of its own. It must be safe for
	// concurrent use.
	RegistryPolicy func(*registry.Registry)

	MaxShellsPerUser  int           // Winrs MaxShellsPerUser, default 5
	IdleTimeout       time.Duration // Winrs IdleTimeout, default 180 s (winrm-reg-reference.md 2.1)
	MaxTimeout        time.Duration // service MaxTimeoutms, default 60 s
	MaxEnvelopeSizeKB int           // service MaxEnvelopeSizekb, default 500 (common on current hosts)

	Now func() time.Time // clock, for idle-timeout tests; nil = time.Now
}

// Host is one simulated Windows host.
type Host struct {
	cfg    Config
	reg    *registry.Registry
	fs     *winfs.FS
	domain string // NetBIOS domain
	short  string // NetBIOS computer name

	mu     sync.Mutex
	shells map[string]*shell // by upper-case id
	policy map[bool]*auth.Policy

	counts counters
}

// counters count what a Host was asked (see Requests).
type counters struct {
	http, create, command, send, receive, signal, delete, other atomic.Int64
}

// RequestCounts is what a Host has been asked since it was built: every HTTP request that reached
// its handler (authentication legs, refusals and faults included) and, among them, the WS-Man
// operations that passed authentication, by action. HTTP minus the operations is the requests
// spent on authentication (and refused ones).
type RequestCounts struct {
	HTTP                                                  int
	Create, Command, Send, Receive, Signal, Delete, Other int
}

// Operations returns the number of WS-Man operations counted.
func (c RequestCounts) Operations() int {
	return c.Create + c.Command + c.Send + c.Receive + c.Signal + c.Delete + c.Other
}

// Requests returns the counts so far; safe for concurrent use.
func (h *Host) Requests() RequestCounts {
	c := &h.counts
	return RequestCounts{HTTP: int(c.http.Load()), Create: int(c.create.Load()), Command: int(c.command.Load()),
		Send: int(c.send.Load()), Receive: int(c.receive.Load()), Signal: int(c.signal.Load()),
		Delete: int(c.delete.Load()), Other: int(c.other.Load())}
}

// NewHost builds a host with a fresh registry and file system. Every account gets a SID and a loaded
// profile hive (HKU\SID with the Internet Settings key) and a profile directory.
func NewHost(cfg Config) (*Host, error) {
	if cfg.Name == "" {
		return nil, fmt.Errorf("winsim: host without a name")
	}
	if len(cfg.Accounts) == 0 {
		return nil, fmt.Errorf("winsim: host %s has no accounts", cfg.Name)
	}
	if cfg.Locale == "" {
		cfg.Locale = "en-US"
	}
	if cfg.Locale != "en-US" && cfg.Locale != "de-DE" {
		return nil, fmt.Errorf("winsim: host %s: unsupported locale %q (want en-US or de-DE)", cfg.Name, cfg.Locale)
	}
	if err := checkRightsRefusal(cfg.Name, cfg.RightsRefusal); err != nil {
		return nil, err
	}
	if cfg.MaxShellsPerUser == 0 {
		cfg.MaxShellsPerUser = 5
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 180 * time.Second
	}
	if cfg.MaxTimeout == 0 {
		cfg.MaxTimeout = 60 * time.Second
	}
	if cfg.MaxEnvelopeSizeKB == 0 {
		cfg.MaxEnvelopeSizeKB = 500
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Host{cfg: cfg, reg: registry.New(), fs: winfs.New(), shells: map[string]*shell{}}
	h.short = strings.ToUpper(strings.SplitN(cfg.Name, ".", 2)[0])
	if len(h.short) > 15 {
		h.short = h.short[:15]
	}
	h.domain = h.short
	seen := map[string]bool{}
	for i := range h.cfg.Accounts {
		a := &h.cfg.Accounts[i]
		dom, name, ok := strings.Cut(a.User, `\`)
		if !ok || dom == "" || name == "" {
			return nil, fmt.Errorf("winsim: host %s: account %q is not DOMAIN\\name", cfg.Name, a.User)
		}
		if seen[strings.ToUpper(a.User)] {
			return nil, fmt.Errorf("winsim: host %s: duplicate account %q", cfg.Name, a.User)
		}
		seen[strings.ToUpper(a.User)] = true
		if i == 0 {
			h.domain = strings.ToUpper(dom)
		}
		if a.SID == "" {
			a.SID = fmt.Sprintf("S-1-5-21-3623811015-3361044348-30300820-%d", 1100+i)
		}
		if err := h.reg.EnsureKey(`HKEY_USERS\` + a.SID + `\` + InternetSettingsKey); err != nil {
			return nil, err
		}
		_ = h.fs.MkdirAll(profileDir(name))
	}
	h.policy = map[bool]*auth.Policy{false: h.newPolicy(false), true: h.newPolicy(true)}
	return h, nil
}

// InternetSettingsKey is the per-user key that holds DefaultConnectionSettings, below a hive root.
const InternetSettingsKey = `Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`

func profileDir(user string) string { return `C:\Users\` + user }

func (h *Host) newPolicy(https bool) *auth.Policy {
	accts := make([]auth.Account, len(h.cfg.Accounts))
	for i, a := range h.cfg.Accounts {
		accts[i] = auth.Account{User: a.User, Password: a.Password, Admin: a.Admin}
	}
	return &auth.Policy{
		Basic:            h.cfg.Basic,
		AllowUnencrypted: h.cfg.AllowUnencrypted,
		HTTPS:            https,
		Server:           auth.Host{NbDomain: h.domain, NbComputer: h.short, DNSDomain: dnsDomain(h.cfg.Name), DNSComputer: h.cfg.Name},
		Accounts:         accts,
		AuthFail:         h.cfg.AuthFail,
		Kerberos:         h.cfg.Kerberos,
	}
}

func dnsDomain(fqdn string) string {
	if _, d, ok := strings.Cut(fqdn, "."); ok {
		return d
	}
	return fqdn
}

// Name returns the host's FQDN.
func (h *Host) Name() string { return h.cfg.Name }

// Registry returns the host's registry; changes made through it are seen by later commands.
func (h *Host) Registry() *registry.Registry { return h.reg }

// FS returns the host's file system.
func (h *Host) FS() *winfs.FS { return h.fs }

// Account returns the account with the given DOMAIN\name (case-insensitive).
func (h *Host) Account(user string) (Account, bool) {
	for _, a := range h.cfg.Accounts {
		if strings.EqualFold(a.User, user) {
			return a, true
		}
	}
	return Account{}, false
}

// Handler returns the /wsman handler for an HTTP (https=false) or HTTPS listener. The http.Server
// that serves it must install auth.ConnContext as its ConnContext.
func (h *Host) Handler(https bool) http.Handler {
	inner := h.policy[https].Wrap(http.HandlerFunc(h.serveWSMan))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.counts.http.Add(1)
		w.Header()["Server"] = serverHeader
		if h.cfg.Latency > 0 {
			t := time.NewTimer(h.cfg.Latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if r.URL.Path != "/wsman" {
			// HTTP.sys answers unknown URLs of a registered port with 404.
			http.Error(w, "Not Found", http.StatusNotFound)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		inner.ServeHTTP(w, r)
	})
}

// ConnContext must be installed as http.Server.ConnContext of every server serving a Handler.
var ConnContext = auth.ConnContext

func (h *Host) serveWSMan(w http.ResponseWriter, r *http.Request) {
	t := textsFor(h.cfg.Locale)
	id, ok := auth.IdentityFrom(r.Context())
	body, read := auth.BodyBytes(r) // the plaintext auth has read already: no copy
	if !read {
		var err error
		if body, err = readall.ReadAll(io.LimitReader(r.Body, int64(h.cfg.MaxEnvelopeSizeKB)*1024+1), r.ContentLength); err != nil {
			return
		}
	}
	lang := h.cfg.Locale
	if !ok {
		// auth.Policy never calls us without an identity; refuse rather than guess.
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if len(body) > h.cfg.MaxEnvelopeSizeKB*1024 {
		h.writeFault(w, lang, "", faultEnvelopeTooBig(t))
		return
	}
	req, err := parseRequest(body)
	if err != nil {
		h.writeFault(w, lang, "", faultBadXML(t))
		return
	}
	relates := req.Header.MessageID
	if !id.Admin {
		h.writeFault(w, lang, relates, faultRights(h.cfg.RightsRefusal, t))
		return
	}
	if req.Header.ResourceURI != resourceCmd {
		h.writeFault(w, lang, relates, faultBadAction(t))
		return
	}
	h.sweepIdle()
	switch req.Header.Action {
	case actionCreate:
		h.counts.create.Add(1)
		h.create(w, r, req, id)
	case actionCommand:
		h.counts.command.Add(1)
		h.command(w, req, id)
	case actionSend:
		h.counts.send.Add(1)
		h.send(w, req, id)
	case actionReceive:
		h.counts.receive.Add(1)
		h.receive(w, r, req, id)
	case actionSignal:
		h.counts.signal.Add(1)
		h.signal(w, req, id)
	case actionDelete:
		h.counts.delete.Add(1)
		h.delete(w, req, id)
	default:
		h.counts.other.Add(1)
		h.writeFault(w, lang, relates, faultBadAction(t))
	}
}

func (h *Host) writeOK(w http.ResponseWriter, action, relatesTo, body string) {
	writeEnvelope(w, appendEnvelope(bufpool.Get(envelopeSize(action, relatesTo, body)), h.cfg.Locale, action, relatesTo, body))
}

// writeEnvelope sends a complete response envelope with status 200, then hands env back to
// bufpool (a ResponseWriter does not keep what it is given to write).
func writeEnvelope(w http.ResponseWriter, env []byte) {
	w.Header()["Content-Type"] = soapContentTypeValue
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(env)
	bufpool.Put(env)
}

// Header values of every response, shared: a header's value slice is replaced, never written into,
// and a capacity equal to its length leaves no room for an append to share.
var (
	soapContentTypeValue = []string{soapContentTyp}
	serverHeader         = []string{"Microsoft-HTTPAPI/2.0"} // HTTP.sys's
)

func (h *Host) writeFault(w http.ResponseWriter, lang, relatesTo string, f fault) {
	w.Header().Set("Content-Type", soapContentTyp)
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(f.envelope(lang, relatesTo, h.cfg.Name))
}

// newUUID returns an upper-case random UUID as Windows prints them.
func newUUID() string {
	var s [36]byte
	return string(appendUUID(s[:0]))
}

// appendUUID appends an upper-case random (version 4) UUID to b. The bytes come from math/rand/v2's
// generator (ChaCha8, seeded from the OS): identifiers need to be unique and unguessable enough
// for a simulator, and a read of crypto/rand costs a system call here.
func appendUUID(b []byte) []byte {
	var u [16]byte
	binary.LittleEndian.PutUint64(u[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(u[8:], rand.Uint64())
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	// 8-4-4-4-12 upper-case hex digits, as Windows writes them.
	const digits = "0123456789ABCDEF"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, digits[c>>4], digits[c&15])
	}
	return b
}

// shell is one WinRS shell. Its fields, the commands map included, are guarded by Host.mu; each
// command guards its own state.
type shell struct {
	id        string
	owner     string     // DOMAIN\name
	sid       string     // HKCU of commands in this shell
	profile   string     // profile directory (the working directory unless the client chose one)
	cwd       string     // rsp:WorkingDirectory of Create, or "" (profile)
	env       []variable // rsp:Environment of Create, in request order
	codepage  int
	noProfile bool
	created   time.Time
	lastUsed  time.Time
	commands  map[string]*command
}

func (h *Host) sweepIdle() {
	now := h.cfg.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, s := range h.shells {
		// Idle means no request from the client for the shell, whatever its commands are doing:
		// an abandoned command waiting on stdin dies with its shell, as with WinRM's IdleTimeout.
		if now.Sub(s.lastUsed) > h.cfg.IdleTimeout {
			delete(h.shells, k)
			s.terminate()
		}
	}
}

// terminate cancels every command of the shell; the caller holds Host.mu.
func (s *shell) terminate() {
	for _, c := range s.commands {
		c.cancel()
	}
}

// lookupShell returns the caller's shell or writes the fault Windows sends for an unknown ShellId.
// Shells are private to the account that created them.
func (h *Host) lookupShell(w http.ResponseWriter, req *request, id auth.Identity) *shell {
	sid := req.selector("ShellId")
	h.mu.Lock()
	s := h.shells[strings.ToUpper(sid)]
	if s != nil && strings.EqualFold(s.owner, id.User) {
		s.lastUsed = h.cfg.Now()
		h.mu.Unlock()
		return s
	}
	h.mu.Unlock()
	h.writeFault(w, h.cfg.Locale, req.Header.MessageID, faultBadShell(textsFor(h.cfg.Locale), sid))
	return nil
}

func (h *Host) create(w http.ResponseWriter, r *http.Request, req *request, id auth.Identity) {
	t := textsFor(h.cfg.Locale)
	acct, ok := h.Account(id.User)
	if !ok {
		h.writeFault(w, h.cfg.Locale, req.Header.MessageID, faultAccessDenied(t))
		return
	}
	cp := 437 // unverified: a shell created without WINRS_CODEPAGE gets the OEM code page of en-US and de-DE hosts (437/850)
	if h.cfg.Locale == "de-DE" {
		cp = 850
	}
	if v, ok := req.option("WINRS_CODEPAGE"); ok {
		n, err := parseCodepage(v)
		if err != nil {
			h.writeFault(w, h.cfg.Locale, req.Header.MessageID, faultBadXML(t))
			return
		}
		cp = n
	}
	noProfile := false
	if v, ok := req.option("WINRS_NOPROFILE"); ok && strings.EqualFold(v, "TRUE") {
		noProfile = true
	}
	now := h.cfg.Now()
	h.mu.Lock()
	n := 0
	for _, s := range h.shells {
		if strings.EqualFold(s.owner, id.User) {
			n++
		}
	}
	if n >= h.cfg.MaxShellsPerUser {
		h.mu.Unlock()
		h.writeFault(w, h.cfg.Locale, req.Header.MessageID, faultMaxShells(t, h.cfg.MaxShellsPerUser))
		return
	}
	s := &shell{id: newUUID(), owner: acct.User, sid: acct.SID, codepage: cp, noProfile: noProfile,
		created: now, lastUsed: now, commands: map[string]*command{}}
	if sh := req.Body.Shell; sh != nil {
		s.env = sh.Environment
		if sh.WorkingDirectory != nil {
			s.cwd = strings.TrimSpace(*sh.WorkingDirectory)
		}
	}
	_, name, _ := strings.Cut(acct.User, `\`)
	s.profile = profileDir(name)
	if noProfile {
		// HKCU falls back to HKU\.DEFAULT when the profile is not loaded (winrm-reg-reference.md 4.8).
		s.sid = ".DEFAULT"
	}
	h.shells[strings.ToUpper(s.id)] = s
	h.mu.Unlock()

	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	addr := fmt.Sprintf("%s://%s/wsman", scheme, r.Host)
	// Environment and WorkingDirectory are echoed between ClientIP and IdleTimeOut, as in pypsrp's
	// Server 2016 captures (test_winrs_environment.yml, test_winrs_extra_opts.yml).
	var echo strings.Builder
	if len(s.env) > 0 {
		echo.WriteString(`<rsp:Environment>`)
		for _, v := range s.env {
			// The capture shows Windows dropping backslashes from variable names (not from values).
			fmt.Fprintf(&echo, `<rsp:Variable Name="%s">%s</rsp:Variable>`, xmlText(strings.ReplaceAll(v.Name, `\`, "")), xmlText(v.Value))
		}
		echo.WriteString(`</rsp:Environment>`)
	}
	if s.cwd != "" {
		fmt.Fprintf(&echo, `<rsp:WorkingDirectory>%s</rsp:WorkingDirectory>`, xmlText(s.cwd))
	}
	body := fmt.Sprintf(`<x:ResourceCreated><a:Address>%s</a:Address><a:ReferenceParameters><w:ResourceURI>%s</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`+
		`<rsp:Shell xmlns:rsp="%s"><rsp:ShellId>%s</rsp:ShellId><rsp:ResourceUri>%s</rsp:ResourceUri><rsp:Owner>%s</rsp:Owner><rsp:ClientIP>%s</rsp:ClientIP>%s<rsp:IdleTimeOut>PT%.3fS</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams><rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`,
		xmlText(addr), resourceCmd, s.id, nsShell, s.id, resourceCmd, xmlText(strings.ToLower(name)), xmlText(clientIP(r)), echo.String(), h.cfg.IdleTimeout.Seconds())
	h.writeOK(w, "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", req.Header.MessageID, body)
}

func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

func (h *Host) command(w http.ResponseWriter, req *request, id auth.Identity) {
	s := h.lookupShell(w, req, id)
	if s == nil {
		return
	}
	cl := req.Body.CommandLine
	if cl == nil {
		h.writeFault(w, h.cfg.Locale, req.Header.MessageID, faultBadXML(textsFor(h.cfg.Locale)))
		return
	}
	var c *command
	if v, ok := req.option("WINRS_SKIP_CMD_SHELL"); ok && strings.EqualFold(v, "TRUE") {
		// Fidelity D4: no cmd.exe, no PATH search (pypsrp test_winrs_no_cmd_shell): a program that
		// is not found is a fault of the Command itself.
		c = h.startDirect(s, strings.TrimSpace(cl.Command), cl.Arguments)
		if c == nil {
			h.writeFault(w, h.cfg.Locale, req.Header.MessageID, faultFileNotFound(textsFor(h.cfg.Locale)))
			return
		}
	} else {
		line := strings.TrimSpace(cl.Command)
		for _, a := range cl.Arguments {
			line += " " + a
		}
		c = h.start(s, line)
	}
	h.mu.Lock()
	if h.shells[strings.ToUpper(s.id)] != s {
		// The shell was deleted (or timed out) while this request was in flight.
		h.mu.Unlock()
		c.cancel()
		h.writeFault(w, h.cfg.Locale, req.Header.MessageID, faultBadShell(textsFor(h.cfg.Locale), s.id))
		return
	}
	s.commands[strings.ToUpper(c.id)] = c
	h.mu.Unlock()
	h.writeOK(w, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse", req.Header.MessageID,
		fmt.Sprintf(`<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId></rsp:CommandResponse>`, c.id))
}

func (h *Host) lookupCommand(w http.ResponseWriter, req *request, s *shell, cmdID string) *command {
	h.mu.Lock()
	c := s.commands[strings.ToUpper(cmdID)]
	h.mu.Unlock()
	if c == nil {
		h.writeFault(w, h.cfg.Locale, req.Header.MessageID, faultBadCommand(textsFor(h.cfg.Locale)))
	}
	return c
}

func (h *Host) send(w http.ResponseWriter, req *request, id auth.Identity) {
	s := h.lookupShell(w, req, id)
	if s == nil {
		return
	}
	if req.Body.Send == nil || len(req.Body.Send.Streams) == 0 {
		h.writeFault(w, h.cfg.Locale, req.Header.MessageID, faultBadXML(textsFor(h.cfg.Locale)))
		return
	}
	for _, st := range req.Body.Send.Streams {
		c := h.lookupCommand(w, req, s, st.CommandID)
		if c == nil {
			return
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(st.Value))
		if err != nil {
			h.writeFault(w, h.cfg.Locale, req.Header.MessageID, faultBadXML(textsFor(h.cfg.Locale)))
			return
		}
		c.writeStdin(decodeCodepage(s.codepage, data), strings.EqualFold(st.End, "true"))
	}
	h.writeOK(w, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SendResponse", req.Header.MessageID, `<rsp:SendResponse/>`)
}

func (h *Host) receive(w http.ResponseWriter, r *http.Request, req *request, id auth.Identity) {
	s := h.lookupShell(w, req, id)
	if s == nil {
		return
	}
	if req.Body.Receive == nil {
		h.writeFault(w, h.cfg.Locale, req.Header.MessageID, faultBadXML(textsFor(h.cfg.Locale)))
		return
	}
	cmdID := strings.TrimSpace(req.Body.Receive.DesiredStream.CommandID)
	if cmdID == "" {
		// Fidelity D3: a Receive for the shell itself (no CommandId) fails in the cmd plugin
		// (pypsrp test_winrs_fail_poll_process).
		h.writeFault(w, h.cfg.Locale, req.Header.MessageID, faultInvalidParameter(textsFor(h.cfg.Locale)))
		return
	}
	c := h.lookupCommand(w, req, s, cmdID)
	if c == nil {
		return
	}
	// Room for stream data: the client's MaxEnvelopeSize minus the envelope, base64 inflates 4/3.
	room := (req.maxEnvelope() - 2048) * 3 / 4
	if room < 1024 {
		room = 1024
	}
	chunk, ok := c.wait(r.Context(), req.operationTimeout(h.cfg.MaxTimeout), room)
	if !ok {
		if r.Context().Err() != nil {
			return
		}
		h.writeFault(w, h.cfg.Locale, req.Header.MessageID, faultTimedOut(textsFor(h.cfg.Locale)))
		return
	}
	h.mu.Lock()
	s.lastUsed = h.cfg.Now()
	h.mu.Unlock()
	// The Receive body is rendered straight into the envelope: it is most of the response.
	const action = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse"
	env := bufpool.Get(envelopeRoom + len(action) + len(req.Header.MessageID) + chunk.xmlSize(c.id))
	env = envelopeHead(env, h.cfg.Locale, action, req.Header.MessageID)
	env = envelopeTail(chunk.appendXML(env, c.id))
	chunk.release()
	writeEnvelope(w, env)
}

func (h *Host) signal(w http.ResponseWriter, req *request, id auth.Identity) {
	s := h.lookupShell(w, req, id)
	if s == nil {
		return
	}
	if req.Body.Signal == nil {
		h.writeFault(w, h.cfg.Locale, req.Header.MessageID, faultBadXML(textsFor(h.cfg.Locale)))
		return
	}
	c := h.lookupCommand(w, req, s, req.Body.Signal.CommandID)
	if c == nil {
		return
	}
	switch strings.TrimSpace(req.Body.Signal.Code) {
	case signalTerm:
		c.cancel()
		h.mu.Lock()
		delete(s.commands, strings.ToUpper(c.id))
		h.mu.Unlock()
	case signalCtrlC:
		c.cancel()
	default:
		h.writeFault(w, h.cfg.Locale, req.Header.MessageID, faultBadXML(textsFor(h.cfg.Locale)))
		return
	}
	h.writeOK(w, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SignalResponse", req.Header.MessageID, `<rsp:SignalResponse/>`)
}

func (h *Host) delete(w http.ResponseWriter, req *request, id auth.Identity) {
	s := h.lookupShell(w, req, id)
	if s == nil {
		return
	}
	h.mu.Lock()
	delete(h.shells, strings.ToUpper(s.id))
	s.terminate()
	h.mu.Unlock()
	h.writeOK(w, "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", req.Header.MessageID, ``)
}

// ShellCount returns the number of open shells (for tests and the lab's status).
func (h *Host) ShellCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.shells)
}

// start runs a command line in a new goroutine, as `cmd.exe /c line` in the shell's context.
func (h *Host) start(s *shell, line string) *command {
	sh := h.cmdShell(s)
	return h.run(s, func(ctx context.Context, c *command) int {
		return sh.Run(ctx, line, c.stdin, c.stdoutWriter(), c.stderrWriter())
	})
}

// startDirect runs one program without cmd.exe (WINRS_SKIP_CMD_SHELL); nil when the program is not
// found, before any command exists.
func (h *Host) startDirect(s *shell, program string, args []string) *command {
	sh := h.cmdShell(s)
	// Resolve first: Windows answers the Command itself with a fault.
	if err := sh.Resolve(program); err != nil {
		return nil
	}
	return h.run(s, func(ctx context.Context, c *command) int {
		rc, _ := sh.RunDirect(ctx, program, args, c.stdin, c.stdoutWriter(), c.stderrWriter())
		return rc
	})
}

// cmdShell is the cmd.exe (and program) context of commands in shell s: working directory,
// environment (the client's Environment variables override the defaults) and programs.
func (h *Host) cmdShell(s *shell) *cmdexe.Shell {
	_, user, _ := strings.Cut(s.owner, `\`)
	dom, _, _ := strings.Cut(s.owner, `\`)
	sid := s.sid
	cwd := s.profile
	if s.cwd != "" {
		cwd = s.cwd
	}
	sh := &cmdexe.Shell{
		Locale: h.cfg.Locale,
		Cwd:    cwd,
		FS:     h.fs,
		Env: map[string]string{
			"SystemRoot": `C:\Windows`, "windir": `C:\Windows`, "SystemDrive": "C:",
			"ProgramData": `C:\ProgramData`, "ALLUSERSPROFILE": `C:\ProgramData`,
			"COMPUTERNAME": h.short, "USERNAME": user, "USERDOMAIN": dom, "USERPROFILE": s.profile,
			"TEMP": s.profile + `\AppData\Local\Temp`, "TMP": s.profile + `\AppData\Local\Temp`,
			"ComSpec": `C:\Windows\system32\cmd.exe`, "OS": "Windows_NT", "PROCESSOR_ARCHITECTURE": "AMD64",
			"PATHEXT": ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC",
			"Path":    `C:\Windows\system32;C:\Windows;C:\Windows\System32\Wbem;C:\Windows\System32\WindowsPowerShell\v1.0\`,
		},
		Programs: map[string]cmdexe.Program{
			"reg": func(ctx context.Context, p *cmdexe.Proc) int {
				code := registry.Main(ctx, &registry.Env{Reg: h.reg, UserSID: sid, FS: h.fs, Cwd: cwd,
					Locale: h.cfg.Locale, Stdin: p.Stdin, Stdout: p.Stdout, Stderr: p.Stderr}, p.Args)
				if h.cfg.RegistryPolicy != nil {
					h.cfg.RegistryPolicy(h.reg)
				}
				return code
			},
			"powershell": h.powershell(sid),
			"whoami": func(ctx context.Context, p *cmdexe.Proc) int {
				if len(p.Args) > 0 {
					// Only the plain form is simulated; options fail loudly.
					fmt.Fprintf(p.Stderr, "winsim: whoami %s is not simulated\r\n", strings.Join(p.Args, " "))
					return 9009
				}
				fmt.Fprintf(p.Stdout, "%s\r\n", strings.ToLower(s.owner))
				return 0
			},
		},
	}
	for _, v := range s.env {
		sh.Env[v.Name] = v.Value
	}
	if h.cfg.NoPowerShell {
		sh.Programs["powershell"] = nil // removed: "is not recognized"
	}
	return sh
}

// run starts a command of shell s whose body is fn, after the host's simulated execution time.
func (h *Host) run(s *shell, fn func(ctx context.Context, c *command) int) *command {
	ctx, cancel := context.WithCancel(context.Background())
	c := newCommand(newUUID(), s.codepage, cancel)
	go func() {
		defer c.finish()
		if h.cfg.ExecTime > 0 {
			t := time.NewTimer(h.cfg.ExecTime)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				c.exit = 1 // unverified: a terminated process reports exit code 1 in WinRS? signal normally deletes it first
				return
			}
		}
		c.exit = fn(ctx, c)
	}()
	return c
}

func (h *Host) powershell(sid string) cmdexe.Program {
	ph := &pwsh.Host{
		Network:   h.cfg.Network,
		Locale:    h.cfg.Locale,
		ProbeTime: h.cfg.ProbeTime,
		StartTime: h.cfg.PSStart,
		Registry:  h.reg,
		FS:        h.fs,
		CurrentUserSettings: func() ([]byte, bool) {
			v, ok := h.reg.Value(`HKEY_USERS\`+sid+`\`+InternetSettingsKey, "DefaultConnectionSettings")
			if !ok || v.Type != registry.TypeBinary {
				return nil, false
			}
			return v.Data, true
		},
	}
	return ph.Program()
}
