// Package winfs is the in-memory file system of a simulated Windows host.
//
// Paths are Windows paths ("C:\Windows\Temp\x.reg"); both separators are accepted, comparisons are
// case-insensitive and names keep the case they were created with, as on NTFS. The drive letter is
// required: the simulator resolves relative paths against a shell's working directory before calling
// in here. An FS is safe for concurrent use.
package winfs

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

var (
	// ErrNotExist means the file or directory does not exist (Win32 ERROR_FILE_NOT_FOUND).
	ErrNotExist = errors.New("the system cannot find the file specified")
	// ErrPathNotFound means a parent directory does not exist (Win32 ERROR_PATH_NOT_FOUND).
	ErrPathNotFound = errors.New("the system cannot find the path specified")
	// ErrExist means the name is already taken (Win32 ERROR_ALREADY_EXISTS).
	ErrExist = errors.New("cannot create a file when that file already exists")
	// ErrIsDir means a file operation was attempted on a directory (Win32 ERROR_ACCESS_DENIED).
	ErrIsDir = errors.New("access is denied")
	// ErrBadPath means the path is not an absolute drive path.
	ErrBadPath = errors.New("the filename, directory name, or volume label syntax is incorrect")
	// ErrReadOnly means the directory was marked read-only by the host's fault model.
	ErrReadOnly = errors.New("access is denied")
)

type node struct {
	name     string // as created
	dir      bool
	data     []byte
	readOnly bool
}

// FS is an in-memory Windows file system. The zero value is not usable; call New.
type FS struct {
	mu    sync.RWMutex
	nodes map[string]*node // key: upper-cased clean path
}

// New returns a file system holding the directories a Windows Server has out of the box
// (C:\, C:\Windows, C:\Windows\Temp, C:\Windows\System32, C:\Users).
func New() *FS {
	f := &FS{nodes: map[string]*node{}}
	for _, d := range []string{`C:\`, `C:\Windows`, `C:\Windows\Temp`, `C:\Windows\System32`, `C:\ProgramData`, `C:\Users`, `C:\Users\Public`} {
		_ = f.MkdirAll(d)
	}
	return f
}

// Clean normalizes a path: forward slashes become backslashes, repeated separators collapse, a trailing
// separator is dropped (except on the drive root), "." and ".." are resolved. It reports ErrBadPath for a
// path without a drive letter.
func Clean(p string) (string, error) {
	p = strings.ReplaceAll(p, "/", `\`)
	if len(p) < 2 || p[1] != ':' || !isLetter(p[0]) {
		return "", fmt.Errorf("%q: %w", p, ErrBadPath)
	}
	drive := strings.ToUpper(p[:1]) + ":"
	var parts []string
	for _, s := range strings.Split(p[2:], `\`) {
		switch s {
		case "", ".":
		case "..":
			if len(parts) > 0 {
				parts = parts[:len(parts)-1]
			}
		default:
			if strings.ContainsAny(s, `<>:"|?*`) {
				return "", fmt.Errorf("%q: %w", p, ErrBadPath)
			}
			// Windows strips trailing dots and spaces from names.
			s = strings.TrimRight(s, ". ")
			if s == "" {
				return "", fmt.Errorf("%q: %w", p, ErrBadPath)
			}
			parts = append(parts, s)
		}
	}
	return drive + `\` + strings.Join(parts, `\`), nil
}

func isLetter(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }

func key(clean string) string { return strings.ToUpper(clean) }

func parent(clean string) (string, bool) {
	i := strings.LastIndexByte(clean, '\\')
	if i < 0 || clean == clean[:2]+`\` {
		return "", false
	}
	if i == 2 {
		return clean[:3], true
	}
	return clean[:i], true
}

func (f *FS) lookup(p string) (string, *node, error) {
	c, err := Clean(p)
	if err != nil {
		return "", nil, err
	}
	return c, f.nodes[key(c)], nil
}

// ReadFile returns a copy of the file's contents.
func (f *FS) ReadFile(p string) ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	c, n, err := f.lookup(p)
	if err != nil {
		return nil, err
	}
	if n == nil {
		if par, ok := parent(c); ok && f.nodes[key(par)] == nil {
			return nil, fmt.Errorf("%s: %w", c, ErrPathNotFound)
		}
		return nil, fmt.Errorf("%s: %w", c, ErrNotExist)
	}
	if n.dir {
		return nil, fmt.Errorf("%s: %w", c, ErrIsDir)
	}
	return append([]byte(nil), n.data...), nil
}

// WriteFile creates or replaces a file. The parent directory must exist.
func (f *FS) WriteFile(p string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, n, err := f.lookup(p)
	if err != nil {
		return err
	}
	par, ok := parent(c)
	if !ok {
		return fmt.Errorf("%s: %w", c, ErrIsDir)
	}
	pn := f.nodes[key(par)]
	if pn == nil || !pn.dir {
		return fmt.Errorf("%s: %w", c, ErrPathNotFound)
	}
	if pn.readOnly {
		return fmt.Errorf("%s: %w", c, ErrReadOnly)
	}
	if n != nil && n.dir {
		return fmt.Errorf("%s: %w", c, ErrIsDir)
	}
	f.nodes[key(c)] = &node{name: c, data: append([]byte(nil), data...)}
	return nil
}

// Mkdir creates one directory; the parent must exist.
func (f *FS) Mkdir(p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, n, err := f.lookup(p)
	if err != nil {
		return err
	}
	if n != nil {
		return fmt.Errorf("%s: %w", c, ErrExist)
	}
	if par, ok := parent(c); ok {
		pn := f.nodes[key(par)]
		if pn == nil || !pn.dir {
			return fmt.Errorf("%s: %w", c, ErrPathNotFound)
		}
		if pn.readOnly {
			return fmt.Errorf("%s: %w", c, ErrReadOnly)
		}
	}
	f.nodes[key(c)] = &node{name: c, dir: true}
	return nil
}

// MkdirAll creates a directory and any missing parents, like cmd.exe's mkdir with extensions enabled.
// It reports ErrExist when the directory already exists (mkdir prints an error then) and ErrReadOnly
// when a parent is read-only.
func (f *FS) MkdirAll(p string) error {
	c, err := Clean(p)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := f.nodes[key(c)]; n != nil {
		return fmt.Errorf("%s: %w", c, ErrExist)
	}
	var chain []string
	for cur := c; ; {
		chain = append(chain, cur)
		par, ok := parent(cur)
		if !ok {
			break
		}
		if n := f.nodes[key(par)]; n != nil {
			if !n.dir {
				return fmt.Errorf("%s: %w", c, ErrPathNotFound)
			}
			if n.readOnly {
				return fmt.Errorf("%s: %w", c, ErrReadOnly)
			}
			break
		}
		cur = par
	}
	for i := len(chain) - 1; i >= 0; i-- {
		f.nodes[key(chain[i])] = &node{name: chain[i], dir: true}
	}
	return nil
}

// Stat reports whether the path exists and whether it is a directory.
func (f *FS) Stat(p string) (exists, isDir bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, n, err := f.lookup(p)
	if err != nil || n == nil {
		return false, false
	}
	return true, n.dir
}

// Remove deletes a file or an empty directory.
func (f *FS) Remove(p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, n, err := f.lookup(p)
	if err != nil {
		return err
	}
	if n == nil {
		return fmt.Errorf("%s: %w", c, ErrNotExist)
	}
	if n.dir {
		prefix := key(c) + `\`
		for k := range f.nodes {
			if strings.HasPrefix(k, prefix) {
				return fmt.Errorf("%s: directory not empty: %w", c, ErrIsDir)
			}
		}
	}
	delete(f.nodes, key(c))
	return nil
}

// SetReadOnly marks a directory so that creating entries in it fails with ErrReadOnly. The simulator
// uses it to model a host where the on-host backup cannot be written.
func (f *FS) SetReadOnly(p string, ro bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, n, err := f.lookup(p)
	if err != nil {
		return err
	}
	if n == nil {
		return fmt.Errorf("%s: %w", c, ErrNotExist)
	}
	n.readOnly = ro
	return nil
}

// List returns the full paths of the entries directly inside dir, sorted case-insensitively.
func (f *FS) List(dir string) ([]string, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	c, n, err := f.lookup(dir)
	if err != nil {
		return nil, err
	}
	if n == nil || !n.dir {
		return nil, fmt.Errorf("%s: %w", c, ErrNotExist)
	}
	var out []string
	for k, v := range f.nodes {
		if par, ok := parent(v.name); ok && key(par) == key(c) && k != key(c) {
			out = append(out, v.name)
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToUpper(out[i]) < strings.ToUpper(out[j]) })
	return out, nil
}
