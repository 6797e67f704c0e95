package winrmclient

// Kerberos transport (Target.Auth negotiate or kerberos):
//
//   - one handshake per connection: an empty POST with "Authorization: Negotiate <krb5 AP-REQ>"
//     (a raw GSS-API krb5 token, as pywinrm/requests-kerberos send it to Windows: no SPNEGO
//     mechListMIC questions arise)
//     (the authenticator carries a subkey and a sequence number and requests mutual authentication);
//     the host answers 200 with its AP-REP in WWW-Authenticate, which must verify (mutual
//     authentication), or 401 with a KRB-ERROR that names the reason (clock skew, replay, ...);
//   - unverified: channel binding tokens are not sent on HTTPS; Windows' default CbtHardeningLevel
//     (Relaxed) accepts that, Strict would refuse;
//   - on HTTP every SOAP message is then sealed with the context (RFC 4121 AES wrap tokens with the
//     header/data split, or RFC 4757 RC4) in the same multipart/encrypted framing as NTLM
//     (protocol application/HTTP-SPNEGO-session-encrypted); on HTTPS the bodies go plain inside TLS;
//   - a 401 to a message after the handshake (the connection was re-opened, the host forgot the
//     context) re-runs the handshake once.
//
// negotiate chooses Kerberos when credentials for a realm exist (a ticket cache, also from
// $KRB5CCNAME; a keytab; a password with a realm: Kerberos.Realm set or a user@realm name) and a
// service ticket for HTTP/<host> can be had; otherwise, and only while Kerberos.DisableNTLM is false,
// it falls back to NTLM (never after a refused password: that would count twice against lockout).

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/dcproxy/dcproxy/internal/bufpool"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/krb"
)

// Kerberos modes of a transport (authMode values beside the NTLM and Basic ones).
const (
	modeKerberos    authMode = 100 + iota // Kerberos over HTTP, every message sealed
	modeKerberosTLS                       // Kerberos inside TLS, no sealing
)

// kerberosAuth is the Kerberos state of a transport.
type kerberosAuth struct {
	init krb.Initiator // a krb.Client, or the current Windows logon (SSPI)
	own  bool          // created for this Dial: closed with the transport
	spn  string
	sess krb.Sealer // context of the current connection; nil until the handshake
}

// kerberosCredentials maps a Target onto krb.Credentials; ok is false when the target names no
// Kerberos credential (negotiate then uses NTLM).
func kerberosCredentials(t remote.Target) (krb.Credentials, bool) {
	k := t.Kerberos
	c := krb.Credentials{User: t.User, Realm: k.Realm, KDCs: k.KDCs, ConfigFile: k.ConfigFile, CCache: k.CCache, Keytab: k.Keytab}
	switch {
	case c.CCache != "", c.Keytab != "":
		return c, true
	case t.Password != "":
		c.Password = t.Password
		return c, k.Realm != "" || strings.Contains(t.User, "@")
	}
	if env := os.Getenv("KRB5CCNAME"); env != "" {
		path, ok := strings.CutPrefix(env, "FILE:")
		if ok || !strings.Contains(env, ":") {
			if _, err := os.Stat(path); err == nil {
				c.CCache = path
				return c, true
			}
		}
	}
	return c, false
}

// canFallBack reports whether a Kerberos failure lets negotiate use NTLM: Kerberos is not
// possible for this host (no KDC, no service principal, no credentials), as Windows' Negotiate falls
// back. A refused password, a locked account or a clock skew are answers, not absences.
func canFallBack(err error) bool {
	return errors.Is(err, krb.ErrKDCUnreachable) || errors.Is(err, krb.ErrUnknownSPN) ||
		errors.Is(err, krb.ErrNoCredentials) || errors.Is(err, krb.ErrNoKDC)
}

// setupKerberos decides, for a negotiate or kerberos target, whether the transport uses Kerberos. It
// returns nil, nil when negotiate falls back to NTLM; an error when the target cannot be audited.
// A service ticket for the host is obtained here (cached in the shared client), so that an unknown
// SPN or an unreachable KDC is known before anything is sent to the host.
//
// A password or keytab is checked by the KDC in the AS exchange, which counts bad passwords like a
// DC does: Target.BeforeLogon is called before it (loggedOn reports that it was, so the transport
// does not call it again), and a refusal fails the Dial with an error wrapping the hook's error.
func (d Dialer) setupKerberos(ctx context.Context, t remote.Target) (_ *kerberosAuth, loggedOn bool, _ error) {
	ka, err := d.setupKerberosWith(t, func(creds krb.Credentials) error {
		if creds.CCache != "" || t.BeforeLogon == nil {
			return nil // a ticket cache sends no password to the KDC: the host's logon is gated
		}
		loggedOn = true
		if err := t.BeforeLogon(ctx); err != nil {
			return fmt.Errorf("%s: logon: %w", t, err)
		}
		return nil
	})
	return ka, loggedOn, err
}

// setupKerberosWith is setupKerberos with the hook called before the KDC sees the credentials;
// an error of the hook is returned as it is.
func (d Dialer) setupKerberosWith(t remote.Target, beforeAS func(krb.Credentials) error) (*kerberosAuth, error) {
	allowNTLM := t.Auth == remote.AuthNegotiate && !t.Kerberos.DisableNTLM
	if t.SPNIsAddress() {
		if allowNTLM {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %s: Kerberos needs the host's DNS name: an IP address has no service principal", remote.ErrInvalidTarget, t.Host)
	}
	creds, ok := kerberosCredentials(t)
	if !ok && t.Password == "" {
		// Windows, no credentials given: the current logon's tickets through SSPI (elsewhere
		// CurrentLogon fails with ErrNoCredentials).
		// unverified: runs on a domain-joined Windows machine only.
		if cur, err := krb.CurrentLogon(); err == nil {
			return &kerberosAuth{init: cur, own: true, spn: krb.SPN(t.SPNHostName())}, nil
		}
	}
	if !ok {
		if allowNTLM {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", t, krb.ErrNoCredentials)
	}
	if err := beforeAS(creds); err != nil {
		return nil, err
	}
	var cl *krb.Client
	var err error
	own := d.Kerberos == nil
	if own {
		if cl, err = krb.NewClient(creds); err == nil {
			if err = cl.Login(); err != nil {
				cl.Close()
			}
		}
	} else {
		cl, err = d.Kerberos.Get(creds)
	}
	spn := krb.SPN(t.SPNHostName())
	if err == nil {
		if err = cl.ServiceTicket(spn); err != nil && own {
			cl.Close()
		}
	}
	if err != nil {
		if allowNTLM && canFallBack(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	return &kerberosAuth{init: cl, own: own, spn: spn}, nil
}

// postKerberos sends one SOAP message on a Kerberos-authenticated connection: sealed on HTTP, plain
// on HTTPS; the handshake runs first when the connection has no context yet.
func (t *transport) postKerberos(ctx context.Context, body []byte) (reply, buf []byte, err error) {
	sealed := t.mode == modeKerberos
	for attempt := 0; ; attempt++ {
		if t.krb.sess == nil {
			if err := t.kerberosHandshake(ctx); err != nil {
				return nil, nil, err
			}
		}
		retry, reply, buf, err := t.kerberosAttempt(ctx, body, sealed, attempt)
		if !retry {
			return reply, buf, err
		}
	}
}

// kerberosAttempt is one try of postKerberos (body sealed when sealed); retry reports a 401 on the
// first attempt (the handshake is then run again).
func (t *transport) kerberosAttempt(ctx context.Context, body []byte, sealed bool, attempt int) (retry bool, reply, buf []byte, err error) {
	payload, ct := body, soapContentType
	if sealed {
		var err error
		if payload, err = krb.Seal(t.krb.sess, krb.ProtocolSPNEGO, body); err != nil {
			return false, nil, nil, fmt.Errorf("%w: %w", remote.ErrProtocol, err)
		}
		ct = krb.ContentType(krb.ProtocolSPNEGO)
	}
	req, err := t.newRequest(ctx, payload, ct)
	if err != nil {
		return false, nil, nil, err
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		t.krb.sess = nil // the sequence numbers may have advanced past what the host saw
		return false, nil, nil, err
	}
	raw, err := readBody(resp)
	if err != nil {
		_ = resp.Body.Close()
		t.krb.sess = nil
		return false, nil, nil, err
	}
	drain(resp)
	if resp.StatusCode == http.StatusUnauthorized {
		bufpool.Put(raw)
		t.krb.sess = nil
		if attempt == 0 {
			return true, nil, nil, nil
		}
		return false, nil, nil, &HTTPError{StatusCode: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), red: t.red}
	}
	rct := resp.Header.Get("Content-Type")
	if _, ok := krb.EncryptedProtocol(rct); !sealed || !ok {
		// HTTPS, or a host that refuses before decrypting (a plain error page) answers in clear.
		reply, err = t.soapReply(resp.StatusCode, rct, raw)
		return false, reply, raw, err
	}
	_, plain, err := krb.Open(t.krb.sess, raw)
	if err != nil {
		t.krb.sess = nil
		return false, nil, raw, fmt.Errorf("%w: %w", remote.ErrProtocol, err)
	}
	reply, err = t.soapReply(resp.StatusCode, soapContentType+originalCharset(raw), plain)
	return false, reply, raw, err
}

// kerberosHandshake authenticates the connection: one empty POST with the AP-REQ, the AP-REP
// verified from the 200's WWW-Authenticate.
func (t *transport) kerberosHandshake(ctx context.Context) error {
	t.handshakes.Add(1)
	tok, complete, err := t.krb.init.Start(t.krb.spn)
	if err != nil {
		return err
	}
	resp, err := t.emptyPost(ctx, "Negotiate "+base64.StdEncoding.EncodeToString(tok))
	if err != nil {
		return err
	}
	drain(resp)
	_, reply := negotiateToken(resp.Header)
	switch resp.StatusCode {
	case http.StatusOK:
		sess, err := complete(reply)
		if err != nil {
			return err
		}
		t.krb.sess = sess
		return nil
	case http.StatusUnauthorized:
		if len(reply) > 0 {
			if _, err := complete(reply); err != nil && !errors.Is(err, krb.ErrMutualAuth) {
				return fmt.Errorf("the host refused the Kerberos ticket: %w", err) // KRB-ERROR: skew, replay, ...
			}
		}
	}
	return &HTTPError{StatusCode: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), red: t.red}
}

// closeKerberos releases a client created for this Dial alone.
func (t *transport) closeKerberos() {
	if t.krb != nil && t.krb.own {
		t.krb.init.Close()
		t.krb.own = false
	}
}
