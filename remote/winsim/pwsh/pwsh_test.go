package pwsh

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/wininet"
	"github.com/dcproxy/dcproxy/remote/winsim/cmdexe"
)

const sensorURL = "https://contososensorapi.atp.azure.com/tri/sensor/api/ping"

// run executes a full command line ("powershell.exe ...") through the cmdexe.Program.
func run(t *testing.T, h *Host, line string) (stdout, stderr string, code int) {
	t.Helper()
	name, argline, _ := strings.Cut(line, " ")
	var out, errb bytes.Buffer
	p := &cmdexe.Proc{Name: name, Args: cmdexe.SplitArgs(argline), ArgLine: argline, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}
	code = h.Program()(context.Background(), p)
	return out.String(), errb.String(), code
}

func settings(proxy, bypass, pac string, autodetect bool) func() ([]byte, bool) {
	return func() ([]byte, bool) { return wininet.New(proxy, bypass, pac, autodetect, 3).Encode(), true }
}

// output is the probe's output line for a run without sensor configuration and roots.
func output(url string, rows ...string) string {
	return `{"url":"` + url + `","from":"given","sensor":null,"roots":{},"results":[` + strings.Join(rows, ",") + "]}\r\n"
}

// row is one result: id, request number, status/error/message, route, certificate, then body and ms.
func row(id string, q int, result, route, cert, body string, ms int) string {
	return `{"id":"` + id + `","q":` + itoa(q) + `,` + result + `,` + route + `,` + cert + `,"body":"` + body + `","ms":` + itoa(ms) + `}`
}

const (
	r503   = `"status":503,"error":"ProtocolError","message":"The remote server returned an error: (503) Server Unavailable."`
	r500   = `"status":500,"error":"ProtocolError","message":"The remote server returned an error: (500) Internal Server Error."`
	r200   = `"status":200,"error":"","message":""`
	refuse = `"status":0,"error":"ConnectFailure","message":"Unable to connect to the remote server"`
	r407   = `"status":407,"error":"ProtocolError","message":"The remote server returned an error: (407) Proxy Authentication Required."`
	r401   = `"status":401,"error":"ProtocolError","message":"The remote server returned an error: (401) Unauthorized."`
	r403   = `"status":403,"error":"ProtocolError","message":"The remote server returned an error: (403) Forbidden."`
	trust  = `"status":0,"error":"TrustFailure","message":"The underlying connection was closed: Could not establish trust relationship for the SSL/TLS secure channel."`
	nosp   = `"status":0,"error":"NoSensorProxy","message":""`
	pxy    = `"route":"proxy proxy.corp.example:8080"`
	dir    = `"route":"direct"`
	// certificates: the endpoint's, none, the inspection proxy's
	ep   = `"tls":true,"subject":"CN=*.atp.azure.com, O=Microsoft Corporation, L=Redmond, S=WA, C=US","issuer":"CN=Microsoft Azure RSA TLS Issuing CA 04, O=Microsoft Corporation, C=US"`
	no   = `"tls":false,"subject":"","issuer":""`
	icpt = `"tls":true,"subject":"CN=*.atp.azure.com","issuer":"CN=Contoso TLS Inspection CA, O=Contoso Ltd"`
)

func TestProbeNetworkMatrix(t *testing.T) {
	cfg := probe.Config{URL: sensorURL, Timeout: 10 * time.Second, Routes: []probe.Route{
		{ID: "CURRENT_USER", Mode: probe.ModeSystem},
		{ID: "LOCAL_SYSTEM", Mode: probe.ModeProxy, Proxy: "proxy.corp.example:8080"},
		{ID: "LOCAL_SERVICE", Mode: probe.ModeDirect},
	}}
	line, err := probe.Command(cfg)
	if err != nil {
		t.Fatal(err)
	}
	proxyOK := map[string]string{"proxy.corp.example:8080": ProxyOK}
	tests := []struct {
		name   string
		net    Network
		user   func() ([]byte, bool)
		locale string
		want   []string
	}{
		{"proxy ok, direct blocked, user on proxy: one request for both proxied routes", Network{Proxies: proxyOK, EndpointStatus: 503},
			settings("proxy.corp.example:8080", "<local>", "", false), "",
			[]string{row("CURRENT_USER", 1, r503, pxy, ep, "", 7), row("LOCAL_SYSTEM", 1, r503, pxy, ep, "", 7), row("LOCAL_SERVICE", 2, refuse, dir, no, "", 7)}},
		{"direct ok 200, user without settings", Network{Direct: true, EndpointStatus: 200}, nil, "",
			[]string{row("CURRENT_USER", 1, r200, dir, ep, "", 7), row("LOCAL_SYSTEM", 2, `"status":0,"error":"ProxyNameResolutionFailure","message":"The proxy name could not be resolved: \u0027proxy.corp.example\u0027"`, pxy, no, "", 7), row("LOCAL_SERVICE", 1, r200, dir, ep, "", 7)}},
		{"proxy down", Network{Proxies: map[string]string{"proxy.corp.example:8080": ProxyDown}, EndpointStatus: 503},
			settings("proxy.corp.example:8080", "", "", false), "",
			[]string{row("CURRENT_USER", 1, refuse, pxy, no, "", 7), row("LOCAL_SYSTEM", 1, refuse, pxy, no, "", 7), row("LOCAL_SERVICE", 2, refuse, dir, no, "", 7)}},
		{"proxy 407", Network{Proxies: map[string]string{"proxy.corp.example:8080": ProxyAuthRequired}, EndpointStatus: 503},
			settings("proxy.corp.example:8080", "", "", false), "",
			[]string{row("CURRENT_USER", 1, r407, pxy, no, "", 7), row("LOCAL_SYSTEM", 1, r407, pxy, no, "", 7), row("LOCAL_SERVICE", 2, refuse, dir, no, "", 7)}},
		{"proxy answers 401 itself", Network{Proxies: map[string]string{"proxy.corp.example:8080": ProxyUnauthorized401}, EndpointStatus: 503},
			nil, "",
			[]string{row("CURRENT_USER", 1, refuse, dir, no, "", 7), row("LOCAL_SYSTEM", 2, r401, pxy, no, "", 7), row("LOCAL_SERVICE", 1, refuse, dir, no, "", 7)}},
		{"proxy answers 403 itself", Network{Direct: true, Proxies: map[string]string{"proxy.corp.example:8080": ProxyForbidden403}, EndpointStatus: 503},
			nil, "",
			[]string{row("CURRENT_USER", 1, r503, dir, ep, "", 7), row("LOCAL_SYSTEM", 2, r403, pxy, no, "", 7), row("LOCAL_SERVICE", 1, r503, dir, ep, "", 7)}},
		{"proxy answers the CONNECT with 503 itself", Network{Direct: true, Proxies: map[string]string{"proxy.corp.example:8080": ProxyBlocked503}, EndpointStatus: 503},
			settings("proxy.corp.example:8080", "", "", false), "",
			[]string{row("CURRENT_USER", 1, r503, pxy, no, "", 7), row("LOCAL_SYSTEM", 1, r503, pxy, no, "", 7), row("LOCAL_SERVICE", 2, r503, dir, ep, "", 7)}},
		{"proxy answers the CONNECT with 403 itself", Network{Proxies: map[string]string{"proxy.corp.example:8080": "blocked_403"}, EndpointStatus: 200},
			nil, "",
			[]string{row("CURRENT_USER", 1, refuse, dir, no, "", 7), row("LOCAL_SYSTEM", 2, r403, pxy, no, "", 7), row("LOCAL_SERVICE", 1, refuse, dir, no, "", 7)}},
		{"tls intercept untrusted", Network{Direct: true, Proxies: proxyOK, EndpointStatus: 503, TLSIntercept: InterceptUntrusted},
			settings("proxy.corp.example:8080", "", "", false), "",
			[]string{row("CURRENT_USER", 1, trust, pxy, icpt, "", 7), row("LOCAL_SYSTEM", 1, trust, pxy, icpt, "", 7), row("LOCAL_SERVICE", 2, r503, dir, ep, "", 7)}},
		{"tls intercept trusted", Network{Direct: true, Proxies: proxyOK, EndpointStatus: 200, TLSIntercept: InterceptTrusted},
			settings("proxy.corp.example:8080", "", "", false), "",
			[]string{row("CURRENT_USER", 1, r200, pxy, icpt, "", 7), row("LOCAL_SYSTEM", 1, r200, pxy, icpt, "", 7), row("LOCAL_SERVICE", 2, r200, dir, ep, "", 7)}},
		{"tls intercept trusted, non-ASCII issuer", Network{Proxies: proxyOK, EndpointStatus: 503, TLSIntercept: InterceptTrusted, InterceptIssuer: "CN=Z\u00fcrich <Inspection> & Co's \U0001F512"},
			nil, "",
			[]string{row("CURRENT_USER", 1, refuse, dir, no, "", 7),
				row("LOCAL_SYSTEM", 2, r503, pxy, `"tls":true,"subject":"CN=*.atp.azure.com","issuer":"CN=Z?rich \u003cInspection\u003e \u0026 Co\u0027s ??"`, "", 7),
				row("LOCAL_SERVICE", 1, refuse, dir, no, "", 7)}},
		{"pac to other proxy", Network{Proxies: map[string]string{"pac-proxy.corp.example:3128": ProxyOK, "proxy.corp.example:8080": ProxyOK}, EndpointStatus: 200, PACProxy: "pac-proxy.corp.example:3128"},
			settings("", "", "http://wpad.corp.example/wpad.dat", false), "",
			[]string{row("CURRENT_USER", 1, r200, `"route":"proxy pac-proxy.corp.example:3128"`, ep, "", 7), row("LOCAL_SYSTEM", 2, r200, pxy, ep, "", 7), row("LOCAL_SERVICE", 3, refuse, dir, no, "", 7)}},
		{"autodetect resolves DIRECT", Network{Direct: true, EndpointStatus: 503, Proxies: proxyOK},
			settings("proxy.corp.example:8080", "", "", true), "",
			[]string{row("CURRENT_USER", 1, r503, dir, ep, "", 7), row("LOCAL_SYSTEM", 2, r503, pxy, ep, "", 7), row("LOCAL_SERVICE", 1, r503, dir, ep, "", 7)}},
		{"user bypasses the endpoint", Network{Direct: true, EndpointStatus: 503, Proxies: map[string]string{"proxy.corp.example:8080": ProxyDown}},
			settings("proxy.corp.example:8080", "*.azure.com;<local>", "", false), "",
			[]string{row("CURRENT_USER", 1, r503, dir, ep, "", 7), row("LOCAL_SYSTEM", 2, refuse, pxy, no, "", 7), row("LOCAL_SERVICE", 1, r503, dir, ep, "", 7)}},
		{"sensor ping with a version", Network{Direct: true, EndpointVersion: "2.250.18972.18405", Proxies: proxyOK},
			nil, "",
			[]string{row("CURRENT_USER", 1, r200, dir, ep, "2.250.18972.18405", 7), row("LOCAL_SYSTEM", 2, r200, pxy, ep, "2.250.18972.18405", 7), row("LOCAL_SERVICE", 1, r200, dir, ep, "2.250.18972.18405", 7)}},
		{"german texts, ASCII-escaped", Network{Proxies: proxyOK, EndpointStatus: 503, TLSIntercept: InterceptUntrusted},
			settings("proxy.corp.example:8080", "", "", false), "de-DE",
			[]string{row("CURRENT_USER", 1, `"status":0,"error":"TrustFailure","message":"Die zugrunde liegende Verbindung wurde geschlossen: F\u00fcr den gesch\u00fctzten SSL/TLS-Kanal konnte keine Vertrauensstellung hergestellt werden."`, pxy, icpt, "", 7),
				row("LOCAL_SYSTEM", 1, `"status":0,"error":"TrustFailure","message":"Die zugrunde liegende Verbindung wurde geschlossen: F\u00fcr den gesch\u00fctzten SSL/TLS-Kanal konnte keine Vertrauensstellung hergestellt werden."`, pxy, icpt, "", 7),
				row("LOCAL_SERVICE", 2, `"status":0,"error":"ConnectFailure","message":"Es kann keine Verbindung mit dem Remoteserver hergestellt werden."`, dir, no, "", 7)}},
		{"german 401 and 407", Network{Proxies: map[string]string{"proxy.corp.example:8080": ProxyUnauthorized401}},
			settings("proxy.corp.example:8080", "", "", false), "de-DE",
			[]string{row("CURRENT_USER", 1, `"status":401,"error":"ProtocolError","message":"Der Remoteserver hat einen Fehler zur\u00fcckgegeben: (401) Nicht autorisiert."`, pxy, no, "", 7),
				row("LOCAL_SYSTEM", 1, `"status":401,"error":"ProtocolError","message":"Der Remoteserver hat einen Fehler zur\u00fcckgegeben: (401) Nicht autorisiert."`, pxy, no, "", 7),
				row("LOCAL_SERVICE", 2, `"status":0,"error":"ConnectFailure","message":"Es kann keine Verbindung mit dem Remoteserver hergestellt werden."`, dir, no, "", 7)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Host{Network: tt.net, Locale: tt.locale, CurrentUserSettings: tt.user, ProbeTime: 7 * time.Millisecond}
			stdout, stderr, code := run(t, h, line)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if want := output(sensorURL, tt.want...); stdout != want {
				t.Fatalf("stdout\n got %s\nwant %s", stdout, want)
			}
			for i := 0; i < len(stdout); i++ {
				if c := stdout[i]; (c < ' ' || c > '~') && c != '\r' && c != '\n' {
					t.Fatalf("byte %d of the output is not ASCII: %#x", i, c)
				}
			}
			out, err := probe.Parse([]byte(stdout), cfg)
			if err != nil {
				t.Fatalf("probe.Parse rejects the simulated output: %v", err)
			}
			if len(out.Results) != 3 {
				t.Fatalf("%d results", len(out.Results))
			}
		})
	}
}

func itoa(n int) string {
	var b []byte
	if n == 0 {
		return "0"
	}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func TestProbeTimeout(t *testing.T) {
	cfg := probe.Config{URL: sensorURL, Timeout: 20 * time.Millisecond, Routes: []probe.Route{{ID: "LOCAL_SYSTEM", Mode: probe.ModeDirect}}}
	line, _ := probe.Command(cfg)
	h := &Host{Network: Network{Direct: true, EndpointStatus: 503}, ProbeTime: time.Second}
	stdout, _, code := run(t, h, line)
	want := output(sensorURL, row("LOCAL_SYSTEM", 1, `"status":0,"error":"Timeout","message":"The operation has timed out"`, dir, no, "", 20))
	if code != 0 || stdout != want {
		t.Fatalf("exit %d\n got %s\nwant %s", code, stdout, want)
	}
}

func TestProbeSingleRouteIsArray(t *testing.T) {
	cfg := probe.Config{URL: sensorURL, Timeout: time.Second, Routes: []probe.Route{{ID: "LOCAL_SERVICE", Mode: probe.ModeSystem}}}
	line, _ := probe.Command(cfg)
	h := &Host{Network: Network{Direct: true, EndpointStatus: 200}}
	stdout, _, _ := run(t, h, line)
	if !strings.Contains(stdout, `"results":[{"id":"LOCAL_SERVICE"`) {
		t.Fatalf("one route must still print an array: %q", stdout)
	}
}

func TestProbeCanceled(t *testing.T) {
	cfg := probe.Config{URL: sensorURL, Timeout: time.Minute, Routes: []probe.Route{{ID: "A", Mode: probe.ModeDirect}}}
	line, _ := probe.Command(cfg)
	h := &Host{Network: Network{Direct: true}, ProbeTime: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan int)
	go func() {
		_, argline, _ := strings.Cut(line, " ")
		done <- h.Run(ctx, cmdexe.SplitArgs(argline), &out, &out)
	}()
	cancel()
	if code := <-done; code != cmdexe.ExitCanceled {
		t.Fatalf("exit %d, want ExitCanceled", code)
	}
	if out.Len() != 0 {
		t.Fatalf("output after cancel: %q", out.String())
	}
}

// The masterzen prefix and every spelling of the switches powershell.exe accepts reach the probe.
func TestCommandLineSpellings(t *testing.T) {
	cfg := probe.Config{URL: sensorURL, Timeout: time.Second, Routes: []probe.Route{{ID: "A", Mode: probe.ModeDirect}}}
	script, _ := probe.Script(cfg)
	enc := probe.EncodeCommand(script)
	mz := probe.EncodeCommand(masterzenPrefix + script)
	plain, _ := probe.Command(cfg)
	h := &Host{Network: Network{Direct: true, EndpointStatus: 200}}
	for _, line := range []string{
		plain,
		"powershell -nop -noni -c " + strings.TrimPrefix(plain, probe.CommandPrefix),
		"powershell -EncodedCommand " + probe.EncodeCommand(probe.Inline(script)),
		"powershell.exe -NoProfile -NonInteractive -EncodedCommand " + enc,
		"powershell -nop -noni -enc " + enc,
		"POWERSHELL.EXE -e " + enc,
		"powershell -ec " + enc,
		"powershell /NoProfile /encodedcommand " + enc,
		"powershell --noprofile --EncodedCommand " + enc,
		"powershell -ExecutionPolicy Bypass -NoLogo -InputFormat Text -OutputFormat Text -WindowStyle Hidden -enc " + enc,
		"powershell.exe -EncodedCommand " + mz,
		"powershell -encodedcommand " + enc + " -NoProfile",
	} {
		stdout, stderr, code := run(t, h, line)
		if code != 0 || stderr != "" || !strings.Contains(stdout, `"results":[{"id":"A","q":1,"status":200`) {
			t.Errorf("%.60s: exit %d stdout %q stderr %q", line, code, stdout, stderr)
		}
	}
}

// Captured from a real WinRM host (a ManageIQ test fixture): masterzen-style prefix + unknown command.
const bogusCLIXML = "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\"><S S=\"Error\">Bogus : The term 'Bogus' is not recognized as the name of a cmdlet, function, _x000D__x000A_</S><S S=\"Error\">script file, or operable program. Check the spelling of the name, or if a path _x000D__x000A_</S><S S=\"Error\">was included, verify that the path is correct and try again._x000D__x000A_</S><S S=\"Error\">At line:1 char:40_x000D__x000A_</S><S S=\"Error\">+ $ProgressPreference='SilentlyContinue';Bogus_x000D__x000A_</S><S S=\"Error\">+                                        ~~~~~_x000D__x000A_</S><S S=\"Error\">    + CategoryInfo          : ObjectNotFound: (Bogus:String) [], CommandNotFou _x000D__x000A_</S><S S=\"Error\">   ndException_x000D__x000A_</S><S S=\"Error\">    + FullyQualifiedErrorId : CommandNotFoundException_x000D__x000A_</S><S S=\"Error\"> _x000D__x000A_</S></Objs>"

func TestNonProbeScriptEncoded(t *testing.T) {
	h := &Host{}
	stdout, stderr, code := run(t, h, "powershell.exe -EncodedCommand "+probe.EncodeCommand("$ProgressPreference='SilentlyContinue';Bogus"))
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d stdout %q", code, stdout)
	}
	if stderr != bogusCLIXML {
		t.Fatalf("stderr\n got %q\nwant %q", stderr, bogusCLIXML)
	}
}

func TestNonProbeScriptPlain(t *testing.T) {
	tests := []struct {
		name, locale, line, want string
	}{
		{"command", "en-US", "powershell -NoProfile -Command doit",
			"doit : The term 'doit' is not recognized as the name of a cmdlet, function, \r\n" +
				"script file, or operable program. Check the spelling of the name, or if a path \r\n" +
				"was included, verify that the path is correct and try again.\r\n" +
				"At line:1 char:1\r\n" +
				"+ doit\r\n" +
				"+ ~~~~\r\n" +
				"    + CategoryInfo          : ObjectNotFound: (doit:String) [], CommandNotFoun \r\n" +
				"   dException\r\n" +
				"    + FullyQualifiedErrorId : CommandNotFoundException\r\n" +
				" \r\n"},
		// An unknown switch starts the command: 5.1 runs "-Foo -NoProfile" and fails on "-Foo".
		{"unknown switch", "en-US", "powershell -Foo -NoProfile",
			"-Foo : The term '-Foo' is not recognized as the name of a cmdlet, function, \r\n" +
				"script file, or operable program. Check the spelling of the name, or if a path \r\n" +
				"was included, verify that the path is correct and try again.\r\n" +
				"At line:1 char:1\r\n" +
				"+ -Foo -NoProfile\r\n" +
				"+ ~~~~\r\n" +
				"    + CategoryInfo          : ObjectNotFound: (-Foo:String) [], CommandNotFoun \r\n" +
				"   dException\r\n" +
				"    + FullyQualifiedErrorId : CommandNotFoundException\r\n" +
				" \r\n"},
		{"german", "de-DE", "powershell -c uv sync",
			"uv : Die Benennung \"uv\" wurde nicht als Name eines Cmdlet, einer Funktion, \r\n" +
				"einer Skriptdatei oder eines ausführbaren Programms erkannt. Überprüfen Sie \r\n" +
				"die Schreibweise des Namens, oder ob der Pfad korrekt ist (sofern enthalten), \r\n" +
				"und wiederholen Sie den Vorgang.\r\n" +
				"In Zeile:1 Zeichen:1\r\n" +
				"+ uv sync\r\n" +
				"+ ~~\r\n" +
				"    + CategoryInfo          : ObjectNotFound: (uv:String) [], CommandNotFoundE \r\n" +
				"   xception\r\n" +
				"    + FullyQualifiedErrorId : CommandNotFoundException\r\n" +
				" \r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := run(t, &Host{Locale: tt.locale}, tt.line)
			if code != 1 || stdout != "" {
				t.Fatalf("exit %d stdout %q", code, stdout)
			}
			if stderr != tt.want {
				t.Fatalf("stderr\n got %q\nwant %q", stderr, tt.want)
			}
		})
	}
}

func TestCommandLineErrors(t *testing.T) {
	enc := probe.EncodeCommand("Get-Date")
	tests := []struct{ line, want string }{
		{"powershell -enc " + enc + " -Foo", msgCommandAlreadySpecified},
		{"powershell -enc " + enc + " -enc " + enc, msgCommandAlreadySpecified},
		{"powershell -NoProfile -EncodedCommand", msgMissingCommand},
		{"powershell -Command", msgMissingCommand},
		{"powershell -enc !!notbase64!!", msgBadEncodedCommand},
		{"powershell -ExecutionPolicy", msgMissingExecutionPolicy},
	}
	for _, tt := range tests {
		stdout, stderr, code := run(t, &Host{}, tt.line)
		if code != ExitBadCommandLine || stdout != "" || stderr != tt.want+"\r\n" {
			t.Errorf("%s: exit %d stdout %q stderr %q", tt.line, code, stdout, stderr)
		}
	}
	for _, line := range []string{"powershell -File x.ps1", "powershell -NoProfile", "powershell -Command -", "powershell -s"} {
		_, stderr, code := run(t, &Host{}, line)
		if code != ExitNotSimulated || !strings.HasPrefix(stderr, "winsim: ") {
			t.Errorf("%s: exit %d stderr %q", line, code, stderr)
		}
	}
}

func TestEmptyCommand(t *testing.T) {
	stdout, stderr, code := run(t, &Host{}, "powershell -NoProfile -EncodedCommand "+probe.EncodeCommand("  \r\n"))
	if code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout, stderr)
	}
}

func TestFindTerm(t *testing.T) {
	tests := []struct {
		script, name string
		line, col    int
		ok           bool
	}{
		{"Get-Foo -Bar 1", "Get-Foo", 1, 1, true},
		{"\r\n  Get-Foo", "Get-Foo", 2, 3, true},
		{"$x = 'a''b'; $y = 2\nInvoke-Thing", "Invoke-Thing", 2, 1, true},
		{"$r = Get-Foo", "Get-Foo", 1, 6, true},
		{"$x.Method()", "", 0, 0, false},
		{"'string'", "", 0, 0, false},
		{"", "", 0, 0, false},
	}
	for _, tt := range tests {
		got, ok := findTerm(tt.script)
		if ok != tt.ok || (ok && (got.name != tt.name || got.line != tt.line || got.col != tt.col)) {
			t.Errorf("%q: got %+v %v", tt.script, got, ok)
		}
	}
}

func TestPositionTruncation(t *testing.T) {
	long := "$a = 1; " + strings.Repeat("x", 60) + " ; Missing-Command " + strings.Repeat("y", 60)
	tm := term{name: "Missing-Command", line: 1, col: 72, lineText: long, startIndex: strings.Index(long, "Missing-Command")}
	got := positionLines(tm)
	lines := strings.Split(got, "\r\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "+ ... ") || !strings.HasSuffix(lines[0], " ...") {
		t.Fatalf("truncation markers missing: %q", got)
	}
	if len(lines[0]) != 2+4+69+4 {
		t.Fatalf("shown line has %d characters", len(lines[0]))
	}
	col := strings.Index(lines[1], "~")
	if lines[0][col:col+len("Missing-Command")] != "Missing-Command" {
		t.Fatalf("underline not under the command:\n%s", got)
	}
}

func TestJSString(t *testing.T) {
	got := jsString("a'b<c>d&e\"f\\g\r\n\t\x01ü\u2028")
	want := `"a\u0027b\u003cc\u003ed\u0026e\"f\\g\r\n\t\u0001ü\u2028"`
	if got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

func TestBlockedStatus(t *testing.T) {
	tests := []struct {
		state string
		want  int
		ok    bool
	}{
		{"blocked_503", 503, true}, {"blocked_403", 403, true}, {"blocked_599", 599, true}, {"blocked_400", 400, true},
		{"blocked_200", 0, false}, {"blocked_600", 0, false}, {"blocked_5x3", 0, false}, {"blocked_5030", 0, false},
		{"blocked_", 0, false}, {"ok", 0, false}, {"Blocked_503", 0, false}, {"blocked_-03", 0, false},
	}
	for _, tt := range tests {
		got, ok := BlockedStatus(tt.state)
		if got != tt.want || ok != tt.ok {
			t.Errorf("BlockedStatus(%q) = %d, %v; want %d, %v", tt.state, got, ok, tt.want, tt.ok)
		}
	}
}
