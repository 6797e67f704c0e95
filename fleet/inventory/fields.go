package inventory

import "strings"

// fieldNames are the YAML keys and CSV columns, in the order they are applied.
var fieldNames = []string{"name", "address", "port", "https", "transport", "auth", "spn_host", "site", "tags", "credential",
	"insecure_skip_verify", "ca_file", "tls_server_name"}

func knownField(k string) bool {
	for _, f := range fieldNames {
		if f == k {
			return true
		}
	}
	return false
}

// field is one key/value of a host record with the line it came from. list is set for a YAML
// sequence (tags only).
type field struct {
	key    string
	value  string
	list   []string
	isList bool
	line   int
}

// build turns the fields of one record into a Host. With defaults set, name and address are refused.
// Problems are reported through p.errorf; ok is false if there were any.
func (p *parser) build(fields []field, line int, named bool) (h Host, ok bool) {
	ok = true
	fail := func(f field, format string, args ...any) {
		p.errorf(f.line, format, args...)
		ok = false
	}
	h.Source = p.src(line)
	var authField, transportField *field
	for _, f := range fields {
		if f.isList && f.key != "tags" {
			fail(f, "%s: want a single value, not a list", f.key)
			continue
		}
		switch f.key {
		case "name", "address":
			if !named {
				fail(f, "%s cannot be set in defaults", f.key)
				continue
			}
			if f.key == "name" {
				h.Name = f.value
			} else {
				h.Address = strings.TrimSuffix(strings.TrimPrefix(f.value, "["), "]")
			}
		case "port":
			n, err := parsePort(f.value)
			if err != nil {
				fail(f, "%v", err)
				continue
			}
			h.Port = n
		case "https", "insecure_skip_verify":
			b, err := parseBool(f.value)
			if err != nil {
				fail(f, "%s: %v", f.key, err)
				continue
			}
			if f.key == "https" {
				h.HTTPS = &b
			} else {
				h.Insecure = &b
			}
		case "transport":
			t := strings.ToLower(f.value)
			if t != "ntlm" && t != "basic" {
				fail(f, "unknown transport %q (want ntlm or basic; Kerberos is auth: kerberos or negotiate)", f.value)
				continue
			}
			h.Transport = t
			transportField = &f
		case "auth":
			a := strings.ToLower(f.value)
			if !knownAuth(a) {
				fail(f, "unknown auth %q (want negotiate, kerberos, ntlm or basic)", f.value)
				continue
			}
			h.Auth = a
			authField = &f
		case "spn_host":
			if !named {
				fail(f, "spn_host cannot be set in defaults (it names one host)")
				continue
			}
			if err := checkSPNHost(f.value); err != nil {
				fail(f, "%v", err)
				continue
			}
			h.SPNHost = strings.ToLower(strings.TrimSuffix(f.value, "."))
		case "site":
			h.Site = f.value
		case "tags":
			tags := f.list
			if !f.isList {
				tags = splitTags(f.value)
			}
			h.Tags = make([]string, 0, len(tags))
			for _, t := range tags {
				if t = strings.TrimSpace(t); t != "" {
					h.Tags = append(h.Tags, t)
				}
			}
		case "credential":
			h.Credential = f.value
		case "ca_file":
			h.CAFile = f.value
		case "tls_server_name":
			h.TLSServerName = f.value
		default:
			fail(f, "unknown key %q (known: %s)", f.key, strings.Join(fieldNames, ", "))
		}
	}
	if authField != nil && transportField != nil && h.Auth != h.Transport {
		fail(*authField, "auth %s and transport %s disagree: give auth only (transport is its older name)", h.Auth, h.Transport)
	}
	if named && ok && h.Name == "" {
		p.errorf(line, "empty host name")
		ok = false
	}
	return h, ok
}

// applyDefaults fills every field of h that is not set from d.
func applyDefaults(h *Host, d Host) {
	if h.Port == 0 {
		h.Port = d.Port
	}
	if h.HTTPS == nil && d.HTTPS != nil {
		v := *d.HTTPS
		h.HTTPS = &v
	}
	if h.Transport == "" && h.Auth == "" { // the host's own auth or transport wins over both defaults
		h.Transport = d.Transport
		h.Auth = d.Auth
	}
	if h.Site == "" {
		h.Site = d.Site
	}
	if h.Tags == nil && d.Tags != nil {
		h.Tags = append([]string{}, d.Tags...)
	}
	if h.Credential == "" {
		h.Credential = d.Credential
	}
	if h.Insecure == nil && d.Insecure != nil {
		v := *d.Insecure
		h.Insecure = &v
	}
	if h.CAFile == "" {
		h.CAFile = d.CAFile
	}
	if h.TLSServerName == "" {
		h.TLSServerName = d.TLSServerName
	}
}
