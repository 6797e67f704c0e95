package krb

import (
	"bytes"
	"fmt"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// GSS-API krb5 token IDs (RFC 4121 4.1).
var (
	tokAPReq    = []byte{0x01, 0x00}
	tokAPRep    = []byte{0x02, 0x00}
	tokKRBError = []byte{0x03, 0x00}
)

// frameKRB5 wraps a Kerberos message as a GSS-API initial-context token of the krb5 mechanism:
// 0x60 len | OID 1.2.840.113554.1.2.2 | tokID | message.
func frameKRB5(tokID, msg []byte) []byte {
	b := make([]byte, 0, len(krb5OIDDER)+2+len(msg))
	b = append(b, krb5OIDDER...)
	b = append(b, tokID...)
	b = append(b, msg...)
	return asn1tools.AddASNAppTag(b, 0)
}

// unframeKRB5 returns the token ID and message of a GSS-API krb5 token.
func unframeKRB5(tok []byte) (tokID, msg []byte, err error) {
	var oid asn1.ObjectIdentifier
	rest, err := asn1.UnmarshalWithParams(tok, &oid, "application,explicit,tag:0")
	if err != nil {
		return nil, nil, fmt.Errorf("%w: not a GSS-API token", ErrBadToken)
	}
	if !oid.Equal(gssapi.OIDKRB5.OID()) && !oid.Equal(gssapi.OIDMSLegacyKRB5.OID()) {
		return nil, nil, fmt.Errorf("%w: mechanism %s is not Kerberos", ErrBadToken, oid)
	}
	if len(rest) < 2 {
		return nil, nil, fmt.Errorf("%w: short Kerberos token", ErrBadToken)
	}
	return rest[:2], rest[2:], nil
}

// isSPNEGO reports whether tok is a SPNEGO token (a NegTokenInit with the SPNEGO OID, or a bare
// NegTokenResp).
func isSPNEGO(tok []byte) bool {
	if len(tok) > 0 && tok[0] == 0xa1 {
		return true
	}
	var oid asn1.ObjectIdentifier
	_, err := asn1.UnmarshalWithParams(tok, &oid, "application,explicit,tag:0")
	return err == nil && oid.Equal(gssapi.OIDSPNEGO.OID())
}

// spnegoInit wraps a krb5 AP-REQ token in a SPNEGO NegTokenInit offering Kerberos (and, for
// Windows' sake, the MS legacy Kerberos OID) with the optimistic token.
func spnegoInit(krb5Tok []byte) ([]byte, error) {
	t := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{
		MechTypes:      []asn1.ObjectIdentifier{gssapi.OIDKRB5.OID(), gssapi.OIDMSLegacyKRB5.OID()},
		MechTokenBytes: krb5Tok,
	}}
	return t.Marshal()
}

// spnegoResp builds the acceptor's NegTokenResp.
func spnegoResp(state spnego.NegState, mech asn1.ObjectIdentifier, krb5Tok []byte) ([]byte, error) {
	t := spnego.SPNEGOToken{Resp: true, NegTokenResp: spnego.NegTokenResp{
		NegState:      asn1.Enumerated(state),
		SupportedMech: mech,
		ResponseToken: krb5Tok,
	}}
	return t.Marshal()
}

// krb5FromSPNEGO extracts the Kerberos token from a NegTokenInit (the first mechanism must be
// Kerberos: an optimistic token of another mechanism, NTLM, is refused) or a NegTokenResp.
func krb5FromSPNEGO(tok []byte) (krb5Tok []byte, mech asn1.ObjectIdentifier, state spnego.NegState, err error) {
	var t spnego.SPNEGOToken
	if err := t.Unmarshal(tok); err != nil {
		return nil, nil, 0, fmt.Errorf("%w: SPNEGO: %v", ErrBadToken, err)
	}
	if t.Init {
		mts := t.NegTokenInit.MechTypes
		if len(mts) == 0 || !(mts[0].Equal(gssapi.OIDKRB5.OID()) || mts[0].Equal(gssapi.OIDMSLegacyKRB5.OID())) {
			return nil, nil, 0, fmt.Errorf("%w: SPNEGO does not offer Kerberos first", ErrBadToken)
		}
		if len(t.NegTokenInit.MechTokenBytes) == 0 {
			return nil, nil, 0, fmt.Errorf("%w: SPNEGO without an optimistic Kerberos token", ErrBadToken)
		}
		return t.NegTokenInit.MechTokenBytes, mts[0], spnego.NegStateAcceptIncomplete, nil
	}
	return t.NegTokenResp.ResponseToken, t.NegTokenResp.SupportedMech, t.NegTokenResp.State(), nil
}

// IsKerberosToken reports whether tok (an Authorization: Negotiate token, decoded) is a Kerberos
// token: raw GSS-API krb5, or SPNEGO offering Kerberos first. NTLM tokens ("NTLMSSP\0") and SPNEGO
// offering NTLM first are not.
func IsKerberosToken(tok []byte) bool {
	if bytes.HasPrefix(tok, []byte("NTLMSSP\x00")) {
		return false
	}
	if isSPNEGO(tok) {
		_, _, _, err := krb5FromSPNEGO(tok)
		return err == nil
	}
	_, _, err := unframeKRB5(tok)
	return err == nil
}
