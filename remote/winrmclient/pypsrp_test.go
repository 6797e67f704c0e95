package winrmclient

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// pypsrpDir holds real Windows WinRS exchanges captured by pypsrp (see its README.md for origin).
var pypsrpDir = filepath.Join("..", "winsim", "testdata", "pypsrp")

type pypsrpCapture struct {
	Messages []struct {
		Request        string `yaml:"request"`
		Response       string `yaml:"response"`
		TransportError *struct {
			Code int `yaml:"code"`
		} `yaml:"transport_error"`
	} `yaml:"messages"`
}

func loadPypsrp(t *testing.T, name string) pypsrpCapture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pypsrpDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var c pypsrpCapture
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPypsrpRepliesParse: every reply of every capture parses; faults classify as the client must
// act on them (TimedOut polls again, the others are protocol errors).
func TestPypsrpRepliesParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(pypsrpDir, "test_winrs_*.yml"))
	if err != nil || len(files) < 7 {
		t.Fatalf("captures: %v, %v", files, err)
	}
	for _, f := range files {
		c := loadPypsrp(t, filepath.Base(f))
		for i, m := range c.Messages {
			rep, err := parseReply(context.Background(), []byte(m.Response))
			if err != nil {
				t.Errorf("%s message %d: %v", filepath.Base(f), i, err)
				continue
			}
			if (m.TransportError != nil) != (rep.Fault != nil) {
				t.Errorf("%s message %d: fault %v, transport error %v", filepath.Base(f), i, rep.Fault, m.TransportError)
			}
			if strings.Contains(m.Response, "CreateResponse") && rep.ShellID == "" {
				t.Errorf("%s message %d: no ShellId", filepath.Base(f), i)
			}
			if strings.Contains(m.Response, "CommandResponse") && rep.CommandID == "" {
				t.Errorf("%s message %d: no CommandId", filepath.Base(f), i)
			}
		}
	}
}

// TestPypsrpFieldValues checks parsed values against what the captures show.
func TestPypsrpFieldValues(t *testing.T) {
	parse := func(file string, i int) *wsReply {
		t.Helper()
		rep, err := parseReply(context.Background(), []byte(loadPypsrp(t, file).Messages[i].Response))
		if err != nil {
			t.Fatalf("%s %d: %v", file, i, err)
		}
		return rep
	}
	if r := parse("test_winrs_standard.yml", 0); len(r.ShellID) != 36 || !strings.Contains(loadPypsrp(t, "test_winrs_standard.yml").Messages[0].Response, "<rsp:ShellId>"+r.ShellID+"</rsp:ShellId>") {
		t.Errorf("ShellId %q", r.ShellID)
	}
	r := parse("test_winrs_standard.yml", 2)
	if string(r.Stdout) != "hi\r\n" || len(r.Stderr) != 0 || !r.Done || r.ExitCode != 0 || !r.HasExit {
		t.Errorf("standard receive: %+v", r)
	}
	r = parse("test_winrs_stderr_rc.yml", 2)
	if string(r.Stdout) != "out \r\n" || string(r.Stderr) != "err \r\n" || !r.Done || r.ExitCode != 1 {
		t.Errorf("stderr_rc receive: %q %q %v %d", r.Stdout, r.Stderr, r.Done, r.ExitCode)
	}
	r = parse("test_winrs_bad_cmd_id.yml", 2)
	if r.Fault == nil || r.Fault.WSManCode != "2150858843" || r.Fault.Subcode != "w:InvalidSelectors" || r.Fault.timedOut() {
		t.Errorf("bad command id fault: %+v", r.Fault)
	}
	r = parse("test_winrs_fail_poll_process.yml", 1)
	if r.Fault == nil || r.Fault.WSManCode != "87" || r.Fault.Subcode != "w:InvalidParameter" ||
		r.Fault.Provider != "Shell cmd plugin" || r.Fault.Message != "The parameter is incorrect." {
		t.Errorf("fail poll fault: %+v", r.Fault)
	}
	r = parse("test_winrs_no_cmd_shell.yml", 1)
	if r.Fault == nil || r.Fault.WSManCode != "2147942402" || r.Fault.Code != "s:Receiver" || r.Fault.Reason != "The system cannot find the file specified." {
		t.Errorf("no cmd shell fault: %+v", r.Fault)
	}
	c := loadPypsrp(t, "test_winrs_operation_timeout.yml")
	var timeouts int
	var out []byte
	for _, m := range c.Messages {
		rep, err := parseReply(context.Background(), []byte(m.Response))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Fault.timedOut() {
			timeouts++
			he := &HTTPError{StatusCode: 500, ContentType: soapContentType, Body: m.Response}
			if !isOperationTimeout(he) || !strings.Contains(he.Error(), "OperationTimeout") {
				t.Errorf("TimedOut fault not recognised: %v", he)
			}
		}
		out = append(out, rep.Stdout...)
	}
	if timeouts != 2 || string(out) != "hi\nhi again\n" {
		t.Errorf("operation timeout: %d timeouts, output %q", timeouts, out)
	}
}
