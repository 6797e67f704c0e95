// Package registry is the registry of a simulated Windows host and the reg.exe that runs against it.
//
// The model (Registry) holds keys and values the way Windows does: key and value names are compared
// case-insensitively and keep the case they were created with, values keep their creation order
// (an overwrite keeps the position), subkeys enumerate in case-insensitive alphabetical order, and value
// data is kept in Windows' binary form (REG_SZ is UTF-16LE with a terminating NUL).
//
// Main implements reg.exe (query, compare, add, delete, copy, export, import) with the exact en-US and
// de-DE console texts the simulator knows; see reg.go.
package registry

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Type is a registry value type (the Win32 REG_* number).
type Type uint32

// Registry value types.
const (
	TypeNone             Type = 0  // REG_NONE
	TypeSZ               Type = 1  // REG_SZ
	TypeExpandSZ         Type = 2  // REG_EXPAND_SZ
	TypeBinary           Type = 3  // REG_BINARY
	TypeDWORD            Type = 4  // REG_DWORD
	TypeDWORDBigEndian   Type = 5  // REG_DWORD_BIG_ENDIAN
	TypeLink             Type = 6  // REG_LINK
	TypeMultiSZ          Type = 7  // REG_MULTI_SZ
	TypeResourceList     Type = 8  // REG_RESOURCE_LIST
	TypeFullResourceDesc Type = 9  // REG_FULL_RESOURCE_DESCRIPTOR
	TypeResourceReqList  Type = 10 // REG_RESOURCE_REQUIREMENTS_LIST
	TypeQWORD            Type = 11 // REG_QWORD
)

var typeNames = map[Type]string{
	TypeNone: "REG_NONE", TypeSZ: "REG_SZ", TypeExpandSZ: "REG_EXPAND_SZ", TypeBinary: "REG_BINARY",
	TypeDWORD: "REG_DWORD", TypeDWORDBigEndian: "REG_DWORD_BIG_ENDIAN", TypeLink: "REG_LINK",
	TypeMultiSZ: "REG_MULTI_SZ", TypeResourceList: "REG_RESOURCE_LIST",
	TypeFullResourceDesc: "REG_FULL_RESOURCE_DESCRIPTOR", TypeResourceReqList: "REG_RESOURCE_REQUIREMENTS_LIST",
	TypeQWORD: "REG_QWORD",
}

// String returns the REG_* name of the type, or "REG_UNKNOWN(0xN)" for a number Windows has no name for.
func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("REG_UNKNOWN(0x%x)", uint32(t))
}

// Value is one registry value. Name "" is the default ("(Default)") value. Data is in Windows' binary
// form: REG_SZ/REG_EXPAND_SZ are UTF-16LE with a terminating NUL, REG_MULTI_SZ UTF-16LE strings each
// NUL-terminated plus a final NUL, REG_DWORD 4 and REG_QWORD 8 little-endian bytes.
type Value struct {
	Name string
	Type Type
	Data []byte
}

func (v Value) clone() Value {
	v.Data = append([]byte(nil), v.Data...)
	return v
}

// UTF16 encodes s as UTF-16LE followed by a NUL character, the form REG_SZ data takes.
func UTF16(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return append(b, 0, 0)
}

// StringValue returns a REG_SZ value.
func StringValue(name, s string) Value { return Value{Name: name, Type: TypeSZ, Data: UTF16(s)} }

// DWORDValue returns a REG_DWORD value.
func DWORDValue(name string, d uint32) Value {
	return Value{Name: name, Type: TypeDWORD, Data: binary.LittleEndian.AppendUint32(nil, d)}
}

// BinaryValue returns a REG_BINARY value holding a copy of b.
func BinaryValue(name string, b []byte) Value {
	return Value{Name: name, Type: TypeBinary, Data: append([]byte{}, b...)}
}

// decodeUTF16 decodes UTF-16LE bytes up to (not including) the first NUL character; an odd last byte
// is ignored.
func decodeUTF16(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

var (
	// ErrInvalidKey means a key path has no known root, an empty component or a component longer
	// than Windows allows (255 characters).
	ErrInvalidKey = errors.New("invalid key name")
	// ErrKeyNotFound means the key does not exist.
	ErrKeyNotFound = errors.New("the system was unable to find the specified registry key")
	// ErrValueNotFound means the key exists but the value does not.
	ErrValueNotFound = errors.New("the system was unable to find the specified registry value")
)

// Root key names in long form, as the model stores them.
const (
	HKLM = "HKEY_LOCAL_MACHINE"
	HKU  = "HKEY_USERS"
	HKCR = "HKEY_CLASSES_ROOT"
	HKCC = "HKEY_CURRENT_CONFIG"
	HKCU = "HKEY_CURRENT_USER" // not a root of the model: reg.exe maps it to HKEY_USERS\<SID>
)

// rootAliases maps upper-cased short and long root names to the long name. HKEY_CURRENT_USER is
// listed so that reg.exe can recognise it; the model itself refuses it.
var rootAliases = map[string]string{
	"HKLM": HKLM, HKLM: HKLM,
	"HKU": HKU, HKU: HKU,
	"HKCR": HKCR, HKCR: HKCR,
	"HKCC": HKCC, HKCC: HKCC,
	"HKCU": HKCU, HKCU: HKCU,
}

type node struct {
	name   string
	subs   map[string]*node // key: upper-cased name
	values []Value
}

func newNode(name string) *node { return &node{name: name, subs: map[string]*node{}} }

// sub returns the subkey called name (compared case-insensitively), or nil. An ASCII name is
// upper-cased into a buffer on the stack: looking a map up by string(bytes) does not allocate.
func (n *node) sub(name string) *node {
	var buf [64]byte
	if len(name) > len(buf) {
		return n.subs[strings.ToUpper(name)]
	}
	b := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= utf8.RuneSelf {
			return n.subs[strings.ToUpper(name)]
		}
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b[i] = c
	}
	return n.subs[string(b)]
}

func (n *node) valueIndex(name string) int {
	for i, v := range n.values {
		if strings.EqualFold(v.Name, name) {
			return i
		}
	}
	return -1
}

func (n *node) sortedSubs() []*node {
	// The map keys are the upper-cased names: sort by them, then by the stored name.
	keys := make([]string, 0, len(n.subs))
	for k := range n.subs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a != b {
			return a < b
		}
		return n.subs[a].name < n.subs[b].name
	})
	out := make([]*node, len(keys))
	for i, k := range keys {
		out[i] = n.subs[k]
	}
	return out
}

// Registry is the registry of one simulated host. It is safe for concurrent use; every method is
// atomic with respect to the others.
type Registry struct {
	mu    sync.RWMutex
	roots map[string]*node // key: long root name
}

// New returns a registry with the four machine roots and the keys a domain controller has that
// dcproxy looks at: HKEY_USERS\.DEFAULT, S-1-5-18, S-1-5-19 and S-1-5-20, each with
// Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections, and
// HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections, and the DefaultRoots
// in the AuthRoot certificate store. The Connections keys hold no values: that is the "no proxy for
// this account" state.
func New() *Registry {
	r := &Registry{roots: map[string]*node{}}
	for _, root := range []string{HKLM, HKU, HKCR, HKCC} {
		r.roots[root] = newNode(root)
	}
	const conn = `Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
	for _, sid := range []string{".DEFAULT", "S-1-5-18", "S-1-5-19", "S-1-5-20"} {
		_ = r.EnsureKey(HKU + `\` + sid + `\` + conn)
	}
	_ = r.EnsureKey(HKLM + `\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`)
	for _, k := range []string{`SYSTEM\CurrentControlSet\Control`, `SOFTWARE\Classes`, `SOFTWARE\Policies`} {
		_ = r.EnsureKey(HKLM + `\` + k)
	}
	// The roots Microsoft's endpoints chain to, as automatic root update leaves them in AuthRoot
	// (a certificate is a key named by its SHA-1 thumbprint; its Blob value is not modelled).
	for _, t := range DefaultRoots {
		_ = r.EnsureKey(HKLM + `\SOFTWARE\Microsoft\SystemCertificates\AuthRoot\Certificates\` + t)
	}
	return r
}

// DefaultRoots are the root certificates (SHA-1 thumbprints) every new registry holds in
// HKLM\SOFTWARE\Microsoft\SystemCertificates\AuthRoot\Certificates: DigiCert Global Root G2 and
// DigiCert Global Root CA.
var DefaultRoots = []string{"DF3C24F9BFD666761B268073FE06D1CC8D4F82A4", "A8985D3A65E5E5C4B2D7D66D40C6DD2FB19C5436"}

// splitKey parses a model key path: a root (long form or HKLM/HKU/HKCR/HKCC) and components.
// Trailing backslashes are ignored.
func splitKey(key string) (root string, parts []string, err error) {
	root, rest, err := splitRoot(key)
	if err != nil || rest == "" {
		return root, nil, err
	}
	return root, strings.Split(rest, `\`), nil
}

// splitRoot is splitKey without splitting the components: it returns the root and the validated
// rest of the path ("" for a root), to be walked with nextPart.
func splitRoot(key string) (root, rest string, err error) {
	key = strings.TrimRight(key, `\`)
	first, rest, _ := strings.Cut(key, `\`)
	root, ok := rootAliases[strings.ToUpper(first)]
	if !ok || root == HKCU {
		return "", "", fmt.Errorf("%q: %w", key, ErrInvalidKey)
	}
	for p, more := rest, rest != ""; more; {
		var c string
		c, p, more = strings.Cut(p, `\`)
		if c == "" || utf8.RuneCountInString(c) > 255 {
			return "", "", fmt.Errorf("%q: %w", key, ErrInvalidKey)
		}
	}
	return root, rest, nil
}

// find returns the node of key or nil. The caller holds r.mu.
func (r *Registry) find(key string) (*node, error) {
	root, rest, err := splitRoot(key)
	if err != nil {
		return nil, err
	}
	n := r.roots[root]
	for more := rest != ""; more; {
		var p string
		p, rest, more = strings.Cut(rest, `\`)
		if n = n.sub(p); n == nil {
			return nil, nil
		}
	}
	return n, nil
}

// ensure returns the node of key, creating missing keys. The caller holds r.mu for writing.
func (r *Registry) ensure(key string) (*node, error) {
	root, parts, err := splitKey(key)
	if err != nil {
		return nil, err
	}
	n := r.roots[root]
	for _, p := range parts {
		s := n.sub(p)
		if s == nil {
			s = newNode(p)
			n.subs[strings.ToUpper(p)] = s
		}
		n = s
	}
	return n, nil
}

// EnsureKey creates key and any missing parents. It reports ErrInvalidKey for a bad path.
func (r *Registry) EnsureKey(key string) error {
	// Most calls find the key there (reg.exe ensures the loaded user hive on every HKCU command):
	// look under the read lock first.
	r.mu.RLock()
	n, err := r.find(key)
	r.mu.RUnlock()
	if err != nil || n != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err = r.ensure(key)
	return err
}

// KeyExists reports whether key exists.
func (r *Registry) KeyExists(key string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n, err := r.find(key)
	return err == nil && n != nil
}

// SetValue creates or replaces a value, creating key and missing parents. A replaced value keeps its
// position in the key's value order. It reports ErrInvalidKey for a bad path.
func (r *Registry) SetValue(key string, v Value) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.ensure(key)
	if err != nil {
		return err
	}
	setValue(n, v)
	return nil
}

func setValue(n *node, v Value) {
	v = v.clone()
	if i := n.valueIndex(v.Name); i >= 0 {
		v.Name = n.values[i].Name // the stored name keeps its case, as on Windows
		n.values[i] = v
		return
	}
	n.values = append(n.values, v)
}

// Value returns a copy of the named value of key ("" is the default value).
func (r *Registry) Value(key, name string) (Value, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n, err := r.find(key)
	if err != nil || n == nil {
		return Value{}, false
	}
	if i := n.valueIndex(name); i >= 0 {
		return n.values[i].clone(), true
	}
	return Value{}, false
}

// Values returns copies of the values of key in Windows enumeration order. It reports
// ErrKeyNotFound or ErrInvalidKey.
func (r *Registry) Values(key string) ([]Value, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n, err := r.find(key)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, fmt.Errorf("%s: %w", key, ErrKeyNotFound)
	}
	out := make([]Value, len(n.values))
	for i, v := range n.values {
		out[i] = v.clone()
	}
	return out, nil
}

// Subkeys returns the names of the immediate subkeys of key, sorted case-insensitively as Windows
// enumerates them. It reports ErrKeyNotFound or ErrInvalidKey.
func (r *Registry) Subkeys(key string) ([]string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n, err := r.find(key)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, fmt.Errorf("%s: %w", key, ErrKeyNotFound)
	}
	var out []string
	for _, s := range n.sortedSubs() {
		out = append(out, s.name)
	}
	return out, nil
}

// DeleteValue removes a value. It reports ErrKeyNotFound, ErrValueNotFound or ErrInvalidKey.
func (r *Registry) DeleteValue(key, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.find(key)
	if err != nil {
		return err
	}
	if n == nil {
		return fmt.Errorf("%s: %w", key, ErrKeyNotFound)
	}
	i := n.valueIndex(name)
	if i < 0 {
		return fmt.Errorf("%s\\%s: %w", key, name, ErrValueNotFound)
	}
	n.values = append(n.values[:i], n.values[i+1:]...)
	return nil
}

// DeleteKey removes key with all its subkeys and values. A root cannot be deleted (ErrInvalidKey).
// It reports ErrKeyNotFound when the key does not exist.
func (r *Registry) DeleteKey(key string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	root, parts, err := splitKey(key)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return fmt.Errorf("%s: cannot delete a root: %w", key, ErrInvalidKey)
	}
	n := r.roots[root]
	for _, p := range parts[:len(parts)-1] {
		if n = n.sub(p); n == nil {
			return fmt.Errorf("%s: %w", key, ErrKeyNotFound)
		}
	}
	last := strings.ToUpper(parts[len(parts)-1])
	if n.subs[last] == nil {
		return fmt.Errorf("%s: %w", key, ErrKeyNotFound)
	}
	delete(n.subs, last)
	return nil
}

// Snapshot returns a deep copy of every key (by its path with stored case, long root names) and its
// values in enumeration order. Keys without values are present with a nil slice.
func (r *Registry) Snapshot() map[string][]Value {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := map[string][]Value{}
	var walk func(path string, n *node)
	walk = func(path string, n *node) {
		var vs []Value
		for _, v := range n.values {
			vs = append(vs, v.clone())
		}
		out[path] = vs
		for _, s := range n.subs {
			walk(path+`\`+s.name, s)
		}
	}
	for name, n := range r.roots {
		walk(name, n)
	}
	return out
}

// tree is a detached deep copy of one key, used by reg.exe for compare, copy and export so that
// a command sees one consistent state.
type tree struct {
	name   string
	values []Value
	subs   []*tree // sorted as Windows enumerates
}

// toTree copies n: its values, and its subkeys down to depth levels below n (depth < 0: all of
// them; 0: none). The subkeys one level below the copied depth are present with their names only.
func toTree(n *node, depth int) *tree {
	t := &tree{name: n.name}
	if len(n.values) > 0 {
		t.values = make([]Value, len(n.values))
		for i, v := range n.values {
			t.values[i] = v.clone()
		}
	}
	if len(n.subs) == 0 {
		return t
	}
	subs := n.sortedSubs()
	t.subs = make([]*tree, len(subs))
	for i, s := range subs {
		if depth == 0 {
			t.subs[i] = &tree{name: s.name}
		} else {
			t.subs[i] = toTree(s, depth-1)
		}
	}
	return t
}

// snapshotKey returns a deep copy of key, or nil if it does not exist.
func (r *Registry) snapshotKey(key string) (*tree, error) {
	return r.snapshotKeyDepth(key, -1)
}

// snapshotKeyDepth returns a copy of key with its values and its subkeys down to depth levels (see
// toTree), or nil if it does not exist. The copy is taken under one read lock, so it is one
// consistent state of the key.
func (r *Registry) snapshotKeyDepth(key string, depth int) (*tree, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n, err := r.find(key)
	if err != nil || n == nil {
		return nil, err
	}
	return toTree(n, depth), nil
}

// deleteAllValues removes every value of key (not its subkeys).
func (r *Registry) deleteAllValues(key string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.find(key)
	if err != nil {
		return err
	}
	if n == nil {
		return fmt.Errorf("%s: %w", key, ErrKeyNotFound)
	}
	n.values = nil
	return nil
}
