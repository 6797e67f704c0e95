package cmd

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

func (a *app) newDemoCmd() *cobra.Command {
	var hosts int
	var seed uint64
	c := &cobra.Command{
		Use:   "demo",
		Short: "Audit an embedded simulated fleet over real WinRM (NTLM with message encryption) and print the report",
		Long: `demo starts a generated fleet of simulated domain controllers inside this process, each on its own
loopback address, and runs a real audit of it over WinRM: NTLM with message encryption on HTTP, reg.exe
and the endpoint probe. The fleet mixes DCs without a sensor, with a v2 sensor (its own proxy or the
WinINet values), a v3 sensor (Defender for Endpoint's route) and a migrated one. Nothing outside this
machine is contacted.`,
		Args: args(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			spec, _ := lab.Generate(hosts, seed)
			opt := lab.Options{FirstAddress: netip.MustParseAddr("127.77.0.1"), PSStart: 150 * time.Millisecond, ProbeTime: 50 * time.Millisecond}
			l, err := lab.Start(spec, opt)
			if err != nil {
				// Not every loopback interface holds all of 127.0.0.0/8 (macOS): share 127.0.0.1.
				opt.SingleAddress = true
				if l, err = lab.Start(spec, opt); err != nil {
					return fmt.Errorf("demo: %w", err)
				}
			}
			defer l.Close()
			if err := l.WaitReady(c.Context()); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			m := l.Members[0]
			env := func(k string) string {
				switch k {
				case "DCPROXY_USER":
					return m.User
				case "DCPROXY_PASSWORD":
					return m.Password
				}
				return ""
			}
			// The demo's settings go through the normal layers: below the flags, above the
			// environment (the fleet holds a blackholed host: do not wait a minute for it).
			// The fleet's sensors belong to one workspace: the probe of the hosts that do not name it
			// themselves (no sensor, v3) needs it too.
			ws, cloud := labWorkspace(l)
			demo := override{name: "demo", values: map[string]string{"timeout": "8s", "retries": "0", "format": "table", "probe.workspace": ws}}
			if cloud != "" {
				demo.values["probe.cloud"] = cloud
			}
			cfg, err := loadConfig("", c.Flags(), env, demo)
			if err != nil {
				return err
			}
			saved := a.env
			a.env = env
			defer func() { a.env = saved }()
			fmt.Fprintf(a.stderr, "dcproxy demo: auditing %d simulated domain controllers over WinRM (NTLM, sealed HTTP)...\n", len(l.Members))
			rep, err := a.audit(c.Context(), cfg, &auditOptions{}, &auditEnv{hosts: labHosts(l)})
			a.setReport(rep)
			return err
		},
	}
	c.Flags().IntVar(&hosts, "hosts", lab.DemoHosts, "hosts in the simulated fleet (the default holds every kind: no sensor, v2, v3, migrated, and their faults)")
	c.Flags().Uint64Var(&seed, "seed", 1, "seed of the simulated fleet")
	keyFlags{c.Flags()}.bind("format", "f", "format", "report format: "+strings.Join(formatNames(), ", ")+" (default: table)")
	return c
}
