package cmd

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) newConfigCmd() *cobra.Command {
	var file string
	c := &cobra.Command{Use: "config", Short: "Validate or show the merged configuration"}
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration (defaults, file, DCPROXY_* environment) and exit 0, or 64 naming the problem",
		Args:  args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadConfig(file, nil, a.env)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "configuration OK (%s)\n", orEmbedded(cfg.File))
			return nil
		},
	}
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the merged configuration as YAML (no secrets: passwords are never configuration)",
		Args:  args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadConfig(file, nil, a.env)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "# source: %s\n", orEmbedded(cfg.File))
			fmt.Fprint(a.stdout, cfg.show())
			return nil
		},
	}
	for _, s := range []*cobra.Command{check, show} {
		s.Flags().StringVar(&file, "config", "", "configuration file (default: first dcproxy.yaml in ., the user config dir, /etc/dcproxy)")
		c.AddCommand(s)
	}
	return c
}

// show renders the configuration as YAML, durations in Go syntax, credentials by name and source.
func (c *Config) show() string {
	var b strings.Builder
	w := func(k string, v any) { fmt.Fprintf(&b, "%s: %v\n", k, v) }
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	w("concurrency", c.Concurrency)
	w("timeout", c.Timeout)
	w("retries", c.Retries)
	w("retry_backoff", c.RetryBackoff)
	w("auth_failure_limit", c.AuthFailureLimit)
	w("format", q(c.Format))
	w("output", q(c.Output))
	w("user", q(c.User))
	w("password_file", q(c.PasswordFile))
	w("auth", c.Auth)
	w("https", c.HTTPS)
	w("port", c.Port)
	w("ca_file", q(c.CAFile))
	w("tls_server_name", q(c.TLSServerName))
	w("insecure_skip_verify", c.InsecureSkipVerify)
	w("allow_basic_http", c.AllowBasicHTTP)
	if len(c.Credentials) == 0 {
		w("credentials", "{}")
	} else {
		b.WriteString("credentials:\n")
		names := make([]string, 0, len(c.Credentials))
		for n := range c.Credentials {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			cr := c.Credentials[n]
			fmt.Fprintf(&b, "  %s:\n    user: %q\n    password_env: %q\n    password_file: %q\n", n, cr.User, cr.PasswordEnv, cr.PasswordFile)
		}
	}
	fmt.Fprintf(&b, "reference:\n  source: %s\n  proxy: %q\n  bypass: %q\n  autoconfig_url: %q\n  autodetect: %v\n",
		c.Reference.Source, c.Reference.Proxy, c.Reference.Bypass, c.Reference.AutoConfigURL, c.Reference.AutoDetect)
	acc := make([]string, len(c.Probe.Accept))
	for i, s := range c.Probe.Accept {
		acc[i] = fmt.Sprint(s)
	}
	iss := make([]string, len(c.Probe.ExpectedIssuers))
	for i, x := range c.Probe.ExpectedIssuers {
		iss[i] = fmt.Sprintf("%q", x)
	}
	fmt.Fprintf(&b, "probe:\n  enabled: %v\n  url: %s\n  accept: [%s]\n  timeout: %s\n  expected_issuers: [%s]\n",
		c.Probe.Enabled, c.Probe.URL, strings.Join(acc, ", "), c.Probe.Timeout, strings.Join(iss, ", "))
	w("log_level", c.LogLevel)
	w("log_format", c.LogFormat)
	w("log_file", q(c.LogFile))
	return b.String()
}
