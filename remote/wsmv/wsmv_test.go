package wsmv

import (
	"bytes"
	"errors"
	"testing"
)

const spnego = "application/HTTP-SPNEGO-session-encrypted"

func TestFrameRoundTrip(t *testing.T) {
	body := Frame(spnego, []byte("hdr"), []byte("--Encrypted Boundary\r\ndata"), 7)
	p, h, d, n, err := Unframe(body, "application/HTTP-Kerberos-session-encrypted", spnego)
	if err != nil || p != spnego || string(h) != "hdr" || !bytes.Equal(d, []byte("--Encrypted Boundary\r\ndata")) || n != 7 {
		t.Fatalf("Unframe = %q %q %q %d %v", p, h, d, n, err)
	}
	if _, _, _, _, err := Unframe(body, "application/HTTP-Kerberos-session-encrypted"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a protocol not asked for: %v", err)
	}
	for name, bad := range map[string][]byte{
		"no closing boundary": bytes.TrimSuffix(body, []byte("--Encrypted Boundary--\r\n")),
		"extra header line":   bytes.Replace(body, []byte("\tOriginalContent"), []byte("\tX-Other: 1\r\n\tOriginalContent"), 1),
		"empty":               nil,
	} {
		if _, _, _, _, err := Unframe(bad, spnego); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if p, ok := Protocol(ContentType(spnego), spnego); !ok || p != spnego {
		t.Errorf("Protocol(ContentType) = %q %v", p, ok)
	}
}
