// Package probe builds the PowerShell probe that dcproxy runs on each domain controller and parses
// what it prints.
//
// One script per host (PowerShell start-up is slow, so never one process per probe) reads what the
// sensor itself would use, requests one HTTPS URL through several routes and prints one JSON line:
//   - SensorConfiguration.json of a v2 sensor (Config.SensorConfig): the proxy URL and user name,
//     whether credentials are configured (never the encrypted bytes), the workspace endpoint;
//   - the URL: given, built from the JSON's endpoint (URLSensor), or from MDE's OnboardingInfo
//     (URLMDE);
//   - root certificates by thumbprint in Cert:\LocalMachine\Root (Config.Roots);
//   - one result per route. Routes are resolved on the host to "direct" or "proxy host:port";
//     routes that resolve alike share one request, and the distinct requests run at the same time
//     (a RunspacePool, each request synchronous so its certificate callback has a runspace).
//
// The script is written for Windows PowerShell 5.1 on Server 2016: it enables TLS 1.2 explicitly,
// uses System.Net.HttpWebRequest (no IE engine), reads HTTP errors such as 503 and 407 from the
// WebException's Response, sets a per-request timeout and disables the progress stream. The text is
// ASCII only, uses no aliases, no double quotes and no percent signs (it travels through cmd.exe as
// plain text, see Command).
//
// The script is a header, one data line, $cfg=@{...}, that carries the whole Config, and a fixed
// body. Extract therefore recovers the Config from a script exactly, which is what the simulator
// (remote/winsim/pwsh) uses to answer the probe.
//
// Routes:
//   - system: the connecting account's own WinINet settings, [System.Net.WebRequest]::GetSystemWebProxy()
//     (PAC and auto-detect are evaluated by .NET; callers flag such accounts as approximate).
//   - proxy: an explicit http://host:port WebProxy, without a bypass list.
//   - direct: no proxy at all.
//   - sensor: the proxy URL of SensorConfiguration.json (no request when it has none).
//
// Every proxied request uses the connecting account's default credentials.
//
// Bypass lists never travel to the host: the caller knows the one URL and decides with
// wininet.Bypassed whether an account's list matches its host (WinINet's "<local>" = a name without
// a dot), sending such an account as a direct route. That keeps the command line short whatever the
// length of the lists (cmd.exe's 8191-character limit).
//
// Every result says whether the request got as far as a TLS handshake with a server certificate
// (Result.TLS) and that certificate's subject and issuer: a status code without TLS was answered by
// the proxy itself (a failed CONNECT), not by the endpoint.
//
// All functions are pure and safe for concurrent use.
package probe

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Route modes.
const (
	ModeSystem = "system" // the account's WinINet settings via GetSystemWebProxy
	ModeProxy  = "proxy"  // an explicit proxy (host:port), without a bypass list
	ModeDirect = "direct" // no proxy
	// ModeSensor is the proxy of the v2 sensor's SensorConfiguration.json
	// (SensorProxyConfiguration.Url, read from Config.SensorConfig on the host). When the file has
	// none (or there is no file, or Config.SensorConfig is ""), no request is made and the result
	// has Error ErrNoSensorProxy.
	ModeSensor = "sensor"
)

// URL sources: where the requested URL comes from (Config.URLSource).
const (
	URLGiven = "" // Config.URL
	// URLSensor is https://<Address>[:<Port>]/tri/sensor/api/ping from the JSON's
	// WorkspaceApplicationSensorApiWebClientConfigurationServiceEndpoint (the port is left out when it
	// is 0 or 443); Config.URL when the file or the address is missing.
	URLSensor = "sensor"
	// URLMDE is <geoLocationUrl>cnc/identity/api, geoLocationUrl from the body of
	// HKLM\SOFTWARE\Microsoft\Windows Advanced Threat Protection OnboardingInfo (what Microsoft's own
	// v3 connectivity test requests; it expects 500); Config.URL when the value is missing.
	URLMDE = "mde"
)

// Output.URLFrom values.
const (
	FromGiven  = "given"
	FromSensor = "sensor"
	FromMDE    = "mde"
)

// Result.Error values the script sets itself (besides WebExceptionStatus and exception type names).
const (
	// ErrNoSensorProxy: a ModeSensor route and the JSON has no proxy (or there is no JSON).
	ErrNoSensorProxy = "NoSensorProxy"
)

// Limits enforced by Script and Command.
const (
	// MaxCommandLen is the longest command line Command returns: cmd.exe's limit of 8191 characters,
	// minus one so that the line always fits.
	MaxCommandLen = 8190
	// MaxTimeout bounds Config.Timeout (HttpWebRequest.Timeout is an int of milliseconds).
	MaxTimeout = 10 * time.Minute
	// MaxRoutes bounds the number of routes in one script.
	MaxRoutes = 16
	// MaxRoots bounds Config.Roots.
	MaxRoots = 4
	// MaxPath bounds Config.SensorConfig (Windows' MAX_PATH, 260, including the drive).
	MaxPath = 260
	// MaxBody bounds Result.Body.
	MaxBody = 64
)

// Sentinel errors; every error of this package wraps exactly one of them.
var (
	// ErrInvalidConfig: Script or Command was given a Config it cannot express.
	ErrInvalidConfig = errors.New("invalid probe config")
	// ErrTooLong: the encoded command would exceed MaxCommandLen.
	ErrTooLong = errors.New("probe command too long")
	// ErrNotProbe: Extract was given a text that is not a script produced by Script.
	ErrNotProbe = errors.New("not a probe script")
	// ErrBadOutput: Parse was given output that is not exactly what the script prints for its Config.
	ErrBadOutput = errors.New("bad probe output")
)

// Route is one way of reaching the URL, named by the account (or proxy source) it reproduces.
type Route struct {
	ID    string // [A-Z_]+, e.g. CURRENT_USER, LOCAL_SYSTEM, LOCAL_SERVICE, SENSOR_JSON
	Mode  string // ModeSystem, ModeProxy, ModeDirect or ModeSensor
	Proxy string // host:port, only for ModeProxy
}

// Config is everything one probe script does.
type Config struct {
	URL       string        // https URL to request; the fallback of URLSensor and URLMDE
	URLSource string        // URLGiven, URLSensor or URLMDE
	Timeout   time.Duration // per request; a positive whole number of milliseconds up to MaxTimeout
	Routes    []Route       // IDs unique; identical resolutions are requested once, distinct ones at the same time
	// SensorConfig is the Windows path of SensorConfiguration.json (the folder of the AATPSensor
	// service's ImagePath); "" = read none (Output.Sensor is nil). An absolute drive path of printable
	// ASCII without quotes, backticks, % or <>|?* and at most MaxPath characters: it travels in the
	// script's data line.
	SensorConfig string
	// Roots are SHA-1 thumbprints (40 upper-case hex digits, unique, at most MaxRoots) looked up in
	// Cert:\LocalMachine\Root.
	Roots []string
}

// Output is what the script reports.
type Output struct {
	URL     string          // the URL requested (printable ASCII)
	URLFrom string          // FromGiven, FromSensor or FromMDE
	Sensor  *SensorConfig   // nil when Config.SensorConfig == ""
	Roots   map[string]bool // every Config.Roots thumbprint -> present in LocalMachine\Root
	Results []Result        // one per Config route, in route order
	// Requests is the number of requests made: routes that resolved to the same proxy (or to direct)
	// share one.
	Requests int
}

// SensorConfig is what the script read from SensorConfiguration.json. The encrypted proxy password
// (EncryptedUserPasswordData) never leaves the host: the script reports only whether it is set.
type SensorConfig struct {
	Found       bool   // the file exists and parsed
	Error       string // why not, in plain words ("not found", "cannot be read", "not valid JSON"); "" when Found
	ProxyURL    string // SensorProxyConfiguration.Url, "" = none; user info in the URL is replaced by "REDACTED"
	ProxyUser   string // SensorProxyConfiguration.UserName
	Credentials bool   // EncryptedUserPasswordData present and not null
	Address     string // the workspace endpoint's Address (host name)
	Port        int    // the endpoint's Port as [int] made it (0 = absent; any Int32)
}

// Result is what the script reports for one route.
type Result struct {
	ID string // the Route ID
	// URL is the URL requested for this route (Output.URL), "" when no request was made for it.
	URL     string
	Status  int    // HTTP status, 0 if no HTTP response was received
	Error   string // WebExceptionStatus name (ConnectFailure, NameResolutionFailure, TrustFailure, Timeout, ProtocolError, ...), an exception type name, ErrNoSensorProxy, or "" on success
	Message string // the exception message in the host's language, "" on success
	Route   string // what was used: "direct" or "proxy host:port"
	// TLS is true when a TLS handshake reached the point where the server presented a certificate
	// (the validation callback ran), whether or not the certificate was trusted. A status with TLS
	// false came from the proxy itself.
	TLS     bool
	Subject string // the presented certificate's subject ("CN=..., O=..."), printable ASCII; "" without TLS
	Issuer  string // the presented certificate's issuer, printable ASCII; "" without TLS
	Body    string // for a 200: the first line of the body (printable ASCII, at most MaxBody): the sensor version
	Millis  int    // duration of the request in milliseconds (0 when none was made)
	// SharedWith is the ID of the earlier route whose request this result copies (both resolved to
	// the same route), "" when this route made its own request or none.
	SharedWith string
}

// Validate reports whether c can be turned into a script. Errors wrap ErrInvalidConfig and name the
// offending field.
func (c Config) Validate() error {
	if err := validateURL(c.URL); err != nil {
		return err
	}
	switch c.URLSource {
	case URLGiven, URLSensor, URLMDE:
	default:
		return fmt.Errorf("%w: url source %q: want \"\", sensor or mde", ErrInvalidConfig, c.URLSource)
	}
	if c.Timeout <= 0 || c.Timeout > MaxTimeout || c.Timeout%time.Millisecond != 0 {
		return fmt.Errorf("%w: timeout %v: want a whole number of milliseconds in (0, %v]", ErrInvalidConfig, c.Timeout, MaxTimeout)
	}
	if c.SensorConfig != "" {
		if len(c.SensorConfig) > MaxPath || !isDrivePath(c.SensorConfig) || !printableASCII(c.SensorConfig) {
			return fmt.Errorf("%w: sensor config path %q: want an absolute drive path (C:\\...) of printable ASCII without quotes, backticks, %% or <>|?*, at most %d characters", ErrInvalidConfig, c.SensorConfig, MaxPath)
		}
	}
	if len(c.Roots) > MaxRoots {
		return fmt.Errorf("%w: %d roots: want at most %d", ErrInvalidConfig, len(c.Roots), MaxRoots)
	}
	seenRoot := make(map[string]bool, len(c.Roots))
	for i, r := range c.Roots {
		if !isThumbprint(r) {
			return fmt.Errorf("%w: root %d %q: want a SHA-1 thumbprint of 40 upper-case hex digits", ErrInvalidConfig, i, r)
		}
		if seenRoot[r] {
			return fmt.Errorf("%w: root %s given twice", ErrInvalidConfig, r)
		}
		seenRoot[r] = true
	}
	if len(c.Routes) == 0 || len(c.Routes) > MaxRoutes {
		return fmt.Errorf("%w: %d routes: want 1 to %d", ErrInvalidConfig, len(c.Routes), MaxRoutes)
	}
	seen := make(map[string]bool, len(c.Routes))
	for i, r := range c.Routes {
		if !isRouteID(r.ID) || len(r.ID) > 64 {
			return fmt.Errorf("%w: route %d: id %q: want [A-Z_]+ (at most 64)", ErrInvalidConfig, i, r.ID)
		}
		if seen[r.ID] {
			return fmt.Errorf("%w: route %d: duplicate id %s", ErrInvalidConfig, i, r.ID)
		}
		seen[r.ID] = true
		switch r.Mode {
		case ModeSystem, ModeDirect, ModeSensor:
			if r.Proxy != "" {
				return fmt.Errorf("%w: route %s: mode %s takes no proxy", ErrInvalidConfig, r.ID, r.Mode)
			}
		case ModeProxy:
			if err := validateHostPort(r.Proxy); err != nil {
				return fmt.Errorf("%w: route %s: proxy %q: %v", ErrInvalidConfig, r.ID, r.Proxy, err)
			}
		default:
			return fmt.Errorf("%w: route %s: mode %q: want system, proxy, direct or sensor", ErrInvalidConfig, r.ID, r.Mode)
		}
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func validateURL(s string) error {
	if len(s) > 2048 {
		return fmt.Errorf("%w: url longer than 2048 bytes", ErrInvalidConfig)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == '"' || s[i] == '\\' || s[i] == '\'' || s[i] == '`' || s[i] == '%' {
			return fmt.Errorf("%w: url %q: byte %d is not allowed (printable ASCII without quotes, backslash, backtick or %%: the URL travels through cmd.exe)", ErrInvalidConfig, s, i)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%w: url %q: %w", ErrInvalidConfig, s, err)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("%w: url %q: scheme must be https", ErrInvalidConfig, s)
	}
	if u.User != nil {
		return fmt.Errorf("%w: url %q: user info is not allowed", ErrInvalidConfig, s)
	}
	if u.Hostname() == "" || u.Opaque != "" {
		return fmt.Errorf("%w: url %q: no host", ErrInvalidConfig, s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: url %q: bad port", ErrInvalidConfig, s)
		}
	}
	return nil
}

func validateHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want host:port")
	}
	switch {
	case strings.HasPrefix(s, "["):
		// An IPv6 literal, bracketed as a URL needs it (net.JoinHostPort's form).
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() || a.Zone() != "" {
			return errors.New("bad IPv6 address")
		}
	case len(host) > 253 || !isHostName(strings.TrimSuffix(host, ".")):
		return errors.New("bad host name")
	}
	if port == "" || port[0] == '0' {
		return errors.New("bad port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("bad port")
	}
	return nil
}

// Script returns the probe script for c: deterministic ASCII text (LF line ends) whose third line,
// $cfg=@{...}, carries c as a PowerShell hashtable literal of single-quoted strings. Every line end is
// also a valid statement separator, so Inline(Script(c)) is the same script on one line. Errors wrap
// ErrInvalidConfig.
func Script(c Config) (string, error) {
	b, err := AppendScript(nil, c)
	return string(b), err
}

// AppendScript appends Script(c) to dst (for example a pooled buffer: the fleet sends the script
// of every host from one).
func AppendScript(dst []byte, c Config) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return dst, err
	}
	dst = append(dst, scriptHead...)
	dst = appendDataLine(dst, c)
	dst = append(dst, '\n')
	return append(dst, scriptBody...), nil
}

// appendDataLine appends c rendered as `$cfg=@{url='...';urlSource='...';timeoutMs=N;
// sensorConfig='...';roots=@('...',...);routes=@(@{id='...';mode='...';proxy='...'},...)}`.
func appendDataLine(b []byte, c Config) []byte {
	b = append(b, dataPrefix...)
	b = appendPSQuote(append(b, "url="...), c.URL)
	b = appendPSQuote(append(b, ";urlSource="...), c.URLSource)
	b = strconv.AppendInt(append(b, ";timeoutMs="...), c.Timeout.Milliseconds(), 10)
	b = appendPSQuote(append(b, ";sensorConfig="...), c.SensorConfig)
	b = append(b, ";roots=@("...)
	for i, r := range c.Roots {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPSQuote(b, r)
	}
	b = append(b, ");routes=@("...)
	for i, r := range c.Routes {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPSQuote(append(b, "@{id="...), r.ID)
		b = appendPSQuote(append(b, ";mode="...), r.Mode)
		b = appendPSQuote(append(b, ";proxy="...), r.Proxy)
		b = append(b, '}')
	}
	return append(b, ")}"...)
}

// appendPSQuote appends s as a PowerShell single-quoted string literal.
func appendPSQuote(b []byte, s string) []byte {
	b = append(b, '\'')
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '\'')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '\'')
}

// Inline returns script on one line: every line end becomes ';' (the probe script is written so that
// this is the same script). It is the form Command sends.
func Inline(script string) string { return strings.ReplaceAll(script, "\n", ";") }

// Command returns the command line that runs Script(c):
// `powershell.exe -NoProfile -NonInteractive -Command "<Inline(Script(c))>"`. The script holds no
// double quote and no percent sign, so cmd.exe passes it on untouched (no %VAR% expansion) and
// CommandLineToArgvW hands it to PowerShell as one argument. (Plain text, not -EncodedCommand: the
// Base64 of UTF-16 costs 8/3 characters per script character, and the script would not fit cmd.exe's
// 8191.) Errors wrap ErrInvalidConfig, or ErrTooLong when the line would exceed MaxCommandLen.
func Command(c Config) (string, error) {
	s, err := Script(c)
	if err != nil {
		return "", err
	}
	line := CommandPrefix + `"` + Inline(s) + `"`
	if len(line) > MaxCommandLen {
		return "", fmt.Errorf("%w: %d characters, limit %d (fewer routes or shorter names)", ErrTooLong, len(line), MaxCommandLen)
	}
	return line, nil
}

// CommandPrefix is what Command puts before the quoted script.
const CommandPrefix = "powershell.exe -NoProfile -NonInteractive -Command "

// EncodeCommand is powershell.exe's -EncodedCommand encoding: base64 of the UTF-16LE text.
func EncodeCommand(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, v := range u {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Extract is the inverse of Script: it recovers the Config from a script text, either Script(c) or
// Inline(Script(c)) (what powershell.exe receives from Command), and fails (wrapping ErrNotProbe)
// unless that form of Script of the recovered Config reproduces the text byte for byte.
func Extract(script string) (Config, error) {
	if !strings.HasPrefix(script, scriptHead) && !strings.HasPrefix(script, Inline(scriptHead)) {
		return Config{}, fmt.Errorf("%w: no probe header", ErrNotProbe)
	}
	p := &dataParser{s: script[len(scriptHead):]}
	c, err := p.config()
	if err != nil {
		return Config{}, fmt.Errorf("%w: data line: %w", ErrNotProbe, err)
	}
	again, err := Script(c)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrNotProbe, err)
	}
	if again != script && Inline(again) != script {
		return Config{}, fmt.Errorf("%w: text differs from the script its config produces", ErrNotProbe)
	}
	return c, nil
}

// dataParser reads the data line that dataLine writes (and nothing else).
type dataParser struct{ s string }

func (p *dataParser) lit(want string) error {
	if !strings.HasPrefix(p.s, want) {
		return fmt.Errorf("want %q at %q", want, clip([]byte(p.s)))
	}
	p.s = p.s[len(want):]
	return nil
}

// quoted reads a single-quoted PowerShell string (” is a quote).
func (p *dataParser) quoted() (string, error) {
	if err := p.lit("'"); err != nil {
		return "", err
	}
	var b strings.Builder
	for i := 0; i < len(p.s); i++ {
		if p.s[i] != '\'' {
			b.WriteByte(p.s[i])
			continue
		}
		if i+1 < len(p.s) && p.s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		p.s = p.s[i+1:]
		return b.String(), nil
	}
	return "", errors.New("unterminated string")
}

func (p *dataParser) config() (Config, error) {
	var c Config
	var err error
	field := func(name string, dst *string) {
		if err == nil {
			err = p.lit(name + "=")
		}
		if err == nil {
			*dst, err = p.quoted()
		}
	}
	if err = p.lit(dataPrefix); err != nil {
		return c, err
	}
	field("url", &c.URL)
	if err == nil {
		err = p.lit(";")
	}
	field("urlSource", &c.URLSource)
	if err == nil {
		err = p.lit(";timeoutMs=")
	}
	if err != nil {
		return c, err
	}
	n := 0
	for n < len(p.s) && n < 10 && p.s[n] >= '0' && p.s[n] <= '9' {
		n++
	}
	ms, perr := strconv.ParseInt(p.s[:n], 10, 64)
	if perr != nil || ms <= 0 || ms > MaxTimeout.Milliseconds() {
		return c, fmt.Errorf("timeout %q out of range", p.s[:n])
	}
	c.Timeout = time.Duration(ms) * time.Millisecond
	p.s = p.s[n:]
	if err = p.lit(";"); err != nil {
		return c, err
	}
	field("sensorConfig", &c.SensorConfig)
	if err == nil {
		err = p.lit(";roots=@(")
	}
	for err == nil && !strings.HasPrefix(p.s, ")") {
		if len(c.Roots) > 0 {
			if err = p.lit(","); err != nil {
				break
			}
		}
		var r string
		if r, err = p.quoted(); err == nil {
			c.Roots = append(c.Roots, r)
		}
	}
	if err == nil {
		err = p.lit(");routes=@(")
	}
	for err == nil && !strings.HasPrefix(p.s, ")") {
		if len(c.Routes) > 0 {
			if err = p.lit(","); err != nil {
				break
			}
		}
		var r Route
		if err = p.lit("@{"); err == nil {
			field("id", &r.ID)
		}
		if err == nil {
			err = p.lit(";")
		}
		field("mode", &r.Mode)
		if err == nil {
			err = p.lit(";")
		}
		field("proxy", &r.Proxy)
		if err == nil {
			err = p.lit("}")
		}
		if err == nil {
			c.Routes = append(c.Routes, r)
		}
		if len(c.Routes) > MaxRoutes {
			return c, fmt.Errorf("more than %d routes", MaxRoutes)
		}
	}
	if err == nil {
		err = p.lit(")}")
	}
	return c, err
}
