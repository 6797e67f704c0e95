package probe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode"
)

// wireOutput is the script's output object, keys in output order.
type wireOutput struct {
	URL     *string          `json:"url"`
	From    *string          `json:"from"`
	Sensor  json.RawMessage  `json:"sensor"` // "null" or a wireSensor; nil when the key is missing
	Roots   *map[string]bool `json:"roots"`
	Results *[]wireResult    `json:"results"`
}

type wireSensor struct {
	Found       *bool   `json:"found"`
	Error       *string `json:"error"`
	ProxyURL    *string `json:"proxyUrl"`
	ProxyUser   *string `json:"proxyUser"`
	Credentials *bool   `json:"credentials"`
	Address     *string `json:"address"`
	Port        *int    `json:"port"`
}

// wireResult is one element of the output's results array, keys in output order.
type wireResult struct {
	ID      *string `json:"id"`
	Q       *int    `json:"q"` // 1-based number of the request made for this route, 0 = none
	Status  *int    `json:"status"`
	Error   *string `json:"error"`
	Message *string `json:"message"`
	Route   *string `json:"route"`
	TLS     *bool   `json:"tls"`
	Subject *string `json:"subject"`
	Issuer  *string `json:"issuer"`
	Body    *string `json:"body"`
	Millis  *int    `json:"ms"`
}

// Limits of strings in the output.
const (
	maxCertName = 4096 // certificate subject or issuer
	maxOutURL   = 4096 // Output.URL (the host may build it from its own data)
	maxField    = 2048 // strings copied from SensorConfiguration.json
	maxMessage  = 8192 // exception message
)

// sensorErrors maps the script's SensorConfiguration.json error codes to plain words.
var sensorErrors = map[string]string{
	"NotFound":   "not found",
	"Unreadable": "cannot be read",
	"NotJson":    "not valid JSON",
}

// Parse reads the script's stdout for c strictly: exactly one JSON object on one line (a UTF-8 BOM,
// surrounding whitespace and line ends allowed) with exactly the keys url, from, sensor, roots and
// results; sensor null exactly when c.SensorConfig is ""; roots exactly c.Roots; results exactly
// one per route ID of c, each with the keys id, q, status, error, message, route, tls, subject,
// issuer, body and ms, where routes with the same request number q carry the same result and
// different requests different routes. Results are returned in the order of c.Routes. Errors wrap
// ErrBadOutput (or ErrInvalidConfig for a bad c) and say what was wrong.
func Parse(stdout []byte, c Config) (Output, error) {
	if err := c.Validate(); err != nil {
		return Output{}, err
	}
	text := bytes.TrimSpace(bytes.TrimPrefix(stdout, []byte("\xef\xbb\xbf")))
	if len(text) == 0 {
		return Output{}, fmt.Errorf("%w: no output", ErrBadOutput)
	}
	if i := bytes.IndexAny(text, "\r\n"); i >= 0 {
		return Output{}, fmt.Errorf("%w: more than one line (line 2 starts at byte %d)", ErrBadOutput, i)
	}
	if text[0] != '{' {
		return Output{}, fmt.Errorf("%w: not a JSON object: %q", ErrBadOutput, clip(text))
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	var w wireOutput
	if err := dec.Decode(&w); err != nil {
		return Output{}, fmt.Errorf("%w: %w", ErrBadOutput, err)
	}
	if dec.More() || dec.InputOffset() != int64(len(text)) {
		return Output{}, fmt.Errorf("%w: trailing data after the JSON object", ErrBadOutput)
	}
	if w.URL == nil || w.From == nil || w.Roots == nil || w.Results == nil {
		return Output{}, fmt.Errorf("%w: missing key (want url, from, sensor, roots, results)", ErrBadOutput)
	}
	out := Output{URL: *w.URL, URLFrom: *w.From}
	if err := checkURL(out.URL, out.URLFrom, c); err != nil {
		return Output{}, err
	}
	if w.Sensor == nil {
		return Output{}, fmt.Errorf("%w: missing key sensor", ErrBadOutput)
	}
	var ws *wireSensor
	if string(w.Sensor) != "null" {
		sdec := json.NewDecoder(bytes.NewReader(w.Sensor))
		sdec.DisallowUnknownFields()
		if err := sdec.Decode(&ws); err != nil {
			return Output{}, fmt.Errorf("%w: sensor: %w", ErrBadOutput, err)
		}
	}
	sc, err := parseSensor(ws, c)
	if err != nil {
		return Output{}, err
	}
	out.Sensor = sc
	if len(*w.Roots) != len(c.Roots) {
		return Output{}, fmt.Errorf("%w: %d roots reported for %d asked", ErrBadOutput, len(*w.Roots), len(c.Roots))
	}
	out.Roots = make(map[string]bool, len(c.Roots))
	for _, r := range c.Roots {
		present, ok := (*w.Roots)[r]
		if !ok {
			return Output{}, fmt.Errorf("%w: no answer for root %s", ErrBadOutput, r)
		}
		out.Roots[r] = present
	}
	res, requests, err := parseResults(*w.Results, out.URL, c)
	if err != nil {
		return Output{}, err
	}
	out.Results, out.Requests = res, requests
	return out, nil
}

// checkURL checks the reported URL against its source.
func checkURL(u, from string, c Config) error {
	if len(u) > maxOutURL || !printableASCII(u) {
		return fmt.Errorf("%w: url is not printable ASCII (at most %d)", ErrBadOutput, maxOutURL)
	}
	switch from {
	case FromGiven:
		if u != c.URL {
			return fmt.Errorf("%w: url %q from the config differs from %q", ErrBadOutput, clip([]byte(u)), c.URL)
		}
	case FromSensor:
		if c.URLSource != URLSensor || !strings.HasPrefix(u, "https://") || !strings.HasSuffix(u, "/tri/sensor/api/ping") {
			return fmt.Errorf("%w: url %q from the sensor config: not asked for or not https://.../tri/sensor/api/ping", ErrBadOutput, clip([]byte(u)))
		}
	case FromMDE:
		if c.URLSource != URLMDE || !strings.HasSuffix(u, "cnc/identity/api") {
			return fmt.Errorf("%w: url %q from OnboardingInfo: not asked for or not ...cnc/identity/api", ErrBadOutput, clip([]byte(u)))
		}
	default:
		return fmt.Errorf("%w: from %q: want given, sensor or mde", ErrBadOutput, clip([]byte(from)))
	}
	return nil
}

func parseSensor(w *wireSensor, c Config) (*SensorConfig, error) {
	if c.SensorConfig == "" {
		if w != nil {
			return nil, fmt.Errorf("%w: sensor config reported but none asked for", ErrBadOutput)
		}
		return nil, nil
	}
	if w == nil {
		return nil, fmt.Errorf("%w: sensor is null but %s was asked for", ErrBadOutput, c.SensorConfig)
	}
	if w.Found == nil || w.Error == nil || w.ProxyURL == nil || w.ProxyUser == nil || w.Credentials == nil || w.Address == nil || w.Port == nil {
		return nil, fmt.Errorf("%w: sensor: missing key (want found, error, proxyUrl, proxyUser, credentials, address, port)", ErrBadOutput)
	}
	for _, f := range []string{*w.ProxyURL, *w.ProxyUser, *w.Address} {
		if len(f) > maxField || strings.IndexFunc(f, unicode.IsControl) >= 0 {
			return nil, fmt.Errorf("%w: sensor: a field has control characters or more than %d bytes", ErrBadOutput, maxField)
		}
	}
	// [int] of whatever the JSON holds: any Int32 (a port out of 1-65535 makes the URL fail on the host).
	if *w.Port < math.MinInt32 || *w.Port > math.MaxInt32 {
		return nil, fmt.Errorf("%w: sensor: port %d is not an Int32", ErrBadOutput, *w.Port)
	}
	sc := &SensorConfig{Found: *w.Found, ProxyURL: redactUser(*w.ProxyURL), ProxyUser: *w.ProxyUser, Credentials: *w.Credentials,
		Address: *w.Address, Port: *w.Port}
	if *w.Found {
		if *w.Error != "" {
			return nil, fmt.Errorf("%w: sensor: found with error %q", ErrBadOutput, clip([]byte(*w.Error)))
		}
		return sc, nil
	}
	words, ok := sensorErrors[*w.Error]
	if !ok {
		return nil, fmt.Errorf("%w: sensor: error %q: want NotFound, Unreadable or NotJson", ErrBadOutput, clip([]byte(*w.Error)))
	}
	if sc.ProxyURL != "" || sc.ProxyUser != "" || sc.Credentials || sc.Address != "" || sc.Port != 0 {
		return nil, fmt.Errorf("%w: sensor: values reported for a file that was not read", ErrBadOutput)
	}
	sc.Error = words
	return sc, nil
}

// redactUser replaces the user information of a proxy URL ("http://user:pass@host") by REDACTED: an
// admin may have written a password into the URL, and it must reach no report.
func redactUser(s string) string {
	i := strings.Index(s, "://")
	rest := s
	if i >= 0 {
		rest = s[i+3:]
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return s
	}
	return s[:len(s)-len(rest)] + "REDACTED" + rest[at:]
}

func parseResults(items []wireResult, reqURL string, c Config) ([]Result, int, error) {
	want := make(map[string]int, len(c.Routes))
	for i, r := range c.Routes {
		want[r.ID] = i
	}
	out := make([]Result, len(c.Routes))
	qs := make([]int, len(c.Routes))
	got := make([]bool, len(c.Routes))
	for i, it := range items {
		if it.ID == nil || it.Q == nil || it.Status == nil || it.Error == nil || it.Message == nil || it.Route == nil ||
			it.TLS == nil || it.Subject == nil || it.Issuer == nil || it.Body == nil || it.Millis == nil {
			return nil, 0, fmt.Errorf("%w: result %d: missing key (want id, q, status, error, message, route, tls, subject, issuer, body, ms)", ErrBadOutput, i)
		}
		idx, ok := want[*it.ID]
		if !ok {
			return nil, 0, fmt.Errorf("%w: result %d: unknown route id %q", ErrBadOutput, i, clip([]byte(*it.ID)))
		}
		if got[idx] {
			return nil, 0, fmt.Errorf("%w: result %d: second result for route %s", ErrBadOutput, i, *it.ID)
		}
		got[idx] = true
		id := *it.ID
		if *it.Status < 0 || *it.Status > 999 {
			return nil, 0, fmt.Errorf("%w: route %s: status %d out of range", ErrBadOutput, id, *it.Status)
		}
		if !isErrName(*it.Error) {
			return nil, 0, fmt.Errorf("%w: route %s: error %q is not a status name", ErrBadOutput, id, clip([]byte(*it.Error)))
		}
		if len(*it.Message) > maxMessage {
			return nil, 0, fmt.Errorf("%w: route %s: message longer than %d", ErrBadOutput, id, maxMessage)
		}
		if !isRoute(*it.Route) {
			return nil, 0, fmt.Errorf("%w: route %s: route %q: want \"direct\" or \"proxy host:port\"", ErrBadOutput, id, clip([]byte(*it.Route)))
		}
		// Printable ASCII: what the script's -replace '[^ -~]','?' leaves of a name or body line.
		if len(*it.Subject) > maxCertName || len(*it.Issuer) > maxCertName || !printableASCII(*it.Subject) || !printableASCII(*it.Issuer) {
			return nil, 0, fmt.Errorf("%w: route %s: certificate subject or issuer is not printable ASCII (at most %d)", ErrBadOutput, id, maxCertName)
		}
		if !*it.TLS && (*it.Subject != "" || *it.Issuer != "") {
			return nil, 0, fmt.Errorf("%w: route %s: certificate names without tls", ErrBadOutput, id)
		}
		if len(*it.Body) > MaxBody || !printableASCII(*it.Body) {
			return nil, 0, fmt.Errorf("%w: route %s: body is not printable ASCII of at most %d", ErrBadOutput, id, MaxBody)
		}
		if *it.Body != "" && *it.Status != 200 {
			return nil, 0, fmt.Errorf("%w: route %s: body with status %d (only a 200 reports one)", ErrBadOutput, id, *it.Status)
		}
		if *it.Millis < 0 {
			return nil, 0, fmt.Errorf("%w: route %s: negative duration %d", ErrBadOutput, id, *it.Millis)
		}
		if *it.Status == 0 && *it.Error == "" {
			return nil, 0, fmt.Errorf("%w: route %s: neither status nor error", ErrBadOutput, id)
		}
		if *it.Q < 0 || *it.Q > len(c.Routes) {
			return nil, 0, fmt.Errorf("%w: route %s: request number %d out of range", ErrBadOutput, id, *it.Q)
		}
		// No request: NoSensorProxy, or the type name of the exception that resolving the route threw
		// (UriFormatException for a bad proxy URL in the JSON), and nothing else.
		if *it.Q == 0 && (*it.Error != ErrNoSensorProxy && !strings.HasSuffix(*it.Error, "Exception") ||
			*it.Status != 0 || *it.TLS || *it.Millis != 0 || *it.Message != "" || *it.Body != "") {
			return nil, 0, fmt.Errorf("%w: route %s: no request made, yet a request's result", ErrBadOutput, id)
		}
		if *it.Error == ErrNoSensorProxy && (*it.Q != 0 || c.Routes[idx].Mode != ModeSensor) {
			return nil, 0, fmt.Errorf("%w: route %s: %s for a request or a route that is not a sensor route", ErrBadOutput, id, ErrNoSensorProxy)
		}
		r := Result{ID: id, Status: *it.Status, Error: *it.Error, Message: *it.Message, Route: *it.Route,
			TLS: *it.TLS, Subject: *it.Subject, Issuer: *it.Issuer, Body: *it.Body, Millis: *it.Millis}
		if *it.Q > 0 {
			r.URL = reqURL
		}
		out[idx], qs[idx] = r, *it.Q
	}
	var missing []string
	for i, ok := range got {
		if !ok {
			missing = append(missing, c.Routes[i].ID)
		}
	}
	if len(missing) > 0 {
		return nil, 0, fmt.Errorf("%w: no result for route %s", ErrBadOutput, strings.Join(missing, ", "))
	}
	// Requests are numbered 1, 2, ... in the order of the first route that needs each; routes of one
	// request carry its result, and different requests went different routes.
	first := map[int]int{} // q -> index of its first route
	byRoute := map[string]int{}
	requests := 0
	for i, q := range qs {
		if q == 0 {
			continue
		}
		f, seen := first[q]
		if !seen {
			if q != requests+1 {
				return nil, 0, fmt.Errorf("%w: route %s: request %d out of order (want %d)", ErrBadOutput, out[i].ID, q, requests+1)
			}
			if other, dup := byRoute[out[i].Route]; dup {
				return nil, 0, fmt.Errorf("%w: requests %d and %d both went %s", ErrBadOutput, other, q, out[i].Route)
			}
			requests++
			first[q] = i
			byRoute[out[i].Route] = q
			continue
		}
		a, b := out[f], out[i]
		a.ID, b.ID = "", ""
		if a != b {
			return nil, 0, fmt.Errorf("%w: routes %s and %s share request %d but differ", ErrBadOutput, out[f].ID, out[i].ID, q)
		}
		out[i].SharedWith = out[f].ID
	}
	return out, requests, nil
}

// clip shortens b for error messages.
func clip(b []byte) string {
	const n = 80
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
