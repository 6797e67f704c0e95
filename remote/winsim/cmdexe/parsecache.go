package cmdexe

import (
	"slices"
	"strings"
	"sync"
)

// parsed caches parse trees across Runs: a simulated fleet runs the same few command lines on
// every host (the audit's registry batch), and parsing one costs more than running it. A tree
// depends only on the percent-expanded line, the working directory, whether a file system is
// there and which program names the shell lists (parseKey); it is never modified after parsing, so
// concurrent Runs may share it.
var parsed struct {
	mu sync.Mutex
	m  map[parseKey]node
}

// maxParsed bounds the cache; when full it starts over.
const maxParsed = 256

type parseKey struct {
	line, cwd string
	hasFS     bool
	programs  string // the names of Shell.Programs, sorted, NUL-separated
}

// parseCached is parseLine with the cache. Lines that fail to parse are not cached.
func parseCached(line, cwd string, hasFS bool, programs map[string]Program) (node, error) {
	k := parseKey{line: line, cwd: cwd, hasFS: hasFS, programs: programNames(programs)}
	parsed.mu.Lock()
	n, ok := parsed.m[k]
	parsed.mu.Unlock()
	if ok {
		return n, nil
	}
	n, err := parseLine(line, cwd, hasFS, programs)
	if err != nil {
		return nil, err
	}
	parsed.mu.Lock()
	if parsed.m == nil || len(parsed.m) >= maxParsed {
		parsed.m = make(map[parseKey]node, maxParsed)
	}
	parsed.m[k] = n
	parsed.mu.Unlock()
	return n, nil
}

// programNames returns the keys of programs (listed with a nil Program too: parsing only asks
// whether a name is listed), sorted and joined by NUL.
func programNames(programs map[string]Program) string {
	var buf [8]string
	names := buf[:0]
	for name := range programs {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, "\x00")
}
