package fleet_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/remotetest"
	"github.com/dcproxy/dcproxy/remote/winrmclient"
	"github.com/dcproxy/dcproxy/remote/winsim/auth"
	"github.com/dcproxy/dcproxy/remote/winsim/hostile"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

// soakFleet: healthy hosts and one host of every lab fault.
var soakFleet = remotetest.LabFleet("{direct: false, proxies: {'proxy.lab.test:8080': ok}}", `
  - name: healthy01
  - name: fault-refuse
    fault: refuse
  - name: healthy02
    https: true
  - name: fault-blackhole
    fault: blackhole
  - name: healthy03
    locale: de-DE
  - name: fault-slow
    fault: slow
  - name: healthy04
  - name: fault-http500
    fault: http500
  - name: healthy05
  - name: fault-drop
    fault: drop
  - name: healthy06
  - name: fault-authfail
    fault: authfail
`)

// Issue 13: one audit over a fleet mixing every lab fault and every hostile server with healthy
// hosts. Every host gets its verdict or its own error within the host timeout plus a small bound
// (a correctness bound: a host that ignores its deadline fails it by far), the healthy hosts get
// the verdict they get without the others, and the client's heap stays bounded.
func TestAudit_faultSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("fault soak: several host timeouts long")
	}
	const hostTimeout = 4 * time.Second
	const bound = 3 * time.Second // connection teardown, the last Progress call, a loaded CI machine
	l := remotetest.StartLab(t, soakFleet, "127.99.4.1")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, l.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	var healthy, hosts []inventory.Host
	for _, m := range l.Members {
		https := m.HTTPS
		h := inventory.Host{Name: m.Spec.Name, Address: m.Address, Port: m.Port, HTTPS: &https, Source: "soak"}
		hosts = append(hosts, h)
		if m.Spec.Fault == "" || m.Spec.Fault == lab.FaultNone {
			healthy = append(healthy, h)
		}
	}
	for _, kind := range hostile.Kinds {
		srv, err := hostile.Start(kind, hostile.Options{Accounts: []auth.Account{{User: lab.GenUser, Password: lab.GenPassword, Admin: true}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)
		host, port, _ := net.SplitHostPort(srv.Addr)
		p, _ := strconv.Atoi(port)
		https := srv.HTTPS
		hosts = append(hosts, inventory.Host{Name: "hostile-" + string(kind), Address: host, Port: p, HTTPS: &https, Source: "soak"})
	}
	target := func(h inventory.Host) (remote.Target, error) {
		t := remote.Target{Host: h.Address, Port: h.Port, HTTPS: *h.HTTPS, User: lab.GenUser, Password: lab.GenPassword, CAFile: ca, Timeout: hostTimeout}
		t.SetDefaults()
		return t, t.Validate()
	}
	opt := fleet.Options{Concurrency: len(hosts), HostTimeout: hostTimeout, Retries: 1, Backoff: 50 * time.Millisecond,
		Dialer: winrmclient.Dialer{}, Target: target, Probe: fleet.ProbeOptions{URL: "https://triprd1wcuse1sensorapi.eastus.cloudapp.azure.com"}}

	alone := fleet.Audit(context.Background(), healthy, opt)
	want := map[string]fleet.HostStatus{}
	for _, r := range alone.Hosts {
		if r.Status == fleet.StatusError {
			t.Fatalf("fixture: healthy host %s alone: %+v", r.Host, r.Error)
		}
		want[r.Host] = r.Status
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // sample the heap while the run goes on
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	rep := fleet.Audit(context.Background(), hosts, opt)
	close(stop)
	wg.Wait()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("heap in use: before %.1f MB, peak %.1f MB, after %.1f MB (%d hosts, %d hostile)",
		mb(before.HeapInuse), mb(peak), mb(after.HeapInuse), len(hosts), len(hostile.Kinds))

	limit := (hostTimeout + bound).Milliseconds()
	for i, r := range rep.Hosts {
		if r.Host != hosts[i].Name {
			t.Fatalf("report order: %d is %s, want %s", i, r.Host, hosts[i].Name)
		}
		var kind fleet.ErrorKind
		if r.Error != nil {
			kind = r.Error.Kind
		}
		t.Logf("%-24s %-12s %-11s %5d ms", r.Host, r.Status, kind, r.DurationMS)
		if r.DurationMS > limit {
			t.Errorf("%s: took %d ms, more than the host timeout plus %v (%d ms)", r.Host, r.DurationMS, bound, limit)
		}
		if w, ok := want[r.Host]; ok {
			if r.Status != w {
				t.Errorf("%s: %s among hostile hosts, %s alone (%+v)", r.Host, r.Status, w, r.Error)
			}
			continue
		}
		if r.Status != fleet.StatusError || r.Error == nil || r.Error.Kind != soakKinds[r.Host] {
			t.Errorf("%s: %s %+v, want an error of its own, of kind %s", r.Host, r.Status, r.Error, soakKinds[r.Host])
		}
	}
	// A client that read an endless body unbounded held gigabytes within the timeout.
	const maxGrowth = 256 << 20
	if peak > before.HeapInuse+maxGrowth {
		t.Errorf("heap in use peaked at %.1f MB, %.1f MB above the start (limit %.0f MB)", mb(peak), mb(peak-before.HeapInuse), mb(maxGrowth))
	}
}

// soakKinds is the error each faulty host must get (hostile: as its package documents).
var soakKinds = map[string]fleet.ErrorKind{
	"fault-refuse": fleet.ErrorKindUnreachable, "fault-blackhole": fleet.ErrorKindTimeout, "fault-slow": fleet.ErrorKindTimeout, "fault-http500": fleet.ErrorKindProtocol,
	"fault-drop": fleet.ErrorKindUnreachable, "fault-authfail": fleet.ErrorKindAuth,
	"hostile-garbage": fleet.ErrorKindProtocol, "hostile-deep-xml": fleet.ErrorKindProtocol, "hostile-endless-body": fleet.ErrorKindProtocol,
	"hostile-slowloris": fleet.ErrorKindTimeout, "hostile-slow-headers": fleet.ErrorKindTimeout, "hostile-stall": fleet.ErrorKindTimeout,
	"hostile-401-loop": fleet.ErrorKindAuth, "hostile-weak-ntlm": fleet.ErrorKindProtocol, "hostile-tls-bad-cert": fleet.ErrorKindTLS, "hostile-tls-garbage": fleet.ErrorKindProtocol,
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }
