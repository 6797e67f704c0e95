package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/dcproxy/dcproxy/configs"
)

// Configuration lives in one place: the keys are Config's mapstructure tags (configKeys), their
// defaults are configs/dcproxy.yaml (embedded; flags take their defaults from it, see
// cmd/configflags.go), and `config show` marshals the merged Config. Layers, lowest first:
// defaults, file, DCPROXY_* environment, command overrides (demo), flags that were set.

// override is a layer of key=value settings above the environment and below the flags, with the
// name errors give for it (the demo's short timeout and no retries).
type override struct {
	name   string
	values map[string]string
}

// configSearchPath is where dcproxy.yaml is looked for, in order.
func configSearchPath() []string {
	dirs := []string{"."}
	if d, err := os.UserConfigDir(); err == nil {
		dirs = append(dirs, filepath.Join(d, "dcproxy"))
	}
	return append(dirs, "/etc/dcproxy")
}

// keyType is the Go type of every leaf key of Config, from its mapstructure tags ("probe.url").
// credentials is one opaque key (a map of names), checked by checkKnownKeys.
var keyType = sync.OnceValue(func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("mapstructure")
			if tag == "" || tag == "-" {
				continue
			}
			key := prefix + tag
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
				walk(key+".", f.Type)
				continue
			}
			m[key] = f.Type
		}
	}
	walk("", reflect.TypeFor[Config]())
	return m
})

// embedded is a viper holding only the embedded defaults (configs/dcproxy.yaml).
var embedded = sync.OnceValue(func() *viper.Viper {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(configs.Default)); err != nil {
		panic(fmt.Sprintf("configs/dcproxy.yaml: %v", err)) // a build defect: TestConfig_defaultsCoverEveryKey
	}
	return v
})

// sources remembers where each key's value came from, for error messages.
type sources map[string]string

// of names the source of key or of its closest parent; "defaults (configs/dcproxy.yaml)" else.
func (s sources) of(key string) string {
	for k := key; k != ""; {
		if w, ok := s[k]; ok {
			return w
		}
		i := strings.LastIndex(k, ".")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return "defaults (configs/dcproxy.yaml)"
}

// loadConfig merges the embedded defaults, the config file, DCPROXY_* variables, overrides and the
// flags that were set, rejects unknown keys and values of the wrong type (a duration without a
// unit included) naming file:line, the variable or the flag, and validates the result.
func loadConfig(file string, flags *pflag.FlagSet, env func(string) string, overrides ...override) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(configs.Default)); err != nil {
		return nil, fmt.Errorf("embedded defaults: %w", err)
	}
	known := map[string]bool{}
	for _, k := range v.AllKeys() {
		known[k] = true
	}
	src := sources{}
	path := file
	if path == "" {
		for _, d := range configSearchPath() {
			p := filepath.Join(d, "dcproxy.yaml")
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usageErr("config: %w", err)
		}
		if err := checkFile(path, b, known, src); err != nil {
			return nil, err
		}
		if err := v.MergeConfig(bytes.NewReader(b)); err != nil {
			return nil, usageErr("config %s: %w", path, err)
		}
	}
	// Environment: DCPROXY_<KEY> with dots as underscores. Only known keys are read, so unrelated
	// DCPROXY_* variables (DCPROXY_PASSWORD) never become configuration.
	keys := make([]string, 0, len(known))
	for k := range known {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := envName(k)
		if val := env(name); val != "" {
			where := "environment " + name
			x, err := parseValue(k, val)
			if err != nil {
				return nil, usageErr("%s=%s: %w", name, val, err)
			}
			v.Set(k, x)
			src[k] = where
		}
	}
	for _, o := range overrides {
		for k, val := range o.values {
			x, err := parseValue(k, val)
			if err != nil {
				return nil, fmt.Errorf("%s: %s=%s: %w", o.name, k, val, err) // a defect of the command, not the user's
			}
			v.Set(k, x)
			src[k] = o.name
		}
	}
	if flags != nil {
		// Only flags the user set override (Visit skips unset ones); Set after the environment so a
		// flag wins over DCPROXY_* (viper's Set has the highest precedence).
		flags.Visit(func(f *pflag.Flag) {
			key, negate := flagConfigKey(f)
			if key == "" {
				return
			}
			val := f.Value.String()
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				val = strings.Join(sv.GetSlice(), ",") // String() is "[a,b]"
			}
			if negate {
				val = strconv.FormatBool(val != "true")
			}
			if x, err := parseValue(key, val); err == nil {
				v.Set(key, x)
			} else {
				v.Set(key, val)
			}
			src[key] = "flag --" + f.Name
		})
	}
	var c Config
	if err := v.UnmarshalExact(&c); err != nil {
		return nil, usageErr("config %s: %w", orEmbedded(path), err)
	}
	c.File = path
	if err := c.Validate(); err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			return nil, usageErr("%s: %w", src.of(fe.key), err)
		}
		return nil, usageErr("config %s: %w", orEmbedded(path), err)
	}
	return &c, nil
}

// envName is the environment variable of a key: probe.url -> DCPROXY_PROBE_URL.
func envName(key string) string {
	return "DCPROXY_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func orEmbedded(path string) string {
	if path == "" {
		return "(defaults)"
	}
	return path
}

var durationType = reflect.TypeFor[time.Duration]()

// parseValue converts a string from the environment, an override or a flag to the key's type.
// Lists are comma-separated. A duration needs its unit ("30" is refused: it would be 30 ns).
func parseValue(key, s string) (any, error) {
	t, ok := keyType()[key]
	if !ok {
		return s, nil
	}
	switch {
	case t == durationType:
		return parseDuration(s)
	case t.Kind() == reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%s: want a whole number", key)
		}
		return n, nil
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%s: want true or false", key)
		}
		return b, nil
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Int:
		var out []int
		for _, p := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a whole number (want a comma-separated list)", key, p)
			}
			out = append(out, n)
		}
		return out, nil
	case t.Kind() == reflect.Slice:
		if strings.TrimSpace(s) == "" {
			return []string{}, nil
		}
		return strings.Split(s, ","), nil
	}
	return s, nil
}

// parseDuration is time.ParseDuration with the mistake a YAML author makes most named.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
		return 0, fmt.Errorf("duration %s has no unit: write %ss (or ms, m, h)", s, s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (want e.g. 30s, 2m, 1h30m)", s)
	}
	return d, nil
}

// checkFile rejects, with the file and line, the first key of the file that dcproxy does not know,
// a password, and a value of the wrong type; it records each key's line in src.
func checkFile(path string, b []byte, known map[string]bool, src sources) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return usageErr("config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	at := func(n *yaml.Node) string { return fmt.Sprintf("config %s:%d", path, n.Line) }
	var walk func(prefix string, n *yaml.Node) error
	walk = func(prefix string, n *yaml.Node) error {
		if n.Kind != yaml.MappingNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && prefix != "" {
				return nil // "probe:" with nothing under it
			}
			return usageErr("%s: %s must be a mapping", at(n), strings.TrimSuffix(prefix, "."))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			full := prefix + strings.ToLower(k.Value)
			src[full] = at(k)
			if full == "credentials" {
				if err := checkCredentials(path, val, src); err != nil {
					return err
				}
				continue
			}
			if full == "password" {
				return usageErr("%s: passwords are not configuration; use DCPROXY_PASSWORD, password_file or the prompt", at(k))
			}
			if known[full] {
				if err := checkType(full, val); err != nil {
					return usageErr("%s: %w", at(val), err)
				}
				continue
			}
			if hasPrefix(known, full+".") {
				if err := walk(full+".", val); err != nil {
					return err
				}
				continue
			}
			return usageErr("%s: unknown key %q (see `dcproxy config show` for the known keys)", at(k), full)
		}
		return nil
	}
	return walk("", doc.Content[0])
}

func checkCredentials(path string, val *yaml.Node, src sources) error {
	if val.Kind != yaml.MappingNode && !(val.Kind == yaml.ScalarNode && val.Tag == "!!null") {
		return usageErr("config %s:%d: credentials must be a mapping of names", path, val.Line)
	}
	for j := 0; j+1 < len(val.Content); j += 2 {
		name, c := val.Content[j].Value, val.Content[j+1]
		src["credentials."+name] = fmt.Sprintf("config %s:%d", path, val.Content[j].Line)
		if c.Kind != yaml.MappingNode {
			return usageErr("config %s:%d: credential %q must be a mapping", path, c.Line, name)
		}
		for m := 0; m+1 < len(c.Content); m += 2 {
			switch c.Content[m].Value {
			case "user", "password_env", "password_file", "keytab_file":
			case "password":
				return usageErr("config %s:%d: credential %q: passwords are not configuration; use password_env or password_file", path, c.Content[m].Line, name)
			default:
				return usageErr("config %s:%d: credential %q: unknown key %q (want user, password_env, password_file, keytab_file)", path, c.Content[m].Line, name, c.Content[m].Value)
			}
		}
	}
	return nil
}

// checkType checks a YAML value against the key's Go type.
func checkType(key string, n *yaml.Node) error {
	t, ok := keyType()[key]
	if !ok {
		return nil
	}
	scalar := func(want string) error {
		if n.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s: want %s", key, want)
		}
		return nil
	}
	switch {
	case t == durationType:
		if err := scalar("a duration such as 30s"); err != nil {
			return err
		}
		if _, err := parseDuration(n.Value); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	case t.Kind() == reflect.Int:
		if err := scalar("a whole number"); err != nil {
			return err
		}
		if n.Tag != "!!int" {
			return fmt.Errorf("%s: %q is not a whole number", key, n.Value)
		}
	case t.Kind() == reflect.Bool:
		if err := scalar("true or false"); err != nil {
			return err
		}
		if n.Tag != "!!bool" {
			return fmt.Errorf("%s: %q is not true or false", key, n.Value)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("%s: want a list, e.g. [a, b]", key)
		}
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode || (t.Elem().Kind() == reflect.Int && e.Tag != "!!int") {
				return fmt.Errorf("%s: %q is not a %s", key, e.Value, map[bool]string{true: "whole number", false: "string"}[t.Elem().Kind() == reflect.Int])
			}
		}
	case t.Kind() == reflect.String:
		if err := scalar("a string"); err != nil {
			return err
		}
	}
	return nil
}

func hasPrefix(known map[string]bool, p string) bool {
	for k := range known {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// marshalConfig renders c as YAML in Config's field order: every section, durations in Go syntax
// (60s is "1m0s"), strings quoted, lists in flow style. What it prints loads back unchanged.
func marshalConfig(c *Config) ([]byte, error) {
	n, err := configNode(reflect.ValueOf(*c))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func configNode(v reflect.Value) (*yaml.Node, error) {
	switch {
	case v.Type() == durationType:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: time.Duration(v.Int()).String()}, nil
	case v.Kind() == reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			val, err := configNode(v.Field(i))
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: tag}, val)
		}
		return m, nil
	case v.Kind() == reflect.Map:
		m := &yaml.Node{Kind: yaml.MappingNode}
		if v.Len() == 0 {
			m.Style = yaml.FlowStyle
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			val, err := configNode(v.MapIndex(k))
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k.String()}, val)
		}
		return m, nil
	case v.Kind() == reflect.Slice:
		s := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := 0; i < v.Len(); i++ {
			e, err := configNode(v.Index(i))
			if err != nil {
				return nil, err
			}
			s.Content = append(s.Content, e)
		}
		return s, nil
	case v.Kind() == reflect.String:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: v.String()}, nil
	}
	n := &yaml.Node{}
	if err := n.Encode(v.Interface()); err != nil {
		return nil, err
	}
	return n, nil
}
