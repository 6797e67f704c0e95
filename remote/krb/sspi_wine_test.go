//go:build linux

package krb_test

// TestSSPIUnderWine runs the Windows-only SSPI tests (sspi_windows_test.go) under Wine against a real
// MIT KDC. It is a manual test (CI has no Wine): it needs wine64, gcc-mingw-w64-x86-64 and the MIT
// KDC packages, takes about half a minute (a Windows test binary is built, a Wine prefix made) and
// runs only with DCPROXY_WINE_TEST=1:
//
//	DCPROXY_WINE_TEST=1 go test -run TestSSPIUnderWine -v ./remote/krb/
//
// WINEPREFIX, when set to an existing prefix, is reused (with its bcryptprimitives.dll stand-in);
// otherwise one is made in a temporary directory. Wine's secur32 implements the Kerberos package
// over the Unix MIT library, which reads KRB5_CONFIG and KRB5CCNAME (Unix paths) as kinit does; the
// Windows test reads the service keytab through Wine's Z: drive.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote/krb/krbtest"
)

func TestSSPIUnderWine(t *testing.T) {
	if os.Getenv("DCPROXY_WINE_TEST") != "1" {
		t.Skip("manual test: DCPROXY_WINE_TEST=1 runs the SSPI tests under Wine (see the comment above)")
	}
	for _, p := range []string{"wine", "wineboot", "x86_64-w64-mingw32-gcc"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s not installed (apt-get install wine64 wine gcc-mingw-w64-x86-64)", p)
		}
	}
	krbtest.Require(t, "krb5kdc", "kdb5_util", "kadmin.local", "kinit")
	k := krbtest.Start(t, krbtest.Options{RC4: true})
	k.AddUser("alice", alicePW)
	keytab := k.AddService(spn)
	// TestSSPIAudit's second host, in the same keytab.
	k.Kadmin("addprinc -randkey HTTP/dc02.lab.test", "ktadd -norandkey -k "+keytab+" HTTP/dc02.lab.test")
	rc4Conf := k.ClientConf("arcfour-hmac")

	dir := t.TempDir()
	exe := filepath.Join(dir, "krb.test.exe")
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v", err)
	}
	build := exec.Command(goBin, "test", "-c", "-o", exe, ".")
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the Windows test binary: %v\n%s", err, out)
	}
	prefix := winePrefix(t)

	run := func(t *testing.T, conf string) string {
		ccache := k.Kinit("alice", alicePW, conf)
		cmd := exec.Command("wine", exe, "-test.v", "-test.run", "^TestSSPI")
		cmd.Env = append(os.Environ(),
			"WINEPREFIX="+prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=bcryptprimitives=n",
			"KRB5_CONFIG="+conf, "KRB5CCNAME=FILE:"+ccache, "KRB5RCACHETYPE=none",
			"DCPROXY_SSPI_KEYTAB=Z:"+strings.ReplaceAll(keytab, "/", `\`),
			"DCPROXY_SSPI_SPN="+spn, "DCPROXY_SSPI_CLIENT="+aliceUPN)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		t.Logf("wine %s:\n%s", filepath.Base(exe), out.String())
		if err != nil {
			t.Fatalf("the SSPI tests failed under Wine: %v", err)
		}
		return out.String()
	}
	// The tests that must have run (not skipped) under Wine; TestSSPISeal skips there.
	mustPass := []string{"TestSSPIHandshake", "TestSSPIMutualAuth", "TestSSPIUnknownSPN", "TestSSPIUnsealUnderWine", "TestSSPIAudit"}
	for _, c := range []struct{ name, conf, etype string }{
		{"aes", k.Conf, "session enctype 18"},
		{"rc4", rc4Conf, "session enctype 23"},
	} {
		mustPass := mustPass
		if c.name == "rc4" {
			mustPass = append(mustPass, "TestSSPIWineLayout")
		}
		t.Run(c.name, func(t *testing.T) {
			out := run(t, c.conf)
			for _, name := range mustPass {
				if !strings.Contains(out, "--- PASS: "+name+" ") {
					t.Errorf("%s did not pass under Wine", name)
				}
			}
			if !strings.Contains(out, c.etype) {
				t.Errorf("the handshake did not use %s", c.etype)
			}
		})
	}
}

// winePrefix returns $WINEPREFIX when it exists, or a new prefix with the bcryptprimitives.dll
// stand-in Go's runtime needs on Wine 8 (testdata/wine/bcryptprimitives.c).
func winePrefix(t *testing.T) string {
	if p := os.Getenv("WINEPREFIX"); p != "" {
		if _, err := os.Stat(filepath.Join(p, "drive_c", "windows", "system32", "bcryptprimitives.dll")); err == nil {
			return p
		}
	}
	p := filepath.Join(t.TempDir(), "wineprefix")
	boot := exec.Command("wineboot", "-i")
	boot.Env = append(os.Environ(), "WINEPREFIX="+p, "WINEDEBUG=-all")
	if out, err := boot.CombinedOutput(); err != nil {
		t.Fatalf("wineboot: %v\n%s", err, out)
	}
	dll := filepath.Join(p, "drive_c", "windows", "system32", "bcryptprimitives.dll")
	if out, err := exec.Command("x86_64-w64-mingw32-gcc", "-shared", "-o", dll, filepath.Join("testdata", "wine", "bcryptprimitives.c")).CombinedOutput(); err != nil {
		t.Fatalf("building bcryptprimitives.dll: %v\n%s", err, out)
	}
	return p
}
