package auth

// Kerberos in the simulated listener (Policy.Kerberos set): Negotiate tokens that carry a Kerberos
// AP-REQ (raw GSS-API krb5 as pywinrm/requests-kerberos send it, or SPNEGO as curl --negotiate and
// Windows send it) are verified with the host's service keys (a keytab exported by a real KDC).
// State machine additions (one leg, Kerberos needs no challenge):
//
//	any  --Negotiate <AP-REQ>--> authenticated  200 WWW-Authenticate: Negotiate <AP-REP> (empty body)
//	                                             or the body served (sealed when it was sealed)
//	any  --Negotiate <AP-REQ> refused--> anonymous  401 WWW-Authenticate: Negotiate <KRB-ERROR>, Connection: close
//
// The authenticated connection then takes multipart/encrypted bodies sealed with the Kerberos
// context (RFC 4121 AES wrap tokens, RFC 4757 RC4), protocol application/HTTP-SPNEGO-session-encrypted
// (or ...-Kerberos-session-encrypted); the reply uses the request's protocol.

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/dcproxy/dcproxy/remote/krb"
)

// kerberos handles a Negotiate token that IsKerberosToken recognised.
func (h *handler) kerberos(w http.ResponseWriter, r *http.Request, st *connState, tok, body []byte) {
	st.reset()
	a, err := h.p.Kerberos.Accept(tok)
	if err != nil {
		var ae *krb.AcceptError
		if errors.As(err, &ae) && len(ae.Reply) > 0 {
			// unverified: Windows returns the KRB-ERROR (e.g. KRB_AP_ERR_SKEW, KRB_AP_ERR_REPEAT) in the
			// 401's Negotiate challenge, as MS-KILE 3.4.5.1 describes for HTTP.
			h.refuseKerberos(w, ae.Reply)
			return
		}
		h.unauthorized(w)
		return
	}
	// The ticket must be for this host: with a keytab shared by several simulated hosts another
	// host's ticket would decrypt, where on Windows it would not (different computer keys).
	if !h.ownService(a.Service) {
		h.refuseKerberos(w, nil)
		return
	}
	acct := h.find(a.Client, a.Realm)
	if acct == nil {
		// unverified: a valid domain user the host does not know at all; the simulator only knows its
		// configured accounts. Windows would log on and refuse WinRM access (a WS-Man access-denied
		// fault) for a non-admin; an unknown account cannot exist in a real domain.
		h.refuseKerberos(w, nil)
		return
	}
	st.ident = &Identity{User: acct.User, Admin: acct.Admin}
	st.krbSess = a.Session
	w.Header().Set("WWW-Authenticate", "Negotiate "+base64.StdEncoding.EncodeToString(a.Reply))
	if len(body) == 0 {
		h.status(w, http.StatusOK)
		return
	}
	h.serveAuthenticated(w, r, st, body)
}

// ownService reports whether a ticket's service principal names this host: HTTP/<fqdn> (WinRM's
// SPN) or HOST/<fqdn> (Windows maps HTTP/ to the computer's HOST/ keys), or the short name.
func (h *handler) ownService(svc string) bool {
	class, host, ok := strings.Cut(svc, "/")
	if !ok || !(strings.EqualFold(class, "HTTP") || strings.EqualFold(class, "HOST") || strings.EqualFold(class, "WSMAN")) {
		return false
	}
	s := h.p.Server
	return host != "" && (strings.EqualFold(host, s.DNSComputer) || strings.EqualFold(host, s.NbComputer))
}

func (h *handler) refuseKerberos(w http.ResponseWriter, reply []byte) {
	hd := w.Header()
	if len(reply) > 0 {
		hd["WWW-Authenticate"] = []string{"Negotiate " + base64.StdEncoding.EncodeToString(reply)}
		hd.Set("Connection", "close")
		h.status(w, http.StatusUnauthorized)
		return
	}
	h.unauthorized(w)
}

// serveKerberosSealed serves a sealed body on a Kerberos-authenticated connection.
func (h *handler) serveKerberosSealed(w http.ResponseWriter, r *http.Request, st *connState, id Identity, body []byte) {
	protocol, plain, err := krb.Open(st.krbSess, body)
	if err != nil {
		// unverified: Windows' status for a frame that fails to unseal (as for NTLM).
		st.reset()
		w.Header().Set("Connection", "close")
		h.status(w, http.StatusBadRequest)
		return
	}
	id.Sealed = true
	sess := st.krbSess
	rec := &recorder{header: http.Header{}}
	h.next.ServeHTTP(rec, innerRequest(r, id, plain, true))
	out, err := krb.Seal(sess, protocol, rec.body)
	rec.release()
	if err != nil {
		st.reset()
		h.status(w, http.StatusInternalServerError)
		return
	}
	rec.send(w, krb.ContentType(protocol), out)
}
