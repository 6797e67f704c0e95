package winrmclient

import (
	"context"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/winsim/hostile"
)

func hostileTarget(tb testing.TB, srv *hostile.Server) remote.Target {
	tb.Helper()
	h, p, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		tb.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return remote.Target{Host: h, Port: port, HTTPS: srv.HTTPS, User: `LAB\admin`, Password: hostile.DefaultPassword,
		Timeout: 20 * time.Second}
}

// dialEndless dials a host whose sealed reply is an endless chunked body and returns the error and
// the bytes allocated meanwhile (client and in-process server together).
func dialEndless(tb testing.TB, srv *hostile.Server) (uint64, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Dialer{}.Dial(ctx, hostileTarget(tb, srv))
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, err
}

// TestEndlessBodyBounded: a host streaming a chunked body without end gets a protocol error (not a
// timeout: the bound is hit long before the 20 s exchange budget), and the client allocates a
// bounded amount on the way (a few times maxBodySize, not the gigabytes an unbounded read reaches).
func TestEndlessBodyBounded(t *testing.T) {
	srv, err := hostile.Start(hostile.EndlessBody, hostile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	alloc, err := dialEndless(t, srv)
	if remote.Kind(err) != "protocol" {
		t.Fatalf("err = %v, want protocol", err)
	}
	t.Logf("endless body: %v; %d KiB allocated", err, alloc>>10)
	if alloc > 32<<20 {
		t.Errorf("allocated %d MiB for one bounded reply", alloc>>20)
	}
}

// BenchmarkEndlessBody reports the memory one endless-body host costs the client (B/op).
func BenchmarkEndlessBody(b *testing.B) {
	srv, err := hostile.Start(hostile.EndlessBody, hostile.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dialEndless(b, srv); remote.Kind(err) != "protocol" {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeepXMLHost: the cost of a host answering with 30,000 nested elements.
func BenchmarkDeepXMLHost(b *testing.B) {
	srv, err := hostile.Start(hostile.DeepXML, hostile.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := Dialer{}.Dial(ctx, hostileTarget(b, srv))
		cancel()
		if remote.Kind(err) != "protocol" {
			b.Fatal(err)
		}
	}
}
