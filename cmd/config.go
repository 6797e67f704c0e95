package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/dcproxy/dcproxy/configs"
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

// flagKeys maps flag names to configuration keys. Only flags the user set override the file.
var flagKeys = map[string]string{
	"concurrency": "concurrency", "timeout": "timeout", "retries": "retries",
	"format": "format", "output": "output", "user": "user", "password-file": "password_file",
	"auth": "auth", "https": "https", "port": "port", "ca-file": "ca_file", "tls-server-name": "tls_server_name",
	"insecure-skip-verify": "insecure_skip_verify", "allow-basic-http": "allow_basic_http",
	"probe-url": "probe.url", "no-probe": "", "log-level": "log_level", "log-format": "log_format", "log-file": "log_file",
	"fix-concurrency": "fix.concurrency", "backup": "fix.backup_file", "audit-log": "fix.audit_log", "allow-direct": "fix.allow_direct",
	"saved-legacy-settings": "fix.saved_legacy_settings",
}

// configSearchPath is where dcproxy.yaml is looked for, in order.
func configSearchPath() []string {
	dirs := []string{"."}
	if d, err := os.UserConfigDir(); err == nil {
		dirs = append(dirs, filepath.Join(d, "dcproxy"))
	}
	return append(dirs, "/etc/dcproxy")
}

// loadConfig merges the embedded defaults, the config file, DCPROXY_* variables and the flags that
// were set, rejects unknown keys and validates the result.
func loadConfig(file string, flags *pflag.FlagSet, env func(string) string) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(configs.Default)); err != nil {
		return nil, fmt.Errorf("embedded defaults: %w", err)
	}
	known := map[string]bool{}
	for _, k := range v.AllKeys() {
		known[k] = true
	}
	path := file
	if path == "" {
		for _, d := range configSearchPath() {
			p := filepath.Join(d, "dcproxy.yaml")
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usageErr("config: %w", err)
		}
		if err := checkKnownKeys(path, b, known); err != nil {
			return nil, err
		}
		if err := v.MergeConfig(bytes.NewReader(b)); err != nil {
			return nil, usageErr("config %s: %w", path, err)
		}
	}
	// Environment: DCPROXY_<KEY> with dots as underscores. Only known keys are read, so unrelated
	// DCPROXY_* variables (DCPROXY_PASSWORD) never become configuration.
	for k := range known {
		name := "DCPROXY_" + strings.ToUpper(strings.ReplaceAll(k, ".", "_"))
		if val := env(name); val != "" {
			if k == "probe.accept" || k == "probe.expected_issuers" {
				v.Set(k, strings.Split(val, ","))
				continue
			}
			v.Set(k, val)
		}
	}
	if flags != nil {
		// Only flags the user set override (Visit skips unset ones); Set after the environment so a
		// flag wins over DCPROXY_* (viper's Set has the highest precedence).
		flags.Visit(func(f *pflag.Flag) {
			if key := flagKeys[f.Name]; key != "" {
				v.Set(key, f.Value.String())
			}
		})
		if f := flags.Lookup("no-probe"); f != nil && f.Changed {
			v.Set("probe.enabled", false)
		}
	}
	var c Config
	if err := v.UnmarshalExact(&c); err != nil {
		return nil, usageErr("config %s: %w", orEmbedded(path), err)
	}
	c.File = path
	if err := c.Validate(); err != nil {
		return nil, usageErr("config %s: %w", orEmbedded(path), err)
	}
	return &c, nil
}

func orEmbedded(path string) string {
	if path == "" {
		return "(defaults)"
	}
	return path
}

// checkKnownKeys reports the first key of the file that dcproxy does not know, with its line.
func checkKnownKeys(path string, b []byte, known map[string]bool) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return usageErr("config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	var walk func(prefix string, n *yaml.Node) error
	walk = func(prefix string, n *yaml.Node) error {
		if n.Kind != yaml.MappingNode {
			return usageErr("config %s:%d: %s must be a mapping", path, n.Line, strings.TrimSuffix(prefix, "."))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			full := prefix + strings.ToLower(k.Value)
			if full == "credentials" {
				if val.Kind != yaml.MappingNode && !(val.Kind == yaml.ScalarNode && val.Tag == "!!null") {
					return usageErr("config %s:%d: credentials must be a mapping of names", path, val.Line)
				}
				for j := 0; j+1 < len(val.Content); j += 2 {
					c := val.Content[j+1]
					if c.Kind != yaml.MappingNode {
						return usageErr("config %s:%d: credential %q must be a mapping", path, c.Line, val.Content[j].Value)
					}
					for m := 0; m+1 < len(c.Content); m += 2 {
						switch c.Content[m].Value {
						case "user", "password_env", "password_file":
						case "password":
							return usageErr("config %s:%d: credential %q: passwords are not configuration; use password_env or password_file", path, c.Content[m].Line, val.Content[j].Value)
						default:
							return usageErr("config %s:%d: credential %q: unknown key %q (want user, password_env, password_file)", path, c.Content[m].Line, val.Content[j].Value, c.Content[m].Value)
						}
					}
				}
				continue
			}
			if full == "password" {
				return usageErr("config %s:%d: passwords are not configuration; use DCPROXY_PASSWORD, password_file or the prompt", path, k.Line)
			}
			if known[full] {
				continue
			}
			if hasPrefix(known, full+".") {
				if err := walk(full+".", val); err != nil {
					return err
				}
				continue
			}
			return usageErr("config %s:%d: unknown key %q (see `dcproxy config show` for the known keys)", path, k.Line, full)
		}
		return nil
	}
	return walk("", doc.Content[0])
}

func hasPrefix(known map[string]bool, p string) bool {
	for k := range known {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// Validate checks values that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Concurrency < 1 || c.Concurrency > 10000:
		return fmt.Errorf("concurrency %d: want 1..10000", c.Concurrency)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout %s: want a positive duration", c.Timeout)
	case c.Retries < 0 || c.Retries > 10:
		return fmt.Errorf("retries %d: want 0..10", c.Retries)
	case c.AuthFailureLimit < 0 || c.AuthFailureLimit > 100:
		return fmt.Errorf("auth_failure_limit %d: want 0..100 (0 turns lockout protection off)", c.AuthFailureLimit)
	case c.RetryBackoff <= 0:
		return fmt.Errorf("retry_backoff %s: want a positive duration", c.RetryBackoff)
	case c.Format != "" && c.Format != "table" && c.Format != "json" && !otherFormat(c.Format):
		return fmt.Errorf("format %q: want one of %s", c.Format, strings.Join(formatNames(), ", "))
	case c.Auth != remote.AuthNTLM && c.Auth != remote.AuthBasic:
		return fmt.Errorf("auth %q: want ntlm or basic", c.Auth)
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("port %d: want 1..65535 (0 = standard port)", c.Port)
	case c.Auth == remote.AuthBasic && !c.HTTPS && !c.AllowBasicHTTP:
		return errors.New("auth basic over plain HTTP sends the password in clear: use https: true, or allow_basic_http: true")
	case c.Reference.Source != "current_user" && c.Reference.Source != "declared":
		return fmt.Errorf("reference.source %q: want current_user or declared", c.Reference.Source)
	case c.Reference.Source == "declared" && c.Reference.Proxy == "" && c.Reference.AutoConfigURL == "" && !c.Reference.AutoDetect:
		return errors.New("reference.source declared needs reference.proxy, reference.autoconfig_url or reference.autodetect")
	case c.Probe.Timeout <= 0:
		return fmt.Errorf("probe.timeout %s: want a positive duration", c.Probe.Timeout)
	case len(c.Probe.Accept) == 0:
		return errors.New("probe.accept: want at least one HTTP status")
	case c.Fix.Concurrency < 1 || c.Fix.Concurrency > 1000:
		return fmt.Errorf("fix.concurrency %d: want 1..1000", c.Fix.Concurrency)
	case c.Fix.WriteTimeout <= 0:
		return fmt.Errorf("fix.write_timeout %s: want a positive duration", c.Fix.WriteTimeout)
	}
	if u, err := url.Parse(c.Probe.URL); err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("probe.url %q: want an https:// URL", c.Probe.URL)
	}
	for _, s := range c.Probe.Accept {
		if s < 100 || s > 599 {
			return fmt.Errorf("probe.accept: %d is not an HTTP status", s)
		}
	}
	for _, s := range c.Probe.ExpectedIssuers {
		if strings.TrimSpace(s) == "" {
			return errors.New("probe.expected_issuers: empty entry (use an empty list, [], to disable the issuer check)")
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log_format %q: want text or json", c.LogFormat)
	}
	names := make([]string, 0, len(c.Credentials))
	for n := range c.Credentials {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		cr := c.Credentials[n]
		if cr.User == "" {
			return fmt.Errorf("credentials.%s: no user", n)
		}
		if (cr.PasswordEnv == "") == (cr.PasswordFile == "") {
			return fmt.Errorf("credentials.%s: give exactly one of password_env and password_file", n)
		}
	}
	return nil
}
