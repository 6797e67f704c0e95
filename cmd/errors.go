package cmd

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// UsageError is a mistake in the user's input (a flag, a configuration key or value, an inventory
// line, a missing password): exit status 64, like the GitHub CLI's FlagError. It wraps the cause,
// so errors.Is and errors.As see through it.
type UsageError struct {
	Err error
}

func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *UsageError) Unwrap() error { return e.Err }

// usageErr builds a UsageError; %w in format wraps an error as fmt.Errorf does.
func usageErr(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// args makes cobra's positional-argument validators return usage errors.
func args(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, a []string) error {
		if err := v(c, a); err != nil {
			return &UsageError{Err: fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
		}
		return nil
	}
}

// isCobraUnknownCommand recognises the one cobra error that reaches exitCode untyped: an unknown
// sub-command of the root ("unknown command "x" for "dcproxy"", returned by cobra's Find before
// any of our hooks run). Every other usage error is a UsageError.
func isCobraUnknownCommand(err error) bool {
	return strings.HasPrefix(err.Error(), "unknown command ")
}

// flagError is the root's FlagErrorFunc: every flag parse error becomes a UsageError, and an
// unknown flag gets the closest known one as a suggestion ("did you mean --inventory?").
func flagError(c *cobra.Command, err error) error {
	name := ""
	if ne := (*pflag.NotExistError)(nil); errors.As(err, &ne) {
		name = ne.GetSpecifiedName()
		if s := ne.GetSpecifiedShortnames(); s != "" {
			name = strings.TrimPrefix(s, "-") // "-inventory": a long flag typed with one dash
		}
	}
	if name != "" {
		name, _, _ = strings.Cut(name, "=")
		if s := suggestFlag(c.Flags(), name); s != "" {
			return &UsageError{Err: fmt.Errorf("%w; did you mean --%s? (see %s --help)", err, s, c.CommandPath())}
		}
	}
	return &UsageError{Err: fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
}

// suggestFlag returns the flag of fs closest to name, or "" when none is close: an edit distance of
// at most 2 (1 for names under 5 characters), or a flag that starts with name.
func suggestFlag(fs *pflag.FlagSet, name string) string {
	name = strings.ToLower(name)
	if name == "" {
		return ""
	}
	type cand struct {
		name string
		d    int
	}
	var cands []cand
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := levenshtein(name, f.Name)
		limit := 2
		if len(name) < 5 {
			limit = 1
		}
		if d <= limit || (len(name) >= 3 && strings.HasPrefix(f.Name, name)) {
			cands = append(cands, cand{f.Name, d})
		}
	})
	if len(cands) == 0 {
		return ""
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].d != cands[j].d {
			return cands[i].d < cands[j].d
		}
		return cands[i].name < cands[j].name
	})
	return cands[0].name
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
