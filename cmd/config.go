package cmd

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/dcproxy/dcproxy/remote"
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

	User               string `mapstructure:"user" yaml:"user"`
	PasswordFile       string `mapstructure:"password_file" yaml:"password_file"`
	Auth               string `mapstructure:"auth" yaml:"auth"`
	HTTPS              bool   `mapstructure:"https" yaml:"https"`
	Port               int    `mapstructure:"port" yaml:"port"`
	CAFile             string `mapstructure:"ca_file" yaml:"ca_file"`
	TLSServerName      string `mapstructure:"tls_server_name" yaml:"tls_server_name"`
	InsecureSkipVerify bool   `mapstructure:"insecure_skip_verify" yaml:"insecure_skip_verify"`
	AllowBasicHTTP     bool   `mapstructure:"allow_basic_http" yaml:"allow_basic_http"`

	Credentials map[string]Credential `mapstructure:"credentials" yaml:"credentials"`
	Reference   ReferenceConfig       `mapstructure:"reference" yaml:"reference"`
	Probe       ProbeConfig           `mapstructure:"probe" yaml:"probe"`
	Fix         FixConfig             `mapstructure:"fix" yaml:"fix"`

	LogLevel  string `mapstructure:"log_level" yaml:"log_level"`
	LogFormat string `mapstructure:"log_format" yaml:"log_format"`
	LogFile   string `mapstructure:"log_file" yaml:"log_file"`

	// File is the configuration file that was read ("" when only the embedded defaults apply).
	File string `mapstructure:"-" yaml:"-"`
}

// Credential is a named account for a group of hosts; its password lives in an environment variable
// or a file, never in the configuration.
type Credential struct {
	User         string `mapstructure:"user" yaml:"user"`
	PasswordEnv  string `mapstructure:"password_env" yaml:"password_env"`
	PasswordFile string `mapstructure:"password_file" yaml:"password_file"`
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
	case c.Auth != remote.AuthNTLM && c.Auth != remote.AuthBasic:
		return fieldErr("auth", "auth %q: want ntlm or basic", c.Auth)
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
	if err := validateProbeURL(c.Probe.URL); err != nil {
		return &fieldError{key: "probe.url", err: err}
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
		if (cr.PasswordEnv == "") == (cr.PasswordFile == "") {
			return fieldErr("credentials."+n, "credentials.%s: give exactly one of password_env and password_file", n)
		}
	}
	return nil
}

// validateProbeURL checks probe.url as the probe will use it.
func validateProbeURL(raw string) error {
	if u, err := url.Parse(raw); err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("probe.url %q: want an https:// URL", raw)
	}
	return nil
}
