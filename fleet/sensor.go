package fleet

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// SensorOptions configure how the audit treats the Defender for Identity sensor.
type SensorOptions struct {
	// Expect is what a DC without a sensor is checked for (a readiness check): ExpectAny and ExpectV2
	// apply the seed's WinINet rule, ExpectV3 Defender for Endpoint's route. "" means ExpectAny.
	Expect string
}

// SensorOptions.Expect values.
const (
	ExpectAny = "any"
	ExpectV2  = "v2"
	ExpectV3  = "v3"
)

// Clouds of probe.cloud and their sensor API domains (mdi-2026.md "Endpoints and TLS").
const (
	CloudCommercial = "commercial"
	CloudGCC        = "gcc"
	CloudGCCHigh    = "gcc-high"
)

var cloudDomains = map[string]string{
	CloudCommercial: "sensorapi.atp.azure.com",
	CloudGCC:        "sensorapi.gcc.atp.azure.com",
	CloudGCCHigh:    "sensorapi.atp.azure.us",
}

// PingPath is the sensor API's connectivity test path: 200 with the latest sensor version, or 503
// from older workspaces, which Microsoft still counts as success.
const PingPath = "/tri/sensor/api/ping"

// workspaceRE: a workspace name as it prefixes the sensor API host name.
var workspaceRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// WorkspaceURL returns the ping URL of a workspace in a cloud ("" = commercial), or an error naming
// what is wrong.
func WorkspaceURL(workspace, cloud string) (string, error) {
	if cloud == "" {
		cloud = CloudCommercial
	}
	d, ok := cloudDomains[cloud]
	if !ok {
		return "", fmt.Errorf("cloud %q: want commercial, gcc or gcc-high", cloud)
	}
	ws := strings.ToLower(strings.TrimSpace(workspace))
	if !workspaceRE.MatchString(ws) {
		return "", fmt.Errorf("workspace %q: want the workspace name (letters, digits, hyphens), as in <workspace>%s", workspace, d)
	}
	return "https://" + ws + d + PingPath, nil
}

// Trusted roots of the sensor endpoints (mdi-2026.md): SHA-1 thumbprints as certutil prints them.
const (
	RootDigiCertGlobalG2 = "DF3C24F9BFD666761B268073FE06D1CC8D4F82A4" // commercial and GCC
	RootDigiCertGlobalCA = "A8985D3A65E5E5C4B2D7D66D40C6DD2FB19C5436" // GCC High
)

// rootNames names the roots for messages.
var rootNames = map[string]string{
	RootDigiCertGlobalG2: "DigiCert Global Root G2",
	RootDigiCertGlobalCA: "DigiCert Global Root CA",
}

// rootFor is the root the sensor's endpoint chains to in a cloud.
func rootFor(cloud string) string {
	if cloud == CloudGCCHigh {
		return RootDigiCertGlobalCA
	}
	return RootDigiCertGlobalG2
}

// serviceStart names a service Start value.
func serviceStart(v uint32) string {
	switch v {
	case 0:
		return "boot"
	case 1:
		return "system"
	case 2:
		return "auto"
	case 3:
		return "manual"
	case 4:
		return "disabled"
	}
	return strconv.FormatUint(uint64(v), 10)
}

// service returns the service entry read with the given IDs, nil when the service is absent.
func (s *hostState) service(name, imageID, accountID, startID string) *Service {
	image, account := s.str(imageID), s.str(accountID)
	start, hasStart := s.dword(startID)
	if image == "" && account == "" && !hasStart {
		return nil
	}
	svc := &Service{Name: name, ImagePath: image, Account: account}
	if hasStart {
		svc.Start = serviceStart(start)
	}
	return svc
}

// imageFolder returns the folder of a service ImagePath (quoted or not, arguments dropped), in
// Windows form, and the last folder name (the v2 sensor's version).
func imageFolder(image string) (folder, last string) {
	p := strings.TrimSpace(image)
	if strings.HasPrefix(p, `"`) {
		if i := strings.Index(p[1:], `"`); i >= 0 {
			p = p[1 : i+1]
		} else {
			p = p[1:]
		}
	} else if i := strings.Index(strings.ToLower(p), ".exe"); i >= 0 {
		p = p[:i+4]
	}
	slash := strings.ReplaceAll(p, `\`, "/")
	dir := path.Dir(slash)
	if dir == "." || dir == "/" {
		return "", ""
	}
	return strings.ReplaceAll(dir, "/", `\`), path.Base(dir)
}

var versionRE = regexp.MustCompile(`^\d+(\.\d+){1,3}$`)

// detectSensor tells the sensor kind from the services and Defender for Endpoint's onboarding.
//
// unverified: Microsoft documents no registry marker of the v3 (unified) identity sensor itself;
// dcproxy takes an onboarded Defender for Endpoint (OnboardingState 1) whose Sense service is not
// disabled, on a DC without an active v2 sensor, as v3. A v2 sensor that runs beside Defender for
// Endpoint stays v2 (migration requires removing it).
func detectSensor(s *hostState) *Sensor {
	sn := &Sensor{Kind: SensorNone}
	sn.Service = s.service(serviceSensor, idSensorImage, idSensorAccount, idSensorStart)
	sn.Updater = s.service(serviceUpdater, idUpdaterImage, idUpdaterAccount, idUpdaterStart)
	onboarded, _ := s.dword(idOnboarding)
	senseStart, senseKnown := s.dword(idSenseStart)
	sn.MDEOnboarded = onboarded == 1 && (!senseKnown || senseStart != 4)
	if sn.Service != nil {
		if _, v := imageFolder(sn.Service.ImagePath); versionRE.MatchString(v) {
			sn.Version = v
		}
	}
	v2Active := sn.Service != nil && sn.Service.Start != "disabled"
	switch {
	case v2Active:
		sn.Kind = SensorV2
	case sn.MDEOnboarded && (sn.Service != nil || sn.Updater != nil):
		sn.Kind = SensorMigrated
		if sn.Service != nil {
			sn.Leftovers = append(sn.Leftovers, fmt.Sprintf("v2 service %s (%s)", serviceSensor, startWord(sn.Service)))
		}
		if sn.Updater != nil {
			sn.Leftovers = append(sn.Leftovers, fmt.Sprintf("v2 service %s (%s)", serviceUpdater, startWord(sn.Updater)))
		}
	case sn.MDEOnboarded:
		sn.Kind = SensorV3
	case sn.Service != nil:
		sn.Kind = SensorV2 // installed but disabled, and no v3: still the v2 sensor, which is off
	}
	return sn
}

func startWord(s *Service) string {
	if s.Start == "" {
		return "start type unknown"
	}
	return s.Start
}

// sensorConfigPath is where the v2 sensor keeps SensorConfiguration.json: beside its binary.
func sensorConfigPath(sn *Sensor) string {
	if sn.Service == nil {
		return ""
	}
	dir, _ := imageFolder(sn.Service.ImagePath)
	if dir == "" {
		return ""
	}
	return dir + `\SensorConfiguration.json`
}

// proxyHostPort turns a proxy URL or host[:port] as the sensor or a policy stores it
// ("http://proxy:8080", "proxy:8080", "proxy") into host:port for the probe (port 80 when none, as
// WinINet and WinHTTP assume).
func proxyHostPort(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("empty proxy")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("proxy %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("proxy %q: scheme %s is not supported by the probe", s, u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", fmt.Errorf("proxy %q: no host", s)
	}
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(host, port), nil
}

// mdeStaticProxy is TelemetryProxyServer in host:port form, "" when not set.
func mdeStaticProxy(s *hostState) (raw, hp string, err error) {
	raw = strings.TrimSpace(s.str(idTelemetryProxy))
	if raw == "" {
		return "", "", nil
	}
	hp, err = proxyHostPort(raw)
	return raw, hp, err
}
