package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/dcproxy/dcproxy/remote"
)

// DefaultAuthFailureLimit is how many hosts may refuse an account before any logon with it has
// succeeded, before dcproxy stops trying it (domain lockout thresholds are commonly 5 to 10).
const DefaultAuthFailureLimit = 3

// logonGate keeps a wrong password from locking the account out across the domain: until a logon
// with an account has succeeded somewhere, at most limit hosts try it at once (fewer as refusals
// accumulate, so that no more than limit hosts ever refuse it), and once limit hosts have refused
// it, the remaining hosts are not tried with it. After one success the account is known good and
// the gate no longer holds anything back (a refusal then is about that host). A host whose first
// attempt fails before authentication (unreachable, TLS, protocol) gives its slot back at once; a
// host that accepts TCP and never answers holds it until its deadline. A logonGate is safe for
// concurrent use.
type logonGate struct {
	limit int
	mu    sync.Mutex
	accts map[string]*logonState
}

type logonState struct {
	verified bool
	inflight int
	refused  []string      // hosts that refused the account before it was verified
	changed  chan struct{} // closed and replaced on every change
}

func newLogonGate(limit int) *logonGate {
	return &logonGate{limit: limit, accts: map[string]*logonState{}}
}

// errNotDialed releases a slot without saying anything about the account.
var errNotDialed = errors.New("not dialed")

// acquire waits (bounded by ctx) until host may try a logon as user. It returns a release function
// that must be called once with the outcome of the logon, or an error (kind auth) when the account
// was refused by too many hosts already.
func (g *logonGate) acquire(ctx context.Context, user, host string) (func(error), error) {
	key := strings.ToLower(user)
	for {
		g.mu.Lock()
		st := g.accts[key]
		if st == nil {
			st = &logonState{changed: make(chan struct{})}
			g.accts[key] = st
		}
		switch {
		case st.verified:
			g.mu.Unlock()
			return func(error) {}, nil
		case len(st.refused) >= g.limit:
			refused := strings.Join(st.refused, ", ")
			g.mu.Unlock()
			return nil, fmt.Errorf("%w: not attempted: %s was refused by %s before any logon with it succeeded; no more hosts are tried with it, so the account is not locked out (check its password)",
				remote.ErrAuth, user, refused)
		case len(st.refused)+st.inflight < g.limit: // so refusals can never exceed limit
			st.inflight++
			g.mu.Unlock()
			var once sync.Once
			return func(err error) { once.Do(func() { g.release(st, host, err) }) }, nil
		}
		changed := st.changed
		g.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (g *logonGate) release(st *logonState, host string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st.inflight--
	switch {
	case err == nil:
		st.verified = true
	case errors.Is(err, remote.ErrAuth) && !st.verified:
		st.refused = append(st.refused, host)
	}
	close(st.changed)
	st.changed = make(chan struct{})
}
