package lab

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

func quietLog() *log.Logger { return log.New(discard{}, "", 0) }

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// File names the lab writes into its output directory.
const (
	InventoryYAML = "inventory.yaml"
	InventoryText = "inventory.txt"
	EnvFile       = "lab.env"
	CAFile        = "ca.pem"
	ReadyFile     = "ready"
)

type invHost struct {
	Name    string   `yaml:"name"`
	Address string   `yaml:"address"`
	Port    int      `yaml:"port"`
	HTTPS   bool     `yaml:"https,omitempty"`
	Site    string   `yaml:"site,omitempty"`
	Tags    []string `yaml:"tags,omitempty"`
}

// WriteFiles writes inventory.yaml, inventory.txt, lab.env and ca.pem into dir (created if needed).
// Each file is written to a temporary name and renamed, so a reader never sees half a file. The ready
// file is written separately by MarkReady once every host accepts connections.
func (l *Lab) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, ReadyFile))
	var inv struct {
		Hosts []invHost `yaml:"hosts"`
	}
	var txt bytes.Buffer
	txt.WriteString("# dcproxy lab fleet: address:port of every host, in fleet order\n")
	https := false
	for _, m := range l.Members {
		inv.Hosts = append(inv.Hosts, invHost{Name: m.Spec.Name, Address: m.Address, Port: m.Port, HTTPS: m.HTTPS, Site: m.Spec.Site, Tags: m.Spec.Tags})
		fmt.Fprintf(&txt, "%s\n", m.Endpoint())
		https = https || m.HTTPS
	}
	var y bytes.Buffer
	y.WriteString("# dcproxy lab fleet: dcproxy audit -i inventory.yaml (with lab.env loaded)\n")
	enc := yaml.NewEncoder(&y)
	enc.SetIndent(2)
	if err := enc.Encode(inv); err != nil {
		return err
	}
	d := l.Members[0].Spec
	var env bytes.Buffer
	env.WriteString("# dcproxy lab credentials: source this file (. ./lab.env) before dcproxy audit\n")
	fmt.Fprintf(&env, "export DCPROXY_USER=%s\n", shellQuote(d.User))
	fmt.Fprintf(&env, "export DCPROXY_PASSWORD=%s\n", shellQuote(d.Password))
	if https {
		abs, err := filepath.Abs(filepath.Join(dir, CAFile))
		if err != nil {
			return err
		}
		fmt.Fprintf(&env, "export DCPROXY_CA_FILE=%s\n", shellQuote(abs))
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{CAFile, l.CAPEM, 0o644},
		{InventoryYAML, y.Bytes(), 0o644},
		{InventoryText, txt.Bytes(), 0o644},
		{EnvFile, env.Bytes(), 0o600},
	} {
		if err := writeAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// MarkReady writes the empty ready file.
func MarkReady(dir string) error {
	return writeAtomic(filepath.Join(dir, ReadyFile), nil, 0o644)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
