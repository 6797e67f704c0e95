package xmlscan

import (
	"bytes"
	"encoding/xml"
	"io"
	"testing"
)

// BenchmarkScanner tokenizes a typical Send request (masterzen/winrm, an 8 KB base64 stream)
// and a Receive reply (Windows' shape, 4 stdout chunks of 2 KB base64) with a reused Scanner and
// with encoding/xml (Token, which resolves namespaces as the scanner does, and RawToken).
func BenchmarkScanner(b *testing.B) {
	for _, doc := range []string{"masterzen_send", "windows_receive_reply"} {
		data := seed(b, doc)
		b.Run(doc+"/xmlscan", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var s Scanner
			for b.Loop() {
				s.Reset(data)
				for {
					if _, err := s.Next(); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
			}
		})
		for _, raw := range []bool{false, true} {
			name := doc + "/encoding-xml-Token"
			if raw {
				name = doc + "/encoding-xml-RawToken"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					d := xml.NewDecoder(bytes.NewReader(data))
					for {
						var err error
						if raw {
							_, err = d.RawToken()
						} else {
							_, err = d.Token()
						}
						if err != nil {
							if err != io.EOF {
								b.Fatal(err)
							}
							break
						}
					}
				}
			})
		}
	}
}
