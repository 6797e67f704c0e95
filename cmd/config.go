package cmd

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/probe"
)

// Config is the merged configuration of one run. It is built once by loadConfig and not changed after.
type Config struct {
	Concurrency  int           `mapstructure:"concurrency" yaml:"concurrency"`
	Timeout      time.Duration `mapstructure:"timeout" yaml:"timeout"`
	Retries      int           `mapstructure:"retries" yaml:"retries"`
	RetryBackoff time.Duration `mapstructure:"retry_backoff" yaml:"retry_backoff"`
	// AuthFailureLimit protects the account from lockout (see configs/dcproxy.yaml); 0 = off.
	AuthFailureLimit int `mapstructure:"auth_failure_limit" yaml:"auth_failure_limit"`

	Format string `mapstructure:"format" yaml:"format"`
	Output string `mapstructure:"output" yaml:"output"`

	User         string `mapstructure:"user" yaml:"user"`
	PasswordFile string `mapstructure:"password_file" yaml:"password_file"`
	Auth         string `mapstructure:"auth" yaml:"auth"`
	// NTLM allows negotiate to fall back to NTLM (and auth: ntlm); false: never an NTLM token.
	NTLM bool `mapstructure:"ntlm" yaml:"ntlm"`
	// KeytabFile, Realm and KDC are the Kerberos settings of the default account (auth negotiate
	// or kerberos); the ticket cache comes from KRB5CCNAME, krb5.conf from KRB5_CONFIG.
	KeytabFile         string   `mapstructure:"keytab_file" yaml:"keytab_file"`
	Realm              string   `mapstructure:"realm" yaml:"realm"`
	KDC                []string `mapstructure:"kdc" yaml:"kdc"`
	HTTPS              bool     `mapstructure:"https" yaml:"https"`
	Port               int      `mapstructure:"port" yaml:"port"`
	CAFile             string   `mapstructure:"ca_file" yaml:"ca_file"`
	TLSServerName      string   `mapstructure:"tls_server_name" yaml:"tls_server_name"`
	InsecureSkipVerify bool     `mapstructure:"insecure_skip_verify" yaml:"insecure_skip_verify"`
	AllowBasicHTTP     bool     `mapstructure:"allow_basic_http" yaml:"allow_basic_http"`

	Credentials map[string]Credential `mapstructure:"credentials" yaml:"credentials"`
	Reference   ReferenceConfig       `mapstructure:"reference" yaml:"reference"`
	Probe       ProbeConfig           `mapstructure:"probe" yaml:"probe"`
	Sensor      SensorConfig          `mapstructure:"sensor" yaml:"sensor"`
	Fix         FixConfig             `mapstructure:"fix" yaml:"fix"`

	LogLevel  string `mapstructure:"log_level" yaml:"log_level"`
	LogFormat string `mapstructure:"log_format" yaml:"log_format"`
	LogFile   string `mapstructure:"log_file" yaml:"log_file"`

	// File is the configuration file that was read ("" when only the embedded defaults apply).
	File string `mapstructure:"-" yaml:"-"`
}

// Credential is a named account for a group of hosts; its password lives in an environment variable
// or a file, never in the configuration, or its keys in a keytab (Kerberos, no password).
type Credential struct {
	User         string `mapstructure:"user" yaml:"user"`
	PasswordEnv  string `mapstructure:"password_env" yaml:"password_env"`
	PasswordFile string `mapstructure:"password_file" yaml:"password_file"`
	KeytabFile   string `mapstructure:"keytab_file" yaml:"keytab_file,omitempty"`
}

// ReferenceConfig selects what the service accounts must match.
type ReferenceConfig struct {
	Source        string `mapstructure:"source" yaml:"source"`
	Proxy         string `mapstructure:"proxy" yaml:"proxy"`
	Bypass        string `mapstructure:"bypass" yaml:"bypass"`
	AutoConfigURL string `mapstructure:"autoconfig_url" yaml:"autoconfig_url"`
	AutoDetect    bool   `mapstructure:"autodetect" yaml:"autodetect"`
}

// ProbeConfig configures the endpoint probe.
type ProbeConfig struct {
	Enabled bool          `mapstructure:"enabled" yaml:"enabled"`
	URL     string        `mapstructure:"url" yaml:"url"`
	Accept  []int         `mapstructure:"accept" yaml:"accept"`
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout"`
	// ExpectedIssuers: substrings of which the endpoint certificate's issuer must contain one
	// (case-insensitive); an empty list disables the check.
	ExpectedIssuers []string `mapstructure:"expected_issuers" yaml:"expected_issuers"`
	// Workspace and Cloud name the sensor API (https://<workspace>sensorapi.../tri/sensor/api/ping)
	// for hosts that do not name their own; URL, when set, wins over both.
	Workspace string `mapstructure:"workspace" yaml:"workspace"`
	Cloud     string `mapstructure:"cloud" yaml:"cloud"`
	// OneCommand sends the registry read and the probe in one command line (see configs/dcproxy.yaml).
	OneCommand bool `mapstructure:"one_command" yaml:"one_command"`
}

// SensorConfig says what the audit expects of the Defender for Identity sensor.
type SensorConfig struct {
	// Expect: what a DC without a sensor is checked for: any, v2 (the WinINet rule) or v3
	// (Defender for Endpoint's route).
	Expect string `mapstructure:"expect" yaml:"expect"`
}

// FixConfig configures the fix and restore commands.
type FixConfig struct {
	Concurrency  int           `mapstructure:"concurrency" yaml:"concurrency"`
	BackupFile   string        `mapstructure:"backup_file" yaml:"backup_file"`
	AuditLog     string        `mapstructure:"audit_log" yaml:"audit_log"`
	AllowDirect  bool          `mapstructure:"allow_direct" yaml:"allow_direct"`
	WriteTimeout time.Duration `mapstructure:"write_timeout" yaml:"write_timeout"`
	// SavedLegacySettings: fix also reads and writes the accounts' SavedLegacySettings.
	SavedLegacySettings bool `mapstructure:"saved_legacy_settings" yaml:"saved_legacy_settings"`
}

// fieldError is a Validate error about one configuration key; loadConfig names where the key's
// value came from (file:line, environment variable, flag).
type fieldError struct {
	key string
	err error
}

func (e *fieldError) Error() string { return e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func fieldErr(key, format string, a ...any) error {
	return &fieldError{key: key, err: fmt.Errorf(format, a...)}
}

// Validate checks values that cannot work. Its errors name the key (see fieldError).
func (c *Config) Validate() error {
	switch {
	case c.Concurrency < 1 || c.Concurrency > 10000:
		return fieldErr("concurrency", "concurrency %d: want 1..10000", c.Concurrency)
	case c.Timeout <= 0:
		return fieldErr("timeout", "timeout %s: want a positive duration", c.Timeout)
	case c.Retries < 0 || c.Retries > 10:
		return fieldErr("retries", "retries %d: want 0..10", c.Retries)
	case c.AuthFailureLimit < 0 || c.AuthFailureLimit > 100:
		return fieldErr("auth_failure_limit", "auth_failure_limit %d: want 0..100 (0 turns lockout protection off)", c.AuthFailureLimit)
	case c.RetryBackoff <= 0:
		return fieldErr("retry_backoff", "retry_backoff %s: want a positive duration", c.RetryBackoff)
	case c.Format != "" && !otherFormat(c.Format):
		return fieldErr("format", "format %q: want one of %s", c.Format, strings.Join(formatNames(), ", "))
	case !knownAuth(c.Auth):
		return fieldErr("auth", "auth %q: want negotiate, kerberos, ntlm or basic", c.Auth)
	case c.Auth == remote.AuthNTLM && !c.NTLM:
		return fieldErr("ntlm", "ntlm: false forbids NTLM, but auth is ntlm: use auth negotiate or kerberos, or ntlm: true")
	case c.Port < 0 || c.Port > 65535:
		return fieldErr("port", "port %d: want 1..65535 (0 = standard port)", c.Port)
	case c.Auth == remote.AuthBasic && !c.HTTPS && !c.AllowBasicHTTP:
		return fieldErr("auth", "auth basic over plain HTTP sends the password in clear: use https: true, or allow_basic_http: true")
	case c.Reference.Source != "current_user" && c.Reference.Source != "declared":
		return fieldErr("reference.source", "reference.source %q: want current_user or declared", c.Reference.Source)
	case c.Reference.Source == "declared" && c.Reference.Proxy == "" && c.Reference.AutoConfigURL == "" && !c.Reference.AutoDetect:
		return fieldErr("reference.source", "reference.source declared needs reference.proxy, reference.autoconfig_url or reference.autodetect")
	case c.Probe.Timeout <= 0:
		return fieldErr("probe.timeout", "probe.timeout %s: want a positive duration", c.Probe.Timeout)
	case len(c.Probe.Accept) == 0:
		return fieldErr("probe.accept", "probe.accept: want at least one HTTP status")
	case c.Fix.Concurrency < 1 || c.Fix.Concurrency > 1000:
		return fieldErr("fix.concurrency", "fix.concurrency %d: want 1..1000", c.Fix.Concurrency)
	case c.Fix.WriteTimeout <= 0:
		return fieldErr("fix.write_timeout", "fix.write_timeout %s: want a positive duration", c.Fix.WriteTimeout)
	}
	if err := c.validateProbe(); err != nil {
		return err
	}
	switch c.Sensor.Expect {
	case fleet.ExpectAny, fleet.ExpectV2, fleet.ExpectV3:
	default:
		return fieldErr("sensor.expect", "sensor.expect %q: want any, v2 or v3", c.Sensor.Expect)
	}
	if err := c.validateKerberos(); err != nil {
		return err
	}
	for _, s := range c.Probe.Accept {
		if s < 100 || s > 599 {
			return fieldErr("probe.accept", "probe.accept: %d is not an HTTP status", s)
		}
	}
	for _, s := range c.Probe.ExpectedIssuers {
		if strings.TrimSpace(s) == "" {
			return fieldErr("probe.expected_issuers", "probe.expected_issuers: empty entry (use an empty list, [], to disable the issuer check)")
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fieldErr("log_level", "log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fieldErr("log_format", "log_format %q: want text or json", c.LogFormat)
	}
	names := make([]string, 0, len(c.Credentials))
	for n := range c.Credentials {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		cr := c.Credentials[n]
		if cr.User == "" {
			return fieldErr("credentials."+n, "credentials.%s: no user", n)
		}
		if cr.PasswordEnv != "" && cr.PasswordFile != "" {
			return fieldErr("credentials."+n, "credentials.%s: give one of password_env and password_file, not both", n)
		}
		if cr.PasswordEnv == "" && cr.PasswordFile == "" && cr.KeytabFile == "" {
			return fieldErr("credentials."+n, "credentials.%s: give password_env, password_file or keytab_file", n)
		}
	}
	return nil
}

// validateProbe checks the probe's target the way the probe will (remote/probe Config.Validate):
// probe.url when set, else the workspace's URL; probe.cloud always (it also picks the trusted root).
func (c *Config) validateProbe() error {
	if _, err := fleet.WorkspaceURL("x", c.Probe.Cloud); err != nil {
		return fieldErr("probe.cloud", "probe.%v", err)
	}
	// The timeout alone, with a URL the probe accepts.
	if err := (probe.Config{URL: "https://x.invalid", Timeout: c.Probe.Timeout, Routes: checkRoutes}).Validate(); err != nil {
		return fieldErr("probe.timeout", "probe.timeout %s: %v", c.Probe.Timeout, err)
	}
	switch {
	case c.Probe.URL != "":
		if err := validateProbeURL(c.Probe.URL); err != nil {
			return &fieldError{key: "probe.url", err: err}
		}
	case c.Probe.Workspace != "":
		u, err := fleet.WorkspaceURL(c.Probe.Workspace, c.Probe.Cloud)
		if err != nil {
			return fieldErr("probe.workspace", "probe.%v", err)
		}
		if err := validateProbeURL(u); err != nil {
			return &fieldError{key: "probe.workspace", err: err}
		}
	}
	return nil
}

// checkRoutes is the one route a probe configuration is checked with.
var checkRoutes = []probe.Route{{ID: "CHECK", Mode: probe.ModeDirect}}

// validateProbeURL checks a probe URL as the probe will use it (printable ASCII that survives
// cmd.exe, https, a host, no user info).
func validateProbeURL(raw string) error {
	if err := (probe.Config{URL: raw, Timeout: time.Second, Routes: checkRoutes}).Validate(); err != nil {
		return fmt.Errorf("probe.url %q: want an https:// URL the probe can request: %w", raw, err)
	}
	return nil
}

// validateKerberos checks the Kerberos keys: KDCs as host or host:port, a realm without spaces.
func (c *Config) validateKerberos() error {
	for _, k := range c.KDC {
		h := strings.TrimSpace(k)
		if hp, port, err := net.SplitHostPort(h); err == nil {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return fieldErr("kdc", "kdc %q: bad port", k)
			}
			h = hp
		}
		if h == "" || remote.CheckHost(h) != nil {
			return fieldErr("kdc", "kdc %q: want host or host:port", k)
		}
	}
	if strings.ContainsFunc(c.Realm, func(r rune) bool { return r <= ' ' || r == '@' || r == '/' }) {
		return fieldErr("realm", "realm %q: want a realm name such as CORP.EXAMPLE", c.Realm)
	}
	return nil
}

// knownAuth reports whether a is an auth method of the auth key and the inventory.
func knownAuth(a string) bool {
	switch a {
	case remote.AuthNegotiate, remote.AuthKerberos, remote.AuthNTLM, remote.AuthBasic:
		return true
	}
	return false
}
