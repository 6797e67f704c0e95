package pwsh

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/winsim/cmdexe"
)

// escaped matches one encoded character of a CLIXML string.
var escaped = regexp.MustCompile(`_x[0-9A-F]{4}_|&amp;|&lt;|&gt;`)

// FuzzScript runs arbitrary script text as -EncodedCommand: no panics, only the documented exit
// codes, and wrapped error lines never exceed the console width.
func FuzzScript(f *testing.F) {
	cfg := probe.Config{URL: sensorURL, Timeout: time.Second, Routes: []probe.Route{{ID: "A", Mode: probe.ModeSystem}, {ID: "B", Mode: probe.ModeProxy, Proxy: "p.example:8080"}}}
	s, _ := probe.Script(cfg)
	f.Add(s)
	f.Add("$ProgressPreference='SilentlyContinue';Bogus")
	f.Add("\tGet-Foo\t-x")
	f.Add("$x = Get-Foo")
	h := &Host{Network: Network{Direct: true, EndpointStatus: 503, Proxies: map[string]string{"p.example:8080": ProxyOK}}}
	f.Fuzz(func(t *testing.T, script string) {
		var out, errb bytes.Buffer
		code := h.Run(context.Background(), []string{"-NoProfile", "-EncodedCommand", probe.EncodeCommand(script)}, &out, &errb)
		switch code {
		case 0:
			if c, err := probe.Extract(strings.TrimPrefix(script, masterzenPrefix)); err == nil {
				if _, err := probe.Parse(out.Bytes(), c); err != nil {
					t.Fatalf("simulated output does not parse: %v", err)
				}
			}
		case 1:
			if !strings.HasPrefix(errb.String(), "#< CLIXML\r\n") {
				t.Fatalf("error stream is not CLIXML: %q", errb.String())
			}
			for _, part := range strings.Split(errb.String(), "_x000D__x000A_") {
				if i := strings.LastIndex(part, `<S S="Error">`); i >= 0 {
					text := escaped.ReplaceAllString(part[i+len(`<S S="Error">`):], "_")
					if n := len([]rune(text)); n > consoleWidth-1 {
						t.Fatalf("line of %d characters", n)
					}
				}
			}
		case ExitNotSimulated:
		default:
			t.Fatalf("exit code %d", code)
		}
	})
}

// FuzzCommandLine parses arbitrary powershell.exe argument lines.
func FuzzCommandLine(f *testing.F) {
	f.Add("-NoProfile -NonInteractive -EncodedCommand RwBlAHQALQBEAGEAdABlAA==")
	f.Add("-Foo -enc x")
	f.Add("-nop -c Get-Date")
	f.Add("/? -e")
	f.Add("-- -")
	f.Fuzz(func(t *testing.T, line string) {
		var out, errb bytes.Buffer
		code := (&Host{}).Run(context.Background(), cmdexe.SplitArgs(line), &out, &errb)
		switch code {
		case 0, 1, ExitNotSimulated, ExitBadCommandLine:
		default:
			t.Fatalf("exit code %d", code)
		}
	})
}

// FuzzSensorConfig answers the sensor probe with arbitrary SensorConfiguration.json contents: the
// output always parses, and EncryptedBytes never reach it.
func FuzzSensorConfig(f *testing.F) {
	f.Add(sensorJSON("http://proxy.lab.test:8080", `LAB\svc`, "contososensorapi.atp.azure.com", 443))
	f.Add(sensorJSON("", "", "x", 0)[:90])
	f.Add(`{"sensorproxyconfiguration":{"url":1e3,"username":true},"WorkspaceApplicationSensorApiWebClientConfigurationServiceEndpoint":{"Address":"a:b","Port":"8e1"}}`)
	f.Add(`[1,2]`)
	f.Add("null")
	line, _ := probe.Command(sensorCfg)
	f.Fuzz(func(t *testing.T, content string) {
		h := machine(t, Network{Direct: true, Proxies: map[string]string{"proxy.lab.test:8080": ProxyOK}, EndpointVersion: "2.1"}, "", content)
		h.ProbeTime = 0
		stdout, stderr, code := run(t, h, line)
		if code != 0 || stderr != "" {
			t.Fatalf("exit %d stderr %q", code, stderr)
		}
		if _, err := probe.Parse([]byte(stdout), sensorCfg); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, stdout)
		}
		if strings.Contains(stdout, fakeSecret) {
			t.Fatalf("encrypted bytes in the output")
		}
	})
}
