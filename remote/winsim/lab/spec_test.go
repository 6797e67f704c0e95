package lab

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSpec_errors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"no hosts", "defaults: {user: 'A\\b'}\n", "no hosts"},
		{"unknown key", "hosts:\n  - name: a\n    user: 'A\\b'\n    colour: red\n", `host 1 (line 2): unknown key "colour"`},
		{"unknown registry key", "defaults: {user: 'A\\b'}\nhosts:\n  - name: a\n    registry: {local_sytem: absent}\n", "local_sytem"},
		{"bad user", "hosts:\n  - name: a\n    user: bob\n", `host a (line 2): user "bob": want DOMAIN\name`},
		{"duplicate", "defaults: {user: 'A\\b'}\nhosts:\n  - name: a\n  - name: A\n", "host A (line 4): duplicate of host at line 3"},
		{"bad fault", "defaults: {user: 'A\\b'}\nhosts:\n  - name: a\n    fault: flaky\n", `fault "flaky"`},
		{"bad proxy state", "defaults: {user: 'A\\b'}\nhosts:\n  - name: a\n    network: {proxies: {'p:1': maybe}}\n", `state "maybe"`},
		{"bad address", "defaults: {user: 'A\\b'}\nhosts:\n  - name: a\n    address: 10.0.0.1\n", "want a 127.x.y.z loopback address"},
		{"bad duration", "defaults: {user: 'A\\b', latency: fast}\nhosts:\n  - name: a\n", `bad duration "fast"`},
		{"raw and decoded", "defaults: {user: 'A\\b'}\nhosts:\n  - name: a\n    registry: {local_system: {raw: '46', proxy: 'p:1'}}\n", "raw and decoded settings together"},
		{"bad hex", "defaults: {user: 'A\\b'}\nhosts:\n  - name: a\n    registry: {local_system: {raw: 'zz'}}\n", "raw:"},
		{"bad locale", "defaults: {user: 'A\\b'}\nhosts:\n  - name: a\n    locale: fr-FR\n", `locale "fr-FR"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseSpec_defaultsApply(t *testing.T) {
	s, err := ParseSpec([]byte(`
defaults:
  user: 'LAB\auditor'
  password: secret
  locale: de-DE
  registry: {local_system: {proxy: 'p:8080', counter: 3}}
hosts:
  - name: a
  - name: b
    locale: en-US
    registry: {local_system: absent}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := s.Resolve(0), s.Resolve(1)
	if a.Locale != "de-DE" || b.Locale != "en-US" || a.User != `LAB\auditor` || b.Password != "secret" {
		t.Fatalf("resolve: %+v %+v", a, b)
	}
	if a.Registry.LocalSystem.Proxy != "p:8080" || !b.Registry.LocalSystem.Absent {
		t.Fatalf("registry: %+v %+v", a.Registry.LocalSystem, b.Registry.LocalSystem)
	}
	if s.Hosts[1].Line != 9 {
		t.Fatalf("line of host b: %d", s.Hosts[1].Line)
	}
}

func TestGenerate_reproducibleAndComplete(t *testing.T) {
	s1, k1 := Generate(200, 42)
	s2, k2 := Generate(200, 42)
	if !reflect.DeepEqual(s1, s2) || !reflect.DeepEqual(k1, k2) {
		t.Fatal("same seed, different fleets")
	}
	_, k3 := Generate(200, 43)
	if reflect.DeepEqual(k1, k3) {
		t.Fatal("different seeds, same fleet")
	}
	seen := map[string]int{}
	for _, k := range k1 {
		seen[k]++
	}
	for _, k := range kinds {
		if seen[k] == 0 {
			t.Errorf("kind %s missing from a 200-host fleet", k)
		}
	}
	if err := s1.validate(); err != nil {
		t.Fatal(err)
	}
}

func TestStart_singleAddress(t *testing.T) {
	spec, _ := Generate(3, 1)
	l, err := Start(spec, Options{SingleAddress: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ports := map[int]bool{}
	for _, m := range l.Members {
		if m.Address != "127.0.0.1" || ports[m.Port] {
			t.Fatalf("member %s at %s", m.Spec.Name, m.Endpoint())
		}
		ports[m.Port] = true
	}
	if err := l.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(spec, Options{SingleAddress: true, HTTPPort: 5985}); err == nil {
		t.Fatal("single address with a fixed port accepted")
	}
}

func TestParseSpec_savedLegacy(t *testing.T) {
	s, err := ParseSpec([]byte(`
defaults:
  user: 'LAB\auditor'
  registry: {current_user_legacy: {proxy: 'p:8080', counter: 4}, local_system_legacy: {raw: '4600000001000000'}}
hosts:
  - name: a
  - name: b
    registry: {current_user_legacy: absent, local_service_legacy: {proxy: 'q:1'}}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := s.Resolve(0), s.Resolve(1)
	if a.Registry.CurrentUserLegacy == nil || a.Registry.CurrentUserLegacy.Proxy != "p:8080" || a.Registry.LocalServiceLegacy != nil {
		t.Errorf("a: %+v", a.Registry)
	}
	if !b.Registry.CurrentUserLegacy.Absent || b.Registry.LocalServiceLegacy.Proxy != "q:1" || len(b.Registry.LocalSystemLegacy.Raw) != 8 {
		t.Errorf("b: %+v", b.Registry)
	}
	if _, err := ParseSpec([]byte("defaults: {user: 'A\\b'}\nhosts:\n  - name: a\n    registry: {local_system_legacy: {raw: 'zz'}}\n")); err == nil {
		t.Error("bad hex in a legacy value accepted")
	}
}
