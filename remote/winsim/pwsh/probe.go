package pwsh

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/wininet"
	"github.com/dcproxy/dcproxy/remote/winsim/cmdexe"
)

// outcome is one route's result as the script would print it.
type outcome struct {
	id, errName, message, route string
	status, millis              int
	tls                         bool   // the validation callback ran
	subject, issuer             string // the presented certificate, before ASCII folding
}

// runProbe answers the probe script for c from the network model: one route after the other, each
// taking ProbeTime (or the request timeout, whichever is shorter), then one JSON line.
func (h *Host) runProbe(ctx context.Context, c probe.Config, stdout io.Writer) int {
	u, err := url.Parse(c.URL)
	if err != nil { // cannot happen: Extract validated the URL
		return 1
	}
	host := u.Hostname()
	var res []outcome
	for _, r := range c.Routes {
		o := h.route(r, host)
		o.id = r.ID
		d := h.ProbeTime
		if d >= c.Timeout {
			// The request did not finish within HttpWebRequest.Timeout, whatever its fate would
			// have been.
			d = c.Timeout
			o.status, o.errName, o.message = 0, "Timeout", h.text("timeout")
			// design: the model does not know how far the request got; it reports no handshake.
			o.tls, o.subject, o.issuer = false, "", ""
		}
		if !sleep(ctx, d) {
			return cmdexe.ExitCanceled
		}
		o.millis = int(d / time.Millisecond)
		res = append(res, o)
	}
	_, _ = io.WriteString(stdout, encodeResults(res)+"\r\n")
	return 0
}

// route computes where a request for host goes and what comes back (without timing).
func (h *Host) route(r probe.Route, host string) outcome {
	switch r.Mode {
	case probe.ModeDirect:
		return h.viaDirect(host)
	case probe.ModeProxy:
		// A WebProxy without bypass list: only loopback hosts are bypassed (.NET always bypasses
		// them); the probe URL is never one.
		return h.viaProxy(r.Proxy, host)
	default: // probe.ModeSystem
		raw, ok := []byte(nil), false
		if h.CurrentUserSettings != nil {
			raw, ok = h.CurrentUserSettings()
		}
		if !ok {
			return h.viaDirect(host)
		}
		s, err := wininet.Decode(raw)
		if err != nil {
			// unverified: WinINet ignores an undecodable value and connects directly.
			return h.viaDirect(host)
		}
		if s.Flags&(wininet.FlagAutoDetect|wininet.FlagAutoConfig) != 0 {
			// WinINet tries auto-detect and the PAC URL before the manual proxy; the model's
			// PACProxy is what they resolve to.
			if h.Network.PACProxy == "" {
				return h.viaDirect(host)
			}
			return h.viaProxy(h.Network.PACProxy, host)
		}
		p, ok := wininet.ProxyFor(s, "https")
		if !ok || wininet.Bypassed(s, host) {
			return h.viaDirect(host)
		}
		return h.viaProxy(p, host)
	}
}

func (h *Host) viaDirect(host string) outcome {
	o := outcome{route: "direct"}
	if !h.Network.Direct {
		// design: a blocked direct route is modelled as an actively refused connection.
		o.errName, o.message = "ConnectFailure", h.text("connect")
		return o
	}
	return h.endpoint(o, host)
}

// viaProxy sends the request through proxy "host[:port]" (port 80 when missing, as .NET's WebProxy
// does for an http:// address without one).
func (h *Host) viaProxy(proxy, host string) outcome {
	ph, port, err := net.SplitHostPort(proxy)
	if err != nil {
		ph, port = proxy, "80"
	}
	key := net.JoinHostPort(ph, port)
	o := outcome{route: "proxy " + key}
	state, known := h.Network.Proxies[key]
	blocked, isBlocked := BlockedStatus(state)
	switch {
	case !known && net.ParseIP(ph) == nil:
		o.errName, o.message = "ProxyNameResolutionFailure", fmt.Sprintf(h.text("proxyname"), ph)
	case isBlocked:
		// The proxy answers the CONNECT itself: .NET Framework turns the failed CONNECT into a
		// WebException (ProtocolError) carrying the proxy's response; no TLS handshake happened.
		o.status, o.errName, o.message = blocked, "ProtocolError", h.statusText(blocked)
	case !known, state != ProxyOK && state != ProxyAuthRequired:
		// Unknown states count as a proxy that refuses connections.
		o.errName, o.message = "ConnectFailure", h.text("connect")
	case state == ProxyAuthRequired:
		o.status, o.errName, o.message = 407, "ProtocolError", h.statusText(407)
	case h.Network.TLSIntercept != InterceptNone:
		// The inspection proxy presents a certificate for the host signed by its own CA.
		o.tls, o.subject, o.issuer = true, "CN="+certName(host), h.interceptIssuer()
		if h.Network.TLSIntercept != InterceptTrusted {
			o.errName, o.message = "TrustFailure", h.text("trust")
			return o
		}
		// Trusted: the proxy relays the endpoint's answer over its own TLS session.
		o = h.answer(o)
	default:
		o = h.endpoint(o, host)
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

// endpoint is the endpoint reached over TLS: its own certificate, then its answer.
func (h *Host) endpoint(o outcome, host string) outcome {
	o.tls, o.subject, o.issuer = true, "CN="+certName(host)+EndpointSubjectTail, EndpointIssuer
	return h.answer(o)
}

// answer is the endpoint's HTTP answer: 200 succeeds, anything else is a WebException with Status
// ProtocolError.
func (h *Host) answer(o outcome) outcome {
	st := h.Network.EndpointStatus
	if st == 0 {
		st = 503
	}
	o.status = st
	if st >= 200 && st < 300 {
		return o
	}
	o.errName, o.message = "ProtocolError", h.statusText(st)
	return o
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

// encodeResults renders results exactly as Windows PowerShell 5.1's
// `ConvertTo-Json -InputObject $array -Compress` does for the probe's [pscustomobject]s.
func encodeResults(res []outcome) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, o := range res {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":` + jsString(o.id))
		b.WriteString(`,"status":` + strconv.Itoa(o.status))
		b.WriteString(`,"error":` + jsString(o.errName))
		b.WriteString(`,"message":` + jsString(o.message))
		b.WriteString(`,"route":` + jsString(o.route))
		b.WriteString(`,"tls":` + strconv.FormatBool(o.tls))
		b.WriteString(`,"subject":` + jsString(printable(o.subject)))
		b.WriteString(`,"issuer":` + jsString(printable(o.issuer)))
		b.WriteString(`,"ms":` + strconv.Itoa(o.millis) + "}")
	}
	b.WriteByte(']')
	return b.String()
}

// printable is the script's `-replace '[^ -~]','?'`: every UTF-16 code unit outside printable ASCII
// becomes '?' (a character outside the BMP, two code units, becomes "??").
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= ' ' && r <= '~':
			b.WriteRune(r)
		case r > 0xffff:
			b.WriteString("??")
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// jsString is JavaScriptSerializer's string quoting (System.Web.Extensions, used by 5.1's
// ConvertTo-Json): \r \t \" \\ \n \b \f as short escapes; other control characters, ' < > &, U+0085,
// U+2028 and U+2029 as lower-case \uXXXX; everything else, non-ASCII included, as is.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 || r == '\'' || r == '<' || r == '>' || r == '&' || r == 0x85 || r == 0x2028 || r == 0x2029 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
