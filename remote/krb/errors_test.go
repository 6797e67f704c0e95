package krb

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/krberror"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/dcproxy/dcproxy/remote"
)

// TestClassify: the one place that maps KDC answers and failures onto sentinels, and the sentinels
// onto remote's kinds (which decide retries and the lockout protection).
func TestClassify(t *testing.T) {
	krbErr := func(code int32) error {
		return messages.NewKRBError(types.PrincipalName{}, "LAB.TEST", code, "")
	}
	for _, tc := range []struct {
		in   error
		want error
		kind string
	}{
		{krbErr(errorcode.KDC_ERR_PREAUTH_FAILED), ErrPreauthFailed, "auth"},
		// gokrb5 flattens the KDC's answer into text on the way up.
		{krberror.Errorf(krbErr(errorcode.KDC_ERR_PREAUTH_FAILED), krberror.KDCError, "AS Exchange Error"), ErrPreauthFailed, "auth"},
		{fmt.Errorf("x: %v", krbErr(errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN)), ErrUnknownPrincipal, "auth"},
		{fmt.Errorf("x: %v", krbErr(errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN)), ErrUnknownSPN, "error"},
		{krbErr(errorcode.KDC_ERR_CLIENT_REVOKED), ErrRevoked, "auth"},
		{krbErr(errorcode.KDC_ERR_KEY_EXPIRED), ErrPasswordExpired, "auth"},
		{krbErr(errorcode.KRB_AP_ERR_TKT_EXPIRED), ErrTicketExpired, "auth"},
		{krbErr(errorcode.KRB_AP_ERR_SKEW), ErrClockSkew, "protocol"},
		{krbErr(errorcode.KRB_AP_ERR_TKT_NYV), ErrClockSkew, "protocol"},
		{krbErr(errorcode.KRB_AP_ERR_REPEAT), ErrReplay, "auth"},
		{krbErr(errorcode.KDC_ERR_BADOPTION), ErrKDC, "auth"},
		{krberror.New(krberror.NetworkingError, "sending to KDC: dial tcp 127.0.0.1:1: connection refused"), ErrKDCUnreachable, "unreachable"},
		{errors.New("no KDCs defined in configuration for realm OTHER"), ErrNoKDC, "error"},
		{krberror.New(krberror.DecryptingError, "AS Exchange Error: error decrypting AS_REP encrypted part"), ErrPreauthFailed, "auth"},
		{ErrMutualAuth, ErrMutualAuth, "protocol"},
	} {
		got := Classify(tc.in)
		if !errors.Is(got, tc.want) || remote.Kind(got) != tc.kind {
			t.Errorf("Classify(%v) = %v (kind %s), want %v (kind %s)", tc.in, got, remote.Kind(got), tc.want, tc.kind)
		}
	}
	if Classify(nil) != nil {
		t.Error("nil")
	}
	// Only the KDC being unreachable is worth a retry.
	for _, s := range []error{ErrPreauthFailed, ErrClockSkew, ErrUnknownSPN, ErrNoKDC, ErrRevoked} {
		if remote.Transient(s) {
			t.Errorf("%v is transient", s)
		}
	}
	if !remote.Transient(ErrKDCUnreachable) {
		t.Error("KDC unreachable is not transient")
	}
}
