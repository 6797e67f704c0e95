package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

type labOptions struct {
	fleetFile           string
	hosts               int
	seed                uint64
	mix                 string
	out                 string
	httpPort, httpsPort int
	latency, execTime   time.Duration
	psStart, probeTime  time.Duration
	latencySet, execSet bool
	keytab              string
}

func (a *app) newLabCmd() *cobra.Command {
	o := &labOptions{}
	c := &cobra.Command{
		Use:   "lab (--fleet FILE | --hosts N [--seed S]) --out DIR",
		Short: "Run a fleet of simulated domain controllers on loopback addresses (127.x.y.z) until interrupted",
		Long: `lab serves simulated Windows domain controllers that speak real WinRM (NTLM with message encryption,
HTTPS, Basic when enabled), cmd.exe, reg.exe and the dcproxy endpoint probe. Each host listens on its own
loopback address on the standard ports. Into DIR it writes inventory.yaml, inventory.txt, lab.env (credentials
and the fleet's workspace, DCPROXY_PROBE_WORKSPACE), ca.pem, and finally an empty ready file once every host
accepts connections. State changes made over WinRM
persist until the lab stops (SIGINT/SIGTERM).`,
		Example: `  dcproxy lab --hosts 50 --seed 7 --out ./lab &
  while [ ! -e ./lab/ready ]; do sleep 0.2; done
  . ./lab/lab.env && dcproxy audit -i ./lab/inventory.yaml
  dcproxy lab --fleet fleet.yaml --keytab hosts.keytab --out ./lab &   # Kerberos too (see docs/lab.md)`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			o.latencySet = c.Flags().Changed("latency")
			o.execSet = c.Flags().Changed("exec-time")
			return a.runLab(c.Context(), o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.fleetFile, "fleet", "", "YAML fleet file describing each host")
	f.IntVar(&o.hosts, "hosts", 0, "generate a mixed, reproducible fleet of N hosts")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the generated fleet")
	f.StringVar(&o.mix, "mix", lab.MixMixed, "kinds of generated hosts: mixed (every situation, some unreachable) or healthy (all reachable, for benchmarks)")
	f.StringVar(&o.out, "out", "", "directory for inventory.yaml, inventory.txt, lab.env, ca.pem and ready")
	f.IntVar(&o.httpPort, "http-port", 5985, "port of the HTTP listeners (0: a free port per host)")
	f.IntVar(&o.httpsPort, "https-port", 5986, "port of the HTTPS listeners (0: a free port per host)")
	f.DurationVar(&o.latency, "latency", 0, "added to every HTTP exchange of every host (overrides the fleet file)")
	f.DurationVar(&o.execTime, "exec-time", 0, "added to every command (overrides the fleet file)")
	f.DurationVar(&o.psStart, "ps-start", 300*time.Millisecond, "PowerShell start-up time, where the fleet file gives none")
	f.DurationVar(&o.probeTime, "probe-time", 150*time.Millisecond, "time of one endpoint request of the probe, where the fleet file gives none")
	f.StringVar(&o.keytab, "keytab", "", "keytab exported by a real KDC (MIT kadmin ktadd, or samba-tool domain exportkeytab) with HTTP/<name> keys of every host: the hosts accept Kerberos too (host names must be FQDNs in the realm's DNS domain)")
	return c
}

func (a *app) runLab(ctx context.Context, o *labOptions) error {
	if o.fleetFile != "" && o.hosts > 0 {
		return usageErr("lab: give --fleet FILE or --hosts N, not both")
	}
	if o.out == "" {
		return usageErr("lab: --out DIR is required")
	}
	setLabGCPercent(a.env)
	var spec *lab.Spec
	switch {
	case o.fleetFile != "":
		s, err := lab.LoadSpec(o.fleetFile)
		if err != nil {
			return usageErr("lab: %w", err)
		}
		spec = s
	case o.hosts > 0:
		if o.hosts > 60000 {
			return usageErr("lab: --hosts %d: at most 60000", o.hosts)
		}
		s, _, err := lab.GenerateMix(o.hosts, o.seed, o.mix)
		if err != nil {
			return usageErr("lab: --mix: %w", err)
		}
		spec = s
	default:
		return usageErr("lab: give --fleet FILE or --hosts N")
	}
	if o.latencySet {
		d := lab.Duration(o.latency)
		spec.Defaults.Latency = &d
		for i := range spec.Hosts {
			spec.Hosts[i].Latency = nil
		}
	}
	if o.execSet {
		d := lab.Duration(o.execTime)
		spec.Defaults.ExecTime = &d
		for i := range spec.Hosts {
			spec.Hosts[i].ExecTime = nil
		}
	}
	if err := raiseFileLimit(); err != nil {
		fmt.Fprintf(a.stderr, "dcproxy lab: warning: %v\n", err)
	}
	start := time.Now()
	l, err := lab.Start(spec, lab.Options{HTTPPort: o.httpPort, HTTPSPort: o.httpsPort, PSStart: o.psStart, ProbeTime: o.probeTime, Keytab: o.keytab})
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	defer l.Close()
	if err := writeLabFiles(l, o.out); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := l.WaitReady(ctx); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := lab.MarkReady(o.out); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	abs, _ := filepath.Abs(o.out)
	fmt.Fprintf(a.stderr, "dcproxy lab: %d hosts ready in %s; files in %s; Ctrl-C to stop\n", len(l.Members), time.Since(start).Round(time.Millisecond), abs)
	<-ctx.Done()
	_ = os.Remove(filepath.Join(o.out, lab.ReadyFile))
	fmt.Fprintln(a.stderr, "dcproxy lab: stopping")
	return nil
}

// labHosts converts a running lab into inventory hosts (for the in-process demo).
func labHosts(l *lab.Lab) []inventory.Host {
	var hs []inventory.Host
	for i, m := range l.Members {
		https := m.HTTPS
		hs = append(hs, inventory.Host{Name: m.Spec.Name, Address: m.Address, Port: m.Port, HTTPS: &https, Site: m.Spec.Site,
			Source: fmt.Sprintf("demo fleet:%d", i+1)})
	}
	return hs
}

// labWorkspace is the workspace (and its cloud) most of the lab's sensors belong to: what
// probe.workspace and probe.cloud must be for an audit of the lab. Hosts without a sensor count for
// the lab's default workspace.
func labWorkspace(l *lab.Lab) (workspace, cloud string) {
	type wc struct{ ws, cloud string }
	count := map[wc]int{}
	best, bestN := wc{lab.DefaultWorkspace, ""}, 0
	for _, m := range l.Members {
		k := wc{lab.DefaultWorkspace, ""}
		if s := m.Spec.Sensor; s != nil {
			if s.Workspace != "" {
				k.ws = s.Workspace
			}
			if s.Cloud != lab.CloudCommercial {
				k.cloud = s.Cloud
			}
		}
		count[k]++
		if n := count[k]; n > bestN {
			best, bestN = k, n
		}
	}
	return best.ws, best.cloud
}

// writeLabFiles writes the lab's files (lab.WriteFiles) and adds the workspace settings to lab.env,
// so that `. lab.env && dcproxy audit -i inventory.yaml` probes every host against it.
func writeLabFiles(l *lab.Lab, dir string) error {
	if err := l.WriteFiles(dir); err != nil {
		return err
	}
	ws, cloud := labWorkspace(l)
	path := filepath.Join(dir, lab.EnvFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b = fmt.Appendf(b, "export DCPROXY_PROBE_WORKSPACE=%s\n", ws) // a DNS label (lab spec validation): no quoting needed
	if cloud != "" {
		b = fmt.Appendf(b, "export DCPROXY_PROBE_CLOUD=%s\n", cloud)
	}
	return renderFileAtomic(path, 0o600, func(w io.Writer) error { _, err := w.Write(b); return err })
}
