package winsim_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/masterzen/winrm"

	"github.com/dcproxy/dcproxy/remote/wininet"
	"github.com/dcproxy/dcproxy/remote/winsim"
	"github.com/dcproxy/dcproxy/remote/winsim/registry"
)

const (
	adminUser = `LAB\auditor`
	adminPass = "S3cret-pass"
	connKey   = `Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	sysKey    = `HKU\S-1-5-18\` + connKey
	sysLong   = `HKEY_USERS\S-1-5-18\` + connKey
)

// example is the worked example of winrm-reg-reference.md section 5.
var example = wininet.New("proxy.example.com:8080", "<local>", "", false, 5).Encode()

const exampleHex = "4600000005000000030000001600000070726F78792E6578616D706C652E636F6D3A38303830070000003C6C6F63616C3E000000000000000000000000000000000000000000000000000000000000000000000000"

type server struct {
	host *winsim.Host
	ts   *httptest.Server
	addr string
	port int
	ca   []byte
}

func newHost(t *testing.T, cfg winsim.Config) *winsim.Host {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "dc01.lab.test"
	}
	if cfg.Accounts == nil {
		cfg.Accounts = []winsim.Account{{User: adminUser, Password: adminPass, Admin: true}, {User: `LAB\reader`, Password: "x", Admin: false}}
	}
	h, err := winsim.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Registry().SetValue(`HKEY_USERS\S-1-5-18\`+connKey, registry.BinaryValue("DefaultConnectionSettings", example)); err != nil {
		t.Fatal(err)
	}
	return h
}

func serve(t *testing.T, h *winsim.Host, https bool) *server {
	t.Helper()
	ts := httptest.NewUnstartedServer(h.Handler(https))
	ts.Config.ConnContext = winsim.ConnContext
	ts.Config.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	if https {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	host, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	s := &server{host: h, ts: ts, addr: host, port: p}
	if https {
		s.ca = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	}
	return s
}

// client builds a masterzen client; parameters are a fresh copy, never winrm.DefaultParameters.
func (s *server) client(t *testing.T, mode, user, pass string) *winrm.Client {
	t.Helper()
	https := mode != "encryption"
	ep := winrm.NewEndpoint(s.addr, s.port, https, false, s.ca, nil, nil, 30*time.Second)
	p := winrm.NewParameters("PT20S", "en-US", 153600)
	switch mode {
	case "ntlm":
		p.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
	case "encryption":
		enc, err := winrm.NewEncryption("ntlm")
		if err != nil {
			t.Fatal(err)
		}
		p.TransportDecorator = func() winrm.Transporter { return enc }
	case "basic":
	}
	c, err := winrm.NewClientWithParameters(ep, user, pass, p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("{stdout %q, stderr %q, exit %d}", r.stdout, r.stderr, r.code)
}

func run(t *testing.T, c *winrm.Client, cmd string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var o, e bytes.Buffer
	code, err := c.RunWithContext(ctx, cmd, &o, &e)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return result{o.String(), e.String(), code}
}

func TestMasterzen_regVerbs(t *testing.T) {
	notFound := map[string]string{
		"en-US": "ERROR: The system was unable to find the specified registry key or value.\r\n",
		"de-DE": "FEHLER: Der angegebene Registrierungsschlüssel bzw. Wert wurde nicht gefunden.\r\n",
	}
	ok := map[string]string{"en-US": "The operation completed successfully.", "de-DE": "Der Vorgang wurde erfolgreich beendet."}
	for _, mode := range []string{"basic", "ntlm", "encryption"} {
		for _, locale := range []string{"en-US", "de-DE"} {
			t.Run(mode+"/"+locale, func(t *testing.T) {
				h := newHost(t, winsim.Config{Locale: locale, Basic: mode == "basic"})
				s := serve(t, h, mode != "encryption")
				c := s.client(t, mode, adminUser, adminPass)

				got := run(t, c, `reg query "`+sysKey+`" /v DefaultConnectionSettings`)
				want := result{"\r\n" + sysLong + "\r\n    DefaultConnectionSettings    REG_BINARY    " + exampleHex + "\r\n\r\n", "", 0}
				if got != want {
					t.Errorf("reg query:\n got %v\nwant %v", got, want)
				}

				got = run(t, c, `reg query "HKU\S-1-5-19\`+connKey+`" /v DefaultConnectionSettings`)
				if want := (result{"", notFound[locale], 1}); got != want {
					t.Errorf("reg query missing:\n got %v\nwant %v", got, want)
				}

				// Only the counter differs: reg compare says Different (exit 2).
				other := wininet.New("proxy.example.com:8080", "<local>", "", false, 9).Encode()
				if err := h.Registry().SetValue(`HKEY_USERS\S-1-5-19\`+connKey, registry.BinaryValue("DefaultConnectionSettings", other)); err != nil {
					t.Fatal(err)
				}
				got = run(t, c, `reg compare "`+sysKey+`" "HKU\S-1-5-19\`+connKey+`" /v DefaultConnectionSettings`)
				if got.code != 2 || got.stderr != "" || !strings.Contains(got.stdout, "\r\n") {
					t.Errorf("reg compare: %+v", got)
				}
				got = run(t, c, `reg compare "`+sysKey+`" "HKU\S-1-5-20\`+connKey+`" /v DefaultConnectionSettings`)
				if want := (result{"", notFound[locale], 1}); got != want {
					t.Errorf("reg compare missing:\n got %v\nwant %v", got, want)
				}

				got = run(t, c, `reg add "HKU\S-1-5-20\`+connKey+`" /v DefaultConnectionSettings /t REG_BINARY /d `+exampleHex+` /f`)
				if want := (result{ok[locale] + "\r\n\r\n", "", 0}); got != want {
					t.Errorf("reg add:\n got %v\nwant %v", got, want)
				}
				v, found := h.Registry().Value(`HKEY_USERS\S-1-5-20\`+connKey, "DefaultConnectionSettings")
				if !found || !bytes.Equal(v.Data, example) {
					t.Errorf("reg add stored %x", v.Data)
				}

				got = run(t, c, `reg export "`+sysKey+`" C:\Windows\Temp\sys.reg /y`)
				if want := (result{ok[locale] + "\r\n\r\n", "", 0}); got != want {
					t.Errorf("reg export:\n got %v\nwant %v", got, want)
				}
				file, err := h.FS().ReadFile(`C:\Windows\Temp\sys.reg`)
				if err != nil {
					t.Fatal(err)
				}
				wantFile := "Windows Registry Editor Version 5.00\r\n\r\n[" + sysLong + "]\r\n" +
					"\"DefaultConnectionSettings\"=hex:46,00,00,00,05,00,00,00,03,00,00,00,16,00,00,\\\r\n" +
					"  00,70,72,6f,78,79,2e,65,78,61,6d,70,6c,65,2e,63,6f,6d,3a,38,30,38,30,07,00,\\\r\n" +
					"  00,00,3c,6c,6f,63,61,6c,3e,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,\\\r\n" +
					"  00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00\r\n\r\n"
				if string(file) != string(utf16le(wantFile)) {
					t.Errorf("export file:\n got %v\nwant %v", file, utf16le(wantFile))
				}

				// %ERRORLEVEL% is expanded when the line is parsed, as on Windows.
				got = run(t, c, `reg query "HKU\S-1-5-19\`+connKey+`" /v Nope & echo %ERRORLEVEL%`)
				if got.stdout != "0\r\n" || got.code != 1 {
					t.Errorf("errorlevel trap: %+v", got)
				}
				got = run(t, c, `regx query`)
				if got.code != 1 || got.stdout != "" {
					t.Errorf("unknown program: %+v", got)
				}
			})
		}
	}
}

func utf16le(s string) []byte {
	out := []byte{0xFF, 0xFE}
	for _, r := range s {
		if r > 0xFFFF {
			panic("test text is BMP only")
		}
		out = append(out, byte(r), byte(r>>8))
	}
	return out
}

// TestMasterzen_refusals: what Windows refuses is refused here too.
func TestMasterzen_refusals(t *testing.T) {
	h := newHost(t, winsim.Config{})
	plain := serve(t, h, false)
	tls := serve(t, h, true)
	for _, tc := range []struct {
		name string
		s    *server
		mode string
		user string
		pass string
	}{
		{"unsealed NTLM body on HTTP", plain, "ntlm-http", adminUser, adminPass},
		{"basic when disabled", tls, "basic", adminUser, adminPass},
		{"wrong password", plain, "encryption", adminUser, "wrong"},
		{"wrong password over https", tls, "ntlm", adminUser, "wrong"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode := tc.mode
			var c *winrm.Client
			if mode == "ntlm-http" {
				ep := winrm.NewEndpoint(tc.s.addr, tc.s.port, false, false, nil, nil, nil, 10*time.Second)
				p := winrm.NewParameters("PT20S", "en-US", 153600)
				p.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
				var err error
				if c, err = winrm.NewClientWithParameters(ep, tc.user, tc.pass, p); err != nil {
					t.Fatal(err)
				}
			} else {
				c = tc.s.client(t, mode, tc.user, tc.pass)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := c.RunWithContext(ctx, "whoami", &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), "401") {
				t.Fatalf("want a 401 refusal, got %v", err)
			}
			if h.ShellCount() != 0 {
				t.Fatalf("a shell was created")
			}
		})
	}
}

// postSOAP sends one WS-Man envelope with Basic over HTTPS and returns status and body.
func postSOAP(t *testing.T, s *server, user, pass, body string) (int, string) {
	t.Helper()
	client := s.ts.Client()
	req, _ := http.NewRequest(http.MethodPost, s.ts.URL+"/wsman", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.SetBasicAuth(user, pass)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

const createEnvelope = `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><env:Header><a:Action mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</a:Action><a:MessageID>uuid:11111111-2222-4333-8444-555555555555</a:MessageID><w:ResourceURI mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI><w:OptionSet><w:Option Name="WINRS_CODEPAGE">65001</w:Option></w:OptionSet></env:Header><env:Body><rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell></env:Body></env:Envelope>`

func TestFaults(t *testing.T) {
	h := newHost(t, winsim.Config{Basic: true, MaxShellsPerUser: 2})
	s := serve(t, h, true)

	// A non-admin over Basic: 401 like a wrong password (fidelity D2); the faults over Negotiate are
	// in rights_test.go.
	code, body := postSOAP(t, s, `LAB\reader`, "x", createEnvelope)
	if code != 401 {
		t.Fatalf("non-admin: %d %s", code, body)
	}
	for i := 0; i < 2; i++ {
		if code, body := postSOAP(t, s, adminUser, adminPass, createEnvelope); code != 200 || !strings.Contains(body, `<w:Selector Name="ShellId">`) {
			t.Fatalf("create %d: %d %s", i, code, body)
		}
	}
	code, body = postSOAP(t, s, adminUser, adminPass, createEnvelope)
	if code != 500 || !strings.Contains(body, `Code="2150859173"`) || !strings.Contains(body, "maximum number of 2 concurrent shells") {
		t.Fatalf("third shell: %d %s", code, body)
	}
	receive := strings.Replace(strings.Replace(createEnvelope, "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create", "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive", 1),
		`<w:OptionSet>`, `<w:SelectorSet><w:Selector Name="ShellId">00000000-0000-0000-0000-000000000000</w:Selector></w:SelectorSet><w:OptionSet>`, 1)
	code, body = postSOAP(t, s, adminUser, adminPass, receive)
	if code != 500 || !strings.Contains(body, `Code="2150858843"`) || !strings.Contains(body, "ShellId 00000000-0000-0000-0000-000000000000") {
		t.Fatalf("unknown shell: %d %s", code, body)
	}
	if code, _ := postSOAP(t, s, adminUser, adminPass, "not xml"); code != 500 {
		t.Fatalf("bad xml: %d", code)
	}
}

// TestOperationTimeout: a Receive on a command that produces nothing long-polls and then returns the
// real TimedOut fault; masterzen retries on it and still gets the output.
func TestOperationTimeout(t *testing.T) {
	h := newHost(t, winsim.Config{ExecTime: 2500 * time.Millisecond})
	s := serve(t, h, false)
	ep := winrm.NewEndpoint(s.addr, s.port, false, false, nil, nil, nil, 30*time.Second)
	p := winrm.NewParameters("PT1S", "en-US", 153600)
	enc, err := winrm.NewEncryption("ntlm")
	if err != nil {
		t.Fatal(err)
	}
	p.TransportDecorator = func() winrm.Transporter { return enc }
	c, err := winrm.NewClientWithParameters(ep, adminUser, adminPass, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, c, "echo done"); got != (result{"done\r\n", "", 0}) {
		t.Fatalf("got %+v", got)
	}
}

// TestPywinrm drives Debian's python3-winrm, an independent client, against the simulator: NTLM
// with message encryption over HTTP and Basic over HTTPS, code page 437 (pywinrm's default) and
// 65001, en-US and de-DE.
func TestPywinrm(t *testing.T) {
	py := "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import winrm").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-winrm is required on CI: %v %s", err, out)
		}
		t.Skipf("python3-winrm not installed: %v", err)
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "testdata", "pywinrm_run.py")
	sslConf := filepath.Join(filepath.Dir(file), "testdata", "openssl-legacy.cnf")
	for _, tc := range []struct {
		transport string
		https     bool
		codepage  int
		locale    string
	}{
		{"ntlm", false, 437, "de-DE"},
		{"ntlm", false, 65001, "de-DE"},
		{"ntlm", false, 437, "en-US"},
		{"basic", true, 437, "de-DE"},
		{"basic", true, 65001, "en-US"},
	} {
		t.Run(fmt.Sprintf("%s/https=%v/cp%d/%s", tc.transport, tc.https, tc.codepage, tc.locale), func(t *testing.T) {
			h := newHost(t, winsim.Config{Locale: tc.locale, Basic: tc.transport == "basic"})
			s := serve(t, h, tc.https)
			scheme := "http"
			if tc.https {
				scheme = "https"
			}
			cmds := []string{
				`reg query "` + sysKey + `" /v DefaultConnectionSettings`,
				`reg query "HKU\S-1-5-19\` + connKey + `" /v DefaultConnectionSettings`,
				`reg add "HKU\S-1-5-19\` + connKey + `" /v DefaultConnectionSettings /t REG_BINARY /d ` + exampleHex + ` /f`,
				`reg compare "` + sysKey + `" "HKU\S-1-5-19\` + connKey + `" /v DefaultConnectionSettings`,
				`reg export "` + sysKey + `" C:\Windows\Temp\x.reg /y`,
			}
			cmd := exec.Command(py, append([]string{script, fmt.Sprintf("%s://%s/wsman", scheme, net.JoinHostPort(s.addr, strconv.Itoa(s.port))),
				tc.transport, adminUser, strconv.Itoa(tc.codepage)}, cmds...)...)
			cmd.Env = append(pyEnv(), "WINRM_TEST_PASSWORD="+adminPass, "OPENSSL_CONF="+sslConf)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("pywinrm: %v\n%s", err, out)
			}
			var res []struct {
				Stdout, Stderr string
				Code           int
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("pywinrm output: %v\n%s", err, out)
			}
			dec := func(s string) string { b, _ := base64.StdEncoding.DecodeString(s); return string(b) }
			notFound := "ERROR: The system was unable to find the specified registry key or value.\r\n"
			ok := "The operation completed successfully.\r\n\r\n"
			if tc.locale == "de-DE" {
				notFound = "FEHLER: Der angegebene Registrierungsschl\u00fcssel bzw. Wert wurde nicht gefunden.\r\n"
				ok = "Der Vorgang wurde erfolgreich beendet.\r\n\r\n"
			}
			if tc.codepage == 437 {
				notFound = strings.ReplaceAll(notFound, "\u00fc", "\x81") // ü in IBM437
			}
			want := []result{
				{"\r\n" + sysLong + "\r\n    DefaultConnectionSettings    REG_BINARY    " + exampleHex + "\r\n\r\n", "", 0},
				{"", notFound, 1},
				{ok, "", 0},
				{"", "", 0}, // stdout checked below
				{ok, "", 0},
			}
			if len(res) != len(want) {
				t.Fatalf("got %d results", len(res))
			}
			for i, r := range res {
				got := result{dec(r.Stdout), dec(r.Stderr), r.Code}
				if i == 3 {
					if got.code != 0 || !strings.Contains(got.stdout, "Identical") && !strings.Contains(got.stdout, "identisch") {
						t.Errorf("%s: %+v", cmds[i], got)
					}
					continue
				}
				if got != want[i] {
					t.Errorf("%s:\n got %v\nwant %v", cmds[i], got, want[i])
				}
			}
		})
	}
}

func pyEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "REQUESTS_CA_BUNDLE" && k != "CURL_CA_BUNDLE" && k != "OPENSSL_CONF" {
			env = append(env, kv)
		}
	}
	return env
}

// soapHeader builds a request envelope for action with an optional ShellId, MaxEnvelopeSize and
// OperationTimeout.
func soapEnvelope(action, shellID, maxEnv, body string) string {
	sel := ""
	if shellID != "" {
		sel = `<w:SelectorSet><w:Selector Name="ShellId">` + shellID + `</w:Selector></w:SelectorSet>`
	}
	return `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><env:Header>` +
		`<a:Action mustUnderstand="true">` + action + `</a:Action><a:MessageID>uuid:0A0B0C0D-1111-4222-8333-444455556666</a:MessageID>` +
		`<w:MaxEnvelopeSize mustUnderstand="true">` + maxEnv + `</w:MaxEnvelopeSize><w:OperationTimeout>PT5S</w:OperationTimeout>` +
		`<w:ResourceURI mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI>` + sel +
		`</env:Header><env:Body>` + body + `</env:Body></env:Envelope>`
}

func between(s, a, b string) string {
	_, rest, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, b)
	return v
}

// TestReceive_chunksUnderMaxEnvelope: output larger than the client's MaxEnvelopeSize arrives over
// several Receive responses, each below the limit, and reassembles byte for byte.
func TestReceive_chunksUnderMaxEnvelope(t *testing.T) {
	h := newHost(t, winsim.Config{Basic: true})
	s := serve(t, h, true)
	const maxEnv = 8192
	_, body := postSOAP(t, s, adminUser, adminPass, createEnvelope)
	shellID := between(body, `<w:Selector Name="ShellId">`, "<")
	text := strings.Repeat("0123456789abcdef", 250) // 2 x 4000 bytes: within cmd.exe's 8191-character line
	cmd := `<rsp:CommandLine><rsp:Command>echo ` + text + ` &amp; echo ` + text + `</rsp:Command></rsp:CommandLine>`
	code, body := postSOAP(t, s, adminUser, adminPass, soapEnvelope("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command", shellID, "153600", cmd))
	if code != 200 {
		t.Fatalf("command: %d %s", code, body)
	}
	cmdID := between(body, "<rsp:CommandId>", "<")
	var out []byte
	for i := 0; ; i++ {
		if i > 20 {
			t.Fatal("no Done after 20 receives")
		}
		code, body = postSOAP(t, s, adminUser, adminPass, soapEnvelope("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive", shellID, strconv.Itoa(maxEnv),
			`<rsp:Receive><rsp:DesiredStream CommandId="`+cmdID+`">stdout stderr</rsp:DesiredStream></rsp:Receive>`))
		if code != 200 {
			t.Fatalf("receive: %d %s", code, body)
		}
		if len(body) > maxEnv {
			t.Fatalf("receive response of %d bytes exceeds MaxEnvelopeSize %d", len(body), maxEnv)
		}
		for _, part := range strings.Split(body, `<rsp:Stream Name="stdout" CommandId="`+cmdID+`">`)[1:] {
			b64, _, _ := strings.Cut(part, "<")
			b, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b...)
		}
		if strings.Contains(body, "CommandState/Done") {
			if !strings.Contains(body, "<rsp:ExitCode>0</rsp:ExitCode>") {
				t.Fatalf("done without exit code 0: %s", body)
			}
			if i == 0 {
				t.Fatal("all output in one response: nothing was chunked")
			}
			break
		}
	}
	if want := text + " \r\n" + text + "\r\n"; string(out) != want {
		t.Fatalf("reassembled %d bytes, want %d", len(out), len(want))
	}
}

// TestShellIdleTimeout: a shell unused for longer than IdleTimeout is gone, as on Windows.
func TestShellIdleTimeout(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := newHost(t, winsim.Config{Basic: true, IdleTimeout: time.Minute, Now: clock})
	s := serve(t, h, true)
	_, body := postSOAP(t, s, adminUser, adminPass, createEnvelope)
	shellID := between(body, `<w:Selector Name="ShellId">`, "<")
	if h.ShellCount() != 1 {
		t.Fatal("no shell")
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	code, body := postSOAP(t, s, adminUser, adminPass, soapEnvelope("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command", shellID, "153600",
		`<rsp:CommandLine><rsp:Command>echo hi</rsp:Command></rsp:CommandLine>`))
	if code != 500 || !strings.Contains(body, "ShellId "+shellID) || h.ShellCount() != 0 {
		t.Fatalf("idle shell still usable: %d %s", code, body)
	}
}

// TestSend_stdinAnswersPrompt: reg add without /f on an existing value prompts and reads the answer
// from stdin, which the client sends with the Send operation.
func TestSend_stdinAnswersPrompt(t *testing.T) {
	h := newHost(t, winsim.Config{Basic: true})
	s := serve(t, h, true)
	c := s.client(t, "basic", adminUser, adminPass)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	other := wininet.New("other.example.com:3128", "", "", false, 1).Encode()
	var o, e bytes.Buffer
	code, err := c.RunWithContextWithInput(ctx, fmt.Sprintf(`reg add "%s" /v DefaultConnectionSettings /t REG_BINARY /d %X`, sysKey, other), &o, &e, strings.NewReader("y\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || o.String() != "Value DefaultConnectionSettings exists, overwrite(Yes/No)? The operation completed successfully.\r\n\r\n" {
		t.Fatalf("exit %d stdout %q stderr %q", code, o.String(), e.String())
	}
	v, _ := h.Registry().Value(sysLong, "DefaultConnectionSettings")
	if !bytes.Equal(v.Data, other) {
		t.Fatalf("value not overwritten: %x", v.Data)
	}
}

// TestEnvelopeTooBig: a request larger than the service's MaxEnvelopeSizekb is refused with the
// w:EncodingLimit fault, one at the limit is served.
func TestEnvelopeTooBig(t *testing.T) {
	h := newHost(t, winsim.Config{Basic: true, MaxEnvelopeSizeKB: 1})
	s := serve(t, h, true)
	pad := func(n int) string { // createEnvelope grown to n bytes with blanks before the root's end
		return strings.Replace(createEnvelope, `</env:Envelope>`, strings.Repeat(" ", n-len(createEnvelope))+`</env:Envelope>`, 1)
	}
	if code, body := postSOAP(t, s, adminUser, adminPass, pad(1024)); code != 200 {
		t.Fatalf("1024-byte request: %d %s", code, body)
	}
	if code, body := postSOAP(t, s, adminUser, adminPass, pad(1025)); code != 500 || !strings.Contains(body, `Code="2150858818"`) || !strings.Contains(body, "w:EncodingLimit") {
		t.Fatalf("1025-byte request: %d %s", code, body)
	}
}
