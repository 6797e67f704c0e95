//go:build windows

package krb

// The current Windows logon through SSPI (github.com/alexbrainman/sspi), Kerberos package only: the
// Negotiate package could fall back to NTLM on its own, which "ntlm: false" forbids.
//
// unverified: everything in this file runs only on a domain-joined Windows machine; CI compiles and
// vets it (GOOS=windows). The token layout handling below follows MS-WSMV 2.2.9.1.1 and the layouts
// the rest of this package implements and tests against MIT (kerberos.md), not a Windows trace.

import (
	"errors"
	"fmt"
	"sync"
	"syscall"

	"github.com/alexbrainman/sspi"
	"github.com/alexbrainman/sspi/kerberos"
)

// CurrentLogon returns an Initiator for the Kerberos tickets of the current Windows logon.
func CurrentLogon() (Initiator, error) {
	cred, err := kerberos.AcquireCurrentUserCredentials()
	if err != nil {
		return nil, sspiErr("AcquireCredentialsHandle", err, ErrNoCredentials)
	}
	return &sspiInitiator{cred: cred}, nil
}

// sspiErr classifies an error of alexbrainman/sspi: a status code (syscall.Errno) through
// sspiError, anything else as def.
func sspiErr(op string, err error, def error) error {
	var code syscall.Errno
	if errors.As(err, &code) {
		return sspiError(op, uint32(code), def)
	}
	return fmt.Errorf("%w: SSPI %s: %v", def, op, err)
}

type sspiInitiator struct{ cred *sspi.Credentials }

const sspiFlags = sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY |
	sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_REPLAY_DETECT

func (s *sspiInitiator) Close() { _ = s.cred.Release() }

// Start asks SSPI for the AP-REQ to spn ("HTTP/dc01.corp.example").
func (s *sspiInitiator) Start(spn string) ([]byte, func([]byte) (Sealer, error), error) {
	cc, done, tok, err := kerberos.NewClientContextWithFlags(s.cred, spn, sspiFlags)
	if err != nil {
		return nil, nil, sspiErr("InitializeSecurityContext "+spn, err, ErrKDC)
	}
	if done || len(tok) == 0 {
		_ = cc.Release()
		return nil, nil, fmt.Errorf("%w: SSPI returned no AP-REQ for %s", ErrBadToken, spn)
	}
	complete := func(reply []byte) (Sealer, error) {
		if len(reply) == 0 {
			_ = cc.Release()
			return nil, fmt.Errorf("%w: no reply token", ErrMutualAuth)
		}
		if id, msg, err := unframeKRB5(reply); err == nil && string(id) == string(tokKRBError) {
			_ = cc.Release()
			return nil, KRBErrorToken(msg)
		}
		done, _, err := cc.Update(reply)
		if err != nil {
			_ = cc.Release()
			return nil, sspiErr("InitializeSecurityContext (AP-REP) "+spn, err, ErrMutualAuth)
		}
		if !done {
			_ = cc.Release()
			return nil, fmt.Errorf("%w: SSPI wants another round after the AP-REP of %s", ErrMutualAuth, spn)
		}
		if err := cc.VerifyFlags(); err != nil {
			_ = cc.Release()
			return nil, fmt.Errorf("%w: SSPI %s: %v", ErrMutualAuth, spn, err)
		}
		return &sspiSealer{cc: cc}, nil
	}
	return tok, complete, nil
}

// sspiSealer seals with EncryptMessage: the security trailer buffer is the token header of the
// WinRM framing, the data buffer (and a padding byte for RC4) the data.
type sspiSealer struct {
	mu sync.Mutex
	cc *kerberos.ClientContext
}

func (s *sspiSealer) Wrap(plain []byte) ([]byte, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := append([]byte(nil), plain...) // EncryptMessage works in place
	out, err := s.cc.EncryptMessage(msg, 0, 0)
	if err != nil {
		return nil, nil, sspiErr("EncryptMessage", err, ErrBadToken)
	}
	n, err := sspiHeaderLen(out, len(plain))
	if err != nil {
		return nil, nil, fmt.Errorf("SSPI EncryptMessage: %w", err)
	}
	return out[:n], out[n:], nil
}

func (s *sspiSealer) Unwrap(header, data []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stream := make([]byte, 0, len(header)+len(data))
	stream = append(stream, header...)
	stream = append(stream, data...)
	_, plain, err := s.cc.DecryptMessage(stream, 0)
	if err != nil {
		return nil, sspiErr("DecryptMessage", err, ErrBadToken)
	}
	return append([]byte(nil), plain...), nil
}
