
// unreachableDialer fails every dial before authentication.
type unreachableDialer struct{ dials atomic.Int32 }

func (d *unreachableDialer) Dial(context.Context, remote.Target) (remote.Runner, error) {
	d.dials.Add(1)
	return nil, fmt.Errorf("%w: connection refused", remote.ErrUnreachable)
}

func TestAudit_unreachableHostsAreNotRefusals(t *testing.T) {
	var hosts []inventory.Host
	for i := range 30 {
		hosts = append(hosts, inventory.Host{Name: fmt.Sprintf("dc%02d", i), Address: fmt.Sprintf("10.0.2.%d", i)})
	}
	d := &unreachableDialer{}
	target := func(h inventory.Host) (remote.Target, error) { return remote.Target{Host: h.Address, User: "u"}, nil }
	rep := Audit(context.Background(), hosts, Options{Concurrency: 10, Dialer: d, Target: target})
	if d.dials.Load() != 30 {
		t.Fatalf("dials %d: unreachable hosts must not stop the account", d.dials.Load())
	}
	for _, r := range rep.Hosts {
		if r.Error == nil || r.Error.Kind != "unreachable" {
			t.Fatalf("%s: %+v", r.Host, r.Error)
		}
	}
}
