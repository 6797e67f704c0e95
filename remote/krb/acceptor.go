package krb

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// DefaultMaxSkew is Kerberos' default maximum clock skew (RFC 4120, Windows' "Maximum tolerance for
// computer clock synchronization").
const DefaultMaxSkew = 5 * time.Minute

// AcceptorOptions tune an Acceptor. The zero value uses the real clock and DefaultMaxSkew.
type AcceptorOptions struct {
	// Now replaces the clock (tests: clock skew, recorded tokens).
	Now func() time.Time
	// MaxSkew is the tolerated difference between the authenticator's time and Now.
	MaxSkew time.Duration
	// Rand supplies the acceptor subkey and sequence number (crypto/rand when nil; tests replaying
	// recorded exchanges pass a deterministic stream).
	Rand io.Reader
}

// Acceptor verifies Kerberos AP-REQs for the service keys of a keytab (a real KDC's export for
// HTTP/<fqdn>) and builds the AP-REP. It keeps a replay cache of the authenticators it accepted
// within the skew window. Safe for concurrent use.
//
// Tickets from MIT KDCs carry a minimal PAC and Samba's a full one; the acceptor does not need the
// PAC (authorization is the simulator's account list), so it is not decoded.
type Acceptor struct {
	kt   *keytab.Keytab
	now  func() time.Time
	skew time.Duration
	rand io.Reader

	mu     sync.Mutex
	replay map[string]time.Time // authenticator identity -> when it stops mattering
}

// LoadKeytab reads a keytab file.
func LoadKeytab(path string) (*keytab.Keytab, error) {
	kt, err := keytab.Load(path)
	if err != nil {
		return nil, fmt.Errorf("keytab %s: %w", path, err)
	}
	return kt, nil
}

// NewAcceptor returns an acceptor for the keys in kt.
func NewAcceptor(kt *keytab.Keytab, o AcceptorOptions) *Acceptor {
	a := &Acceptor{kt: kt, now: o.Now, skew: o.MaxSkew, rand: o.Rand, replay: map[string]time.Time{}}
	if a.rand == nil {
		a.rand = rand.Reader
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.skew <= 0 {
		a.skew = DefaultMaxSkew
	}
	return a
}

// Accepted is an established acceptor context.
type Accepted struct {
	// Client is the initiator's principal name without realm ("alice"), Realm its realm.
	Client, Realm string
	// Service is the ticket's service principal without realm ("HTTP/dc01.lab.test").
	Service string
	// Session seals and unseals messages of this context.
	Session *Session
	// Reply is the token for WWW-Authenticate: Negotiate (the AP-REP, raw or in a SPNEGO
	// NegTokenResp, as the initiator's token was).
	Reply []byte
	// SPNEGO reports that the initiator used SPNEGO.
	SPNEGO bool
	// Flags are the GSS-API context flags the initiator requested (RFC 4121 4.1.1.1).
	Flags uint32
}

// AcceptError is a refused AP-REQ: Err is one of the package's sentinels (ErrClockSkew, ErrReplay,
// ErrTicketExpired, ErrBadToken, ...) and Reply the KRB-ERROR token to return, when there is one.
type AcceptError struct {
	Err   error
	Code  int32
	Reply []byte
}

func (e *AcceptError) Error() string { return e.Err.Error() }
func (e *AcceptError) Unwrap() error { return e.Err }

// Accept verifies an initiator's token (a GSS-API krb5 AP-REQ, raw or as the optimistic token of a
// SPNEGO NegTokenInit offering Kerberos first): the ticket decrypts with a key of the keytab and is
// valid now, the authenticator decrypts with its session key, names the ticket's client, is within
// the skew window and not a replay. Refusals are *AcceptError.
func (a *Acceptor) Accept(tok []byte) (_ *Accepted, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &AcceptError{Err: fmt.Errorf("%w: malformed token", ErrBadToken)}
		}
	}()
	useSPNEGO := isSPNEGO(tok)
	mech := gssapi.OIDKRB5.OID()
	krbTok := tok
	if useSPNEGO {
		inner, m, _, err := krb5FromSPNEGO(tok)
		if err != nil {
			return nil, &AcceptError{Err: err}
		}
		krbTok, mech = inner, m
	}
	id, msg, err := unframeKRB5(krbTok)
	if err != nil {
		return nil, &AcceptError{Err: err}
	}
	if string(id) != string(tokAPReq) {
		return nil, &AcceptError{Err: fmt.Errorf("%w: token id %x is not an AP-REQ", ErrBadToken, id)}
	}
	var req messages.APReq
	if err := req.Unmarshal(msg); err != nil {
		return nil, &AcceptError{Err: fmt.Errorf("%w: AP-REQ: %v", ErrBadToken, err)}
	}
	refuse := func(code int32, detail string) error {
		return a.refusal(req, code, detail, useSPNEGO, mech)
	}
	sname := req.Ticket.SName
	if err := req.Ticket.DecryptEncPart(a.kt, &sname); err != nil {
		// No key for the ticket's principal, kvno or enctype (KRB_AP_ERR_NOKEY), or a wrong key
		// (KRB_AP_ERR_BAD_INTEGRITY): Windows says the latter.
		return nil, refuse(errorcode.KRB_AP_ERR_BAD_INTEGRITY, "ticket does not decrypt with the service key")
	}
	now := a.now().UTC()
	ep := req.Ticket.DecryptedEncPart
	if err := req.DecryptAuthenticator(ep.Key); err != nil {
		return nil, refuse(errorcode.KRB_AP_ERR_BAD_INTEGRITY, "authenticator does not decrypt")
	}
	auth := req.Authenticator
	if !auth.CName.Equal(ep.CName) || auth.CRealm != req.Ticket.DecryptedEncPart.CRealm {
		return nil, refuse(errorcode.KRB_AP_ERR_BADMATCH, "authenticator and ticket name different clients")
	}
	ct := auth.CTime.Add(time.Duration(auth.Cusec) * time.Microsecond)
	if d := now.Sub(ct); d > a.skew || d < -a.skew {
		return nil, refuse(errorcode.KRB_AP_ERR_SKEW, "clock skew too great")
	}
	// Ticket times after the authenticator's (RFC 4120 3.2.3 order).
	start := ep.StartTime
	if start.IsZero() {
		start = ep.AuthTime
	}
	if now.Add(a.skew).Before(start) {
		return nil, refuse(errorcode.KRB_AP_ERR_TKT_NYV, "ticket not yet valid")
	}
	if now.Add(-a.skew).After(ep.EndTime) {
		return nil, refuse(errorcode.KRB_AP_ERR_TKT_EXPIRED, "ticket expired")
	}
	var gflags uint32
	if auth.Cksum.CksumType == chksumtype.GSSAPI && len(auth.Cksum.Checksum) >= 24 {
		b := auth.Cksum.Checksum
		gflags = uint32(b[20]) | uint32(b[21])<<8 | uint32(b[22])<<16 | uint32(b[23])<<24
	}
	if !a.remember(auth, sname, now) {
		return nil, refuse(errorcode.KRB_AP_ERR_REPEAT, "request is a replay")
	}

	// AP-REP: with an RFC 4121 enctype the acceptor adds its own subkey (as Windows and MIT do); the
	// context then seals with it. RC4 contexts keep the initiator's subkey.
	enc := messages.EncAPRepPart{CTime: auth.CTime, Cusec: auth.Cusec, SequenceNumber: randomSeq(a.rand)}
	key, accSub := auth.SubKey, false
	if len(key.KeyValue) == 0 {
		key = ep.Key
	}
	if isCFX(key.KeyType) {
		et, err := crypto.GetEtype(key.KeyType)
		if err != nil {
			return nil, &AcceptError{Err: fmt.Errorf("%w: key type %d", ErrBadToken, key.KeyType)}
		}
		kv := make([]byte, et.GetKeyByteSize())
		if _, err := io.ReadFull(a.rand, kv); err != nil {
			return nil, &AcceptError{Err: err}
		}
		enc.Subkey = types.EncryptionKey{KeyType: key.KeyType, KeyValue: kv}
		key, accSub = enc.Subkey, true
	}
	repTok, err := marshalAPRep(enc, ep.Key)
	if err != nil {
		return nil, &AcceptError{Err: fmt.Errorf("%w: AP-REP: %v", ErrBadToken, err)}
	}
	reply := frameKRB5(tokAPRep, repTok)
	if useSPNEGO {
		if reply, err = spnegoResp(spnego.NegStateAcceptCompleted, mech, reply); err != nil {
			return nil, &AcceptError{Err: fmt.Errorf("%w: SPNEGO: %v", ErrBadToken, err)}
		}
	}
	sess, err := newSession(key, true, accSub, uint64(uint32(auth.SeqNumber)), uint64(uint32(enc.SequenceNumber)))
	if err != nil {
		return nil, &AcceptError{Err: err}
	}
	return &Accepted{
		Client: ep.CName.PrincipalNameString(), Realm: ep.CRealm, Service: sname.PrincipalNameString(),
		Session: sess, Reply: reply, SPNEGO: useSPNEGO, Flags: gflags,
	}, nil
}

// remember records an authenticator; false when it was seen within the skew window (a replay).
func (a *Acceptor) remember(auth types.Authenticator, sname types.PrincipalName, now time.Time) bool {
	k := fmt.Sprintf("%s@%s|%s|%d|%d", auth.CName.PrincipalNameString(), auth.CRealm, sname.PrincipalNameString(), auth.CTime.Unix(), auth.Cusec)
	a.mu.Lock()
	defer a.mu.Unlock()
	for key, until := range a.replay {
		if now.After(until) {
			delete(a.replay, key)
		}
	}
	if _, seen := a.replay[k]; seen {
		return false
	}
	a.replay[k] = now.Add(2 * a.skew)
	return true
}

// refusal builds the AcceptError with a KRB-ERROR token (raw, or in a rejecting NegTokenResp).
// unverified: that Windows returns the KRB-ERROR in WWW-Authenticate on every AP-REQ refusal (it does
// for KRB_AP_ERR_SKEW so that clients can correct their clock, RFC 4121 4.1 / MS-KILE 3.4.5.1).
func (a *Acceptor) refusal(req messages.APReq, code int32, detail string, useSPNEGO bool, mech asn1.ObjectIdentifier) error {
	ae := &AcceptError{Err: fmt.Errorf("%w: %s", CodeError(code), detail), Code: code}
	ke := messages.NewKRBError(req.Ticket.SName, req.Ticket.Realm, code, "")
	ke.STime = a.now().UTC().Truncate(time.Second)
	b, err := ke.Marshal()
	if err != nil {
		return ae
	}
	tok := frameKRB5(tokKRBError, b)
	if useSPNEGO {
		if tok, err = spnegoResp(spnego.NegStateReject, mech, tok); err != nil {
			return ae
		}
	}
	ae.Reply = tok
	return ae
}

// marshalAPRep encrypts enc with the ticket session key (key usage 12) and encodes the KRB_AP_REP
// (gokrb5 has no marshaller for it).
func marshalAPRep(enc messages.EncAPRepPart, key types.EncryptionKey) ([]byte, error) {
	type encAPRepPart struct {
		CTime          time.Time           `asn1:"generalized,explicit,tag:0"`
		Cusec          int                 `asn1:"explicit,tag:1"`
		Subkey         types.EncryptionKey `asn1:"optional,explicit,tag:2"`
		SequenceNumber int64               `asn1:"optional,explicit,tag:3"`
	}
	e := encAPRepPart{CTime: enc.CTime.UTC().Truncate(time.Second), Cusec: enc.Cusec, Subkey: enc.Subkey, SequenceNumber: enc.SequenceNumber}
	b, err := asn1.Marshal(e)
	if err != nil {
		return nil, err
	}
	b = asn1tools.AddASNAppTag(b, asnAppTag.EncAPRepPart)
	ed, err := crypto.GetEncryptedData(b, key, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, err
	}
	rep := messages.APRep{PVNO: iana.PVNO, MsgType: msgtype.KRB_AP_REP, EncPart: ed}
	rb, err := asn1.Marshal(rep)
	if err != nil {
		return nil, err
	}
	return asn1tools.AddASNAppTag(rb, asnAppTag.APREP), nil
}

// IsRefusal reports whether err is an AP-REQ refusal (rather than a malformed token).
func IsRefusal(err error) bool {
	var ae *AcceptError
	return errors.As(err, &ae) && ae.Code != 0
}
