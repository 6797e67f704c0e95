package ntlm

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// masterzenFrame is the body masterzen/winrm's Encryption (and pywinrm) writes for a
// signature and sealed payload, byte for byte.
func masterzenFrame(sig, sealed string, length int) string {
	return "--Encrypted Boundary\r\n" +
		"\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n" +
		"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + strconv.Itoa(length) + "\r\n" +
		"--Encrypted Boundary\r\n" +
		"\tContent-Type: application/octet-stream\r\n" +
		"\x10\x00\x00\x00" + sig + sealed +
		"--Encrypted Boundary--\r\n"
}

func TestFrameUnframe(t *testing.T) {
	sig := []byte("0123456789abcdef")
	for _, sealed := range []string{"", "<s:Envelope/>", "--Encrypted Boundary\r\n", strings.Repeat("--Encrypted Boundary--\r\n", 3)} {
		body := Frame(sig, []byte(sealed))
		if want := masterzenFrame(string(sig), sealed, len(sealed)); string(body) != want {
			t.Fatalf("Frame(%q) =\n%q\nwant (masterzen layout)\n%q", sealed, body, want)
		}
		for _, b := range [][]byte{body, bytes.TrimSuffix(body, []byte("\r\n"))} { // final CRLF optional
			gotSig, gotSealed, err := Unframe(b)
			if err != nil || !bytes.Equal(gotSig, sig) || string(gotSealed) != sealed {
				t.Fatalf("Unframe(Frame(%q)) = %q, %q, %v", sealed, gotSig, gotSealed, err)
			}
		}
	}
	// Lenient on header-name case and whitespace, as MIME headers are.
	lax := strings.NewReplacer("\tContent-Type: application/HTTP", "content-type:application/http",
		"\tOriginalContent: ", " originalcontent:  ", "\tContent-Type: application/octet-stream", "CONTENT-TYPE: Application/Octet-Stream ").
		Replace(masterzenFrame(string(sig), "abc", 3))
	if _, sealed, err := Unframe([]byte(lax)); err != nil || string(sealed) != "abc" {
		t.Fatalf("lenient headers: %q, %v", sealed, err)
	}
}

func TestUnframeRejects(t *testing.T) {
	sig := strings.Repeat("\x00", 16)
	s := masterzenFrame(sig, "<soap/>", 7)
	tests := map[string]string{
		"empty":             "",
		"no boundary":       strings.TrimPrefix(s, boundaryLine),
		"no payload part":   s[:strings.Index(s, octetStreamLine)-len(boundaryLine)],
		"wrong protocol":    strings.Replace(s, "HTTP-SPNEGO-session-encrypted", "HTTP-CredSSP-session-encrypted", 1),
		"no content type":   strings.Replace(s, "\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n", "", 1),
		"no length":         strings.Replace(s, ";Length=7", "", 1),
		"no original type":  strings.Replace(s, "type=application/soap+xml;charset=UTF-8;", "", 1),
		"empty type":        strings.Replace(s, "type=application/soap+xml", "type=", 1),
		"bad length":        strings.Replace(s, "Length=7", "Length=x", 1),
		"negative length":   strings.Replace(s, "Length=7", "Length=-7", 1),
		"huge length":       strings.Replace(s, "Length=7", "Length=99999999999999999999", 1),
		"length too big":    strings.Replace(s, "Length=7", "Length=8", 1),
		"length too small":  strings.Replace(s, "Length=7", "Length=6", 1),
		"no octet header":   strings.Replace(s, octetStreamLine, "", 1),
		"wrong part type":   strings.Replace(s, "octet-stream", "soap+xml", 1),
		"no closing":        strings.TrimSuffix(s, boundaryEnd),
		"junk after close":  s + "x",
		"short signature":   strings.Replace(s, "\x10\x00\x00\x00", "\x08\x00\x00\x00", 1),
		"huge signature":    strings.Replace(s, "\x10\x00\x00\x00", "\xff\xff\xff\xff", 1),
		"extra header line": strings.Replace(s, "\tOriginalContent", "\tX-Foo: bar\r\n\tOriginalContent", 1),
		"bare header word":  strings.Replace(s, "\tOriginalContent", "\tjunk\r\n\tOriginalContent", 1),
		"truncated":         s[:len(s)/2],
	}
	for name, body := range tests {
		if sig, sealed, err := Unframe([]byte(body)); !errors.Is(err, ErrMalformedFrame) || sig != nil || sealed != nil {
			t.Errorf("%s: Unframe = %q, %q, %v; want ErrMalformedFrame", name, sig, sealed, err)
		}
	}
}
