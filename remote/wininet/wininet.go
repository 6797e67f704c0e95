// Package wininet encodes and decodes the WinINet connection-settings blob: the REG_BINARY value
// DefaultConnectionSettings under ...\Internet Settings\Connections (per account, e.g. HKU\S-1-5-18 for
// LocalSystem), and the WinHTTP machine proxy WinHttpSettings, which has the same layout.
//
// Layout (all integers little-endian uint32):
//
//	off 0   version      0x46 (IE7+), 0x3C (IE6), 0x28 (WinHttpSettings)
//	off 4   counter      bumped by the Internet Options UI on every change
//	off 8   flags        FlagDirect | FlagProxy | FlagAutoConfig | FlagAutoDetect
//	off 12  len + proxy  "host:port" or "http=h:p;https=h:p"
//	..      len + bypass ';'-separated, "<local>" = names without a dot
//	..      len + PAC URL
//	..      tail         opaque (usually 32 zero bytes); kept byte-exact when re-encoding
//
// Strings are kept as the raw bytes found in the value (single-byte or UTF-8); nothing is transcoded, so
// Encode(Decode(b)) == b for every b that Decode accepts.
//
// All functions are pure and safe for concurrent use.
package wininet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Flag bits of the flags field; they equal WinINet's PROXY_TYPE_* values (INTERNET_PER_CONN_FLAGS).
const (
	FlagDirect     = 0x01 // PROXY_TYPE_DIRECT: always set by the UI
	FlagProxy      = 0x02 // PROXY_TYPE_PROXY: use the manual proxy server
	FlagAutoConfig = 0x04 // PROXY_TYPE_AUTO_PROXY_URL: use the PAC URL
	FlagAutoDetect = 0x08 // PROXY_TYPE_AUTO_DETECT: WPAD
)

// Known version values of the first field.
const (
	VersionIE7     = 0x46 // DefaultConnectionSettings written by IE7 and later (and Windows 10/11, Server)
	VersionIE6     = 0x3C // DefaultConnectionSettings written by IE6
	VersionWinHTTP = 0x28 // WinHttpSettings (netsh winhttp set proxy)
)

// actFlags are the flag bits WinINet acts on when choosing a route; FlagDirect is the fallback that is
// always set and unknown bits are ignored.
const actFlags = FlagProxy | FlagAutoConfig | FlagAutoDetect

// headerLen is the smallest decodable value: version, counter, flags and three zero lengths.
const headerLen = 24

// ErrMalformed is wrapped by every Decode error: the bytes are not a connection-settings blob.
var ErrMalformed = errors.New("malformed connection settings")

// ErrBadHex is wrapped by every ParseHex error.
var ErrBadHex = errors.New("bad hex")

// Settings is one decoded connection-settings value. The zero value encodes to a 24-byte blob with
// version 0 and no tail; use New for what Windows writes.
type Settings struct {
	Version       uint32
	Counter       uint32
	Flags         uint32
	Proxy         string
	Bypass        string
	AutoConfigURL string
	// Tail is the opaque rest after the PAC URL. Decode keeps it (nil when empty) and Encode writes
	// it back unchanged.
	Tail []byte
}

// Decode parses b strictly: the three length fields must be present and each string must fit in the
// remaining bytes. Everything after the PAC URL is the tail. An unknown version still decodes (see
// KnownVersion). Errors wrap ErrMalformed and name the offset and what was wrong.
func Decode(b []byte) (Settings, error) {
	var s Settings
	if len(b) < 12 {
		return s, fmt.Errorf("%w: %d bytes, need at least %d (version, counter, flags, three lengths)", ErrMalformed, len(b), headerLen)
	}
	s.Version = binary.LittleEndian.Uint32(b[0:])
	s.Counter = binary.LittleEndian.Uint32(b[4:])
	s.Flags = binary.LittleEndian.Uint32(b[8:])
	off := 12
	var fields [3]string
	for i, name := range [3]string{"proxy", "bypass", "auto-config URL"} {
		if len(b)-off < 4 {
			return s, fmt.Errorf("%w: offset %d: %s length field missing (%d bytes left, need 4)", ErrMalformed, off, name, len(b)-off)
		}
		n := binary.LittleEndian.Uint32(b[off:])
		off += 4
		if uint64(n) > uint64(len(b)-off) {
			return s, fmt.Errorf("%w: offset %d: %s length %d exceeds the %d bytes left", ErrMalformed, off-4, name, n, len(b)-off)
		}
		fields[i] = string(b[off : off+int(n)])
		off += int(n)
	}
	s.Proxy, s.Bypass, s.AutoConfigURL = fields[0], fields[1], fields[2]
	if off < len(b) {
		s.Tail = append([]byte(nil), b[off:]...)
	}
	return s, nil
}

// Encode serialises s; it is the exact inverse of Decode for every input Decode accepts.
func (s Settings) Encode() []byte {
	out := make([]byte, 0, headerLen+len(s.Proxy)+len(s.Bypass)+len(s.AutoConfigURL)+len(s.Tail))
	out = binary.LittleEndian.AppendUint32(out, s.Version)
	out = binary.LittleEndian.AppendUint32(out, s.Counter)
	out = binary.LittleEndian.AppendUint32(out, s.Flags)
	for _, f := range [3]string{s.Proxy, s.Bypass, s.AutoConfigURL} {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(f)))
		out = append(out, f...)
	}
	return append(out, s.Tail...)
}

// New builds what the Internet Options UI writes: version 0x46, FlagDirect always, FlagProxy when proxy
// is non-empty, FlagAutoConfig when pac is non-empty, FlagAutoDetect when autodetect is set, and a
// 32-byte zero tail (as Wine writes it).
func New(proxy, bypass, pac string, autodetect bool, counter uint32) Settings {
	flags := uint32(FlagDirect)
	if proxy != "" {
		flags |= FlagProxy
	}
	if pac != "" {
		flags |= FlagAutoConfig
	}
	if autodetect {
		flags |= FlagAutoDetect
	}
	return Settings{
		Version: VersionIE7, Counter: counter, Flags: flags,
		Proxy: proxy, Bypass: bypass, AutoConfigURL: pac,
		Tail: make([]byte, 32),
	}
}

// KnownVersion reports whether Version is one of VersionIE7, VersionIE6 or VersionWinHTTP. Decode
// accepts other versions; callers that audit should report them.
func (s Settings) KnownVersion() bool {
	switch s.Version {
	case VersionIE7, VersionIE6, VersionWinHTTP:
		return true
	}
	return false
}

// VersionName names the version field: "IE7+", "IE6", "WinHTTP" or "unknown 0x..".
func (s Settings) VersionName() string {
	switch s.Version {
	case VersionIE7:
		return "IE7+"
	case VersionIE6:
		return "IE6"
	case VersionWinHTTP:
		return "WinHTTP"
	}
	return fmt.Sprintf("unknown 0x%X", s.Version)
}

// Equivalent reports whether WinINet would route traffic identically under s and o. Exactly:
//
//   - the flag bits FlagProxy, FlagAutoConfig and FlagAutoDetect must be equal (FlagDirect, which the UI
//     always sets, and unknown bits are ignored);
//   - when FlagProxy is set: the proxy strings must be equal after splitting on ';', trimming spaces
//     around each entry and dropping empty entries, compared case-insensitively and in order; and the
//     bypass lists must hold the same set of entries (split on ';', trimmed, empty entries dropped,
//     case-insensitive, order and duplicates ignored);
//   - when FlagAutoConfig is set: the PAC URLs must be equal after trimming surrounding spaces (byte
//     comparison: the path of a URL is case-sensitive).
//
// Strings whose flag is off are inert and not compared (WinINet keeps them only for the UI). Version,
// Counter and Tail are ignored.
func (s Settings) Equivalent(o Settings) bool {
	if s.Flags&actFlags != o.Flags&actFlags {
		return false
	}
	if s.Flags&FlagProxy != 0 {
		if !equalFold(splitList(s.Proxy), splitList(o.Proxy)) {
			return false
		}
		if !sameSet(splitList(s.Bypass), splitList(o.Bypass)) {
			return false
		}
	}
	if s.Flags&FlagAutoConfig != 0 && strings.TrimSpace(s.AutoConfigURL) != strings.TrimSpace(o.AutoConfigURL) {
		return false
	}
	return true
}

// splitList splits a ';'-separated list, trims spaces and drops empty entries.
func splitList(v string) []string {
	var out []string
	for _, e := range strings.Split(v, ";") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func equalFold(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameSet(a, b []string) bool {
	set := func(l []string) map[string]bool {
		m := make(map[string]bool, len(l))
		for _, e := range l {
			m[strings.ToLower(e)] = true
		}
		return m
	}
	ma, mb := set(a), set(b)
	if len(ma) != len(mb) {
		return false
	}
	for k := range ma {
		if !mb[k] {
			return false
		}
	}
	return true
}

// Mode names the routing WinINet uses: "direct" when none of FlagProxy, FlagAutoConfig, FlagAutoDetect
// is set, else the set ones joined by '+' in the order "proxy", "pac", "autodetect" (for example
// "proxy+autodetect"). WinINet tries auto-detect, then the PAC URL, then the manual proxy.
func (s Settings) Mode() string {
	var parts []string
	if s.Flags&FlagProxy != 0 {
		parts = append(parts, "proxy")
	}
	if s.Flags&FlagAutoConfig != 0 {
		parts = append(parts, "pac")
	}
	if s.Flags&FlagAutoDetect != 0 {
		parts = append(parts, "autodetect")
	}
	if len(parts) == 0 {
		return "direct"
	}
	return strings.Join(parts, "+")
}

// String is a one-line summary, e.g. `proxy proxy.example.com:8080 bypass "<local>" (v0x46 counter 5)`.
// Strings are quoted with %q, so control bytes cannot break the line.
func (s Settings) String() string {
	var b strings.Builder
	b.WriteString(s.Mode())
	if s.Flags&FlagProxy != 0 {
		fmt.Fprintf(&b, " %q", s.Proxy)
		if s.Bypass != "" {
			fmt.Fprintf(&b, " bypass %q", s.Bypass)
		}
	}
	if s.Flags&FlagAutoConfig != 0 {
		fmt.Fprintf(&b, " pac %q", s.AutoConfigURL)
	}
	fmt.Fprintf(&b, " (version 0x%X counter %d flags 0x%X)", s.Version, s.Counter, s.Flags)
	return b.String()
}

// FlagNames spells out flags, e.g. "DIRECT|PROXY"; unknown bits appear as hex, 0 as "none".
func FlagNames(flags uint32) string {
	names := []struct {
		bit  uint32
		name string
	}{{FlagDirect, "DIRECT"}, {FlagProxy, "PROXY"}, {FlagAutoConfig, "AUTO_PROXY_URL"}, {FlagAutoDetect, "AUTO_DETECT"}}
	var parts []string
	for _, n := range names {
		if flags&n.bit != 0 {
			parts = append(parts, n.name)
			flags &^= n.bit
		}
	}
	if flags != 0 {
		parts = append(parts, fmt.Sprintf("0x%X", flags))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

// Bypassed reports whether host matches the bypass list of s, using WinINet's rules: entries are
// separated by ';' (or spaces), compared case-insensitively against the whole host; "*" in an entry
// matches any run of characters (so "*.corp.example", "10.*" and "*intranet*" work); "<local>" matches
// any host name without a dot. A "scheme://" prefix on an entry is ignored. Brackets around an IPv6
// host are removed before matching. Bypassed looks only at the list, not at the flags.
//
// unverified: Windows 8+ WinINet also bypasses loopback addresses implicitly unless the list contains
// "<-loopback>"; that implicit rule is not modelled here (localhost still matches "<local>").
func Bypassed(s Settings, host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(host), "["), "]")
	if host == "" {
		return false
	}
	lh := strings.ToLower(host)
	for _, e := range strings.FieldsFunc(s.Bypass, func(r rune) bool { return r == ';' || r == ' ' || r == '\t' }) {
		e = strings.ToLower(e)
		if e == "<local>" {
			if !strings.Contains(host, ".") && !strings.Contains(host, ":") {
				return true
			}
			continue
		}
		if i := strings.Index(e, "://"); i >= 0 {
			e = e[i+3:]
		}
		if globMatch(e, lh) {
			return true
		}
	}
	return false
}

// globMatch matches s against pattern where '*' matches any (possibly empty) run of bytes. Iterative,
// linear backtracking: no recursion, so hostile patterns cannot blow the stack.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
