package cmd

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/internal/testenv"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

// On a real terminal (tmux), the progress line keeps moving while a host is pending: the elapsed
// time advances without any host finishing, and the line names the host it waits for.
func TestProgress_movesWhileHostsPending_tmux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		testenv.SkipOrFail(t, "no tmux (apt-get install tmux; scripts/test-deps.sh installs it)")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "dcproxy")
	if b, err := exec.Command(gobin, "build", "-o", bin, "github.com/dcproxy/dcproxy/cmd/dcproxy").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	spec, err := lab.ParseSpec([]byte(twoDomainFleet + "  - name: dc02.lab.test\n    exec_time: 60s\n"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.95.7.1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	work := t.TempDir()
	inv := fmt.Sprintf("hosts:\n  - {name: dc01.lab.test, address: %s, port: %d}\n  - {name: dc02.lab.test, address: %s, port: %d}\n",
		l.Members[0].Address, l.Members[0].Port, l.Members[2].Address, l.Members[2].Port)
	if err := os.WriteFile(filepath.Join(work, "inv.yaml"), []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	session := fmt.Sprintf("dcproxy-progress-%d", os.Getpid())
	// stdout to a file (JSON), stderr stays on the tmux pane's terminal.
	script := fmt.Sprintf("cd %s && DCPROXY_USER='LAB\\auditor' DCPROXY_PASSWORD=lab-pw %s audit -i inv.yaml --timeout 90s --format json -o out.json; sleep 60", work, bin)
	if b, err := exec.Command(tmux, "new-session", "-d", "-s", session, "-x", "160", "-y", "10", script).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, b)
	}
	t.Cleanup(func() { _ = exec.Command(tmux, "kill-session", "-t", session).Run() })
	elapsed := regexp.MustCompile(`1/2 hosts, \d+ need attention, (\d+s) elapsed.*waiting for dc02\.lab\.test`)
	seen := map[string]bool{}
	deadline := time.Now().Add(45 * time.Second)
	var pane []byte
	for len(seen) < 2 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		pane, _ = exec.Command(tmux, "capture-pane", "-p", "-t", session).Output()
		if m := elapsed.FindSubmatch(pane); m != nil {
			seen[string(m[1])] = true
		}
	}
	if len(seen) < 2 {
		t.Fatalf("the progress line did not move while dc02 was pending (elapsed values seen: %v); pane:\n%s", seen, bytes.TrimSpace(pane))
	}
	if strings.Contains(string(pane), "\x1b") {
		t.Errorf("escape sequences left on the pane")
	}
}
