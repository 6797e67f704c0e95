package krbtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestStartKinit starts a realm, adds a user and a service, and gets a TGT and a service ticket
// with MIT's own tools: the helper makes a usable realm.
func TestStartKinit(t *testing.T) {
	k := Start(t, Options{RC4: true})
	k.AddUser("alice", "Secret-1")
	kt := k.AddService("HTTP/dc01.lab.test")
	if st, err := os.Stat(kt); err != nil || st.Size() == 0 {
		t.Fatalf("keytab: %v", err)
	}
	rc4 := k.ClientConf("arcfour-hmac")
	cc := k.Kinit("alice", "Secret-1", rc4)
	kvno, ok := Bin("kvno")
	if !ok {
		t.Skip("kvno missing")
	}
	cmd := exec.Command(kvno, "HTTP/dc01.lab.test")
	cmd.Env = append(k.Env(), "KRB5CCNAME=FILE:"+cc, "KRB5_CONFIG="+rc4)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "kvno = ") {
		t.Fatalf("kvno: %v: %s", err, out)
	}
	klist, _ := Bin("klist")
	cmd = exec.Command(klist, "-e", "-c", "FILE:"+cc)
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "HTTP/dc01.lab.test@LAB.TEST") || !strings.Contains(string(out), "Etype (skey, tkt): DEPRECATED:arcfour-hmac, aes256") {
		t.Fatalf("klist: %v: %s", err, out)
	}
	t.Logf("%s", out)
}
