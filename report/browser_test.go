package report

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html/atom"

	"github.com/dcproxy/dcproxy/internal/testenv"
)

// findBrowser returns a headless-capable Chromium, or "" when none is installed. DCPROXY_CHROMIUM
// names one explicitly.
func findBrowser() string {
	if p := os.Getenv("DCPROXY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserTestScript runs after the report's own script (it is appended at the end of the body):
// it sorts the host table the way a click does and records the row order after one and two clicks
// on the Status header, so the DOM dump shows what the sort script really did.
const browserTestScript = `<script>
(function () {
  var t = document.getElementById("hosts");
  function order() {
    return Array.prototype.map.call(t.tBodies[0].rows, function (r) { return r.cells[1].textContent.trim(); }).join(",");
  }
  var th = t.tHead.rows[0].cells[4];
  th.click();
  document.body.setAttribute("data-test-asc", order());
  th.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
  document.body.setAttribute("data-test-desc", order());
  document.body.setAttribute("data-test-sort", th.getAttribute("aria-sort"));
})();
</script>
`

// TestHTMLInHeadlessBrowser loads the HTML report in a real headless Chromium and checks the DOM
// after its script ran: the sort script marked the table, made the headers focusable, and sorts
// by status in both directions (stable, by the numeric sort key). It is skipped only when no
// browser is installed, and fails then on CI (CI=true), where scripts/test-deps.sh installs one.
func TestHTMLInHeadlessBrowser(t *testing.T) {
	bin := findBrowser()
	if bin == "" {
		testenv.SkipOrFail(t, "no chromium, chromium-browser or google-chrome in PATH (set DCPROXY_CHROMIUM; scripts/test-deps.sh installs it): headless HTML test")
	}
	page := render(t, "html", fixedOptions(), driftFixture(t))
	i := strings.LastIndex(page, "</body>")
	if i < 0 {
		t.Fatal("no </body> in the report")
	}
	page = page[:i] + browserTestScript + page[i:]
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--disable-extensions", "--user-data-dir="+filepath.Join(dir, "profile"), "--dump-dom", "file://"+file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("%s did not finish within the deadline; stderr:\n%s", bin, stderr.String())
		}
		t.Fatalf("%s: %v; stderr:\n%s", bin, err, stderr.String())
	}
	doc := parseHTML(t, stdout.String())

	tables := findAll(doc, byID("hosts"))
	if len(tables) != 1 {
		t.Fatalf("dumped DOM has %d host tables; stdout starts %.300q", len(tables), stdout.String())
	}
	if v, _ := attr(tables[0], "data-sortable"); v != "ready" {
		t.Errorf("the sort script did not run: data-sortable = %q", v)
	}
	for _, th := range findAll(tables[0], byAtom(atom.Th)) {
		tab, _ := attr(th, "tabindex")
		title, _ := attr(th, "title")
		if tab != "0" || !strings.HasPrefix(title, "Sort by ") {
			t.Errorf("header %q: tabindex %q title %q", text(th), tab, title)
		}
	}
	bodies := findAll(doc, byAtom(atom.Body))
	if len(bodies) != 1 {
		t.Fatal("no body in the dumped DOM")
	}
	asc, _ := attr(bodies[0], "data-test-asc")
	desc, _ := attr(bodies[0], "data-test-desc")
	sortState, _ := attr(bodies[0], "data-test-sort")
	const (
		errored      = "dc06.corp.example,dc07.corp.example,dc08.corp.example,dc14.corp.example"
		noncompliant = "dc04.corp.example,dc09.corp.example,dc10.corp.example,dc13.corp.example,dc15.corp.example,dc-fra-01.corp.example"
		compliant    = "dc01.corp.example,dc02.corp.example,dc03.corp.example,dc05.corp.example,dc11.corp.example,dc12.corp.example"
	)
	wantAsc := errored + "," + noncompliant + "," + compliant // each group in inventory order
	wantDesc := compliant + "," + noncompliant + "," + errored
	if asc != wantAsc {
		t.Errorf("after one click on Status:\n got %s\nwant %s", asc, wantAsc)
	}
	if desc != wantDesc {
		t.Errorf("after Enter on Status:\n got %s\nwant %s", desc, wantDesc)
	}
	if sortState != "descending" {
		t.Errorf("aria-sort after two activations = %q", sortState)
	}
	// The body rows the browser built are the hosts of the report, and drift is shown.
	if rows := findAll(findAll(tables[0], byAtom(atom.Tbody))[0], byAtom(atom.Tr)); len(rows) != 16 {
		t.Errorf("host rows in the browser = %d, want 16", len(rows))
	}
	if d := findAll(doc, byID("drift")); len(d) != 1 || !strings.Contains(text(d[0]), "5 new, 11 persisting, 1 resolved") {
		t.Errorf("drift line in the browser: %d elements", len(d))
	}
	if r := findAll(doc, byID("resolved")); len(r) != 1 || !strings.Contains(text(r[0]), "dc03.corp.example") {
		t.Error("resolved section missing in the browser")
	}
}
