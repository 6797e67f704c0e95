package winrmclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/ntlm"
)

const (
	timedOutFault = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  </s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858793" Machine="192.168.56.11"><f:Message>The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  </f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`
	// The same fault with a localised reason (w:Locale de-DE): still a timeout.
	timedOutFaultDE  = `<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope"><S:Body><S:Fault><S:Code><S:Value>S:Receiver</S:Value><S:Subcode><S:Value>w:TimedOut</S:Value></S:Subcode></S:Code><S:Reason><S:Text xml:lang="de-DE">Der WS-Verwaltungsdienst kann den Vorgang nicht in der angegebenen Zeit abschließen.</S:Text></S:Reason><S:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858793"/></S:Detail></S:Fault></S:Body></S:Envelope>`
	accessDeniedBody = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:AccessDenied</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">Access is denied. </s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="5" Machine="dc01"><f:Message>Access is denied. </f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`
	badSelectorBody  = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:InvalidSelectors</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot process the request because the request contained invalid selectors for the resource. </s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858843"/></s:Detail></s:Fault></s:Body></s:Envelope>`
	soapCT           = "application/soap+xml;charset=UTF-8"
	// The third form of D2 (wazuh/wazuh-ansible#581: s:Receiver, w:InternalError, wsmanfault_code
	// 2147942405, "Access is denied."), here from the cmd shell plugin and in German.
	internalDeniedBody   = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:InternalError</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">Access is denied. </s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2147942405" Machine="dc01"><f:Message><f:ProviderFault provider="Shell cmd plugin" path="%systemroot%\system32\winrscmd.dll">Access is denied. </f:ProviderFault></f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`
	internalDeniedBodyDE = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:InternalError</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="de-DE">Zugriff verweigert </s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2147942405" Machine="dc01"><f:Message>Zugriff verweigert </f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func urlErr(err error) error { return &url.Error{Op: "Post", URL: "http://dc01:5985/wsman", Err: err} }

// Test_classify is the table of how every failure we know of is reported.
func Test_classify(t *testing.T) {
	dialRefused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want error // nil: no sentinel (context.Canceled)
	}{
		{"401", &HTTPError{StatusCode: 401}, remote.ErrAuth},
		{"403", &HTTPError{StatusCode: 403, ContentType: "text/html"}, remote.ErrAuth},
		{"access denied fault", &HTTPError{StatusCode: 500, ContentType: soapCT, Body: accessDeniedBody}, remote.ErrAccessDenied},
		{"access denied internal error", &HTTPError{StatusCode: 500, ContentType: soapCT, Body: internalDeniedBody}, remote.ErrAccessDenied},
		{"access denied internal error, German", &HTTPError{StatusCode: 500, ContentType: soapCT, Body: internalDeniedBodyDE}, remote.ErrAccessDenied},
		{"no negotiate offered", fmt.Errorf("x: %w", errNoNegotiate), remote.ErrAuth},
		{"connection refused", urlErr(&connectError{dialRefused}), remote.ErrUnreachable},
		{"dial op error", dialRefused, remote.ErrUnreachable},
		{"dial timeout by dialer", urlErr(&connectError{&net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}}), remote.ErrUnreachable},
		{"reset", urlErr(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), remote.ErrUnreachable},
		{"EOF", urlErr(io.EOF), remote.ErrUnreachable},
		{"unexpected EOF", fmt.Errorf("read reply: %w", io.ErrUnexpectedEOF), remote.ErrUnreachable},
		{"dns", urlErr(&net.DNSError{Err: "no such host", Name: "dc01"}), remote.ErrUnreachable},
		{"tls unknown authority", urlErr(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), remote.ErrTLS},
		{"tls unknown authority while connecting", urlErr(&connectError{&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}), remote.ErrTLS},
		{"tls wrong host name", urlErr(x509.HostnameError{Host: "dc01"}), remote.ErrTLS},
		{"plain HTTP on the TLS port", urlErr(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), remote.ErrProtocol},
		{"tls alert", urlErr(tls.AlertError(40)), remote.ErrTLS},
		{"ctx deadline", urlErr(context.DeadlineExceeded), remote.ErrTimeout},
		// The dialer's own connect timeout reports DeadlineExceeded: a powered-off host is unreachable.
		// (The caller's deadline never reaches classify: runner.wrap reports it as a timeout first.)
		{"connect timeout", urlErr(&connectError{context.DeadlineExceeded}), remote.ErrUnreachable},
		{"net timeout", urlErr(&net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}), remote.ErrTimeout},
		{"OperationTimeout fault", &HTTPError{StatusCode: 500, ContentType: soapCT, Body: timedOutFault}, remote.ErrTimeout},
		{"localised timeout fault", &HTTPError{StatusCode: 500, ContentType: soapCT, Body: timedOutFaultDE}, remote.ErrTimeout},
		{"invalid content type 200", &HTTPError{StatusCode: 200, ContentType: "text/plain"}, remote.ErrProtocol},
		{"500 html", &HTTPError{StatusCode: 500, ContentType: "text/html"}, remote.ErrProtocol},
		{"502 no content type", &HTTPError{StatusCode: 502}, remote.ErrProtocol},
		{"500 soap not a fault", &HTTPError{StatusCode: 500, ContentType: soapCT, Body: "<x/>"}, remote.ErrProtocol},
		{"invalid selectors fault", &HTTPError{StatusCode: 500, ContentType: soapCT, Body: badSelectorBody}, remote.ErrProtocol},
		{"bad xml", errors.New("XML syntax error on line 1: unexpected EOF"), remote.ErrProtocol},
		{"unsupported action", errors.New("unsupported action: foo"), remote.ErrProtocol},
		{"framing", fmt.Errorf("%w: %w", remote.ErrProtocol, ntlm.ErrMalformedFrame), remote.ErrProtocol},
		{"already classified", fmt.Errorf("%w: x", remote.ErrAuth), remote.ErrAuth},
		{"canceled", urlErr(context.Canceled), nil},
	}
	sentinels := []error{remote.ErrAuth, remote.ErrAccessDenied, remote.ErrTLS, remote.ErrUnreachable, remote.ErrTimeout, remote.ErrProtocol}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.err)
			if !errors.Is(got, tc.err) {
				t.Errorf("classify lost the cause: %v", got)
			}
			var n int
			for _, s := range sentinels {
				if errors.Is(got, s) {
					n++
					if s != tc.want {
						t.Errorf("classify(%v) wraps %v, want %v", tc.err, s, tc.want)
					}
				}
			}
			if tc.want != nil && n != 1 {
				t.Errorf("classify(%v) = %v wraps %d sentinels, want exactly 1", tc.err, got, n)
			}
			if tc.want == nil && n != 0 {
				t.Errorf("classify(%v) = %v, want no sentinel", tc.err, got)
			}
		})
	}
	if classify(nil) != nil {
		t.Error("classify(nil) != nil")
	}
}

// TestRightsRefusals: the three answers Windows gives an account that logs on but lacks rights
// (fidelity D2). Basic's 401 cannot be told from a wrong password (auth, the message says both);
// the two faults are "rights", each with its own message, and never ErrAuth.
func TestRightsRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *HTTPError
		kind string
		want []string
	}{
		{"basic 401", &HTTPError{StatusCode: 401}, "auth", []string{"credentials refused", "lacks the rights"}},
		{"wsman code 5", &HTTPError{StatusCode: 500, ContentType: soapCT, Body: accessDeniedBody}, "rights",
			[]string{"lacks the rights", "wsman fault 5 (w:AccessDenied): Access is denied."}},
		{"internal error", &HTTPError{StatusCode: 500, ContentType: soapCT, Body: internalDeniedBody}, "rights",
			[]string{"lacks the rights", "wsman fault 2147942405 (w:InternalError): Access is denied.", "[provider Shell cmd plugin]"}},
		{"internal error German", &HTTPError{StatusCode: 500, ContentType: soapCT, Body: internalDeniedBodyDE}, "rights",
			[]string{"lacks the rights", "wsman fault 2147942405 (w:InternalError): Zugriff verweigert"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(tc.err)
			if k := remote.Kind(err); k != tc.kind {
				t.Errorf("kind %q, want %q: %v", k, tc.kind, err)
			}
			if tc.kind == "rights" && errors.Is(err, remote.ErrAuth) {
				t.Errorf("a rights refusal is ErrAuth (would feed the lockout gate): %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestHTTPErrorMessages(t *testing.T) {
	tests := []struct {
		err  *HTTPError
		want []string
	}{
		// masterzen's Receive loop polls again on "OperationTimeout", localised or not.
		{&HTTPError{StatusCode: 500, ContentType: soapCT, Body: timedOutFault}, []string{"OperationTimeout", "2150858793", "w:TimedOut"}},
		{&HTTPError{StatusCode: 500, ContentType: soapCT, Body: timedOutFaultDE}, []string{"OperationTimeout", "Der WS-Verwaltungsdienst"}},
		{&HTTPError{StatusCode: 500, ContentType: soapCT, Body: accessDeniedBody}, []string{"wsman fault 5 (w:AccessDenied): Access is denied."}},
		{&HTTPError{StatusCode: 500, ContentType: "text/html"}, []string{"invalid content type", "text/html"}},
		{&HTTPError{StatusCode: 500, ContentType: soapCT, Body: strings.Repeat("x", 5000)}, []string{"http error 500: xxx"}},
		{&HTTPError{StatusCode: 401}, []string{"401"}},
	}
	for _, tc := range tests {
		msg := tc.err.Error()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q does not contain %q", msg, w)
			}
		}
		if len(msg) > 1024 {
			t.Errorf("message of %d bytes", len(msg))
		}
	}
}

// TestWrapRedactsEchoedCredentials: a WinRM endpoint quoting the request headers (and the password)
// in a fault must not put them into the error message.
func TestWrapRedactsEchoedCredentials(t *testing.T) {
	const user, pw = `LAB\admin`, "hunter2"
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))
	body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code>` +
		`<s:Reason><s:Text>Bad request. Authorization: Basic ` + basic + ` password=hunter2 ` + basic + `</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>`
	tr := newTransport(modeBasic, user, pw, time.Second)
	r := &runner{target: remote.Target{Host: "dc01", Port: 5985, User: user, Password: pw}, tr: tr}
	he := &HTTPError{StatusCode: 500, ContentType: soapCT, Body: body, red: tr.red}
	err := r.wrap(context.Background(), "command", he)
	msg := err.Error()
	for _, leak := range []string{pw, basic} {
		if strings.Contains(msg, leak) {
			t.Errorf("message leaks %q: %s", leak, msg)
		}
	}
	if !strings.Contains(msg, "Bad request") || !errors.Is(err, remote.ErrProtocol) {
		t.Errorf("message or class lost: %v", err)
	}
	// Not a fault: the body excerpt is redacted too, and capped.
	he = &HTTPError{StatusCode: 500, ContentType: soapCT, Body: "<html>Authorization: Negotiate TlRMTVNTUAADAAAAGAAYAEgAAAA " + strings.Repeat("x", 5000), red: tr.red}
	msg = r.wrap(context.Background(), "command", he).Error()
	if strings.Contains(msg, "TlRMTVNT") || len(msg) > 600 {
		t.Errorf("excerpt not redacted or capped (%d bytes): %s", len(msg), msg)
	}
	// Any other error quoting server bytes is capped too, and keeps its class.
	long := fmt.Errorf("malformed HTTP status code %q", strings.Repeat("x", 5000)+pw)
	err = r.wrap(context.Background(), "command", long)
	if msg := err.Error(); len(msg) > 2*maxErrorMessage || strings.Contains(msg, pw) || !errors.Is(err, remote.ErrProtocol) {
		t.Errorf("long error not capped/redacted/classified (%d bytes): %v", len(msg), errors.Is(err, remote.ErrProtocol))
	}
	// A weak password that is an ordinary word leaves prose alone.
	tr = newTransport(modeBasic, user, "verify", time.Second)
	r.tr = tr
	he = &HTTPError{StatusCode: 500, ContentType: soapCT, Body: "<x>failed to verify certificate</x>", red: tr.red}
	if msg := r.wrap(context.Background(), "command", he).Error(); !strings.Contains(msg, "failed to verify certificate") {
		t.Errorf("prose mangled: %s", msg)
	}
}

func FuzzParseFault(f *testing.F) {
	for _, s := range []string{timedOutFault, timedOutFaultDE, accessDeniedBody, internalDeniedBody, internalDeniedBodyDE, badSelectorBody, "", "<x/>", "<Envelope><Body><Fault/></Body></Envelope>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		rep, err := parseReply(context.Background(), []byte(body))
		if err != nil && !errors.Is(err, remote.ErrProtocol) {
			t.Errorf("error without ErrProtocol: %v", err)
		}
		if err != nil && rep != nil {
			t.Errorf("reply and error")
		}
		e := &HTTPError{StatusCode: 500, ContentType: soapCT, Body: body}
		if msg := e.Error(); len(msg) > 1024 {
			t.Errorf("message of %d bytes", len(msg))
		}
		_ = classify(e)
	})
}
