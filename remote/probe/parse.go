package probe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// wireResult is one element of the script's output array, keys in output order.
type wireResult struct {
	ID      *string `json:"id"`
	Status  *int    `json:"status"`
	Error   *string `json:"error"`
	Message *string `json:"message"`
	Route   *string `json:"route"`
	TLS     *bool   `json:"tls"`
	Subject *string `json:"subject"`
	Issuer  *string `json:"issuer"`
	Millis  *int    `json:"ms"`
}

var (
	errNameRE = regexp.MustCompile(`^[A-Za-z]{0,64}$`)
	routeRE   = regexp.MustCompile(`^(direct|proxy \S{1,300}:[0-9]{1,5})$`)
	// certRE: what the script's -replace '[^ -~]','?' leaves of a certificate name.
	certRE = regexp.MustCompile(`^[ -~]*$`)
)

// maxCertName bounds a certificate subject or issuer in the output.
const maxCertName = 4096

// Parse reads the script's stdout for c strictly: exactly one JSON array on one line (surrounding
// whitespace and line ends allowed), each element carrying exactly the keys id, status, error, message,
// route, tls, subject, issuer and ms, and exactly one result per route ID of c. Results are returned in the order of
// c.Routes. Errors wrap ErrBadOutput (or ErrInvalidConfig for a bad c) and say what was wrong.
func Parse(stdout []byte, c Config) ([]Result, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	text := bytes.TrimSpace(bytes.TrimPrefix(stdout, []byte("\xef\xbb\xbf")))
	if len(text) == 0 {
		return nil, fmt.Errorf("%w: no output", ErrBadOutput)
	}
	if i := bytes.IndexAny(text, "\r\n"); i >= 0 {
		return nil, fmt.Errorf("%w: more than one line (line 2 starts at byte %d)", ErrBadOutput, i)
	}
	if text[0] != '[' {
		return nil, fmt.Errorf("%w: not a JSON array: %q", ErrBadOutput, clip(text))
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	var items []wireResult
	if err := dec.Decode(&items); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOutput, err)
	}
	if dec.More() || dec.InputOffset() != int64(len(text)) {
		return nil, fmt.Errorf("%w: trailing data after the JSON array", ErrBadOutput)
	}
	want := make(map[string]int, len(c.Routes))
	for i, r := range c.Routes {
		want[r.ID] = i
	}
	out := make([]Result, len(c.Routes))
	got := make([]bool, len(c.Routes))
	for i, it := range items {
		if it.ID == nil || it.Status == nil || it.Error == nil || it.Message == nil || it.Route == nil ||
			it.TLS == nil || it.Subject == nil || it.Issuer == nil || it.Millis == nil {
			return nil, fmt.Errorf("%w: element %d: missing key (want id, status, error, message, route, tls, subject, issuer, ms)", ErrBadOutput, i)
		}
		idx, ok := want[*it.ID]
		if !ok {
			return nil, fmt.Errorf("%w: element %d: unknown route id %q", ErrBadOutput, i, clip([]byte(*it.ID)))
		}
		if got[idx] {
			return nil, fmt.Errorf("%w: element %d: second result for route %s", ErrBadOutput, i, *it.ID)
		}
		got[idx] = true
		if *it.Status < 0 || *it.Status > 999 {
			return nil, fmt.Errorf("%w: route %s: status %d out of range", ErrBadOutput, *it.ID, *it.Status)
		}
		if !errNameRE.MatchString(*it.Error) {
			return nil, fmt.Errorf("%w: route %s: error %q is not a status name", ErrBadOutput, *it.ID, clip([]byte(*it.Error)))
		}
		if !routeRE.MatchString(*it.Route) {
			return nil, fmt.Errorf("%w: route %s: route %q: want \"direct\" or \"proxy host:port\"", ErrBadOutput, *it.ID, clip([]byte(*it.Route)))
		}
		if len(*it.Subject) > maxCertName || len(*it.Issuer) > maxCertName || !certRE.MatchString(*it.Subject) || !certRE.MatchString(*it.Issuer) {
			return nil, fmt.Errorf("%w: route %s: certificate subject or issuer is not printable ASCII (at most 4096)", ErrBadOutput, *it.ID)
		}
		if !*it.TLS && (*it.Subject != "" || *it.Issuer != "") {
			return nil, fmt.Errorf("%w: route %s: certificate names without tls", ErrBadOutput, *it.ID)
		}
		if *it.Millis < 0 {
			return nil, fmt.Errorf("%w: route %s: negative duration %d", ErrBadOutput, *it.ID, *it.Millis)
		}
		if *it.Status == 0 && *it.Error == "" {
			return nil, fmt.Errorf("%w: route %s: neither status nor error", ErrBadOutput, *it.ID)
		}
		out[idx] = Result{ID: *it.ID, Status: *it.Status, Error: *it.Error, Message: *it.Message, Route: *it.Route,
			TLS: *it.TLS, Subject: *it.Subject, Issuer: *it.Issuer, Millis: *it.Millis}
	}
	var missing []string
	for i, ok := range got {
		if !ok {
			missing = append(missing, c.Routes[i].ID)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: no result for route %s", ErrBadOutput, strings.Join(missing, ", "))
	}
	return out, nil
}

// clip shortens b for error messages.
func clip(b []byte) string {
	const n = 80
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
