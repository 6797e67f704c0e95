package cmd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/krb"
	"github.com/dcproxy/dcproxy/remote/winrmclient"
	"github.com/dcproxy/dcproxy/report"
)

// auditOptions are the audit command's inputs that are not configuration keys.
type auditOptions struct {
	configFile string
	inventory  string
	limits     []string
	names      []string // --host (fix): inventory names only
	quiet      bool
	all        bool          // --all: every host in the terminal table
	out        outputOptions // report delivery (cmd/output.go)
	discovered []string      // audit --domain: the domains the hosts were discovered in
}

// addConnFlags registers the flags shared by commands that connect to hosts. Their defaults are
// the configuration's: a flag only overrides the configuration when it is set.
func addConnFlags(f *pflag.FlagSet, o *auditOptions) {
	f.StringVar(&o.configFile, "config", "", "configuration file (default: first dcproxy.yaml in ., the user config dir, /etc/dcproxy)")
	f.StringVarP(&o.inventory, "inventory", "i", "", "inventory file: .yaml/.yml, .csv, or text (host[:port] per line); a directory means DIR/inventory.yaml")
	f.StringSliceVar(&o.limits, "limit", nil, "only hosts whose name (or short name: dc01 for dc01.corp.example), site or tag matches one of these glob patterns (repeatable, comma-separated)")
	k := keyFlags{f}
	k.bind("concurrency", "", "concurrency", "hosts checked at once")
	k.bind("timeout", "", "timeout", "deadline per host")
	k.bind("retries", "", "retries", "extra attempts after a transient network error")
	k.bind("user", "", "user", `account to connect as (DOMAIN\user); env DCPROXY_USER`)
	k.bind("password-file", "", "password_file", "file holding the password (mode 600); else DCPROXY_PASSWORD or a prompt")
	k.bind("auth", "", "auth", "negotiate (Kerberos when a ticket cache, keytab or password with a realm is available, else NTLM), kerberos, ntlm or basic")
	k.negated("no-ntlm", "ntlm", "never use NTLM (negotiate does not fall back; config ntlm: false)")
	k.bind("keytab-file", "", "keytab_file", "Kerberos keytab holding the user's keys (mode 600); no password needed")
	k.bind("realm", "", "realm", "Kerberos realm (default: from user@REALM, else krb5.conf)")
	k.bind("kdc", "", "kdc", "Kerberos KDC host[:port] (repeatable; default: krb5.conf, KRB5_CONFIG)")
	k.bind("https", "", "https", "connect to 5986 over TLS")
	k.bind("port", "", "port", "WinRM port (0: 5985, or 5986 with --https)")
	k.bind("ca-file", "", "ca_file", "PEM bundle to verify HTTPS certificates; env DCPROXY_CA_FILE")
	k.bind("tls-server-name", "", "tls_server_name", "name to verify the HTTPS certificate against")
	k.bind("insecure-skip-verify", "", "insecure_skip_verify", "do not verify HTTPS certificates (warns)")
	k.bind("allow-basic-http", "", "allow_basic_http", "allow Basic auth over plain HTTP (password in clear; warns)")
	k.bind("probe-workspace", "", "probe.workspace", "Defender for Identity workspace: the probe requests https://<workspace>sensorapi.../tri/sensor/api/ping where the host names none itself")
	k.bind("probe-cloud", "", "probe.cloud", "cloud of the workspace: commercial, gcc or gcc-high")
	k.bind("probe-url", "", "probe.url", "URL to probe from every host instead of the workspace's sensor API")
	k.bind("sensor-expect", "", "sensor.expect", "what a DC without a sensor is checked for: any, v2 or v3")
	k.negated("no-probe", "probe.enabled", "skip the endpoint probe")
	k.negated("two-commands", "probe.one_command", "run the registry read and the probe as two commands instead of one (probe.one_command: false)")
	k.bind("log-level", "", "log_level", "debug, info, warn or error")
	k.bind("log-format", "", "log_format", "text or json")
	k.bind("log-file", "", "log_file", "write logs to this file instead of stderr")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress or warnings on stderr")
	f.BoolVar(&o.all, "all", false, "show every host in the terminal table (by default compliant hosts are left out when the hosts do not fit the screen)")
}

func (a *app) newAuditCmd() *cobra.Command {
	o := &auditOptions{}
	do := &discoverOptions{}
	c := &cobra.Command{
		Use:   "audit (-i INVENTORY | --domain DOMAIN)",
		Short: "Check every host's service-account proxy settings and endpoint reachability",
		Example: `  . ./lab/lab.env && dcproxy audit -i lab/inventory.yaml
  DCPROXY_PASSWORD=... dcproxy audit -i dcs.txt --user 'CORP\auditor' --format json -o report.json
  dcproxy audit -i dcs.yaml --limit 'dc1*' --limit site-berlin
  kinit auditor@CORP.EXAMPLE && dcproxy audit -i dcs.yaml --probe-workspace contoso
  dcproxy audit --domain corp.example --domain emea.corp.example=emea --probe-workspace contoso`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadConfig(o.configFile, c.Flags(), a.env)
			if err != nil {
				return err
			}
			var env *auditEnv
			if len(do.domains) > 0 {
				if env, err = a.discoverForAudit(c.Context(), cfg, o, do, c.Flags()); err != nil {
					return err
				}
			}
			rep, err := a.audit(c.Context(), cfg, o, env)
			a.setReport(rep)
			return err
		},
	}
	f := c.Flags()
	addConnFlags(f, o)
	addFormatFlags(f)
	addOutputFlags(f, &o.out)
	addDiscoverFlags(f, do)
	return c
}

// discoverForAudit finds the DCs of every --domain (each with its credential) for an audit without
// an inventory file: SRV/LDAP mismatches are warnings, a domain that fails fails the run before any
// host is audited. The hosts keep their DNS names, from which Kerberos takes the SPN.
func (a *app) discoverForAudit(ctx context.Context, cfg *Config, o *auditOptions, do *discoverOptions, flags *pflag.FlagSet) (*auditEnv, error) {
	if o.inventory != "" {
		return nil, usageErr("give -i INVENTORY or --domain DOMAIN, not both")
	}
	results, err := a.discoverDomains(ctx, cfg, do, flags)
	if !o.quiet {
		a.warnFindings(a.stderr, results)
	}
	if err != nil {
		return nil, err
	}
	hosts, _ := DiscoveredHosts(results)
	for _, r := range results {
		o.discovered = append(o.discovered, r.Domain)
		if !o.quiet {
			fmt.Fprintf(a.stderr, "dcproxy: %s: %d DCs found (LDAP %s), %d warnings\n", r.Domain, len(r.Hosts), r.LDAPServer, len(r.Findings))
		}
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("--domain %s: no domain controller found", strings.Join(o.discovered, ", "))
	}
	return &auditEnv{hosts: hosts}, nil
}

// addFormatFlags registers --format and --output (configuration keys format and output).
func addFormatFlags(f *pflag.FlagSet) {
	k := keyFlags{f}
	k.bind("format", "f", "format", "report format: "+strings.Join(formatNames(), ", ")+" (default: table on a terminal, else json; with -o, from the file's extension)")
	k.bind("output", "o", "output", "write the report to FILE (atomically) instead of stdout; {date} and {time} expand to the run's start")
}

// auditEnv carries what a command built for an audit, for reuse by the demo.
type auditEnv struct {
	dialer remote.Dialer
	hosts  []inventory.Host
}

// audit loads the inventory, runs the audit and writes the report. It returns the report even when
// writing it failed, so that the exit status still reflects the fleet.
func (a *app) audit(ctx context.Context, cfg *Config, o *auditOptions, env *auditEnv) (*fleet.Report, error) {
	r, err := a.prepareAudit(cfg, o, env)
	if err != nil {
		return nil, err
	}
	defer r.closeLog()
	plan, err := a.planOutputs(cfg, o, r.log)
	if err != nil {
		return nil, err
	}
	r.opt.DropHostState = true // an audit alone plans no write: keep the results small
	rep := a.runAudit(ctx, r)
	return rep, a.deliver(ctx, plan, r.renderer, rep, cfg.Output)
}

// auditRun is an audit ready to start: its logger, hosts, report renderer and engine options. The
// fix and restore commands run one too.
type auditRun struct {
	log      *slog.Logger
	closeLog func()
	hosts    []inventory.Host
	renderer report.Renderer
	opt      fleet.Options
	quiet    bool
}

// prepareAudit loads the inventory (or env's hosts), resolves credentials and builds the engine
// options; errors are usage errors detected before any host is contacted.
func (a *app) prepareAudit(cfg *Config, o *auditOptions, env *auditEnv) (*auditRun, error) {
	log, closeLog, err := a.newLogger(cfg)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			closeLog()
		}
	}()
	a.quiet = o.quiet
	if o.quiet && cfg.LogFile == "" { // --quiet silences stderr; a log file still gets the logs
		log = slog.New(slog.DiscardHandler)
	}
	var hosts []inventory.Host
	if env != nil && env.hosts != nil {
		hosts = env.hosts
	} else {
		if hosts, err = loadInventory(o.inventory); err != nil {
			return nil, err
		}
	}
	if hosts, err = limitHosts(hosts, o.limits); err != nil {
		return nil, err
	}
	if hosts, err = nameHosts(hosts, o.names); err != nil {
		return nil, err
	}
	format, err := pickFormat(cfg, a.stdoutTTY)
	if err != nil {
		return nil, err
	}
	ropt := a.reportOptions(cfg, o)
	ropt.TTY = a.stdoutTTY && cfg.Output == ""
	ropt.Color = ropt.TTY && a.env("NO_COLOR") == ""
	if ropt.TTY {
		ropt.Width, ropt.Height = a.termSize()
	}
	renderer, err := report.New(format, ropt)
	if err != nil {
		return nil, usageErr("%w", err)
	}
	a.warnInsecure(cfg, hosts, o.quiet)
	targets, err := a.targetBuilder(cfg, hosts, o.quiet)
	if err != nil {
		return nil, err
	}
	a.warnWorkspace(cfg, o.quiet)
	setMemoryLimit(a.env)
	// One Kerberos logon (AS exchange, TGT) per credential for the whole run, closed with it.
	kc := &krb.Cache{}
	closeAll := func() { kc.Close(); closeLog() }
	dialer := remote.Dialer(winrmclient.Dialer{Kerberos: kc})
	if env != nil && env.dialer != nil {
		dialer = env.dialer
	}
	opt := fleet.Options{
		Concurrency: cfg.Concurrency, HostTimeout: cfg.Timeout, Retries: cfg.Retries, Backoff: cfg.RetryBackoff,
		AuthFailureLimit: authFailureLimit(cfg.AuthFailureLimit),
		Probe: fleet.ProbeOptions{Disabled: !cfg.Probe.Enabled, URL: cfg.Probe.URL, Accept: cfg.Probe.Accept, Timeout: cfg.Probe.Timeout,
			// Never nil: the configured list is authoritative, an empty one disables the issuer check.
			ExpectedIssuers: append([]string{}, cfg.Probe.ExpectedIssuers...),
			Workspace:       cfg.Probe.Workspace, Cloud: cfg.Probe.Cloud, TwoCommands: !cfg.Probe.OneCommand},
		Sensor: fleet.SensorOptions{Expect: cfg.Sensor.Expect},
		Dialer: dialer, Target: targets, Logger: log,
	}
	if cfg.Reference.Source == "declared" {
		opt.Reference = &fleet.DeclaredReference{Proxy: cfg.Reference.Proxy, Bypass: cfg.Reference.Bypass,
			AutoConfigURL: cfg.Reference.AutoConfigURL, AutoDetect: cfg.Reference.AutoDetect}
	}
	a.logRunStart(cfg, o, log, len(hosts)) // cmd/runlog.go
	ok = true
	return &auditRun{log: log, closeLog: closeAll, hosts: hosts, renderer: renderer, opt: opt, quiet: o.quiet}, nil
}

// runAudit audits r's hosts with a progress line and says on stderr when it was interrupted.
func (a *app) runAudit(ctx context.Context, r *auditRun) *fleet.Report {
	names := make([]string, len(r.hosts))
	for i, h := range r.hosts {
		names[i] = h.Name
	}
	prog := newProgress(a.stderr, a.stderrTTY && !r.quiet, names)
	opt := r.opt
	opt.Progress = prog.update
	rep := fleet.Audit(ctx, r.hosts, opt)
	prog.finish()
	if rep.Interrupted {
		fmt.Fprintf(a.stderr, "dcproxy: interrupted: reporting the %d hosts that finished; the others are marked canceled\n", countFinished(rep))
	}
	return rep
}

func countFinished(rep *fleet.Report) int {
	n := 0
	for _, h := range rep.Hosts {
		if h.Error == nil || h.Error.Kind != fleet.ErrorKindCanceled {
			n++
		}
	}
	return n
}

// pickFormat decides the main report's format: --format; else from -o's extension (.json, .csv,
// .md, .html, .xml = junit, .txt = table); else table on a terminal and json elsewhere. A format
// that contradicts the extension is refused, and so is -o with a format's name ("-o json", a
// kubectl habit).
func pickFormat(cfg *Config, stdoutTTY bool) (string, error) {
	out := cfg.Output
	if out != "" && filepath.Ext(out) == "" && otherFormat(strings.ToLower(out)) {
		return "", usageErr("-o %s writes a file named %q: did you mean --format %s (or -o report.%s)?", out, out, strings.ToLower(out), extOf(strings.ToLower(out)))
	}
	byExt := ""
	if out != "" {
		byExt = formatOfExt(filepath.Ext(out))
	}
	if cfg.Format != "" {
		f := strings.ToLower(cfg.Format)
		if f == "md" {
			f = report.FormatMarkdown
		}
		if byExt != "" && byExt != f && !(byExt == report.FormatCSV && f == report.FormatCSVChecks) {
			return "", usageErr("--format %s but -o %s has the extension of %s: give a matching file name or leave --format out", cfg.Format, out, byExt)
		}
		return f, nil
	}
	switch {
	case byExt != "":
		return byExt, nil
	case stdoutTTY && out == "":
		return report.FormatTable, nil
	}
	return report.FormatJSON, nil
}

// formatOfExt is the report format of a file extension, "" when it names none.
func formatOfExt(ext string) string {
	switch strings.ToLower(ext) {
	case ".json":
		return report.FormatJSON
	case ".csv":
		return report.FormatCSV
	case ".md", ".markdown":
		return report.FormatMarkdown
	case ".html", ".htm":
		return report.FormatHTML
	case ".xml":
		return report.FormatJUnit
	case ".txt":
		return report.FormatTable
	}
	return ""
}

func extOf(format string) string {
	switch format {
	case report.FormatMarkdown:
		return "md"
	case report.FormatJUnit:
		return "xml"
	case report.FormatTable:
		return "txt"
	case report.FormatCSVChecks:
		return "csv"
	}
	return format
}

// reportOptions are the renderers' options every output of the run shares: inventory, run
// metadata, --fail-on new, --all.
func (a *app) reportOptions(cfg *Config, o *auditOptions) report.Options {
	probe := probeTarget(cfg)
	return report.Options{
		Inventory: o.inventory, NewOnly: o.out.failOn == failOnNew, All: o.all, Now: time.Now,
		Run: &report.RunInfo{ToolVersion: version(), Operator: operator(cfg), Inventory: inventoryName(o),
			ReferenceSource: cfg.Reference.Source, ProbeTarget: probe},
	}
}

// inventoryName is the inventory file, or the domains the hosts were discovered in.
func inventoryName(o *auditOptions) string {
	if o.inventory == "" && len(o.discovered) > 0 {
		return "discovered in " + strings.Join(o.discovered, ", ")
	}
	return o.inventory
}

// probeTarget names what the probe requests, for the report's run metadata.
func probeTarget(cfg *Config) string {
	switch {
	case !cfg.Probe.Enabled:
		return "(probe disabled)"
	case cfg.Probe.URL != "":
		return cfg.Probe.URL
	case cfg.Probe.Workspace != "":
		u, _ := fleet.WorkspaceURL(cfg.Probe.Workspace, cfg.Probe.Cloud) // validated by loadConfig
		return u
	}
	return "(each host's own workspace; unknown where the host names none)"
}

// warnWorkspace says once, at the start, that hosts without a v2 sensor cannot be probed when
// neither probe.url nor probe.workspace is set.
func (a *app) warnWorkspace(cfg *Config, quiet bool) {
	if quiet || !cfg.Probe.Enabled || cfg.Probe.URL != "" || cfg.Probe.Workspace != "" {
		return
	}
	fmt.Fprintln(a.stderr, "dcproxy: warning: no probe.workspace (or probe.url): v2 sensors are probed against the workspace their SensorConfiguration.json names; "+
		"every other host gets the check error \"the workspace is unknown\". Set --probe-workspace NAME (DCPROXY_PROBE_WORKSPACE, probe.workspace in dcproxy.yaml)")
}

// termSize is stdout's terminal size (0, 0 when unknown).
func (a *app) termSize() (int, int) {
	if a.stdoutFd == nil {
		return 0, 0
	}
	w, h, err := term.GetSize(int(a.stdoutFd.Fd()))
	if err != nil {
		return 0, 0
	}
	return w, h
}

// writeReport renders into memory first so that a failed render never leaves half a file, then
// writes stdout or the output file (temporary file + rename).
func (a *app) writeReport(r report.Renderer, rep *fleet.Report, out string) error {
	if out != "" { // streamed into the file: no in-memory copy of a large report
		err := renderFileAtomic(out, 0o644, func(w io.Writer) error { return r.Render(w, rep) })
		if err == nil {
			a.written = append(a.written, out)
		}
		return err
	}
	var buf bytes.Buffer
	if err := r.Render(&buf, rep); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	_, err := a.stdout.Write(buf.Bytes())
	return err
}

func loadInventory(p string) ([]inventory.Host, error) {
	if p == "" {
		return nil, usageErr("no inventory: give -i FILE (YAML, CSV or text), or --domain DOMAIN to find the DCs in AD")
	}
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		p = filepath.Join(p, "inventory.yaml")
	}
	hosts, err := inventory.Load(p)
	if err != nil {
		return nil, usageErr("%w", err)
	}
	return hosts, nil
}

// limitHosts keeps the hosts whose name, site or a tag matches one of the glob patterns.
func limitHosts(hosts []inventory.Host, patterns []string) ([]inventory.Host, error) {
	if len(patterns) == 0 {
		return hosts, nil
	}
	if err := checkGlobs("--limit", patterns); err != nil {
		return nil, err
	}
	match := globMatch
	var out []inventory.Host
	for _, h := range hosts {
		for _, p := range patterns {
			short, _, _ := strings.Cut(h.Name, ".")
			hit := match(p, h.Name) || match(p, short) || match(p, h.Address) || (h.Site != "" && match(p, h.Site))
			for _, t := range h.Tags {
				hit = hit || match(p, t)
			}
			if hit {
				out = append(out, h)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, usageErr("--limit %s matches no host of the inventory", strings.Join(patterns, ","))
	}
	return out, nil
}

// nameHosts keeps the hosts whose inventory name matches one of the patterns (--host: names only,
// never a site or tag, so that a ticket's fix line touches exactly the host it names).
func nameHosts(hosts []inventory.Host, patterns []string) ([]inventory.Host, error) {
	if len(patterns) == 0 {
		return hosts, nil
	}
	var out []inventory.Host
	for _, h := range hosts {
		if matchAny(patterns, h.Name) {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return nil, usageErr("--host %s matches no host name of the inventory", strings.Join(patterns, ","))
	}
	return out, nil
}

// warnInsecure warns about settings that expose the credentials, globally and per host, and about
// inventory ports that override --https/--port.
func (a *app) warnInsecure(cfg *Config, hosts []inventory.Host, quiet bool) {
	if quiet {
		return
	}
	if cfg.InsecureSkipVerify {
		fmt.Fprintln(a.stderr, "dcproxy: warning: --insecure-skip-verify: HTTPS certificates are not verified; anyone on the path can read the credentials")
	}
	if cfg.Auth == remote.AuthBasic && !cfg.HTTPS {
		fmt.Fprintln(a.stderr, "dcproxy: warning: Basic auth over plain HTTP: the password crosses the network in clear (and domain controllers refuse Basic)")
	}
	var insecure, basic, port []string
	for _, h := range hosts {
		https := cfg.HTTPS
		if h.HTTPS != nil {
			https = *h.HTTPS
		}
		auth := hostAuth(cfg, h)
		if h.Insecure != nil && *h.Insecure && !cfg.InsecureSkipVerify {
			insecure = append(insecure, h.Name)
		}
		if auth == remote.AuthBasic && !https && !(cfg.Auth == remote.AuthBasic && !cfg.HTTPS) {
			basic = append(basic, h.Name)
		}
		if h.Port != 0 && (cfg.Port != 0 && h.Port != cfg.Port || cfg.HTTPS && h.HTTPS == nil && h.Port == 5985) {
			port = append(port, fmt.Sprintf("%s (%d)", h.Name, h.Port))
		}
	}
	if len(insecure) > 0 {
		fmt.Fprintf(a.stderr, "dcproxy: warning: insecure_skip_verify in the inventory: HTTPS certificates are not verified for %s\n", listHosts(insecure))
	}
	if len(basic) > 0 {
		fmt.Fprintf(a.stderr, "dcproxy: warning: Basic auth over plain HTTP in the inventory: the password crosses the network in clear for %s\n", listHosts(basic))
	}
	if len(port) > 0 {
		fmt.Fprintf(a.stderr, "dcproxy: warning: the inventory's port overrides --port/--https for %s\n", listHosts(port))
	}
}

// listHosts names at most five hosts and counts the rest.
func listHosts(names []string) string {
	if len(names) <= 5 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:5], ", "), len(names)-5)
}

// authFailureLimit maps the configuration (0 = off) to fleet.Options (negative = off).
func authFailureLimit(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
