package discover

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	yaml "go.yaml.in/yaml/v3"

	"github.com/dcproxy/dcproxy/fleet/inventory"
)

// yamlHost is one host as fleet/inventory's YAML format spells it (only keys it knows).
type yamlHost struct {
	Name       string   `yaml:"name"`
	Address    string   `yaml:"address,omitempty"`
	Site       string   `yaml:"site,omitempty"`
	Tags       []string `yaml:"tags,omitempty,flow"`
	Credential string   `yaml:"credential,omitempty"`
}

// WriteInventory writes the hosts of results as an inventory in fleet/inventory's YAML format
// ("hosts:" list with name, address, site, tags, credential), preceded by comments naming, per
// domain, the DNS and LDAP servers asked and every finding. A host found in two results is written
// once (the first). It fails when there is no host at all (inventory.Load refuses an empty
// inventory).
func WriteInventory(w io.Writer, results []*Result, generated time.Time) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# dcproxy inventory written by 'dcproxy discover' at %s\n", generated.UTC().Format(time.RFC3339))
	var hosts []yamlHost
	seen := map[string]bool{}
	for _, r := range results {
		fmt.Fprintf(&buf, "# domain %s: %d DCs (DNS %s, LDAP %s)\n", comment(r.Domain), len(r.Hosts), comment(r.DNSServer), comment(r.LDAPServer))
		for _, f := range r.Findings {
			fmt.Fprintf(&buf, "#   warning: %s\n", comment(f.String()))
		}
		for _, h := range r.Hosts {
			if seen[strings.ToLower(h.Name)] {
				continue
			}
			seen[strings.ToLower(h.Name)] = true
			hosts = append(hosts, fromHost(h))
		}
	}
	if len(hosts) == 0 {
		return fmt.Errorf("discover: no domain controller found; no inventory written")
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(map[string][]yamlHost{"hosts": hosts}); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func fromHost(h inventory.Host) yamlHost {
	y := yamlHost{Name: h.Name, Site: h.Site, Tags: h.Tags, Credential: h.Credential}
	if h.Address != "" && h.Address != h.Name {
		y.Address = h.Address
	}
	return y
}

// comment makes s safe inside a one-line YAML comment (no line breaks or control characters).
func comment(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
