// Package pwsh is powershell.exe as the simulator runs it: it parses Windows PowerShell 5.1's
// command line, decodes -EncodedCommand, answers the dcproxy endpoint probe (remote/probe) from a
// network model, and fails every other script the way PowerShell fails on an unknown command.
//
// Output is UTF-8 text with CRLF line ends (the shell transcodes it to the client's code page).
// A Host is safe for concurrent use as long as nobody mutates it while programs run.
package pwsh

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/winsim/cmdexe"
	"github.com/dcproxy/dcproxy/remote/winsim/registry"
	"github.com/dcproxy/dcproxy/remote/winsim/winfs"
)

// Proxy states in Network.Proxies. Besides these, "blocked_NNN" (NNN an HTTP status from 400 to
// 599, e.g. ProxyBlocked503) is a proxy that answers the CONNECT itself with that status, as
// Squid, Zscaler or Bluecoat do when they block or cannot reach the destination: the probe sees the
// status without any TLS handshake. See BlockedStatus and ProxyStatus.
const (
	ProxyOK   = "ok"   // forwards requests (CONNECT) to the endpoint
	ProxyDown = "down" // refuses connections
	// ProxyBlackhole accepts the connection and never answers: the request ends at the probe's
	// timeout (HttpWebRequest.Timeout) with WebExceptionStatus Timeout.
	ProxyBlackhole    = "blackhole"
	ProxyAuthRequired = "auth_required" // answers 407 to the probe's default credentials
	ProxyBlocked503   = "blocked_503"   // answers the CONNECT with 503 itself
	// ProxyUnauthorized401 answers the CONNECT with 401 instead of 407 (a proxy that authenticates
	// like a web server); the v2 sensor reports it as "failed to register due to licensing issues".
	ProxyUnauthorized401 = "unauthorized_401"
	// ProxyForbidden403 answers the CONNECT with 403 (the destination is not allowed).
	ProxyForbidden403 = "forbidden_403"
)

// BlockedStatus reports the HTTP status of a "blocked_NNN" proxy state (NNN from 400 to 599).
func BlockedStatus(state string) (int, bool) {
	rest, ok := strings.CutPrefix(state, "blocked_")
	if !ok || len(rest) != 3 || rest[0] < '4' || rest[0] > '5' {
		return 0, false
	}
	n := 0
	for i := 0; i < 3; i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return 0, false
		}
		n = n*10 + int(rest[i]-'0')
	}
	return n, true
}

// ProxyStatus reports the status a proxy in state answers the CONNECT with itself (407, 401, 403 or
// a blocked_NNN status); ok is false for a proxy that forwards, refuses or is unknown.
func ProxyStatus(state string) (int, bool) {
	switch state {
	case ProxyAuthRequired:
		return 407, true
	case ProxyUnauthorized401:
		return 401, true
	case ProxyForbidden403:
		return 403, true
	}
	return BlockedStatus(state)
}

// ValidProxyState reports whether state is one of the proxy states above.
func ValidProxyState(state string) bool {
	_, answers := ProxyStatus(state)
	return answers || state == ProxyOK || state == ProxyDown || state == ProxyBlackhole
}

// TLS interception flavours in Network.TLSIntercept.
const (
	InterceptNone      = ""          // proxies tunnel TLS to the endpoint untouched
	InterceptUntrusted = "untrusted" // proxied requests see the inspection CA's certificate, which the host does not trust: TrustFailure
	InterceptTrusted   = "trusted"   // the inspection CA is trusted: proxied requests succeed with its certificate
)

// Certificates the model presents. The endpoint's subject is "CN=*.<parent domain of the URL host>"
// followed by EndpointSubjectTail; its issuer is EndpointIssuerFor(host).
const (
	// EndpointIssuer issues the certificates of Microsoft's commercial endpoints (Microsoft's public
	// CA for Azure services, chained to DigiCert Global Root G2).
	EndpointIssuer = "CN=Microsoft Azure RSA TLS Issuing CA 04, O=Microsoft Corporation, C=US"
	// EndpointIssuerGov issues the certificates of the GCC High / DoD endpoints (*.us), chained to
	// DigiCert Global Root CA. unverified: the exact intermediate.
	EndpointIssuerGov = "CN=DigiCert SHA2 Secure Server CA, O=DigiCert Inc, C=US"
	// EndpointSubjectTail follows the endpoint certificate's CN.
	EndpointSubjectTail = ", O=Microsoft Corporation, L=Redmond, S=WA, C=US"
	// DefaultInterceptIssuer is the inspection CA when Network.InterceptIssuer is empty.
	DefaultInterceptIssuer = "CN=Contoso TLS Inspection CA, O=Contoso Ltd"
)

// Root certificates (SHA-1 thumbprints) the endpoints chain to.
const (
	RootDigiCertGlobalG2 = "DF3C24F9BFD666761B268073FE06D1CC8D4F82A4" // DigiCert Global Root G2: commercial and GCC
	RootDigiCertGlobalCA = "A8985D3A65E5E5C4B2D7D66D40C6DD2FB19C5436" // DigiCert Global Root CA: GCC High and DoD
)

// RequiredRoot is the root the endpoint certificate of host chains to: DigiCert Global Root CA for
// the GCC High / DoD names (*.us), DigiCert Global Root G2 for everything else.
func RequiredRoot(host string) string {
	if strings.HasSuffix(strings.ToLower(host), ".us") {
		return RootDigiCertGlobalCA
	}
	return RootDigiCertGlobalG2
}

// EndpointIssuerFor is the issuer of host's endpoint certificate.
func EndpointIssuerFor(host string) string {
	if RequiredRoot(host) == RootDigiCertGlobalCA {
		return EndpointIssuerGov
	}
	return EndpointIssuer
}

// Registry locations the probe reads (long root names, as the registry model stores them).
const (
	// RootStoreKey is the machine's own root store (Cert:\LocalMachine\Root's registry part): a
	// certificate is a subkey named by its thumbprint. RootStoreKeys lists every store the logical
	// LocalMachine\Root merges.
	RootStoreKey = `HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\SystemCertificates\ROOT\Certificates`
	// AuthRootStoreKey holds the roots of Microsoft's root program (DigiCert's among them) that
	// automatic root update installed.
	AuthRootStoreKey = `HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\SystemCertificates\AuthRoot\Certificates`
	// PolicyInternetSettingsKey holds ProxySettingsPerUser (REG_DWORD; 0 = per machine).
	PolicyInternetSettingsKey = `HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows\CurrentVersion\Internet Settings`
	// MachineConnectionsKey holds the per-machine DefaultConnectionSettings (and WinHttpSettings).
	MachineConnectionsKey = `HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	// ATPKey holds Defender for Endpoint's OnboardingInfo (REG_SZ JSON).
	ATPKey = `HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows Advanced Threat Protection`
)

// RootStoreKeys are the registry stores of Cert:\LocalMachine\Root.
var RootStoreKeys = []string{
	RootStoreKey, AuthRootStoreKey,
	`HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\SystemCertificates\Root\Certificates`,
	`HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\EnterpriseCertificates\Root\Certificates`,
}

// Network is what the host can reach.
type Network struct {
	Direct         bool              // can the host reach the endpoint without a proxy
	Proxies        map[string]string // "host:port" -> ProxyOK | ProxyDown | ProxyAuthRequired | ProxyUnauthorized401 | ProxyForbidden403 | "blocked_NNN"
	EndpointStatus int               // what endpoints answer when reached (503 or 200); 0 means 503
	// EndpointVersion, when set, is what the sensor API's /tri/sensor/api/ping answers: 200 with
	// this body (the latest sensor version). "" leaves the ping to EndpointStatus.
	EndpointVersion string
	// TLSIntercept is the TLS inspection of every proxy: InterceptNone, InterceptUntrusted or
	// InterceptTrusted (other values count as InterceptUntrusted). Direct requests are never
	// intercepted.
	TLSIntercept string
	// InterceptIssuer is the inspection CA's name, issuer of the certificates it presents;
	// "" means DefaultInterceptIssuer.
	InterceptIssuer string
	// PACProxy is what a PAC script or WPAD resolves the URL to for an account with auto-config or
	// auto-detect set: "host:port", or "" for DIRECT.
	PACProxy string
}

// Host is the powershell.exe of one simulated host.
type Host struct {
	Network Network
	Locale  string // "en-US" (default) or "de-DE": language of exception and error texts
	// CurrentUserSettings returns DefaultConnectionSettings of the connecting account (HKCU);
	// ok is false when the value does not exist. nil means no value.
	CurrentUserSettings func() (raw []byte, ok bool)
	// Registry is the host's registry: the ProxySettingsPerUser policy with the per-machine
	// DefaultConnectionSettings, MDE's OnboardingInfo, and the certificate stores (RootStoreKeys).
	// nil: no policy, no onboarding, every root present.
	Registry *registry.Registry
	// FS is the host's file system (SensorConfiguration.json); nil: no files.
	FS        *winfs.FS
	ProbeTime time.Duration // simulated duration of one probe request
	StartTime time.Duration // PowerShell start-up
	// Sleep, when set, replaces the wait for the probe's requests (tests record the durations);
	// it reports whether the full time passed.
	Sleep func(ctx context.Context, d time.Duration) bool
}

// Exit codes.
const (
	// ExitBadCommandLine is powershell.exe's ExitCodeBadCommandLineParameter (0xFFFD0000).
	ExitBadCommandLine = 0xFFFD0000
	// ExitNotSimulated is returned (with a "winsim:" line on stderr) for invocations the simulator
	// does not model, such as -File or reading commands from stdin.
	ExitNotSimulated = cmdexe.ExitNotRecognized
)

// masterzenPrefix is what github.com/masterzen/winrm's RunPS* puts before every script.
const masterzenPrefix = "$ProgressPreference = 'SilentlyContinue';"

// Program returns powershell.exe as a cmdexe.Program.
func (h *Host) Program() cmdexe.Program {
	return func(ctx context.Context, p *cmdexe.Proc) int {
		return h.RunStdin(ctx, p.Args, p.Stdin, p.Stdout, p.Stderr)
	}
}

// Run executes powershell.exe with args (already split per CommandLineToArgvW) and an empty
// standard input, see RunStdin.
func (h *Host) Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return h.RunStdin(ctx, args, strings.NewReader(""), stdout, stderr)
}

// RunStdin executes powershell.exe with args (already split per CommandLineToArgvW) and standard
// input stdin, and returns its exit code. It sleeps StartTime, then the probe's requests (ProbeTime
// each, all at the same time), and returns cmdexe.ExitCanceled with no further output when ctx ends
// first. The -Command script probe.Bootstrap reads the probe script from stdin (see runBootstrap);
// every other script leaves stdin alone.
func (h *Host) RunStdin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cl := parseCommandLine(args)
	if cl.err != "" {
		// unverified: powershell.exe 5.1 follows this line with its full usage text (-Help); the
		// simulator prints only the error line.
		writeLines(stderr, []string{cl.err})
		return ExitBadCommandLine
	}
	if cl.notSimulated != "" {
		fmt.Fprintf(stderr, "winsim: powershell.exe %s is not simulated\r\n", cl.notSimulated)
		return ExitNotSimulated
	}
	if cl.help {
		fmt.Fprintf(stderr, "winsim: powershell.exe -Help is not simulated\r\n")
		return ExitNotSimulated
	}
	if !cl.hasCommand {
		fmt.Fprintf(stderr, "winsim: powershell.exe without -Command or -EncodedCommand (commands from stdin) is not simulated\r\n")
		return ExitNotSimulated
	}
	if !cl.encoded && cl.command == probe.Bootstrap {
		return h.runBootstrap(ctx, stdin, stdout, stderr)
	}
	if !sleep(ctx, h.StartTime) {
		return cmdexe.ExitCanceled
	}
	script := cl.command
	if strings.TrimSpace(script) == "" {
		return 0
	}
	if c, err := probe.Extract(strings.TrimPrefix(script, masterzenPrefix)); err == nil {
		return h.runProbe(ctx, c, stdout)
	}
	term, ok := findTerm(script)
	if !ok {
		fmt.Fprintf(stderr, "winsim: powershell.exe: script is not simulated (only the dcproxy probe is): %q\r\n", clip(script))
		return ExitNotSimulated
	}
	lines := commandNotFound(h.Locale, script, term)
	if cl.encoded {
		// ConsoleHost.ErrorFormat: a non-interactive host with redirected stderr and an encoded
		// command serializes the error stream as CLIXML.
		writeCLIXML(stderr, lines)
	} else {
		writeLines(stderr, lines)
	}
	return 1
}

// sleep waits d or until ctx ends; it reports whether the full time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func writeLines(w io.Writer, lines []string) {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	_, _ = io.WriteString(w, b.String())
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// commandLine is the outcome of parsing powershell.exe's arguments.
type commandLine struct {
	command      string
	hasCommand   bool
	encoded      bool
	help         bool
	err          string // a command-line error message (exit ExitBadCommandLine)
	notSimulated string // a switch the simulator does not model
}

// switchDef is one powershell.exe 5.1 switch: the full name and the shortest accepted prefix, in the
// order CommandLineParameterParser tests them.
type switchDef struct {
	name, min string
	kind      int
}

const (
	swFlag = iota
	swValue
	swCommand
	swEncoded
	swHelp
	swNotSimulated
	swNotSimulatedValue
	swFormat
)

var switches = []switchDef{
	{"help", "h", swHelp}, {"?", "?", swHelp},
	{"noexit", "noe", swNotSimulated},
	{"importsystemmodules", "imp", swFlag},
	{"noprofile", "nop", swFlag},
	{"nologo", "nol", swFlag},
	{"noninteractive", "noni", swFlag},
	{"socketservermode", "so", swNotSimulated},
	{"servermode", "s", swNotSimulated},
	{"namedpipeservermode", "nam", swNotSimulated},
	{"configurationname", "config", swNotSimulatedValue},
	{"command", "c", swCommand},
	{"windowstyle", "w", swValue},
	{"file", "f", swNotSimulated},
	{"outputformat", "o", swFormat}, {"of", "o", swFormat},
	{"inputformat", "i", swFormat}, {"if", "i", swFormat},
	{"executionpolicy", "ex", swValue}, {"ep", "ep", swValue},
	{"encodedcommand", "e", swEncoded}, {"ec", "e", swEncoded},
	{"encodedarguments", "encodeda", swNotSimulated}, {"ea", "ea", swNotSimulated},
	{"sta", "s", swFlag},
	{"mta", "mta", swFlag},
}

// matchSwitch is CommandLineParameterParser.MatchSwitch: key must be a prefix of name and at least
// as long as min.
func matchSwitch(key, name, min string) bool {
	return strings.HasPrefix(name, key) && len(key) >= len(min)
}

func isDash(r byte) bool { return r == '-' }

// Command-line error texts (CommandLineParameterParserStrings). unverified: the de-DE host prints
// these in German; the simulator prints the English text for both locales.
const (
	msgCommandAlreadySpecified = "Cannot process command because a command is already specified with -Command or -EncodedCommand."
	msgMissingCommand          = "Cannot process the command because of a missing parameter. A command must follow -Command."
	msgBadEncodedCommand       = "Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded."
	msgMissingExecutionPolicy  = "Cannot process the execution policy because of a missing policy name. A policy name must follow -ExecutionPolicy."
	msgMissingWindowStyle      = "Cannot process the command because -WindowStyle requires an argument that is normal, hidden, minimized or maximized. Specify one of these argument values and try again."
)

// parseCommandLine follows Windows PowerShell 5.1's CommandLineParameterParser: switches start with
// '-' or '/', a second '-' is ignored, names are case-insensitive prefixes (MatchSwitch), and the
// first argument that is not a recognized switch starts the command: it and everything after it,
// joined by spaces, is the script (so "-Foo" runs a command named -Foo).
func parseCommandLine(args []string) commandLine {
	var cl commandLine
	setCommand := func(text string, encoded bool) bool {
		if cl.hasCommand {
			cl.err = msgCommandAlreadySpecified
			return false
		}
		cl.command, cl.hasCommand, cl.encoded = text, true, encoded
		return true
	}
	for i := 0; i < len(args); i++ {
		key := strings.ToLower(strings.TrimSpace(args[i]))
		if key == "" {
			continue
		}
		if !isDash(key[0]) && key[0] != '/' {
			setCommand(strings.Join(args[i:], " "), false)
			return cl
		}
		key = key[1:]
		if key != "" && isDash(key[0]) {
			key = key[1:]
		}
		var def *switchDef
		for j := range switches {
			if key != "" && matchSwitch(key, switches[j].name, switches[j].min) {
				def = &switches[j]
				break
			}
		}
		if def == nil {
			// The first parameter we fail to recognize marks the beginning of the command string.
			setCommand(strings.Join(args[i:], " "), false)
			return cl
		}
		switch def.kind {
		case swFlag:
		case swHelp:
			cl.help = true
		case swNotSimulated:
			cl.notSimulated = "-" + def.name
			return cl
		case swNotSimulatedValue:
			cl.notSimulated = "-" + def.name
			return cl
		case swValue, swFormat:
			i++
			if i >= len(args) {
				switch def.name {
				case "windowstyle":
					cl.err = msgMissingWindowStyle
				case "executionpolicy", "ep":
					cl.err = msgMissingExecutionPolicy
				default:
					cl.notSimulated = "-" + def.name + " without a value"
				}
				return cl
			}
			if def.kind == swFormat && !strings.EqualFold(args[i], "text") {
				cl.notSimulated = "-" + def.name + " " + args[i]
				return cl
			}
		case swCommand:
			if cl.hasCommand {
				cl.err = msgCommandAlreadySpecified
				return cl
			}
			i++
			if i >= len(args) {
				cl.err = msgMissingCommand
				return cl
			}
			if args[i] == "-" {
				cl.notSimulated = "-Command - (commands from stdin)"
				return cl
			}
			setCommand(strings.Join(args[i:], " "), false)
			return cl
		case swEncoded:
			if cl.hasCommand {
				cl.err = msgCommandAlreadySpecified
				return cl
			}
			i++
			if i >= len(args) {
				cl.err = msgMissingCommand
				return cl
			}
			text, ok := decodeCommand(args[i])
			if !ok {
				cl.err = msgBadEncodedCommand
				return cl
			}
			setCommand(text, true)
			// Parsing continues: a later unrecognized argument is a second command (an error).
		}
	}
	return cl
}

// decodeCommand is StringToBase64Converter.Base64ToString: Convert.FromBase64String (which ignores
// white space) and Encoding.Unicode (UTF-16LE; a dangling odd byte becomes U+FFFD).
func decodeCommand(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", false
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	text := string(utf16.Decode(u))
	if len(b)%2 == 1 {
		text += "\uFFFD"
	}
	return text, true
}
