package inventory

import (
	"strings"
	"unicode"
)

// parseText reads one host[:port] per line.
func (p *parser) parseText(text string) {
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if j := commentStart(line); j >= 0 {
			line = strings.TrimSpace(line[:j])
		}
		if line == "" {
			continue
		}
		if strings.IndexFunc(line, unicode.IsSpace) >= 0 {
			p.errorf(n, "%q: want one host[:port] per line", line)
			continue
		}
		host, port, err := splitHostPort(line)
		if err != nil {
			p.errorf(n, "%v", err)
			continue
		}
		p.add(Host{Name: host, Address: host, Port: port, Source: p.src(n)}, n)
	}
}

// commentStart returns the index of a '#' that starts a comment: at the start of the line or after
// whitespace; -1 if none.
func commentStart(line string) int {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return i
		}
	}
	return -1
}
