package inventory

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func bp(b bool) *bool { return &b }

func TestLoadGood(t *testing.T) {
	cases := map[string][]Host{
		"testdata/good.yaml": {
			{Name: "DC01", Address: "10.0.0.11", Port: 5986, HTTPS: bp(true), Site: "Berlin", Tags: []string{"dc", "gc"}, Credential: "audit", Source: "testdata/good.yaml:8"},
			{Name: "dc02.corp.example", Address: "dc02.corp.example", Port: 5985, HTTPS: bp(false), Transport: "ntlm", Tags: []string{"dc"}, Credential: "audit",
				Insecure: bp(true), CAFile: "/etc/dcproxy/ca.pem", TLSServerName: "dc02.corp.example", Source: "testdata/good.yaml:12"},
			{Name: "dc03", Address: "dc03", Port: 5987, HTTPS: bp(true), Tags: []string{"dc"}, Credential: "audit", Source: "testdata/good.yaml:19"},
			{Name: "fe80::1", Address: "fe80::1", Port: 5985, HTTPS: bp(true), Tags: []string{"dc"}, Credential: "audit", Source: "testdata/good.yaml:20"},
			{Name: "dc04", Address: "dc04", Port: 5986, HTTPS: bp(true), Tags: []string{"gc", "rodc"}, Credential: "audit", Source: "testdata/good.yaml:21"},
		},
		"testdata/good.csv": {
			{Name: "DC01", Address: "10.0.0.11", Port: 5986, HTTPS: bp(true), Transport: "ntlm", Site: "Berlin", Tags: []string{"dc", "gc"}, Credential: "audit", Source: "testdata/good.csv:3"},
			{Name: "dc02.corp.example", Address: "dc02.corp.example", Source: "testdata/good.csv:4"},
			{Name: "dc03", Address: "10.0.0.13", Port: 5985, HTTPS: bp(false), Transport: "basic", Site: "Hamburg, Nord", Tags: []string{"dc", "gc"}, Source: "testdata/good.csv:6"},
		},
		"testdata/good.txt": {
			{Name: "DC01", Address: "DC01", Source: "testdata/good.txt:2"},
			{Name: "dc02.corp.example", Address: "dc02.corp.example", Port: 5986, Source: "testdata/good.txt:4"},
			{Name: "::1", Address: "::1", Port: 5985, Source: "testdata/good.txt:5"},
			{Name: "fe80::2", Address: "fe80::2", Source: "testdata/good.txt:6"},
			{Name: "10.0.0.5", Address: "10.0.0.5", Port: 5985, Source: "testdata/good.txt:7"},
		},
	}
	for file, want := range cases {
		got, err := Load(file)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", file, dump(got), dump(want))
		}
	}
}

func dump(hs []Host) string {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString("\n  ")
		b.WriteString(strings.ReplaceAll(strings.TrimSpace(strings.ReplaceAll(
			strings.Join([]string{h.Name, h.Address, h.Source}, " "), "\n", " ")), "  ", " "))
		if h.HTTPS != nil {
			b.WriteString(" https=" + map[bool]string{true: "true", false: "false"}[*h.HTTPS])
		}
	}
	return b.String()
}

func TestLoadErrors(t *testing.T) {
	known := "name, address, port, https, transport, auth, spn_host, site, tags, credential, insecure_skip_verify, ca_file, tls_server_name"
	cases := map[string][]string{
		"testdata/unknown-key.yaml": {
			`testdata/unknown-key.yaml:3: unknown key "adress" (known: ` + known + `)`,
			`testdata/unknown-key.yaml:6: https: not a boolean: "maybe" (want true or false)`,
		},
		"testdata/unknown-top.yaml": {`testdata/unknown-top.yaml:1: unknown top-level key "host" (want hosts or defaults)`},
		"testdata/bad-port.yaml": {
			`testdata/bad-port.yaml:3: bad port "70000" (want 1-65535)`,
			`testdata/bad-port.yaml:5: bad port "http" (want 1-65535)`,
			`testdata/bad-port.yaml:6: bad port "0" (want 1-65535)`,
		},
		"testdata/empty-name.yaml": {
			`testdata/empty-name.yaml:2: empty host name`,
			`testdata/empty-name.yaml:3: empty host name`,
			`testdata/empty-name.yaml:4: host name "dc 04" contains whitespace or control characters`,
		},
		"testdata/dup.yaml": {
			`testdata/dup.yaml:4: duplicate host "Dc01" (first defined at testdata/dup.yaml:2)`,
			`testdata/dup.yaml:6: duplicate host "dc02" (first defined at testdata/dup.yaml:3)`,
		},
		"testdata/empty.yaml":  {`testdata/empty.yaml: inventory has no hosts`},
		"testdata/syntax.yaml": {`testdata/syntax.yaml:1: did not find expected '-' indicator`},
		"testdata/defaults.yaml": {
			`testdata/defaults.yaml:2: name cannot be set in defaults`,
			`testdata/defaults.yaml:3: unknown transport "kerberos" (want ntlm or basic; Kerberos is auth: kerberos or negotiate)`,
		},
		"testdata/auth.yaml": {
			`testdata/auth.yaml:4: unknown auth "sspi" (want negotiate, kerberos, ntlm or basic)`,
			`testdata/auth.yaml:6: auth negotiate and transport basic disagree: give auth only (transport is its older name)`,
			`testdata/auth.yaml:10: spn_host "10.0.0.13": want the host's DNS name (Kerberos has no service principal for an IP address)`,
			`testdata/auth.yaml:12: spn_host "dc 04.corp.example": address "dc 04.corp.example" contains whitespace or control characters`,
		},
		"testdata/auth-defaults.yaml": {`testdata/auth-defaults.yaml:2: spn_host cannot be set in defaults (it names one host)`},
		"testdata/address.yaml": {
			`testdata/address.yaml:2: address "dc01:5985" contains a port or is not a valid IPv6 address (write the port in the port field)`,
			`testdata/address.yaml:4: address "http://dc02" is not a host name or IP address (write the port in the port field, not a URL)`,
			`testdata/address.yaml:7: address: want a single value, not a list`,
			`testdata/address.yaml:9: tags: list entries must be plain values`,
		},
		"testdata/unknown-column.csv": {`testdata/unknown-column.csv:1: unknown column "adress" (known: ` + known + `)`},
		"testdata/no-name-column.csv": {`testdata/no-name-column.csv:1: header has no "name" column`},
		"testdata/bad-rows.csv": {
			`testdata/bad-rows.csv:2: bad port "70000" (want 1-65535)`,
			`testdata/bad-rows.csv:3: empty host name`,
			`testdata/bad-rows.csv:4: https: not a boolean: "maybe" (want true or false)`,
			`testdata/bad-rows.csv:5: wrong number of fields (the header has a different count)`,
			`testdata/bad-rows.csv:7: duplicate host "dc05" (first defined at testdata/bad-rows.csv:6)`,
		},
		"testdata/empty.csv": {`testdata/empty.csv: inventory has no hosts`},
		"testdata/quote.csv": {`testdata/quote.csv:3: extraneous or missing " in quoted-field`},
		"testdata/empty.txt": {`testdata/empty.txt: inventory has no hosts`},
		"testdata/errors.txt": {
			`testdata/errors.txt:1: bad port "70000" (want 1-65535)`,
			`testdata/errors.txt:2: bad port "http" (want 1-65535)`,
			`testdata/errors.txt:3: "dc03 dc04": want one host[:port] per line`,
			`testdata/errors.txt:4: "http://dc05:5985" is a URL; write host[:port]`,
			`testdata/errors.txt:5: "[fe80::1": missing ']'`,
			`testdata/errors.txt:6: "[dc06]:5985": "dc06" in brackets is not an IPv6 address`,
			`testdata/errors.txt:7: "dcz7::1" is neither host[:port] nor an IPv6 address (write [v6]:port)`,
			`testdata/errors.txt:8: ":5985": empty host name`,
			`testdata/errors.txt:10: duplicate host "dc08" (first defined at testdata/errors.txt:9)`,
		},
	}
	files, _ := os.ReadDir("testdata")
	for _, f := range files {
		p := "testdata/" + f.Name()
		if _, ok := cases[p]; !ok && !f.IsDir() && !strings.HasPrefix(f.Name(), "good.") {
			t.Errorf("%s has no expected errors in this test", p)
		}
	}
	for file, want := range cases {
		hs, err := Load(file)
		if err == nil {
			t.Errorf("%s: no error, %d hosts", file, len(hs))
			continue
		}
		if hs != nil {
			t.Errorf("%s: hosts returned with an error", file)
		}
		if got := err.Error(); got != strings.Join(want, "\n") {
			t.Errorf("%s:\n got %s\nwant %s", file, got, strings.Join(want, "\n"))
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: not ErrInvalid", file)
		}
		if strings.HasPrefix(file, "testdata/empty.") != errors.Is(err, ErrEmpty) {
			t.Errorf("%s: ErrEmpty mismatch", file)
		}
		var ie *Error
		if !errors.As(err, &ie) || !strings.HasPrefix(ie.Source, file) {
			t.Errorf("%s: first error is not an *Error naming the file", file)
		}
	}
}

func TestParseMisc(t *testing.T) {
	if _, err := Parse("x", strings.NewReader("dc1"), "ini"); err == nil || err.Error() != `inventory x: unknown format "ini" (want yaml, csv or text)` {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := Load("testdata/missing.txt"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	for path, want := range map[string]string{"a.YML": "yaml", "a.yaml": "yaml", "b.CSV": "csv", "c.txt": "text", "hosts": "text"} {
		if got := FormatFor(path); got != want {
			t.Errorf("FormatFor(%q) = %q", path, got)
		}
	}
	// More than maxErrors problems: the rest are counted, not listed.
	var b strings.Builder
	for i := 0; i < 25; i++ {
		b.WriteString("dc:0\n")
	}
	_, err := Parse("many", strings.NewReader(b.String()), "text")
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxErrors+1 || lines[maxErrors] != "many: 5 more problems not shown" {
		t.Errorf("got %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	// Two YAML documents, a top-level list, aliases.
	for in, want := range map[string]string{
		"hosts: [dc1]\n---\nhosts: [dc2]\n":      "y:2: more than one YAML document",
		"- dc1\n":                                `y:1: want a mapping with a "hosts" list at the top level`,
		"hosts:\n  - &a dc1\n  - *a\n":           "y:3: YAML aliases are not supported",
		"hosts:\n  - name: dc1\n    name: dc2\n": `y:3: duplicate key "name" (first at line 2)`,
		"hosts: dc1\n":                           "y:1: hosts: want a list",
		"defaults: [1]\nhosts: [dc1]\n":          "y:1: defaults: want a mapping",
	} {
		_, err := Parse("y", strings.NewReader(in), "yaml")
		if err == nil || err.Error() != want {
			t.Errorf("%q: got %v, want %s", in, err, want)
		}
	}
}

// auth and spn_host: defaults apply where a host sets neither auth nor transport, values are
// lower-cased, a host's transport wins over the defaults' auth, and auth: NTLM with transport: ntlm
// agree.
func TestLoad_auth(t *testing.T) {
	hs, err := Load("testdata/good.auth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(hs))
	for i, h := range hs {
		got[i] = h.Name + " auth=" + h.Auth + " transport=" + h.Transport + " spn=" + h.SPNHost
	}
	want := []string{
		"dc01.corp.example auth=kerberos transport= spn=",
		"dc02 auth=kerberos transport= spn=dc02.corp.example",
		"dc03.corp.example auth= transport=ntlm spn=",
		"dc04.corp.example auth=ntlm transport=ntlm spn=",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The same fields as CSV columns.
	hs, err = Parse("x.csv", strings.NewReader("name,address,auth,spn_host\ndc01,10.0.0.11,Kerberos,dc01.corp.example\ndc02,10.0.0.12,sspi,\n"), "csv")
	if err == nil || err.Error() != `x.csv:3: unknown auth "sspi" (want negotiate, kerberos, ntlm or basic)` {
		t.Fatalf("csv: %v %+v", err, hs)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		h    Host
		want string
	}{
		{Host{Name: "dc1", Address: "dc1"}, ""},
		{Host{Name: "dc1", Address: "fe80::1", Port: 5986, Transport: "basic"}, ""},
		{Host{Name: "", Address: "dc1"}, "empty host name"},
		{Host{Name: "dc1", Address: ""}, "empty address"},
		{Host{Name: "dc1", Address: "dc1", Port: 65536}, "bad port 65536 (want 1-65535)"},
		{Host{Name: "dc1", Address: "dc1", Transport: "kerberos"}, `unknown transport "kerberos" (want ntlm or basic; Kerberos is auth: kerberos or negotiate)`},
		{Host{Name: "dc1", Address: "dc1", Auth: "kerberos", SPNHost: "dc1.corp.example"}, ""},
		{Host{Name: "dc1", Address: "dc1", Auth: "sspi"}, `unknown auth "sspi" (want negotiate, kerberos, ntlm or basic)`},
		{Host{Name: "dc1", Address: "dc1", SPNHost: "fe80::1"}, `spn_host "fe80::1": want the host's DNS name (Kerberos has no service principal for an IP address)`},
		{Host{Name: "dc1", Address: "dc1", Tags: []string{"a b"}}, `bad tag "a b"`},
		{Host{Name: "dc\x001", Address: "dc1"}, `host name "dc\x001" contains whitespace or control characters`},
	}
	for _, c := range cases {
		err := c.h.Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%+v: got %q want %q", c.h, got, c.want)
		}
	}
}
