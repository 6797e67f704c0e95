package sambatest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
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

	// The exported keytab decrypts a service ticket this AD's KDC issues for HTTP/dc02 (AES).
	kt := filepath.Join(t.TempDir(), "http.keytab")
	dc.ExportKeytab(t, kt, "HTTP/"+dc02)
	cfg, err := config.Load(dc.WriteKrb5Conf(t, filepath.Join(t.TempDir(), "krb5.conf")))
	if err != nil {
		t.Fatal(err)
	}
	cl := client.NewWithPassword("Administrator", dc.Realm, dc.AdminPassword, cfg, client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		t.Fatalf("AS exchange with %s: %v", dc.KDC(), err)
	}
	tkt, _, err := cl.GetServiceTicket("HTTP/" + dc02)
	if err != nil {
		t.Fatalf("TGS for HTTP/%s: %v", dc02, err)
	}
	if et := tkt.EncPart.EType; et != etypeID.AES256_CTS_HMAC_SHA1_96 && et != etypeID.AES128_CTS_HMAC_SHA1_96 {
		t.Errorf("ticket etype %d, want AES (msDS-SupportedEncryptionTypes 24)", et)
	}
	k, err := keytab.Load(kt)
	if err != nil {
		t.Fatal(err)
	}
	if err := tkt.DecryptEncPart(k, nil); err != nil {
		t.Fatalf("the exported keytab does not decrypt the ticket: %v", err)
	}
	if got := tkt.DecryptedEncPart.CName.PrincipalNameString(); !strings.EqualFold(got, "Administrator") {
		t.Errorf("ticket client %q", got)
	}
}
