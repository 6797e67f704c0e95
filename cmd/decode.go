package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dcproxy/dcproxy/remote/wininet"
)

func (a *app) newDecodeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "decode HEX...",
		Short: "Decode a DefaultConnectionSettings (or WinHttpSettings) value pasted from reg query, regedit or a .reg file",
		Example: `  dcproxy decode 46000000050000000300000016000000...
  dcproxy decode 'hex:46,00,00,00,05,00,...'`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			b, err := wininet.ParseHex(strings.Join(args, " "))
			if err != nil {
				return usageErr("decode: %w", err)
			}
			fmt.Fprint(a.stdout, wininet.Describe(b))
			if _, err := wininet.Decode(b); err != nil {
				return usageErr("decode: %w", err)
			}
			return nil
		},
	}
}
