// Package probe builds the PowerShell endpoint probe that dcproxy runs on each domain controller and
// parses what it prints.
//
// One script per host tries one HTTPS URL through several routes (PowerShell start-up is slow, so
// never one process per probe) and prints one JSON line with one result per route. The script is
// written for Windows PowerShell 5.1 on Server 2016: it enables TLS 1.2 explicitly, uses
// System.Net.HttpWebRequest (no IE engine), reads HTTP errors such as 503 and 407 from the
// WebException's Response, sets a per-request timeout and disables the progress stream. The text is
// ASCII only and uses no aliases.
//
// The script is two parts: one data line, $cfg = '<json>' | ConvertFrom-Json, that carries the whole
// Config, and a fixed body. Extract therefore recovers the Config from a script exactly, which is
// what the simulator (remote/winsim/pwsh) uses to answer the probe.
//
// Routes:
//   - system: the connecting account's own WinINet settings, [System.Net.WebRequest]::GetSystemWebProxy()
//     with default credentials (PAC and auto-detect are evaluated by .NET; callers flag such accounts
//     as approximate).
//   - proxy: an explicit http://host:port WebProxy, without a bypass list.
//   - direct: no proxy at all ($req.Proxy = $null).
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
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Route modes.
const (
	ModeSystem = "system" // the account's WinINet settings via GetSystemWebProxy
	ModeProxy  = "proxy"  // an explicit proxy with a bypass list
	ModeDirect = "direct" // no proxy
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
)

// Sentinel errors; every error of this package wraps exactly one of them.
var (
	// ErrInvalidConfig: Script or Command was given a Config it cannot express.
	ErrInvalidConfig = errors.New("invalid probe config")
	// ErrTooLong: the encoded command would exceed MaxCommandLen.
	ErrTooLong = errors.New("probe command too long")
	// ErrNotProbe: Extract was given a text that is not a script produced by Script.
	ErrNotProbe = errors.New("not a probe script")
	// ErrBadOutput: Parse was given output that is not exactly one result per route.
	ErrBadOutput = errors.New("bad probe output")
)

// Route is one way of reaching the URL, named by the account whose settings it reproduces.
type Route struct {
	ID    string // account, [A-Z_]+: CURRENT_USER, LOCAL_SYSTEM, LOCAL_SERVICE
	Mode  string // ModeSystem, ModeProxy or ModeDirect
	Proxy string // host:port, only for ModeProxy
}

// Config is everything one probe script does.
type Config struct {
	URL     string        // https URL to request
	Timeout time.Duration // per request; a positive whole number of milliseconds up to MaxTimeout
	Routes  []Route       // tried in order; IDs unique
}

// Result is what the script reports for one route.
type Result struct {
	ID      string // the Route ID
	Status  int    // HTTP status, 0 if no HTTP response was received
	Error   string // WebExceptionStatus name (ConnectFailure, NameResolutionFailure, TrustFailure, Timeout, ProtocolError, ...) or "" on success
	Message string // the exception message in the host's language, "" on success
	Route   string // what was used: "direct" or "proxy host:port"
	// TLS is true when a TLS handshake reached the point where the server presented a certificate
	// (the validation callback ran), whether or not the certificate was trusted. A status with TLS
	// false came from the proxy itself.
	TLS     bool
	Subject string // the presented certificate's subject ("CN=..., O=..."), printable ASCII; "" without TLS
	Issuer  string // the presented certificate's issuer, printable ASCII; "" without TLS
	Millis  int    // duration of the request in milliseconds
}

var (
	idRE   = regexp.MustCompile(`^[A-Z_]+$`)
	hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)
)

// wireConfig is the JSON carried on the script's data line. Field order is the encoding order.
type wireConfig struct {
	URL       string      `json:"url"`
	TimeoutMs int64       `json:"timeoutMs"`
	Routes    []wireRoute `json:"routes"`
}

type wireRoute struct {
	ID    string `json:"id"`
	Mode  string `json:"mode"`
	Proxy string `json:"proxy"`
}

// Validate reports whether c can be turned into a script. Errors wrap ErrInvalidConfig and name the
// offending field.
func (c Config) Validate() error {
	if err := validateURL(c.URL); err != nil {
		return err
	}
	if c.Timeout <= 0 || c.Timeout > MaxTimeout || c.Timeout%time.Millisecond != 0 {
		return fmt.Errorf("%w: timeout %v: want a whole number of milliseconds in (0, %v]", ErrInvalidConfig, c.Timeout, MaxTimeout)
	}
	if len(c.Routes) == 0 || len(c.Routes) > MaxRoutes {
		return fmt.Errorf("%w: %d routes: want 1 to %d", ErrInvalidConfig, len(c.Routes), MaxRoutes)
	}
	seen := make(map[string]bool, len(c.Routes))
	for i, r := range c.Routes {
		if !idRE.MatchString(r.ID) || len(r.ID) > 64 {
			return fmt.Errorf("%w: route %d: id %q: want [A-Z_]+ (at most 64)", ErrInvalidConfig, i, r.ID)
		}
		if seen[r.ID] {
			return fmt.Errorf("%w: route %d: duplicate id %s", ErrInvalidConfig, i, r.ID)
		}
		seen[r.ID] = true
		switch r.Mode {
		case ModeSystem, ModeDirect:
			if r.Proxy != "" {
				return fmt.Errorf("%w: route %s: mode %s takes no proxy", ErrInvalidConfig, r.ID, r.Mode)
			}
		case ModeProxy:
			if err := validateHostPort(r.Proxy); err != nil {
				return fmt.Errorf("%w: route %s: proxy %q: %v", ErrInvalidConfig, r.ID, r.Proxy, err)
			}
		default:
			return fmt.Errorf("%w: route %s: mode %q: want system, proxy or direct", ErrInvalidConfig, r.ID, r.Mode)
		}
	}
	return nil
}

func validateURL(s string) error {
	if len(s) > 2048 {
		return fmt.Errorf("%w: url longer than 2048 bytes", ErrInvalidConfig)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == '"' || s[i] == '\\' || s[i] == '\'' || s[i] == '`' {
			return fmt.Errorf("%w: url %q: byte %d is not allowed (printable ASCII without quotes, backslash, backtick)", ErrInvalidConfig, s, i)
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
	if len(host) > 253 || !hostRE.MatchString(host) {
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

// Script returns the probe script for c: deterministic ASCII text (LF line ends) whose second line
// carries c as JSON. Errors wrap ErrInvalidConfig.
func Script(c Config) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	w := wireConfig{URL: c.URL, TimeoutMs: c.Timeout.Milliseconds(), Routes: make([]wireRoute, len(c.Routes))}
	for i, r := range c.Routes {
		w.Routes[i] = wireRoute{ID: r.ID, Mode: r.Mode, Proxy: r.Proxy}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	data := strings.TrimSuffix(buf.String(), "\n")
	return scriptHead + dataPrefix + strings.ReplaceAll(data, "'", "''") + dataSuffix + scriptBody, nil
}

// Command returns the command line that runs Script(c):
// `powershell.exe -NoProfile -NonInteractive -EncodedCommand <base64 of UTF-16LE>`. Errors wrap
// ErrInvalidConfig, or ErrTooLong when the line would exceed MaxCommandLen.
func Command(c Config) (string, error) {
	s, err := Script(c)
	if err != nil {
		return "", err
	}
	line := CommandPrefix + EncodeCommand(s)
	if len(line) > MaxCommandLen {
		return "", fmt.Errorf("%w: %d characters, limit %d (fewer routes or shorter names)", ErrTooLong, len(line), MaxCommandLen)
	}
	return line, nil
}

// CommandPrefix is what Command puts before the encoded script.
const CommandPrefix = "powershell.exe -NoProfile -NonInteractive -EncodedCommand "

// EncodeCommand is powershell.exe's -EncodedCommand encoding: base64 of the UTF-16LE text.
func EncodeCommand(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, v := range u {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Extract is the inverse of Script: it recovers the Config from a script text and fails (wrapping
// ErrNotProbe) unless Script of that Config reproduces the text byte for byte.
func Extract(script string) (Config, error) {
	if !strings.HasPrefix(script, scriptHead+dataPrefix) {
		return Config{}, fmt.Errorf("%w: no probe header", ErrNotProbe)
	}
	rest := script[len(scriptHead)+len(dataPrefix):]
	end := strings.Index(rest, dataSuffix)
	if end < 0 {
		return Config{}, fmt.Errorf("%w: unterminated data line", ErrNotProbe)
	}
	quoted := rest[:end]
	if strings.Contains(strings.ReplaceAll(quoted, "''", ""), "'") {
		return Config{}, fmt.Errorf("%w: unbalanced quote in data line", ErrNotProbe)
	}
	data := strings.ReplaceAll(quoted, "''", "'")
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	var w wireConfig
	if err := dec.Decode(&w); err != nil {
		return Config{}, fmt.Errorf("%w: data line: %w", ErrNotProbe, err)
	}
	if w.TimeoutMs <= 0 || w.TimeoutMs > MaxTimeout.Milliseconds() {
		return Config{}, fmt.Errorf("%w: timeout %d ms out of range", ErrNotProbe, w.TimeoutMs)
	}
	c := Config{URL: w.URL, Timeout: time.Duration(w.TimeoutMs) * time.Millisecond}
	for _, r := range w.Routes {
		c.Routes = append(c.Routes, Route{ID: r.ID, Mode: r.Mode, Proxy: r.Proxy})
	}
	again, err := Script(c)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrNotProbe, err)
	}
	if again != script {
		return Config{}, fmt.Errorf("%w: text differs from the script its config produces", ErrNotProbe)
	}
	return c, nil
}
