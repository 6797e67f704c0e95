package inventory

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// yamlLineErr matches the "yaml: line N: msg" errors of the YAML parser.
var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeNode runs the YAML parser, turning a parser panic into an error so that no input can crash
// the caller.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml parser failed: %v", r)
		}
	}()
	return dec.Decode(n)
}

func (p *parser) yamlError(err error) {
	if m := yamlLineErr.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.errorf(line, "%s", m[2])
		return
	}
	p.errorf(0, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
}

// parseYAML reads the YAML format: a mapping with "hosts" and optional "defaults".
func (p *parser) parseYAML(text string) {
	dec := yaml.NewDecoder(strings.NewReader(text))
	var doc yaml.Node
	if err := decodeNode(dec, &doc); err != nil {
		if !errors.Is(err, io.EOF) {
			p.yamlError(err)
		}
		return
	}
	var extra yaml.Node
	if err := decodeNode(dec, &extra); !errors.Is(err, io.EOF) {
		if err != nil {
			p.yamlError(err)
		} else {
			p.errorf(extra.Line, "more than one YAML document")
		}
		return
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return // empty document
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root.Line, "want a mapping with a %q list at the top level", "hosts")
		return
	}
	var defaults, hosts *yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k.Line, "top-level keys must be plain names")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.errorf(k.Line, "duplicate key %q (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		switch k.Value {
		case "defaults":
			defaults = v
		case "hosts":
			hosts = v
		default:
			p.errorf(k.Line, "unknown top-level key %q (want hosts or defaults)", k.Value)
		}
	}
	var d Host
	if defaults != nil && !isNull(defaults) {
		if defaults.Kind != yaml.MappingNode {
			p.errorf(defaults.Line, "defaults: want a mapping")
		} else if fields, ok := p.yamlFields(defaults); ok {
			d, _ = p.build(fields, defaults.Line, false)
		}
	}
	if hosts == nil || isNull(hosts) {
		return
	}
	if hosts.Kind != yaml.SequenceNode {
		p.errorf(hosts.Line, "hosts: want a list")
		return
	}
	for _, item := range hosts.Content {
		switch {
		case item.Kind == yaml.ScalarNode && !isNull(item):
			host, port, err := splitHostPort(strings.TrimSpace(item.Value))
			if err != nil {
				p.errorf(item.Line, "%v", err)
				continue
			}
			h := Host{Name: host, Address: host, Port: port, Source: p.src(item.Line)}
			applyDefaults(&h, d)
			p.add(h, item.Line)
		case item.Kind == yaml.MappingNode:
			fields, ok := p.yamlFields(item)
			if !ok {
				continue
			}
			h, ok := p.build(fields, item.Line, true)
			if !ok {
				continue
			}
			applyDefaults(&h, d)
			p.add(h, item.Line)
		case item.Kind == yaml.AliasNode:
			p.errorf(item.Line, "YAML aliases are not supported")
		default:
			p.errorf(item.Line, "hosts: each entry must be a mapping or a host[:port] string")
		}
	}
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// yamlFields flattens a host mapping into fields. Null values count as "not set".
func (p *parser) yamlFields(m *yaml.Node) ([]field, bool) {
	ok := true
	var out []field
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k.Line, "keys must be plain names")
			ok = false
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.errorf(k.Line, "duplicate key %q (first at line %d)", k.Value, first)
			ok = false
			continue
		}
		seen[k.Value] = k.Line
		if !knownField(k.Value) {
			p.errorf(k.Line, "unknown key %q (known: %s)", k.Value, strings.Join(fieldNames, ", "))
			ok = false
			continue
		}
		f := field{key: k.Value, line: v.Line}
		switch v.Kind {
		case yaml.ScalarNode:
			if isNull(v) {
				continue
			}
			f.value = strings.TrimSpace(v.Value)
		case yaml.SequenceNode:
			f.isList = true
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode || isNull(e) {
					p.errorf(e.Line, "%s: list entries must be plain values", k.Value)
					ok = false
					continue
				}
				f.list = append(f.list, e.Value)
			}
		case yaml.AliasNode:
			p.errorf(v.Line, "YAML aliases are not supported")
			ok = false
			continue
		default:
			p.errorf(v.Line, "%s: want a value, not a mapping", k.Value)
			ok = false
			continue
		}
		out = append(out, f)
	}
	return out, ok
}
