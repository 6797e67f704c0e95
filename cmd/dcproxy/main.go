// Command dcproxy audits and fixes the WinINet proxy settings of the Defender for Identity sensor's
// accounts on a fleet of domain controllers. See the README.
package main

import (
	"os"

	"github.com/dcproxy/dcproxy/cmd"
)

func main() { os.Exit(cmd.Main(os.Args[1:])) }
