package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestKindAndTransient(t *testing.T) {
	for _, tc := range []struct {
		err       error
		kind      string
		transient bool
	}{
		{fmt.Errorf("dial: %w: refused", ErrUnreachable), "unreachable", true},
		{fmt.Errorf("%w: 401", ErrAuth), "auth", false},
		{fmt.Errorf("%w: wsman fault 5", ErrAccessDenied), "rights", false},
		{fmt.Errorf("%w: unknown authority", ErrTLS), "tls", false},
		{fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded), "timeout", false},
		{context.DeadlineExceeded, "timeout", false},
		{fmt.Errorf("%w: html", ErrProtocol), "protocol", false},
		{context.Canceled, "canceled", false},
		{errors.New("other"), "error", false},
		{nil, "", false},
	} {
		if got := Kind(tc.err); got != tc.kind {
			t.Errorf("Kind(%v) = %q, want %q", tc.err, got, tc.kind)
		}
		if got := Transient(tc.err); got != tc.transient {
			t.Errorf("Transient(%v) = %v", tc.err, got)
		}
	}
}

func TestTarget(t *testing.T) {
	tg := Target{Host: "dc01", User: `LAB\a`, Password: "hunter2"}
	tg.SetDefaults()
	if tg.Port != 5985 || tg.Auth != AuthNTLM || tg.Validate() != nil {
		t.Fatalf("defaults: %+v", tg)
	}
	if s := fmt.Sprintf("%v %s", tg.String(), tg); strings.Contains(s, "hunter2") {
		t.Fatalf("String leaks the password: %s", s)
	}
	h := Target{Host: "dc01", HTTPS: true, User: "a"}
	h.SetDefaults()
	if h.Port != 5986 || h.String() != "https://dc01:5986" {
		t.Fatalf("https: %+v %s", h, h)
	}
	for _, bad := range []Target{
		{Host: "", Port: 5985, User: "a", Auth: AuthNTLM},
		{Host: "h", Port: 70000, User: "a", Auth: AuthNTLM},
		{Host: "h", Port: 5985, Auth: AuthNTLM},
		{Host: "h", Port: 5985, User: "a", Auth: "digest"},
		{Host: "h", Port: 5985, User: "a", Auth: AuthBasic},
	} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
