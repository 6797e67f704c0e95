package winsim

import (
	"strings"
	"testing"

	"github.com/masterzen/winrm"
)

// BenchmarkParseRequest parses the WS-Man requests a host receives most per audit, as
// masterzen/winrm writes them: a Receive (polled until the command ends) and a Command carrying the
// audit's reg.exe batch line.
func BenchmarkParseRequest(b *testing.B) {
	params := winrm.NewParameters("PT60S", "en-US", 153600)
	const shell, cmd = "8A5D3F0C-1111-4B2C-9D3E-0123456789AB", "0F0E0D0C-2222-4A3B-8C7D-0123456789AB"
	line := strings.Repeat(`reg query "HKU\S-1-5-18\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections" /v DefaultConnectionSettings && echo @@dcproxy:x:ok || echo @@dcproxy:x:fail & `, 4)
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"receive", []byte(winrm.NewGetOutputRequest("http://dc01:5985/wsman", shell, cmd, "stdout stderr", params).String())},
		{"command", []byte(winrm.NewExecuteCommandRequest("http://dc01:5985/wsman", shell, line, nil, params).String())},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				r, err := parseRequest(bc.body)
				if err != nil || r.selector("ShellId") != shell {
					b.Fatalf("parseRequest: %v", err)
				}
			}
		})
	}
}
