package probe

import "testing"

// BenchmarkParse parses a three-route probe result line, as every audited host answers it.
func BenchmarkParse(b *testing.B) {
	c := configs["three_accounts"]
	out := []byte(`[{"id":"CURRENT_USER","status":503,"error":"ProtocolError","message":"The remote server returned an error: (503) Server Unavailable.","route":"proxy proxy.corp.example:8080","ms":212},` +
		`{"id":"LOCAL_SYSTEM","status":503,"error":"ProtocolError","message":"The remote server returned an error: (503) Server Unavailable.","route":"proxy proxy.corp.example:8080","ms":230},` +
		`{"id":"LOCAL_SERVICE","status":0,"error":"ConnectFailure","message":"Unable to connect to the remote server","route":"direct","ms":15}]` + "\r\n")
	if _, err := Parse(out, c); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(out, c); err != nil {
			b.Fatal(err)
		}
	}
}
