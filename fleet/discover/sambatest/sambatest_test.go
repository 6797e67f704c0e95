package sambatest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// One DC: provisioning, the simulated DCs' objects and records, and the keytab export.
func TestSambaDC(t *testing.T) {
	dc := Start(t, Options{})
	t.Logf("provision %v, start %v, address %s", dc.ProvisionTime.Round(time.Millisecond), dc.StartTime.Round(time.Millisecond), dc.Addr)

	dc02 := dc.AddSimulatedDC(t, SimDC{Name: "dc02", Site: "Branch"})
	rodc := dc.AddSimulatedDC(t, SimDC{Name: "rodc03", Site: "Branch", ReadOnly: true})

	c := dc.LDAP(t)
	res, err := c.Search(ldap.NewSearchRequest(dc.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(|(dNSHostName="+dc02+")(dNSHostName="+rodc+"))", []string{"dNSHostName", "userAccountControl", "primaryGroupID", "msDS-isRODC"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range res.Entries {
		got[e.GetAttributeValue("dNSHostName")] = e.GetAttributeValue("userAccountControl") + "/" + e.GetAttributeValue("primaryGroupID")
		if !strings.Contains(e.DN, "OU=Domain Controllers") {
			t.Errorf("%s not in OU=Domain Controllers", e.DN)
		}
	}
	if got[dc02] != "532480/516" || got[rodc] != "83890176/521" {
		t.Errorf("uac/primaryGroupID = %v, want dc02 532480/516 and rodc03 83890176/521", got)
	}

	r := dc.Resolver()
	ctx := context.Background()
	_, generic, err := r.LookupSRV(ctx, "", "", "_ldap._tcp.dc._msdcs."+dc.Domain)
	if err != nil {
		t.Fatal(err)
	}
	_, branch, err := r.LookupSRV(ctx, "", "", "_ldap._tcp.Branch._sites.dc._msdcs."+dc.Domain)
	if err != nil {
		t.Fatal(err)
	}
	var g, b []string
	for _, s := range generic {
		g = append(g, s.Target)
	}
	for _, s := range branch {
		b = append(b, s.Target)
	}
	if !strings.Contains(strings.Join(g, " "), dc02+".") || strings.Contains(strings.Join(g, " "), rodc+".") {
		t.Errorf("generic SRV %v: want dc02, not the RODC", g)
	}
	if !strings.Contains(strings.Join(b, " "), rodc+".") || !strings.Contains(strings.Join(b, " "), dc02+".") {
		t.Errorf("Branch SRV %v: want dc02 and rodc03", b)
	}

	kt := filepath.Join(t.TempDir(), "http.keytab")
	dc.ExportKeytab(t, kt, "HTTP/"+dc02)
	st, err := os.Stat(kt)
	if err != nil || st.Size() < 50 {
		t.Fatalf("keytab: %v %v", st, err)
	}
}
