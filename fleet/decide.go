package fleet

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/wininet"
)

// Rules: which route family judges a host.
const (
	ruleWinINet = "wininet" // v2 (its JSON proxy when set, else WinINet per account) and none as v2
	ruleMDE     = "mde"     // v3, migrated, and none checked as v3
)

// ruleFor picks the rule of a sensor kind; a DC without a sensor is a readiness check for what
// expect names.
func ruleFor(kind, expect string) string {
	switch kind {
	case SensorV3, SensorMigrated:
		return ruleMDE
	case SensorNone:
		if expect == ExpectV3 {
			return ruleMDE
		}
	}
	return ruleWinINet
}

// Probe route IDs beyond the accounts.
const (
	RouteIDSensorJSON = "SENSOR_JSON" // the v2 sensor's own proxy
	RouteIDMDE        = "MDE"         // Defender for Endpoint's route (static proxy, WinHTTP or direct)
)

// hostEval carries one host's evaluation between its steps.
type hostEval struct {
	opt        Options
	st         *hostState
	sensor     *Sensor
	rule       string
	perMachine bool
	decoded    map[string]*wininet.Settings // service accounts' own settings (nil = none or undecodable)
	machine    *wininet.Settings            // HKLM DefaultConnectionSettings under ProxySettingsPerUser=0
	// filled by runProbe
	cfg      probe.Config
	urlKnown bool // cfg.URL is a real URL (explicit or the workspace's), not the .invalid placeholder
	approx   map[string]bool
	bypassed map[string]bool
	unprobed map[string]unprobed // accounts without a probe route, and why (probeRoutes)
	mdeRoute *Route              // the route MDE uses (rule mde)
}

// unknownWorkspaceURL is requested only when neither probe.url nor probe.workspace is set and the host
// itself names no endpoint: the reserved .invalid name (RFC 6761) never resolves, and the check says
// that the workspace is unknown.
const unknownWorkspaceURL = "https://workspace-unknown.invalid" + PingPath

func sensorCheck(sn *Sensor, rule string) Check {
	c := Check{ID: "sensor", Kind: KindSensor, Status: CheckInfo, Actual: sn}
	var b strings.Builder
	switch sn.Kind {
	case SensorNone:
		b.WriteString("no Defender for Identity sensor: readiness check for ")
		if rule == ruleMDE {
			b.WriteString("the v3 sensor (Defender for Endpoint's route)")
		} else {
			b.WriteString("the v2 sensor (WinINet of LocalService and LocalSystem)")
		}
	case SensorV2:
		b.WriteString("v2 sensor")
		if sn.Version != "" {
			b.WriteString(" " + sn.Version)
		}
		if sn.Service != nil && sn.Service.Start == "disabled" {
			b.WriteString(" (service disabled)")
			c.Status, c.Actor = CheckWarn, ActorSensor
		}
		if sn.MDEOnboarded {
			b.WriteString("; Defender for Endpoint is onboarded too")
		}
	case SensorV3:
		b.WriteString("v3 sensor (Defender for Endpoint onboarded)")
	case SensorMigrated:
		b.WriteString("v3 sensor with v2 leftovers: " + strings.Join(sn.Leftovers, ", "))
	}
	c.Message = b.String()
	return c
}

// tlsChecks: the sensor needs TLS 1.2 through .NET: SchUseStrongCrypto and SystemDefaultTlsVersions
// set to 1 in both registry views.
func tlsChecks(st *hostState) []Check {
	c := Check{ID: "tls.netfx", Kind: KindTLS, Status: CheckPass, Message: "SchUseStrongCrypto and SystemDefaultTlsVersions are 1 in both registry views"}
	if _, read := st.vals[idStrongCrypto64]; !read {
		return nil // not part of this read (a fix's re-check of the values it wrote)
	}
	var missing []string
	for _, v := range []struct{ id, key, name string }{
		{idStrongCrypto64, keyNetFx64, valueStrongCrypto},
		{idSystemDefault64, keyNetFx64, valueSystemDefault},
		{idStrongCrypto32, keyNetFx32, valueStrongCrypto},
		{idSystemDefault32, keyNetFx32, valueSystemDefault},
	} {
		if n, ok := st.dword(v.id); !ok || n != 1 {
			have := "absent"
			if ok {
				have = strconv.FormatUint(uint64(n), 10)
			}
			missing = append(missing, fmt.Sprintf(`%s (%s): reg add "%s" /v %s /t REG_DWORD /d 1 /f`, v.name, have, v.key, v.name))
		}
	}
	if len(missing) > 0 {
		c.Status, c.Actor = CheckFail, ActorSensor
		c.Message = "TLS 1.2 for .NET is not enabled (the sensor fails with \"ApplyInternal failed two way SSL connection\"); set: " + strings.Join(missing, "; ")
	}
	return []Check{c}
}

// rootCheck: the root the sensor endpoint chains to must be in LocalMachine\Root.
func rootCheck(out *probe.Output, cloud string) Check {
	root := rootFor(cloud)
	c := Check{ID: "tls.root", Kind: KindTLS, Status: CheckPass, Message: rootNames[root] + " is in LocalMachine\\Root"}
	if present, ok := out.Roots[root]; ok && !present {
		c.Status, c.Actor = CheckFail, ActorSensor
		c.Message = fmt.Sprintf("the sensor's trusted root %s (thumbprint %s) is missing from LocalMachine\\Root: import it (certutil -addstore Root DigiCertGlobalRootG2.crt, or by group policy)", rootNames[root], root)
		if root == RootDigiCertGlobalCA {
			c.Message = strings.Replace(c.Message, "DigiCertGlobalRootG2.crt", "DigiCertGlobalRootCA.crt", 1)
		}
	}
	return c
}

// mdeChecks report Defender for Endpoint's proxy policies. A static proxy without
// DisableEnterpriseAuthProxy=1 is a warning where MDE's route judges the host.
func mdeChecks(st *hostState, rule string) []Check {
	var cs []Check
	raw, _, err := mdeStaticProxy(st)
	noAuth, _ := st.dword(idDisableAuthPrx)
	prefer, _ := st.dword(idPreferStatic)
	c := Check{ID: "mde.static_proxy", Kind: KindInfo, Status: CheckInfo}
	switch {
	case raw == "":
		c.Message = "no Defender for Endpoint static proxy (TelemetryProxyServer)"
	case err != nil:
		c.Message = "TelemetryProxyServer " + strconv.Quote(raw) + " cannot be used: " + err.Error()
		if rule == ruleMDE {
			c.Status, c.Actor = CheckFail, ActorSensor
		}
	default:
		c.Message = fmt.Sprintf("Defender for Endpoint static proxy %s (DisableEnterpriseAuthProxy=%d, PreferStaticProxyForHttpRequest=%d)", raw, noAuth, prefer)
		if rule == ruleMDE && noAuth != 1 {
			c.Status, c.Actor = CheckWarn, ActorSensor
			c.Message += `; set DisableEnterpriseAuthProxy=1 (reg add "` + keyDataCollection + `" /v DisableEnterpriseAuthProxy /t REG_DWORD /d 1 /f): Microsoft requires it with a static proxy`
		}
	}
	cs = append(cs, c)
	if av := strings.TrimSpace(st.str(idDefenderProxy)); av != "" {
		cs = append(cs, Check{ID: "mde.av_proxy", Kind: KindInfo, Status: CheckInfo, Message: "Defender Antivirus proxy (ProxyServer): " + av})
	}
	return cs
}

// leftoverCheck lists what a migration from v2 left on a v3 DC.
func leftoverCheck(sn *Sensor, vals Values) Check {
	if sn.Config != nil && sn.Config.Found && sn.Config.ProxyURL != "" {
		sn.Leftovers = append(sn.Leftovers, "stale SensorConfiguration.json proxy "+sn.Config.ProxyURL)
	}
	if vals[AccountLocalService] != nil {
		sn.Leftovers = append(sn.Leftovers, "WinINet DefaultConnectionSettings of LocalService (not used by v3)")
	}
	return Check{ID: "sensor.leftovers", Kind: KindSensor, Status: CheckWarn, Actor: ActorSensor,
		Message: "v2 leftovers after the migration to v3: " + strings.Join(sn.Leftovers, "; ") + " (uninstall the v2 sensor to remove them)"}
}

func sensorConfigOf(path string, p *probe.SensorConfig) *SensorConfig {
	c := &SensorConfig{Path: path, Found: p.Found, Error: p.Error, ProxyURL: p.ProxyURL, ProxyUser: p.ProxyUser, Credentials: p.Credentials}
	if p.Address != "" {
		c.Endpoint = p.Address
		if p.Port != 0 && p.Port != 443 {
			c.Endpoint += ":" + strconv.Itoa(p.Port)
		}
	}
	return c
}

// decide names the route the sensor really uses, given what the probe read on the host.
func (e *hostEval) decide(out *probe.Output) *Route {
	rt := &Route{URL: e.cfg.URL}
	if out != nil {
		rt.URL = out.URL
	}
	if e.rule == ruleMDE {
		if e.mdeRoute == nil {
			e.mdeRoute = e.mdeRouteOf()
		}
		r := *e.mdeRoute
		r.URL = rt.URL
		return &r
	}
	sc := e.sensor.Config
	if sc != nil && sc.Found && sc.ProxyURL != "" {
		rt.Source = RouteSensorJSON
		rt.Proxy, _ = proxyHostPort(sc.ProxyURL)
		rt.Decision = "the v2 sensor uses its own proxy " + sc.ProxyURL + " from SensorConfiguration.json"
		if sc.Credentials {
			rt.Decision += fmt.Sprintf(" (credentials for %s configured)", sc.ProxyUser)
		}
		if e.anyWinINetProxy() {
			// unverified: Microsoft documents no precedence between the JSON proxy and the WinINet values
			// when both are set; dcproxy takes the JSON proxy, which the sensor's own cmdlets manage.
			rt.Unverified = true
			rt.Decision += "; WinINet values are set too and Microsoft documents no precedence: dcproxy takes the JSON proxy (unverified)"
		}
		rt.Instead = fmt.Sprintf("Set-MDISensorProxyConfiguration -ProxyUrl '%s'  (on the DC, DefenderForIdentity module; add -ProxyCredential for an authenticating proxy)", sc.ProxyURL)
		return rt
	}
	if e.perMachine {
		rt.Source = RouteWinINetMachine
		if e.machine != nil {
			if hp, ok := wininet.ProxyFor(*e.machine, "https"); ok {
				rt.Proxy = hp
			}
		}
		rt.Decision = "ProxySettingsPerUser=0: every account, the sensor's included, uses the machine's WinINet settings (HKLM " + ConnectionsKey + ")"
		rt.Instead = `set the proxy in HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections DefaultConnectionSettings (per-machine policy), or remove ProxySettingsPerUser=0 and run dcproxy fix`
		return rt
	}
	rt.Source = RouteWinINet
	switch {
	case e.sensor.Kind == SensorNone:
		rt.Decision = "no sensor yet: LocalService (the sensor) and LocalSystem (its updater) must carry the WinINet proxy (the 2018 procedure)"
	default:
		rt.Decision = "the v2 sensor has no proxy of its own: LocalService (the sensor) and LocalSystem (its updater) use their WinINet settings"
	}
	switch {
	case e.opt.Probe.Disabled && e.sensor.Kind == SensorV2:
		rt.Decision += " (SensorConfiguration.json not read: the probe is disabled)"
	case sc != nil && !sc.Found:
		rt.Decision += " (SensorConfiguration.json " + sc.Error + ")"
	}
	return rt
}

func (e *hostEval) anyWinINetProxy() bool {
	for _, acct := range ServiceAccounts {
		if s := e.decoded[acct]; s != nil && s.Flags&wininet.FlagProxy != 0 {
			return true
		}
	}
	return false
}

// mdeRouteOf is Defender for Endpoint's route: the static proxy, else WinHTTP, else direct.
func (e *hostEval) mdeRouteOf() *Route {
	raw, hp, err := mdeStaticProxy(e.st)
	rt := &Route{Instead: `set the TelemetryProxyServer policy (reg add "` + keyDataCollection + `" /v TelemetryProxyServer /t REG_SZ /d proxy:port /f, with DisableEnterpriseAuthProxy=1), or Set-MDISensorProxyConfiguration on the DC`}
	switch {
	case raw != "" && err == nil:
		rt.Source, rt.Proxy = RouteMDEStatic, hp
		rt.Decision = "the v3 sensor uses Defender for Endpoint's static proxy " + raw + " (TelemetryProxyServer)"
		return rt
	case raw != "":
		rt.Source = RouteMDEStatic
		rt.Decision = "Defender for Endpoint's static proxy " + strconv.Quote(raw) + " cannot be used: " + err.Error()
		return rt
	}
	if raw := e.st.vals[AccountMachine]; raw != nil {
		if s, err := wininet.Decode(raw); err == nil {
			if hp, ok := wininet.ProxyFor(s, "https"); ok {
				rt.Source, rt.Proxy = RouteWinHTTP, hp
				rt.Decision = "no static proxy: the v3 sensor uses the WinHTTP proxy " + hp + " (netsh winhttp)"
				return rt
			}
		}
	}
	rt.Source = RouteDirect
	rt.Decision = "no static proxy and no WinHTTP proxy: the v3 sensor goes direct (or through a transparent proxy / WPAD)"
	return rt
}
