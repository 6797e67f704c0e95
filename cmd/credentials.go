package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/term"
)

// secrets resolves passwords once per run and caches them: DCPROXY_PASSWORD, a password file that
// only its owner can read, or a no-echo prompt on a terminal. A password never comes from a flag
// value, and never appears in an error message.
type secrets struct {
	env    func(string) string
	stdin  *os.File
	stderr io.Writer

	mu    sync.Mutex
	cache map[string]string
}

// secretStore is the run's one secrets cache (discovery and the audit share a prompt).
func (a *app) secretStore() *secrets {
	a.secMu.Lock()
	defer a.secMu.Unlock()
	if a.sec == nil {
		a.sec = newSecrets(a.env, a.stdin, a.stderr)
	}
	return a.sec
}

func newSecrets(env func(string) string, stdin *os.File, stderr io.Writer) *secrets {
	return &secrets{env: env, stdin: stdin, stderr: stderr, cache: map[string]string{}}
}

// errNoPassword is returned when no password source is available.
var errNoPassword = errors.New("no password")

// defaultPassword returns the password of the default account.
func (s *secrets) defaultPassword(user, file string) (string, error) {
	return s.get("default", user, "DCPROXY_PASSWORD", file, true, true)
}

// named returns the password of a named credential.
func (s *secrets) named(name string, c Credential) (string, error) {
	return s.get("credential "+name, c.User, c.PasswordEnv, c.PasswordFile, false, true)
}

// optionalDefault is the default account's password when DCPROXY_PASSWORD or the password file
// gives one, "" otherwise (never a prompt): Kerberos from a ticket cache or keytab needs none.
func (s *secrets) optionalDefault(user, file string) (string, error) {
	return s.get("default", user, "DCPROXY_PASSWORD", file, false, false)
}

// optionalNamed is optionalDefault for a named credential.
func (s *secrets) optionalNamed(name string, c Credential) (string, error) {
	return s.get("credential "+name, c.User, c.PasswordEnv, c.PasswordFile, false, false)
}

// get returns the password from the environment variable, the file or (prompt) the terminal. When
// it is not required and neither the variable nor the file gives one, it returns "" (not cached, so
// that a later required get may still prompt).
func (s *secrets) get(key, user, envName, file string, prompt, required bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.cache[key]; ok {
		return p, nil
	}
	if !required && (envName == "" || s.env(envName) == "") && file == "" {
		return "", nil
	}
	var p string
	var err error
	switch {
	case envName != "" && s.env(envName) != "":
		p = s.env(envName)
	case file != "":
		p, err = readPasswordFile(file)
	case prompt && s.stdin != nil && term.IsTerminal(int(s.stdin.Fd())):
		fmt.Fprintf(s.stderr, "Password for %s: ", user)
		var b []byte
		b, err = term.ReadPassword(int(s.stdin.Fd()))
		fmt.Fprintln(s.stderr)
		p = string(b)
	default:
		where := "set " + envName
		if envName == "" {
			where = "set password_env or password_file"
		} else if prompt {
			where += ", set password_file, or run on a terminal to be prompted"
		}
		err = fmt.Errorf("%w for %s (%s): %s", errNoPassword, user, key, where)
	}
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", fmt.Errorf("%w for %s (%s): the password is empty", errNoPassword, user, key)
	}
	s.cache[key] = p
	return p, nil
}

// readPasswordFile reads the first line of a file that group and others cannot read.
func readPasswordFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	if err := checkPrivate(path, st); err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(line, "\r"), nil
}

// checkKeytab checks that a keytab exists and that only its owner can read it (it holds the
// account's keys: as good as a password).
func checkKeytab(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("keytab file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("keytab file %s: not a regular file", path)
	}
	if checkPrivate(path, st) != nil {
		return fmt.Errorf("keytab file %s: mode %04o lets group or others read it; run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	return nil
}

// ccacheFile is the MIT ticket cache KRB5CCNAME names ("FILE:" prefix or a plain path) when it
// exists; "" otherwise. why says why a KRB5CCNAME that is set cannot be used ("" when it can or is
// not set): other cache types (KEYRING:, KCM:, DIR:, API:) are not readable by dcproxy.
func ccacheFile(env func(string) string) (path, why string) {
	v := env("KRB5CCNAME")
	if v == "" {
		return "", ""
	}
	p, ok := strings.CutPrefix(v, "FILE:")
	if !ok && strings.Contains(v, ":") && !filepath.IsAbs(v) {
		typ, _, _ := strings.Cut(v, ":")
		return "", fmt.Sprintf("KRB5CCNAME=%s: dcproxy reads FILE: caches only (not %s:); run kinit with KRB5CCNAME=FILE:/tmp/krb5cc_dcproxy", v, typ)
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Sprintf("KRB5CCNAME=%s: %v (run kinit first)", v, err)
	}
	return p, ""
}
