package pwsh

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/wininet"
	"github.com/dcproxy/dcproxy/remote/winsim/cmdexe"
	"github.com/dcproxy/dcproxy/remote/winsim/registry"
)

// outcome is one request's (or route's) result as the script would print it.
type outcome struct {
	id, errName, message, route string
	q                           int // request number, 0 = no request made
	status, millis              int
	tls                         bool   // the validation callback ran
	subject, issuer             string // the presented certificate, before ASCII folding
	body                        string // first line of a 200's body, before folding
}

// sensorState is what the script reads from SensorConfiguration.json ($s).
type sensorState struct {
	found               bool
	errCode             string // NotFound, Unreadable, NotJson, ""
	proxyURL, proxyUser string
	credentials         bool
	address             string
	port                int64
}

// resolved is a route after the host resolved it: where it goes, or why no request is made.
type resolved struct {
	via   string // "direct" or "proxy host:port"
	proxy string // "host:port" for a proxied request
	err   string // pre-request error (NoSensorProxy, UriFormatException)
}

// runProbe answers the probe script for c from the host's state and the network model: the sensor's
// JSON from the file system, the URL, the roots from the certificate store model, each route resolved,
// one request per distinct resolution, all at the same time (the run takes as long as the slowest
// request, ProbeTime or the request timeout, whichever is shorter), then one JSON line.
func (h *Host) runProbe(ctx context.Context, c probe.Config, stdout io.Writer) int {
	var sc *sensorState
	if c.SensorConfig != "" {
		sc = h.readSensorConfig(c.SensorConfig)
	}
	reqURL, from := c.URL, probe.FromGiven
	switch {
	case c.URLSource == probe.URLSensor && sc != nil && sc.address != "":
		reqURL = "https://" + sc.address
		if sc.port != 0 && sc.port != 443 {
			reqURL += ":" + strconv.FormatInt(sc.port, 10)
		}
		reqURL += "/tri/sensor/api/ping"
		from = probe.FromSensor
	case c.URLSource == probe.URLMDE:
		if geo := h.geoLocationURL(); geo != "" {
			reqURL, from = geo+"cnc/identity/api", probe.FromMDE
		}
	}
	u, uerr := url.Parse(reqURL)
	if uerr == nil && (u.Scheme != "https" && u.Scheme != "http" || u.Hostname() == "") {
		uerr = fmt.Errorf("no host")
	}
	if uerr == nil && u.Port() != "" {
		if n, err := strconv.Atoi(u.Port()); err != nil || n > 65535 {
			uerr = fmt.Errorf("bad port") // System.Uri refuses it
		}
	}
	var host string
	if uerr == nil {
		host = u.Hostname()
	}

	// Resolve every route, number the distinct requests in order of first use.
	res := make([]outcome, len(c.Routes))
	reqs := map[string]int{} // via -> index of the first route that needs it
	var order []int
	for i, r := range c.Routes {
		rv := h.resolve(r, host, sc)
		if uerr != nil && rv.err == "" {
			// unverified: .NET cannot make a Uri of the URL; the script reports the exception type.
			rv = resolved{via: "direct", err: "UriFormatException"}
		}
		res[i] = outcome{id: r.ID, route: rv.via, errName: rv.err}
		if rv.err != "" {
			continue
		}
		if first, ok := reqs[rv.via]; ok {
			res[i].q = res[first].q
			continue
		}
		reqs[rv.via] = i
		order = append(order, i)
		o := h.request(u, rv)
		o.id, o.q = r.ID, len(order)
		res[i] = o
	}
	// Distinct requests run at the same time: the run takes the slowest.
	// unverified: opening the RunspacePool (two or more requests) costs extra start-up time on a real
	// host; the model adds none.
	var longest time.Duration
	for _, i := range order {
		d := h.ProbeTime
		if p, ok := strings.CutPrefix(res[i].route, "proxy "); ok && h.Network.Proxies[p] == ProxyBlackhole {
			d = c.Timeout // a blackholed proxy: only the request's own timeout ends it
		}
		if d >= c.Timeout {
			// The request did not finish within HttpWebRequest.Timeout, whatever its fate would
			// have been.
			d = c.Timeout
			res[i].status, res[i].errName, res[i].message, res[i].body = 0, "Timeout", h.text("timeout"), ""
			// design: the model does not know how far the request got; it reports no handshake.
			res[i].tls, res[i].subject, res[i].issuer = false, "", ""
		}
		res[i].millis = int(d / time.Millisecond)
		longest = max(longest, d)
	}
	wait := sleep
	if h.Sleep != nil {
		wait = h.Sleep
	}
	if !wait(ctx, longest) {
		return cmdexe.ExitCanceled
	}
	for i := range res {
		if res[i].q != 0 {
			if first := reqs[res[i].route]; first != i {
				id := res[i].id
				res[i] = res[first]
				res[i].id = id
			}
		}
	}
	roots := make([]bool, len(c.Roots))
	for i, t := range c.Roots {
		roots[i] = h.hasRoot(t)
	}
	out := appendOutput(make([]byte, 0, 2048), reqURL, from, sc, c.Roots, roots, res)
	if !isPrintableASCII(out) {
		out = appendASCIIEscaped(make([]byte, 0, len(out)+64), string(out))
	}
	_, _ = stdout.Write(append(out, "\r\n"...))
	return 0
}

// resolve is the script's route resolution: the WebProxy a route would use and whether it bypasses
// host.
func (h *Host) resolve(r probe.Route, host string, sc *sensorState) resolved {
	switch r.Mode {
	case probe.ModeDirect:
		return resolved{via: "direct"}
	case probe.ModeProxy:
		// A WebProxy without bypass list: only loopback hosts are bypassed (.NET always bypasses
		// them); the probe URL is never one.
		return viaProxy(r.Proxy)
	case probe.ModeSensor:
		if sc == nil || sc.proxyURL == "" {
			return resolved{via: "direct", err: probe.ErrNoSensorProxy}
		}
		p, ok := webProxyAddress(sc.proxyURL)
		if !ok {
			return resolved{via: "direct", err: "UriFormatException"}
		}
		return viaProxy(p)
	default: // probe.ModeSystem
		raw, ok := h.systemSettings()
		if !ok {
			return resolved{via: "direct"}
		}
		s, err := wininet.Decode(raw)
		if err != nil {
			// unverified: WinINet ignores an undecodable value and connects directly.
			return resolved{via: "direct"}
		}
		if s.Flags&(wininet.FlagAutoDetect|wininet.FlagAutoConfig) != 0 {
			// WinINet tries auto-detect and the PAC URL before the manual proxy; the model's
			// PACProxy is what they resolve to.
			if h.Network.PACProxy == "" {
				return resolved{via: "direct"}
			}
			return viaProxy(h.Network.PACProxy)
		}
		p, ok := wininet.ProxyFor(s, "https")
		if !ok || wininet.Bypassed(s, host) {
			return resolved{via: "direct"}
		}
		return viaProxy(p)
	}
}

// systemSettings is the DefaultConnectionSettings GetSystemWebProxy reads for the connecting account:
// HKLM's when the ProxySettingsPerUser policy is 0 (per machine), else the account's own.
func (h *Host) systemSettings() ([]byte, bool) {
	if h.Registry != nil {
		if v, ok := h.Registry.Value(PolicyInternetSettingsKey, "ProxySettingsPerUser"); ok && v.Type == registry.TypeDWORD && len(v.Data) == 4 &&
			v.Data[0]|v.Data[1]|v.Data[2]|v.Data[3] == 0 {
			m, ok := h.Registry.Value(MachineConnectionsKey, "DefaultConnectionSettings")
			if !ok || m.Type != registry.TypeBinary {
				return nil, false
			}
			return m.Data, true
		}
	}
	if h.CurrentUserSettings == nil {
		return nil, false
	}
	return h.CurrentUserSettings()
}

// viaProxy is a WebProxy for "host[:port]" (port 80 when missing, as .NET's WebProxy does for an
// http:// address without one). Uri.Host is lower case.
func viaProxy(proxy string) resolved {
	ph, port, err := net.SplitHostPort(proxy)
	if err != nil {
		ph, port = proxy, "80"
	}
	key := net.JoinHostPort(strings.ToLower(ph), port)
	return resolved{via: "proxy " + key, proxy: key}
}

// webProxyAddress is what new WebProxy(string) makes of SensorProxyConfiguration.Url: an address
// without "://" gets "http://"; the result must be an absolute URI with a host.
// unverified: an https:// proxy address; .NET Framework speaks plain HTTP to it (modelled as any
// other proxy).
func webProxyAddress(s string) (string, bool) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" {
		return "", false
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", false
	}
	return net.JoinHostPort(u.Hostname(), port), true
}

// request is one request for u through rv, without timing.
func (h *Host) request(u *url.URL, rv resolved) outcome {
	if rv.proxy == "" {
		return h.viaDirect(u)
	}
	return h.viaProxy(rv.proxy, u)
}

func (h *Host) viaDirect(u *url.URL) outcome {
	o := outcome{route: "direct"}
	if !h.Network.Direct {
		// design: a blocked direct route is modelled as an actively refused connection.
		o.errName, o.message = "ConnectFailure", h.text("connect")
		return o
	}
	return h.endpoint(o, u)
}

// viaProxy sends the request through proxy key ("host:port").
func (h *Host) viaProxy(key string, u *url.URL) outcome {
	ph, _, _ := net.SplitHostPort(key)
	o := outcome{route: "proxy " + key}
	state, known := h.Network.Proxies[key]
	answered, answers := ProxyStatus(state)
	switch {
	case !known && net.ParseIP(ph) == nil:
		o.errName, o.message = "ProxyNameResolutionFailure", fmt.Sprintf(h.text("proxyname"), ph)
	case answers:
		// The proxy answers the CONNECT itself (407, 401, 403, a block page): .NET Framework turns
		// the failed CONNECT into a WebException (ProtocolError) carrying the proxy's response; no
		// TLS handshake happened.
		o.status, o.errName, o.message = answered, "ProtocolError", h.statusText(answered)
	case !known, state != ProxyOK:
		// Unknown states count as a proxy that refuses connections.
		o.errName, o.message = "ConnectFailure", h.text("connect")
	case h.Network.TLSIntercept != InterceptNone:
		// The inspection proxy presents a certificate for the host signed by its own CA.
		o.tls, o.subject, o.issuer = true, "CN="+certName(u.Hostname()), h.interceptIssuer()
		if h.Network.TLSIntercept != InterceptTrusted {
			o.errName, o.message = "TrustFailure", h.text("trust")
			return o
		}
		// Trusted: the proxy relays the endpoint's answer over its own TLS session.
		o = h.answer(o, u)
	default:
		o = h.endpoint(o, u)
	}
	return o
}

func (h *Host) interceptIssuer() string {
	if h.Network.InterceptIssuer != "" {
		return h.Network.InterceptIssuer
	}
	return DefaultInterceptIssuer
}

// certName is the CN of a certificate for host: a wildcard of its parent domain ("*.atp.azure.com"
// for "x.atp.azure.com"), the host itself when it has fewer than three labels.
func certName(host string) string {
	if strings.Count(host, ".") < 2 || net.ParseIP(host) != nil {
		return host
	}
	return "*" + host[strings.Index(host, "."):]
}

// endpoint is the endpoint reached over TLS: its own certificate, validated against the host's
// roots, then its answer.
func (h *Host) endpoint(o outcome, u *url.URL) outcome {
	host := u.Hostname()
	root := RequiredRoot(host)
	o.tls, o.subject, o.issuer = true, "CN="+certName(host)+EndpointSubjectTail, EndpointIssuerFor(host)
	if !h.hasRoot(root) {
		// The chain ends in a root the machine does not trust: the callback sees
		// RemoteCertificateChainErrors and the request fails like any untrusted certificate.
		// unverified: Windows' automatic root update would fetch a Microsoft-program root such as
		// DigiCert's from ctldl.windowsupdate.com when it can; the model's DCs cannot.
		o.errName, o.message = "TrustFailure", h.text("trust")
		return o
	}
	return h.answer(o, u)
}

// answer is the endpoint's HTTP answer for u: Microsoft's v3 test URL (.../cnc/identity/api) answers
// 500; the sensor API's /tri/sensor/api/ping answers 200 with Network.EndpointVersion as its body when
// that is set; everything else (and the ping without a version) answers Network.EndpointStatus (503
// when 0). 200 succeeds, anything else is a WebException with Status ProtocolError.
func (h *Host) answer(o outcome, u *url.URL) outcome {
	st := h.Network.EndpointStatus
	if st == 0 {
		st = 503
	}
	switch {
	case strings.HasSuffix(u.Path, "/cnc/identity/api"):
		st = 500
	case strings.EqualFold(u.Path, "/tri/sensor/api/ping") && h.Network.EndpointVersion != "":
		st, o.body = 200, h.Network.EndpointVersion
	}
	o.status = st
	if st >= 200 && st < 300 {
		return o
	}
	o.body = ""
	o.errName, o.message = "ProtocolError", h.statusText(st)
	return o
}

// readSensorConfig is the script's reading of SensorConfiguration.json at path.
func (h *Host) readSensorConfig(path string) *sensorState {
	s := &sensorState{errCode: "NotFound"}
	if h.FS == nil {
		return s
	}
	if exists, dir := h.FS.Stat(path); !exists || dir {
		return s // Test-Path -PathType Leaf
	}
	s.errCode = "Unreadable"
	b, err := h.FS.ReadFile(path)
	if err != nil {
		return s
	}
	s.errCode = "NotJson"
	// File.ReadAllText detects and drops a UTF-8 BOM.
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil || doc == nil {
		return s
	}
	p := member(doc, "SensorProxyConfiguration")
	e := member(doc, "WorkspaceApplicationSensorApiWebClientConfigurationServiceEndpoint")
	port, ok := psInt(member(e, "Port"))
	if !ok {
		return s // [int] of the Port threw
	}
	s.port = port
	s.proxyURL = psString(member(p, "Url"))
	s.proxyUser = psString(member(p, "UserName"))
	s.credentials = member(p, "EncryptedUserPasswordData") != nil
	s.address = psString(member(e, "Address"))
	s.found, s.errCode = true, ""
	return s
}

// member is PowerShell's property access on a ConvertFrom-Json object: case-insensitive, $null for
// anything that is not an object or has no such property.
func member(v any, name string) any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if x, ok := m[name]; ok {
		return x
	}
	for k, x := range m {
		if strings.EqualFold(k, name) {
			return x
		}
	}
	return nil
}

// psString is [string] of a JSON value. unverified: objects and arrays (PowerShell would render
// them as "@{...}" or space-joined) are modelled as "".
func psString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

// psInt is [int] of a JSON value: $null is 0, numbers round half to even, numeric strings parse; ok is
// false where PowerShell throws.
func psInt(v any) (int64, bool) {
	var f float64
	switch x := v.(type) {
	case nil:
		return 0, true
	case float64:
		f = x
	case string:
		n, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, false
		}
		f = n
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	default:
		return 0, false
	}
	f = math.RoundToEven(f)
	if f < math.MinInt32 || f > math.MaxInt32 {
		return 0, false
	}
	return int64(f), true
}

// geoLocationURL is geoLocationUrl of the body of MDE's OnboardingInfo, "" when there is none.
func (h *Host) geoLocationURL() string {
	if h.Registry == nil {
		return ""
	}
	v, ok := h.Registry.Value(ATPKey, "OnboardingInfo")
	if !ok || (v.Type != registry.TypeSZ && v.Type != registry.TypeExpandSZ) {
		return ""
	}
	var outer struct {
		Body any `json:"body"`
	}
	if json.Unmarshal([]byte(regString(v.Data)), &outer) != nil {
		return ""
	}
	body, ok := outer.Body.(string)
	if !ok {
		return ""
	}
	var inner any
	if json.Unmarshal([]byte(body), &inner) != nil {
		return ""
	}
	geo, _ := member(inner, "geoLocationUrl").(string)
	return geo
}

// regString decodes REG_SZ data (UTF-16LE up to the first NUL).
func regString(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := uint16(b[i]) | uint16(b[i+1])<<8
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// hasRoot reports whether Cert:\LocalMachine\Root holds the certificate with thumbprint t: the logical
// store merges the registry's ROOT, AuthRoot, the Group Policy and the enterprise root stores. Without
// a registry (unit tests of the network alone) every root is present.
func (h *Host) hasRoot(t string) bool {
	if h.Registry == nil {
		return true
	}
	for _, k := range RootStoreKeys {
		if h.Registry.KeyExists(k + `\` + t) {
			return true
		}
	}
	return false
}

// Exception messages of System.Net (.NET Framework 4.x). unverified: the de-DE texts of "connect",
// "proxyname" and "timeout" and most German status descriptions ("trust" and the "status" frame are
// from captured German output).
var netText = map[string]map[string]string{
	"en-US": {
		"connect":   "Unable to connect to the remote server",
		"proxyname": "The proxy name could not be resolved: '%s'",
		"trust":     "The underlying connection was closed: Could not establish trust relationship for the SSL/TLS secure channel.",
		"timeout":   "The operation has timed out",
		"status":    "The remote server returned an error: (%d) %s.",
	},
	"de-DE": {
		"connect":   "Es kann keine Verbindung mit dem Remoteserver hergestellt werden.",
		"proxyname": "Der Proxyname konnte nicht aufgelöst werden: '%s'",
		"trust":     "Die zugrunde liegende Verbindung wurde geschlossen: Für den geschützten SSL/TLS-Kanal konnte keine Vertrauensstellung hergestellt werden.",
		"timeout":   "Der Vorgang hat das Zeitlimit überschritten.",
		"status":    "Der Remoteserver hat einen Fehler zurückgegeben: (%d) %s.",
	},
}

// statusDesc are the net_httpstatuscode_* descriptions WebException uses.
var statusDesc = map[string]map[int]string{
	"en-US": {
		400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
		407: "Proxy Authentication Required", 500: "Internal Server Error", 502: "Bad Gateway",
		503: "Server Unavailable", 504: "Gateway Timeout",
	},
	"de-DE": {
		400: "Ungültige Anforderung", 401: "Nicht autorisiert", 403: "Unzulässig", 404: "Nicht gefunden",
		407: "Proxyauthentifizierung erforderlich", 500: "Interner Serverfehler", 502: "Ungültiges Gateway",
		503: "Server nicht verfügbar", 504: "Gatewaytimeout",
	},
}

func (h *Host) loc() string {
	if _, ok := netText[h.Locale]; ok {
		return h.Locale
	}
	return "en-US"
}

func (h *Host) text(key string) string { return netText[h.loc()][key] }

func (h *Host) statusText(code int) string {
	d, ok := statusDesc[h.loc()][code]
	if !ok {
		// unverified: codes without a table entry use the server's reason phrase; the model has
		// none, so the code alone is shown.
		d = strconv.Itoa(code)
	}
	return fmt.Sprintf(h.text("status"), code, d)
}

// encodeOutput renders the output exactly as Windows PowerShell 5.1's
// `ConvertTo-Json -InputObject ([pscustomobject]@{...}) -Compress -Depth 4` does for the script's
// objects (before the final ASCII escaping).
func encodeOutput(reqURL, from string, sc *sensorState, thumbs []string, present []bool, res []outcome) string {
	return string(appendOutput(nil, reqURL, from, sc, thumbs, present, res))
}

// appendOutput appends encodeOutput's text to b.
func appendOutput(b []byte, reqURL, from string, sc *sensorState, thumbs []string, present []bool, res []outcome) []byte {
	b = append(b, `{"url":`...)
	b = appendJSString(b, reqURL)
	b = append(b, `,"from":`...)
	b = appendJSString(b, from)
	b = append(b, `,"sensor":`...)
	if sc == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"found":`...)
		b = strconv.AppendBool(b, sc.found)
		b = append(b, `,"error":`...)
		b = appendJSString(b, sc.errCode)
		b = append(b, `,"proxyUrl":`...)
		b = appendJSString(b, sc.proxyURL)
		b = append(b, `,"proxyUser":`...)
		b = appendJSString(b, sc.proxyUser)
		b = append(b, `,"credentials":`...)
		b = strconv.AppendBool(b, sc.credentials)
		b = append(b, `,"address":`...)
		b = appendJSString(b, sc.address)
		b = append(b, `,"port":`...)
		b = strconv.AppendInt(b, sc.port, 10)
		b = append(b, '}')
	}
	b = append(b, `,"roots":{`...)
	for i, t := range thumbs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSString(b, t)
		b = append(b, ':')
		b = strconv.AppendBool(b, present[i])
	}
	b = append(b, `},"results":[`...)
	for i, o := range res {
		if i > 0 {
			b = append(b, ',')
		}
		body := printable(o.body)
		if len(body) > probe.MaxBody {
			body = body[:probe.MaxBody]
		}
		b = append(b, `{"id":`...)
		b = appendJSString(b, o.id)
		b = append(b, `,"q":`...)
		b = strconv.AppendInt(b, int64(o.q), 10)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(o.status), 10)
		b = append(b, `,"error":`...)
		b = appendJSString(b, o.errName)
		b = append(b, `,"message":`...)
		b = appendJSString(b, o.message)
		b = append(b, `,"route":`...)
		b = appendJSString(b, o.route)
		b = append(b, `,"tls":`...)
		b = strconv.AppendBool(b, o.tls)
		b = append(b, `,"subject":`...)
		b = appendJSString(b, printable(o.subject))
		b = append(b, `,"issuer":`...)
		b = appendJSString(b, printable(o.issuer))
		b = append(b, `,"body":`...)
		b = appendJSString(b, body)
		b = append(b, `,"ms":`...)
		b = strconv.AppendInt(b, int64(o.millis), 10)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// printable is the script's `-replace '[^ -~]','?'`: every UTF-16 code unit outside printable ASCII
// becomes '?' (a character outside the BMP, two code units, becomes "??").
func printable(s string) string {
	if isPrintableASCII(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r >= ' ' && r <= '~':
			b = append(b, byte(r))
		case r > 0xffff:
			b = append(b, "??"...)
		default:
			b = append(b, '?')
		}
	}
	return string(b)
}

// isPrintableASCII reports whether every byte of s is in ' '..'~'.
func isPrintableASCII[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// asciiEscape is the script's final [regex]::Replace($j,'[^ -~]',{'\u{0:x4}' -f ...}): every UTF-16
// code unit outside printable ASCII becomes \uXXXX (lower-case hex).
func asciiEscape(s string) string {
	if isPrintableASCII(s) {
		return s
	}
	return string(appendASCIIEscaped(make([]byte, 0, len(s)+16), s))
}

// appendASCIIEscaped appends asciiEscape(s) to b.
func appendASCIIEscaped(b []byte, s string) []byte {
	for _, r := range s {
		if r >= ' ' && r <= '~' {
			b = append(b, byte(r))
			continue
		}
		if r > 0xffff {
			r1, r2 := utf16.EncodeRune(r)
			b = appendU(appendU(b, r1), r2)
		} else {
			b = appendU(b, r)
		}
	}
	return b
}

// appendU appends \uXXXX (lower-case hex) for the code unit u.
func appendU(b []byte, u rune) []byte {
	const hexDigits = "0123456789abcdef"
	return append(b, '\\', 'u', hexDigits[u>>12&15], hexDigits[u>>8&15], hexDigits[u>>4&15], hexDigits[u&15])
}

// jsString is JavaScriptSerializer's string quoting (System.Web.Extensions, used by 5.1's
// ConvertTo-Json): \r \t \" \\ \n \b \f as short escapes; other control characters, ' < > &, U+0085,
// U+2028 and U+2029 as lower-case \uXXXX; everything else, non-ASCII included, as is.
func jsString(s string) string { return string(appendJSString(nil, s)) }

// appendJSString appends jsString(s) to b.
func appendJSString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch r {
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		default:
			if r < 0x20 || r == '\'' || r == '<' || r == '>' || r == '&' || r == 0x85 || r == 0x2028 || r == 0x2029 {
				b = appendU(b, r)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return append(b, '"')
}
