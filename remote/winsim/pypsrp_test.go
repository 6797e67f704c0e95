package winsim

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// capture is one pypsrp response file (testdata/pypsrp/README.md).
type capture struct {
	Messages []struct {
		Request        string `yaml:"request"`
		Response       string `yaml:"response"`
		TransportError *struct {
			Code int `yaml:"code"`
		} `yaml:"transport_error"`
	} `yaml:"messages"`
}

func loadCapture(t *testing.T, name string) capture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pypsrp", name))
	if err != nil {
		t.Fatal(err)
	}
	var c capture
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// xnode is a minimal DOM (local names only) for comparing replies field by field.
type xnode struct {
	name  string
	attrs map[string]string
	text  string
	kids  []*xnode
}

func parseDOM(t *testing.T, s string) *xnode {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	root := &xnode{}
	stack := []*xnode{root}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reply is not XML: %v\n%s", err, s)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			n := &xnode{name: e.Name.Local, attrs: map[string]string{}}
			for _, a := range e.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			top := stack[len(stack)-1]
			top.kids = append(top.kids, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			stack[len(stack)-1].text += string(e)
		}
	}
	return root
}

func (n *xnode) all(name string, out *[]*xnode) {
	for _, k := range n.kids {
		if k.name == name {
			*out = append(*out, k)
		}
		k.all(name, out)
	}
}

func (n *xnode) find(name string) []*xnode {
	var out []*xnode
	n.all(name, &out)
	return out
}

func (n *xnode) first(name string) *xnode {
	if v := n.find(name); len(v) > 0 {
		return v[0]
	}
	return nil
}

func (n *xnode) textOf(name string) string {
	if k := n.first(name); k != nil {
		return k.text
	}
	return "<absent>"
}

// fields extracts what a WinRS client acts on, leaving out what is random by nature (message,
// shell and command ids, machine names and addresses, the idle timeout value).
func fields(t *testing.T, status int, reply string, streams bool) map[string]string {
	t.Helper()
	d := parseDOM(t, reply)
	f := map[string]string{"status": http.StatusText(status), "action": d.textOf("Action")}
	if flt := d.first("Fault"); flt != nil {
		f["fault.code"] = flt.first("Code").first("Value").text
		f["fault.subcode"] = flt.first("Subcode").textOf("Value")
		f["fault.reason"] = d.textOf("Text")
		f["fault.detail"] = d.textOf("FaultDetail")
		f["wsman.code"] = d.first("WSManFault").attrs["Code"]
		if pf := d.first("ProviderFault"); pf != nil {
			f["provider"] = pf.attrs["provider"] + " | " + pf.attrs["path"] + " | " + pf.text
		}
		// The InvalidSelectors message names the command; the text is compared where it is fixed.
		if f["wsman.code"] != "2150858843" {
			f["wsman.message"] = d.textOf("Message")
		}
	}
	if body := d.first("Body"); body != nil {
		var names []string
		for _, k := range body.kids {
			names = append(names, k.name)
		}
		f["body"] = strings.Join(names, ",")
	}
	if sh := d.first("Shell"); sh != nil {
		var names []string
		for _, k := range sh.kids {
			names = append(names, k.name)
		}
		f["shell.children"] = strings.Join(names, ",")
		f["shell.resourceUri"] = sh.textOf("ResourceUri")
		f["shell.streams"] = sh.textOf("InputStreams") + "/" + sh.textOf("OutputStreams")
		var env []string
		for _, v := range sh.find("Variable") {
			env = append(env, v.attrs["Name"]+"="+v.text)
		}
		f["shell.env"] = strings.Join(env, ";")
		f["shell.cwd"] = sh.textOf("WorkingDirectory")
		f["selector.shellId==shellId"] = boolText(d.first("Selector") != nil && d.first("Selector").text == sh.textOf("ShellId"))
	}
	if d.first("CommandResponse") != nil {
		f["commandId.present"] = boolText(strings.TrimSpace(d.textOf("CommandId")) != "")
	}
	if cs := d.first("CommandState"); cs != nil {
		f["state"] = cs.attrs["State"]
		if streams {
			f["exit"] = cs.textOf("ExitCode")
		}
	}
	if streams {
		data := map[string][]byte{}
		var ends []string
		for _, s := range d.find("Stream") {
			b, err := base64.StdEncoding.DecodeString(s.text)
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			data[s.attrs["Name"]] = append(data[s.attrs["Name"]], b...)
			if s.attrs["End"] == "true" {
				ends = append(ends, s.attrs["Name"])
			}
		}
		f["stdout"], f["stderr"], f["ends"] = string(data["stdout"]), string(data["stderr"]), strings.Join(ends, ",")
	}
	return f
}

func boolText(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

var (
	reShellSel = regexp.MustCompile(`(<wsman:Selector Name="ShellId">)[^<]*(</wsman:Selector>)`)
	reCmdAttr  = regexp.MustCompile(`CommandId="([^"]*)"`)
	reCmdLine  = regexp.MustCompile(`<rsp:CommandLine><rsp:Command>cmd\.exe</rsp:Command>(.*?)</rsp:CommandLine>`)
	reArg      = regexp.MustCompile(`<rsp:Arguments>(.*?)</rsp:Arguments>`)
	reShellID  = regexp.MustCompile(`<w:Selector Name="ShellId">([^<]*)<`)
	reCmdID    = regexp.MustCompile(`<rsp:CommandId>([^<]*)<`)
)

// adapt rewrites a captured request for the simulator: the shell and command ids it created take
// the place of the captured ones (an id that was never created, as in the bad-CommandId test, is
// kept), and `cmd.exe /c LINE` becomes LINE (WinRS already runs the line through cmd /c; the
// simulator has no nested cmd.exe).
func adapt(req, shellID string, cmdIDs map[string]string) string {
	if shellID != "" {
		req = reShellSel.ReplaceAllString(req, "${1}"+shellID+"${2}")
	}
	req = reCmdAttr.ReplaceAllStringFunc(req, func(m string) string {
		id := reCmdAttr.FindStringSubmatch(m)[1]
		if ours, ok := cmdIDs[id]; ok {
			return `CommandId="` + ours + `"`
		}
		return m
	})
	return reCmdLine.ReplaceAllStringFunc(req, func(m string) string {
		var args []string
		for _, a := range reArg.FindAllStringSubmatch(m, -1) {
			args = append(args, a[1])
		}
		line := strings.TrimPrefix(strings.Join(args, " "), "/c ")
		return `<rsp:CommandLine><rsp:Command>` + line + `</rsp:Command></rsp:CommandLine>`
	})
}

// TestPypsrpCapturesReplayed sends the requests of real Windows exchanges to the simulator and
// compares its replies with the captured ones, field for field (see fields).
func TestPypsrpCapturesReplayed(t *testing.T) {
	for _, tc := range []struct {
		file    string
		streams bool // the captured command is simulated: compare output and exit code too
	}{
		{"test_winrs_standard.yml", true},
		{"test_winrs_stderr_rc.yml", true},
		{"test_winrs_bad_cmd_id.yml", false},
		{"test_winrs_fail_poll_process.yml", false},
		{"test_winrs_no_cmd_shell.yml", false},
		{"test_winrs_environment.yml", false},
		{"test_winrs_extra_opts.yml", false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			h, err := NewHost(Config{Name: "server2016.domain.local", Basic: true, AllowUnencrypted: true,
				Accounts: []Account{{User: `SERVER2016\vagrant`, Password: "vagrant", Admin: true}}})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewUnstartedServer(h.Handler(false))
			srv.Config.ConnContext = ConnContext
			srv.Start()
			defer srv.Close()
			c := loadCapture(t, tc.file)
			shellID, cmdIDs := "", map[string]string{}
			for i, m := range c.Messages {
				req := adapt(m.Request, shellID, cmdIDs)
				hr, _ := http.NewRequest(http.MethodPost, srv.URL+"/wsman", strings.NewReader(req))
				hr.Header.Set("Content-Type", soapContentTyp)
				hr.SetBasicAuth(`SERVER2016\vagrant`, "vagrant")
				resp, err := srv.Client().Do(hr)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				wantStatus := http.StatusOK
				if m.TransportError != nil {
					wantStatus = m.TransportError.Code
				}
				got := fields(t, resp.StatusCode, string(body), tc.streams)
				want := fields(t, wantStatus, m.Response, tc.streams)
				if testing.Verbose() {
					t.Logf("message %d: %v", i, want)
				}
				for k, w := range want {
					if got[k] != w {
						t.Errorf("message %d, %s:\n got %q\nwant %q", i, k, got[k], w)
					}
				}
				if id := reShellID.FindStringSubmatch(string(body)); id != nil && shellID == "" {
					shellID = id[1]
				}
				if id := reCmdID.FindStringSubmatch(string(body)); id != nil {
					if theirs := reCmdID.FindStringSubmatch(m.Response); theirs != nil {
						cmdIDs[theirs[1]] = id[1]
					}
				}
			}
			if n := h.ShellCount(); n != 0 {
				t.Errorf("%d shells left", n)
			}
		})
	}
}

func TestPypsrpCapturesAreWinRS(t *testing.T) {
	// Guard: the capture files are present and unmodified in shape.
	for _, f := range []string{"test_winrs_standard.yml", "test_winrs_operation_timeout.yml"} {
		c := loadCapture(t, f)
		if len(c.Messages) < 5 || !bytes.Contains([]byte(c.Messages[0].Request), []byte("transfer/Create")) {
			t.Errorf("%s: unexpected shape", f)
		}
	}
}

// TestShellEnvironmentAndSkipCmdShell: the Environment and WorkingDirectory of Create reach the
// commands of the shell, and WINRS_SKIP_CMD_SHELL runs a program by full path without cmd.exe
// (no %VAR% expansion) but refuses a bare name (no PATH search).
func TestShellEnvironmentAndSkipCmdShell(t *testing.T) {
	h, err := NewHost(Config{Name: "dc01.lab.test", Basic: true, AllowUnencrypted: true,
		Accounts: []Account{{User: `LAB\admin`, Password: "pw", Admin: true}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h.Handler(false))
	srv.Config.ConnContext = ConnContext
	srv.Start()
	defer srv.Close()
	post := func(action, header, body string) (int, string) {
		t.Helper()
		env := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">` +
			`<s:Header><wsa:Action>` + action + `</wsa:Action><wsa:MessageID>uuid:1</wsa:MessageID><wsman:ResourceURI>` + resourceCmd + `</wsman:ResourceURI>` +
			`<wsman:OperationTimeout>PT5S</wsman:OperationTimeout>` + header + `</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
		hr, _ := http.NewRequest(http.MethodPost, srv.URL+"/wsman", strings.NewReader(env))
		hr.Header.Set("Content-Type", soapContentTyp)
		hr.SetBasicAuth(`LAB\admin`, "pw")
		resp, err := srv.Client().Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, created := post(actionCreate, `<wsman:OptionSet><wsman:Option Name="WINRS_CODEPAGE">65001</wsman:Option></wsman:OptionSet>`,
		`<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>`+
			`<rsp:Environment><rsp:Variable Name="env1">var1</rsp:Variable></rsp:Environment><rsp:WorkingDirectory>C:\Windows</rsp:WorkingDirectory></rsp:Shell>`)
	m := reShellID.FindStringSubmatch(created)
	if m == nil {
		t.Fatalf("no shell: %s", created)
	}
	sel := `<wsman:SelectorSet><wsman:Selector Name="ShellId">` + m[1] + `</wsman:Selector></wsman:SelectorSet>`
	runCmd := func(opts, cmd, args string) (int, string, string) {
		t.Helper()
		status, reply := post(actionCommand, sel+opts, `<rsp:CommandLine><rsp:Command>`+cmd+`</rsp:Command>`+args+`</rsp:CommandLine>`)
		if status != http.StatusOK {
			return status, reply, ""
		}
		id := reCmdID.FindStringSubmatch(reply)[1]
		var out []byte
		for {
			_, rr := post(actionReceive, sel, `<rsp:Receive><rsp:DesiredStream CommandId="`+id+`">stdout stderr</rsp:DesiredStream></rsp:Receive>`)
			f := fields(t, http.StatusOK, rr, true)
			out = append(out, f["stdout"]+f["stderr"]...)
			if strings.HasSuffix(f["state"], "/Done") {
				return status, string(out), f["exit"]
			}
		}
	}
	if _, out, exit := runCmd("", "echo %env1% %USERPROFILE%", ""); out != "var1 C:\\Users\\admin\r\n" || exit != "0" {
		t.Errorf("environment: %q exit %s", out, exit)
	}
	skip := `<wsman:OptionSet><wsman:Option Name="WINRS_SKIP_CMD_SHELL">TRUE</wsman:Option></wsman:OptionSet>`
	if status, reply, _ := runCmd(skip, "powershell.exe", "<rsp:Arguments>-NoProfile</rsp:Arguments>"); status != 500 ||
		fields(t, status, reply, false)["wsman.code"] != "2147942402" {
		t.Errorf("bare name with WINRS_SKIP_CMD_SHELL: %d %s", status, reply)
	}
	_, out, exit := runCmd(skip, `C:\Windows\System32\reg.exe`, `<rsp:Arguments>query</rsp:Arguments><rsp:Arguments>%env1%</rsp:Arguments>`)
	t.Logf("reg: %q exit %s", out, exit)
	if exit == "0" || !strings.Contains(out, "ERROR") {
		t.Errorf("full path with WINRS_SKIP_CMD_SHELL: %q exit %s", out, exit)
	}
	if _, out, exit := runCmd("", "frobnicate", ""); exit != "1" || !strings.Contains(out, "is not recognized") {
		t.Errorf("unknown command: %q exit %s (Windows: exit 1)", out, exit)
	}
}
