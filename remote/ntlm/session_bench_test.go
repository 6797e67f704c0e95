package ntlm

import (
	"bytes"
	"testing"
)

// BenchmarkSealOpen is one sealed WinRM round trip's session security as the simulator does it:
// the client seals a 5.5 KB request, the server opens it, seals a 2 KB reply, the client opens it.
func BenchmarkSealOpen(b *testing.B) {
	key := bytes.Repeat([]byte{7}, 16)
	flags := uint32(FlagExtendedSessionSecurity | FlagSeal | FlagSign | Flag128 | FlagKeyExch)
	cli, err := NewSession(ClientSide, key, flags)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewSession(ServerSide, key, flags)
	if err != nil {
		b.Fatal(err)
	}
	req, resp := bytes.Repeat([]byte("<s:Envelope>x</s:Envelope>"), 212), bytes.Repeat([]byte("<rsp:Stream/>"), 160)
	b.ReportAllocs()
	for b.Loop() {
		plain, err := Open(srv, Seal(cli, req))
		if err != nil || len(plain) != len(req) {
			b.Fatal(err)
		}
		if _, err := Open(cli, Seal(srv, resp)); err != nil {
			b.Fatal(err)
		}
	}
}
