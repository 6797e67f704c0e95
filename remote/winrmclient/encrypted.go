package winrmclient

import (
	"fmt"

	"github.com/dcproxy/dcproxy/remote/ntlm"
)

// soapContentType is the Content-Type of an unsealed SOAP request, as masterzen sends it.
const soapContentType = "application/soap+xml;charset=UTF-8"

// sealer is one side of an NTLM security context: Wrap seals and signs an outgoing message,
// Unwrap unseals and verifies an incoming one. Both advance sequence numbers and RC4 state, so
// calls must be serialized and made in wire order. bodgit's *ntlmssp.SecuritySession satisfies it.
type sealer interface {
	Wrap(plain []byte) (sealed, signature []byte, err error)
	Unwrap(sealed, signature []byte) ([]byte, error)
}

// sealBody seals plain (a SOAP message) with s and frames it as a multipart/encrypted body
// (MS-WSMV 2.2.9.1.1, framing owned by remote/ntlm); send it with ntlm.EncryptedContentType.
func sealBody(s sealer, plain []byte) ([]byte, error) {
	sealed, sig, err := s.Wrap(plain)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return ntlm.Frame(sig, sealed), nil
}

// openBody unframes and unseals an encrypted body. Framing errors wrap ntlm.ErrMalformedFrame;
// a signature or sequence failure is reported as "unseal: ..." wrapping the sealer's error.
func openBody(s sealer, body []byte) ([]byte, error) {
	sig, sealed, err := ntlm.Unframe(body)
	if err != nil {
		return nil, err
	}
	plain, err := s.Unwrap(sealed, sig)
	if err != nil {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	return plain, nil
}
