package cmd

import (
	"fmt"

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
			b, err := marshalConfig(cfg)
			if err != nil {
				return fmt.Errorf("config show: %w", err)
			}
			fmt.Fprintf(a.stdout, "# source: %s\n", orEmbedded(cfg.File))
			_, err = a.stdout.Write(b)
			return err
		},
	}
	for _, s := range []*cobra.Command{check, show} {
		s.Flags().StringVar(&file, "config", "", "configuration file (default: first dcproxy.yaml in ., the user config dir, /etc/dcproxy)")
		c.AddCommand(s)
	}
	return c
}
