package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/dcproxy/dcproxy/fleet"
)

// manyHosts is the fixture's hosts repeated (with distinct names) to n hosts.
func manyHosts(t *testing.T, n int) *fleet.Report {
	t.Helper()
	rep := fixture()
	base := rep.Hosts
	rep.Hosts = make([]fleet.HostResult, n)
	for i := range rep.Hosts {
		rep.Hosts[i] = base[i%len(base)]
		rep.Hosts[i].Host = fmt.Sprintf("dc%05d.corp.example", i)
	}
	return rep
}

// TestJSONHostsEncodedConcurrentlyInOrder: for host counts around the chunk size, the report's
// hosts (encoded in chunks on several CPUs) come out byte for byte as one encoder of the whole
// report writes them, in inventory order.
func TestJSONHostsEncodedConcurrentlyInOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, n := range []int{1, hostsPerChunk - 1, hostsPerChunk, hostsPerChunk + 1, 5*hostsPerChunk + 7} {
		rep := manyHosts(t, n)
		got := render(t, "json", Options{}, rep)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			t.Fatal(err)
		}
		if got != want.String() {
			t.Fatalf("%d hosts: concurrent encoding differs from one encoder's output", n)
		}
	}
}

// failAfter is a writer that fails once it has taken n bytes.
type failAfter struct{ n int }

var errDiskFull = errors.New("disk full")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errDiskFull
	}
	f.n -= len(p)
	return len(p), nil
}

// TestJSONWriteErrorStopsEncoding: a writer failing half way through the hosts fails the render
// with its error, and the encoders in flight have stopped reading the hosts when Render returns
// (the race detector sees the test's writes after it otherwise).
func TestJSONWriteErrorStopsEncoding(t *testing.T) {
	rep := manyHosts(t, 40*hostsPerChunk)
	r, err := New("json", Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Render(&failAfter{n: 200 << 10}, rep)
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("Render = %v, want the writer's error", err)
	}
	// Under -race, an encoder still reading a host after Render returned races with these writes.
	for i := range rep.Hosts {
		rep.Hosts[i].Host, rep.Hosts[i].Checks = "", nil
	}
}
