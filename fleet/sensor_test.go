package fleet

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/reg"
)

func dw(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func TestImageFolder(t *testing.T) {
	for _, tt := range []struct{ image, folder, last string }{
		{`"C:\Program Files\Azure Advanced Threat Protection Sensor\2.250.18972.18405\Microsoft.Tri.Sensor.exe"`,
			`C:\Program Files\Azure Advanced Threat Protection Sensor\2.250.18972.18405`, "2.250.18972.18405"},
		{`C:\Program Files\Azure Advanced Threat Protection Sensor\2.1.2\Microsoft.Tri.Sensor.exe -service`,
			`C:\Program Files\Azure Advanced Threat Protection Sensor\2.1.2`, "2.1.2"},
		{`"C:\x.exe`, `C:`, "C:"},
		{`sensor.exe`, "", ""},
		{``, "", ""},
	} {
		f, l := imageFolder(tt.image)
		if f != tt.folder || l != tt.last {
			t.Errorf("imageFolder(%q) = %q, %q; want %q, %q", tt.image, f, l, tt.folder, tt.last)
		}
	}
}

func TestProxyHostPort(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"http://proxy.corp:8080", "proxy.corp:8080"},
		{"proxy.corp:3128", "proxy.corp:3128"},
		{"proxy.corp", "proxy.corp:80"},
		{"http://user:pw@proxy.corp:8080/", "proxy.corp:8080"},
		{"http://[2001:db8::1]:8080", "[2001:db8::1]:8080"},
		{" https://p:443 ", "p:443"},
	} {
		got, err := proxyHostPort(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("proxyHostPort(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "socks://p:1080", "http://:8080"} {
		if got, err := proxyHostPort(bad); err == nil {
			t.Errorf("proxyHostPort(%q) = %q, want an error", bad, got)
		}
	}
}

func TestWorkspaceURL(t *testing.T) {
	for _, tt := range []struct{ ws, cloud, want string }{
		{"contoso", "", "https://contososensorapi.atp.azure.com/tri/sensor/api/ping"},
		{"Contoso", "gcc", "https://contososensorapi.gcc.atp.azure.com/tri/sensor/api/ping"},
		{"contoso-2", "gcc-high", "https://contoso-2sensorapi.atp.azure.us/tri/sensor/api/ping"},
	} {
		got, err := WorkspaceURL(tt.ws, tt.cloud)
		if err != nil || got != tt.want {
			t.Errorf("WorkspaceURL(%q, %q) = %q, %v; want %q", tt.ws, tt.cloud, got, err, tt.want)
		}
	}
	for _, bad := range [][2]string{{"", ""}, {"a.b", ""}, {"contoso", "dod"}, {"-x", ""}} {
		if _, err := WorkspaceURL(bad[0], bad[1]); err == nil {
			t.Errorf("WorkspaceURL(%q, %q): want an error", bad[0], bad[1])
		}
	}
}

func TestDetectSensor(t *testing.T) {
	image := []byte(`"C:\Program Files\Azure Advanced Threat Protection Sensor\2.250.18972.18405\Microsoft.Tri.Sensor.exe"`)
	v2 := Values{idSensorImage: image, idSensorAccount: []byte(`NT AUTHORITY\LocalService`), idSensorStart: dw(2),
		idUpdaterImage: image, idUpdaterStart: dw(2)}
	with := func(base Values, kv ...any) *hostState {
		v := Values{}
		for k, x := range base {
			v[k] = x
		}
		for i := 0; i < len(kv); i += 2 {
			v[kv[i].(string)] = kv[i+1].([]byte)
		}
		return &hostState{vals: v}
	}
	for _, tt := range []struct {
		name      string
		st        *hostState
		kind      string
		leftovers int
	}{
		{"nothing", with(nil), SensorNone, 0},
		{"sense not onboarded", with(nil, idSenseStart, dw(3)), SensorNone, 0},
		{"v2", with(v2), SensorV2, 0},
		{"v2 beside MDE", with(v2, idOnboarding, dw(1), idSenseStart, dw(2)), SensorV2, 0},
		{"v2 disabled, no MDE", with(v2, idSensorStart, dw(4)), SensorV2, 0},
		{"v3", with(nil, idOnboarding, dw(1), idSenseStart, dw(2)), SensorV3, 0},
		{"onboarded but Sense disabled", with(nil, idOnboarding, dw(1), idSenseStart, dw(4)), SensorNone, 0},
		{"migrated", with(v2, idSensorStart, dw(4), idUpdaterStart, dw(4), idOnboarding, dw(1), idSenseStart, dw(2)), SensorMigrated, 2},
	} {
		sn := detectSensor(tt.st)
		if sn.Kind != tt.kind || len(sn.Leftovers) != tt.leftovers {
			t.Errorf("%s: kind %s leftovers %q; want %s and %d", tt.name, sn.Kind, sn.Leftovers, tt.kind, tt.leftovers)
		}
		if sn.Kind == SensorV2 && sn.Version != "2.250.18972.18405" {
			t.Errorf("%s: version %q", tt.name, sn.Version)
		}
	}
	if p := sensorConfigPath(detectSensor(with(v2))); p != `C:\Program Files\Azure Advanced Threat Protection Sensor\2.250.18972.18405\SensorConfiguration.json` {
		t.Errorf("sensor config path %q", p)
	}
}

// TestHostQueriesFitOneLine: the whole host read is one cmd.exe line with unique ids.
func TestHostQueriesFitOneLine(t *testing.T) {
	var qs []reg.Query
	for _, q := range hostQueries {
		qs = append(qs, q.Query)
	}
	line, err := reg.BatchQueryCommand(qs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d queries, %d characters", len(qs), len(line))
}

// TestProbeOutputCLIXML: a PowerShell failure's CLIXML stderr (a real capture from pypsrp's tests)
// becomes its first error line in the message, not "#< CLIXML".
func TestProbeOutputCLIXML(t *testing.T) {
	stderr, err := os.ReadFile("../remote/clixml/testdata/pypsrp_clixml_with_error.xml")
	if err != nil {
		t.Fatal(err)
	}
	e := &hostEval{}
	_, msg := e.probeOutput(remote.Output{Stderr: stderr, ExitCode: 1})
	if strings.Contains(msg, "CLIXML") || !strings.HasPrefix(msg, "probe: powershell exited 1: ") || len(msg) <= len("probe: powershell exited 1: ") {
		t.Fatalf("message %q", msg)
	}
	t.Log(msg)
}
