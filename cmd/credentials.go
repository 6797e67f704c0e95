package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
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

func newSecrets(env func(string) string, stdin *os.File, stderr io.Writer) *secrets {
	return &secrets{env: env, stdin: stdin, stderr: stderr, cache: map[string]string{}}
}

// errNoPassword is returned when no password source is available.
var errNoPassword = errors.New("no password")

// defaultPassword returns the password of the default account.
func (s *secrets) defaultPassword(user, file string) (string, error) {
	return s.get("default", user, "DCPROXY_PASSWORD", file, true)
}

// named returns the password of a named credential.
func (s *secrets) named(name string, c Credential) (string, error) {
	return s.get("credential "+name, c.User, c.PasswordEnv, c.PasswordFile, false)
}

func (s *secrets) get(key, user, envName, file string, prompt bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.cache[key]; ok {
		return p, nil
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
