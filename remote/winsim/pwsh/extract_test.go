package pwsh

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote/probe"
)

// TestExtractCache: extract gives probe.Extract's Config (or error) for every script, the first
// time and from the cache, beyond the cache's size; a caller changing its copy changes no later one.
func TestExtractCache(t *testing.T) {
	var scripts []string
	var want []probe.Config
	for i := range maxExtracted + 10 {
		c := probe.Config{URL: fmt.Sprintf("https://s%d.atp.azure.com/tri/sensor/api/ping", i), URLSource: probe.URLGiven,
			Timeout: time.Duration(1000+i) * time.Millisecond,
			Routes:  []probe.Route{{ID: "A", Mode: probe.ModeSystem}, {ID: "B", Mode: probe.ModeProxy, Proxy: fmt.Sprintf("p%d.lab.test:8080", i)}},
			Roots:   []string{"DF3C24F9BFD666761B268073FE06D1CC8D4F82A4"}}
		s, err := probe.Script(c)
		if err != nil {
			t.Fatal(err)
		}
		w, err := probe.Extract(s)
		if err != nil {
			t.Fatal(err)
		}
		scripts, want = append(scripts, s), append(want, w)
	}
	for round := range 3 {
		for i, s := range scripts {
			for try := range 2 { // the second from the cache
				got, err := extract([]byte(s))
				if err != nil || !reflect.DeepEqual(got, want[i]) {
					t.Fatalf("round %d script %d try %d: %+v, %v; want %+v", round, i, try, got, err, want[i])
				}
				got.Routes[0].ID, got.Roots[0] = "CHANGED", "CHANGED" // the caller's copy only
			}
		}
	}
	for range 2 {
		if _, err := extract([]byte(scripts[0] + " ")); err == nil {
			t.Fatal("a script that is not exactly the probe was accepted")
		}
	}
}
