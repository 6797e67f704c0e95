package report

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/dcproxy/dcproxy/fleet"
)

func parseHTML(t *testing.T, s string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func hasClass(n *html.Node, class string) bool {
	v, _ := attr(n, "class")
	return slicesContains(strings.Fields(v), class)
}

func slicesContains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

// findAll returns the element nodes under n that match, in document order.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func byAtom(a atom.Atom) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.DataAtom == a }
}

func byID(id string) func(*html.Node) bool {
	return func(n *html.Node) bool { v, _ := attr(n, "id"); return v == id }
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data + " ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func TestHTMLStructure(t *testing.T) {
	rep := fixture()
	doc := parseHTML(t, render(t, "html", fixedOptions(), rep))

	// Self-contained: no external scripts, styles, images, frames or links to other origins.
	for _, n := range findAll(doc, func(*html.Node) bool { return true }) {
		for _, key := range []string{"src", "href", "srcset", "action", "data", "poster"} {
			v, ok := attr(n, key)
			if !ok {
				continue
			}
			if !strings.HasPrefix(v, "#") {
				t.Errorf("<%s %s=%q> points outside the page", n.Data, key, v)
			}
		}
		if n.DataAtom == atom.Link || n.DataAtom == atom.Iframe || n.DataAtom == atom.Img {
			t.Errorf("external-resource element <%s>", n.Data)
		}
	}
	if n := len(findAll(doc, byAtom(atom.Style))); n != 1 {
		t.Errorf("<style> elements = %d, want 1", n)
	}
	scripts := findAll(doc, byAtom(atom.Script))
	if len(scripts) != 1 || !strings.Contains(text(scripts[0]), "addEventListener(\"click\"") {
		t.Errorf("want one inline script with a click handler, got %d", len(scripts))
	}

	// Summary figures.
	for id, want := range map[string]string{"fig-hosts": "16", "fig-compliant": "6", "fig-noncompliant": "6", "fig-error": "4"} {
		figs := findAll(doc, byID(id))
		if len(figs) != 1 || !strings.HasPrefix(text(figs[0]), want+" ") {
			t.Errorf("figure %s: %v, want %s", id, figs, want)
		}
	}

	// Bar chart: one bar per site, segments adding up to the full bar width, least compliant first.
	svgs := findAll(doc, byAtom(atom.Svg))
	if len(svgs) != 1 {
		t.Fatalf("svg elements = %d, want 1", len(svgs))
	}
	bars := findAll(svgs[0], func(n *html.Node) bool { return n.Data == "g" && hasClass(n, "bar") })
	sites := map[string]bool{}
	for _, h := range rep.Hosts {
		sites[orDefault(h.Site, "(no site)")] = true
	}
	if len(bars) != len(sites) {
		t.Errorf("bars = %d, want %d (one per site)", len(bars), len(sites))
	}
	var labels []string
	for _, g := range bars {
		labels = append(labels, text(findAll(g, func(n *html.Node) bool { return n.Data == "text" })[0]))
		if n := len(findAll(g, func(n *html.Node) bool { return n.Data == "title" && n.Parent == g })); n != 1 {
			t.Errorf("bar %q has %d own <title> elements, want 1", labels[len(labels)-1], n)
		}
		total := 0
		for _, r := range findAll(g, func(n *html.Node) bool { return n.Data == "rect" }) {
			w, _ := attr(r, "width")
			total += atoi(t, w)
			if len(findAll(r, func(n *html.Node) bool { return n.Data == "title" })) != 1 {
				t.Error("bar segment without a <title> tooltip")
			}
		}
		if total != chartBarW {
			t.Errorf("bar %q segments add up to %d, want %d", labels[len(labels)-1], total, chartBarW)
		}
	}
	// Least compliant first, ties by name: the 0% sites, then the 1/2 sites, then Berlin (2/3).
	if want := []string{"(no site)", "Frankfurt", "Vienna", "Hamburg", "Madrid", "Munich", "Paris", "Berlin"}; strings.Join(labels, ",") != strings.Join(want, ",") {
		t.Errorf("bar order = %v, want %v", labels, want)
	}

	// Host table: sortable headers, one row per host in inventory order, status sort keys.
	tables := findAll(doc, byID("hosts"))
	if len(tables) != 1 {
		t.Fatalf("host tables = %d", len(tables))
	}
	ths := findAll(tables[0], byAtom(atom.Th))
	if len(ths) != 13 || text(ths[1]) != "Host" || text(ths[4]) != "Status" || text(ths[5]) != "Acts" || text(ths[7]) != "Route" {
		t.Errorf("host table headers = %d", len(ths))
	}
	tbody := findAll(tables[0], byAtom(atom.Tbody))[0]
	rows := findAll(tbody, byAtom(atom.Tr))
	if len(rows) != len(rep.Hosts) {
		t.Fatalf("host rows = %d, want %d", len(rows), len(rep.Hosts))
	}
	for i, r := range rows {
		cells := findAll(r, byAtom(atom.Td))
		if len(cells) != len(ths) {
			t.Errorf("row %d has %d cells, want %d", i, len(cells), len(ths))
			continue
		}
		h := rep.Hosts[i]
		if text(cells[1]) != h.Host || text(cells[4]) != string(h.Status) {
			t.Errorf("row %d = %q/%q, want %q/%q", i, text(cells[1]), text(cells[4]), h.Host, h.Status)
		}
		if v, _ := attr(cells[4], "data-sort"); v == "" {
			t.Errorf("row %d status has no sort key", i)
		}
		a := findAll(cells[1], byAtom(atom.A))
		href, _ := attr(a[0], "href")
		if len(findAll(doc, byID(strings.TrimPrefix(href, "#")))) != 1 {
			t.Errorf("row %d links to %q, which does not exist once", i, href)
		}
	}

	// Per-host details: expected beside actual, differences highlighted.
	details := findAll(doc, func(n *html.Node) bool { return n.DataAtom == atom.Details && hasClass(n, "host") })
	if len(details) != len(rep.Hosts) {
		t.Fatalf("details = %d, want %d", len(details), len(rep.Hosts))
	}
	for i, d := range details {
		_, open := attr(d, "open")
		if want := rep.Hosts[i].Status != fleet.StatusCompliant; open != want {
			t.Errorf("host %d details open = %v, want %v", i, open, want)
		}
	}
	byHost := map[string]*html.Node{}
	for _, d := range details {
		byHost[text(findAll(d, byAtom(atom.Strong))[0])] = d
	}
	dc04 := byHost["dc04.corp.example"]
	var diffRows []string
	for _, tr := range findAll(dc04, func(n *html.Node) bool { return n.DataAtom == atom.Tr && hasClass(n, "diff") }) {
		diffRows = append(diffRows, text(tr))
	}
	if len(diffRows) != 1 || diffRows[0] != "proxy proxy.lab.test:8080 old.lab.test:3128" {
		t.Errorf("dc04 highlighted rows = %q", diffRows)
	}
	// The registry comparison shows expected beside actual; the informational reference only actual.
	heads := map[string]string{}
	for _, c := range findAll(dc04, func(n *html.Node) bool { return n.DataAtom == atom.Div && hasClass(n, "check") }) {
		id := text(findAll(c, func(n *html.Node) bool { return n.DataAtom == atom.Span && hasClass(n, "mono") })[0])
		if th := findAll(c, byAtom(atom.Thead)); len(th) == 1 {
			heads[id] = text(th[0])
		}
	}
	if heads["registry.local_service"] != "expected actual" || heads["reference"] != "actual" {
		t.Errorf("comparison headers = %q", heads)
	}
	if !strings.Contains(text(byHost["dc-fra-01.corp.example"]), "VERIFICATION FAILED: LOCAL_SERVICE DefaultConnectionSettings reads back absent") {
		t.Error("de-DE rollback message lost")
	}
	if !strings.Contains(text(byHost["dc06.corp.example"]), "Could not be checked: auth: logon refused") {
		t.Error("auth error not shown in details")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// Host text is data, never markup or script.
func TestHTMLEscapesHostText(t *testing.T) {
	// Hand-made: hostile text in a host name, a site and an error message.
	rep := fixture()
	rep.Hosts[0].Host = `<script>alert(1)</script>`
	rep.Hosts[0].Site = `</text><script>x()</script>`
	host(t, rep, "dc06.corp.example").Error.Message = `"><img src=x onerror=alert(1)>`
	out := render(t, "html", fixedOptions(), rep)
	doc := parseHTML(t, out)
	if n := len(findAll(doc, byAtom(atom.Script))); n != 1 {
		t.Errorf("script elements = %d, want 1", n)
	}
	if n := len(findAll(doc, byAtom(atom.Img))); n != 0 {
		t.Errorf("img elements = %d, want 0", n)
	}
	if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("host name not escaped")
	}
}

// With no sites, the chart groups by tag; a report without hosts still renders.
func TestHTMLChartByTagAndEmpty(t *testing.T) {
	rep := fixture()
	for i := range rep.Hosts {
		rep.Hosts[i].Site = ""
	}
	doc := parseHTML(t, render(t, "html", fixedOptions(), rep))
	h2 := findAll(doc, byAtom(atom.H2))
	if len(h2) == 0 || text(h2[0]) != "Compliance by tag" {
		t.Errorf("first heading = %q", text(h2[0]))
	}
	empty := parseHTML(t, render(t, "html", fixedOptions(), &fleet.Report{}))
	if n := len(findAll(empty, byAtom(atom.Svg))); n != 0 {
		t.Errorf("empty report has %d charts", n)
	}
	if n := len(findAll(empty, byID("hosts"))); n != 1 {
		t.Errorf("empty report host tables = %d", n)
	}
}
