// Package inventory loads the list of hosts dcproxy audits from a YAML, CSV or plain-text file.
//
// Every format yields the same Host records, in file order. Every problem is reported as an *Error
// naming "file:line" and what is wrong; all problems of a file are reported together (up to
// maxErrors), joined with errors.Join, and each wraps ErrInvalid. A file whose hosts are all valid
// but that holds none is an error too (ErrEmpty).
//
// Formats:
//
//	YAML (.yaml, .yml): a mapping with "hosts:" (a list; each item a mapping of the keys below or a
//	  plain "host[:port]" string) and optional "defaults:" (same keys except name and address, applied
//	  to every host that does not set them). Keys: name (required), address, port, https, transport,
//	  auth (negotiate, kerberos, ntlm, basic; transport is its older name for ntlm and basic),
//	  spn_host (not in defaults), site, tags (list or comma-separated string), credential,
//	  insecure_skip_verify, ca_file, tls_server_name. Unknown keys, duplicate keys and YAML aliases
//	  are errors.
//	CSV (.csv): a header row with any of the same column names (name required; unknown or repeated
//	  columns are errors), one host per row; empty cells are "not set"; tags separated by ';', ',' or
//	  spaces; "#" starts a comment line.
//	Text (anything else): one "host[:port]" per line ("[::1]:5985" or a bare IPv6 address for IPv6);
//	  blank lines and "#" comments (whole line, or after whitespace) are ignored.
//
// Port 0 means "not set": the caller picks 5985 or 5986 from its configuration and HTTPS. Load and
// Parse are safe for concurrent use; they keep no state.
package inventory

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
)

// Sentinel errors.
var (
	// ErrInvalid is wrapped by every *Error: the inventory file has a problem at a known place.
	ErrInvalid = errors.New("invalid inventory")
	// ErrEmpty: the inventory parsed but holds no hosts. It is wrapped together with ErrInvalid.
	ErrEmpty = errors.New("inventory has no hosts")
)

// maxErrors bounds how many problems of one file are reported.
const maxErrors = 20

// maxSize bounds the inventory file size read into memory.
const maxSize = 32 << 20

// Error is one problem at one place of an inventory file. Error() is "Source: Msg".
type Error struct {
	Source string // "file:line", or "file" when no line applies
	Msg    string
	kind   error
}

// Error returns "Source: Msg".
func (e *Error) Error() string { return e.Source + ": " + e.Msg }

// Unwrap returns ErrInvalid, and ErrEmpty for an empty inventory.
func (e *Error) Unwrap() []error {
	if e.kind != nil {
		return []error{ErrInvalid, e.kind}
	}
	return []error{ErrInvalid}
}

// Host is one inventory entry. Name is the key of the host in reports (unique, compared
// case-insensitively); Address is what is dialed and defaults to Name.
type Host struct {
	Name      string
	Address   string
	Port      int    // 0: not set (the configuration decides)
	HTTPS     *bool  // nil: not set
	Transport string // "", "ntlm" or "basic" (lower case); the older name of Auth
	// Auth is "", "negotiate", "kerberos", "ntlm" or "basic" (lower case); it wins over Transport.
	Auth string
	// SPNHost is the DNS name of the host's Kerberos service principal HTTP/<SPNHost> when neither
	// Name nor Address is it (lower case, no trailing dot); "" when not set.
	SPNHost       string
	Site          string
	Tags          []string
	Credential    string // name of a credential defined in the configuration
	Insecure      *bool  // skip TLS certificate verification; nil: not set
	CAFile        string
	TLSServerName string
	Source        string // "file:line" where the host was defined
}

// Validate checks the invariants every host returned by Parse satisfies: a name without whitespace or
// control characters, an address that is a host name or IP address (no port, no URL), a port of 0 or
// 1-65535, and a known transport. The message does not include Source.
func (h Host) Validate() error {
	if err := checkName(h.Name); err != nil {
		return err
	}
	if err := checkAddress(h.Address); err != nil {
		return err
	}
	if h.Port < 0 || h.Port > 65535 {
		return fmt.Errorf("bad port %d (want 1-65535)", h.Port)
	}
	switch h.Transport {
	case "", "ntlm", "basic":
	default:
		return fmt.Errorf("unknown transport %q (want ntlm or basic; Kerberos is auth: kerberos or negotiate)", h.Transport)
	}
	if h.Auth != "" && !knownAuth(h.Auth) {
		return fmt.Errorf("unknown auth %q (want negotiate, kerberos, ntlm or basic)", h.Auth)
	}
	if h.SPNHost != "" {
		if err := checkSPNHost(h.SPNHost); err != nil {
			return err
		}
	}
	for _, t := range h.Tags {
		if t == "" || strings.IndexFunc(t, badRune) >= 0 {
			return fmt.Errorf("bad tag %q", t)
		}
	}
	return nil
}

// knownAuth reports whether a is an auth method of the auth key.
func knownAuth(a string) bool {
	switch a {
	case "negotiate", "kerberos", "ntlm", "basic":
		return true
	}
	return false
}

// checkSPNHost accepts a DNS host name (the service principal HTTP/<name>), not an IP address.
func checkSPNHost(s string) error {
	h := strings.TrimSuffix(s, ".")
	if err := checkAddress(h); err != nil {
		return fmt.Errorf("spn_host %q: %v", s, err)
	}
	if net.ParseIP(h) != nil || strings.HasPrefix(h, "[") {
		return fmt.Errorf("spn_host %q: want the host's DNS name (Kerberos has no service principal for an IP address)", s)
	}
	return nil
}

func badRune(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
}

func checkName(n string) error {
	if n == "" {
		return errors.New("empty host name")
	}
	if strings.IndexFunc(n, badRune) >= 0 {
		return fmt.Errorf("host name %q contains whitespace or control characters", n)
	}
	return nil
}

func checkAddress(a string) error {
	switch {
	case a == "":
		return errors.New("empty address")
	case strings.IndexFunc(a, badRune) >= 0:
		return fmt.Errorf("address %q contains whitespace or control characters", a)
	case strings.Contains(a, "://") || strings.ContainsAny(a, "/?@[]"):
		return fmt.Errorf("address %q is not a host name or IP address (write the port in the port field, not a URL)", a)
	case strings.Contains(a, ":") && net.ParseIP(a) == nil:
		return fmt.Errorf("address %q contains a port or is not a valid IPv6 address (write the port in the port field)", a)
	}
	return nil
}

// FormatFor returns the format Load uses for path: "yaml" for .yaml/.yml, "csv" for .csv, else "text"
// (extension compared case-insensitively).
func FormatFor(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return "yaml"
	case ".csv":
		return "csv"
	}
	return "text"
}

// Load reads the inventory at path in the format FormatFor(path) chooses. Errors name the file as
// given; an unreadable file gives the *os.PathError.
func Load(path string) ([]Host, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	defer f.Close()
	return Parse(path, f, FormatFor(path))
}

// Parse reads an inventory in format "yaml", "csv" or "text" from r; name is used in error messages
// and Host.Source. See the package comment for the formats and the error contract.
func Parse(name string, r io.Reader, format string) ([]Host, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w", name, err)
	}
	if len(data) > maxSize {
		return nil, &Error{Source: name, Msg: fmt.Sprintf("file larger than %d bytes", maxSize)}
	}
	text := strings.TrimPrefix(string(data), "\ufeff") // Excel and Notepad write a UTF-8 BOM
	p := &parser{name: name, seen: map[string]string{}}
	switch format {
	case "yaml":
		p.parseYAML(text)
	case "csv":
		p.parseCSV(text)
	case "text":
		p.parseText(text)
	default:
		return nil, fmt.Errorf("inventory %s: unknown format %q (want yaml, csv or text)", name, format)
	}
	return p.result()
}

// parser collects hosts and errors of one file.
type parser struct {
	name    string
	hosts   []Host
	errs    []error
	dropped int
	seen    map[string]string // lower-case name -> Source of its first definition
}

func (p *parser) src(line int) string {
	if line <= 0 {
		return p.name
	}
	return p.name + ":" + strconv.Itoa(line)
}

func (p *parser) errorf(line int, format string, args ...any) {
	if len(p.errs) >= maxErrors {
		p.dropped++
		return
	}
	p.errs = append(p.errs, &Error{Source: p.src(line), Msg: fmt.Sprintf(format, args...)})
}

// add validates h, checks for duplicates and appends it. h.Source must be set.
func (p *parser) add(h Host, line int) {
	if h.Address == "" {
		h.Address = h.Name
	}
	if err := h.Validate(); err != nil {
		p.errorf(line, "%v", err)
		return
	}
	key := strings.ToLower(h.Name)
	if first, dup := p.seen[key]; dup {
		p.errorf(line, "duplicate host %q (first defined at %s)", h.Name, first)
		return
	}
	p.seen[key] = h.Source
	p.hosts = append(p.hosts, h)
}

func (p *parser) result() ([]Host, error) {
	if len(p.errs) > 0 {
		errs := p.errs
		if p.dropped > 0 {
			errs = append(errs, &Error{Source: p.name, Msg: fmt.Sprintf("%d more problems not shown", p.dropped)})
		}
		return nil, errors.Join(errs...)
	}
	if len(p.hosts) == 0 {
		return nil, &Error{Source: p.name, Msg: "inventory has no hosts", kind: ErrEmpty}
	}
	return p.hosts, nil
}

// parsePort parses a port number 1-65535.
func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("bad port %q (want 1-65535)", s)
	}
	return n, nil
}

// parseBool accepts true/false, yes/no, on/off, 1/0 in any case.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q (want true or false)", s)
}

// splitTags splits a tag list on ',', ';' and whitespace, dropping empty entries.
func splitTags(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })
}

// splitHostPort parses "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address.
func splitHostPort(s string) (host string, port int, err error) {
	if strings.Contains(s, "://") {
		return "", 0, fmt.Errorf("%q is a URL; write host[:port]", s)
	}
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("%q: missing ']'", s)
		}
		host, rest := s[1:end], s[end+1:]
		if net.ParseIP(host) == nil || !strings.Contains(host, ":") {
			return "", 0, fmt.Errorf("%q: %q in brackets is not an IPv6 address", s, host)
		}
		if rest == "" {
			return host, 0, nil
		}
		if !strings.HasPrefix(rest, ":") {
			return "", 0, fmt.Errorf("%q: unexpected %q after ']'", s, rest)
		}
		port, err := parsePort(rest[1:])
		return host, port, err
	}
	switch strings.Count(s, ":") {
	case 0:
		return s, 0, nil
	case 1:
		host, ps, _ := strings.Cut(s, ":")
		if host == "" {
			return "", 0, fmt.Errorf("%q: empty host name", s)
		}
		port, err := parsePort(ps)
		return host, port, err
	}
	if net.ParseIP(s) == nil {
		return "", 0, fmt.Errorf("%q is neither host[:port] nor an IPv6 address (write [v6]:port)", s)
	}
	return s, 0, nil
}
