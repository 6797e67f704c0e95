package krb

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
)

// Cache shares Clients among hosts: one AS exchange (and one TGT) per credential for a whole audit
// instead of one per host, and service tickets reused for hosts audited again. A failed client (for
// example a wrong password) is kept too, so that a refused credential is tried against the KDC only
// once. The zero value is ready to use; it is safe for concurrent use. Close it when done.
type Cache struct {
	mu sync.Mutex
	m  map[string]*cacheEntry
}

type cacheEntry struct {
	once sync.Once
	cl   *Client
	err  error
}

func cacheKey(c Credentials) string {
	pw := ""
	if c.Password != "" {
		h := sha256.Sum256([]byte("dcproxy-krb-cache\x00" + c.Password))
		pw = hex.EncodeToString(h[:])
	}
	return strings.Join([]string{c.User, pw, c.Keytab, c.CCache, strings.ToUpper(c.Realm), strings.Join(c.KDCs, ","), c.ConfigFile}, "\x00")
}

// Get returns the shared Client for c, logged in (Login's error is returned with it, classified).
func (k *Cache) Get(c Credentials) (*Client, error) {
	key := cacheKey(c)
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*cacheEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &cacheEntry{}
		k.m[key] = e
	}
	k.mu.Unlock()
	e.once.Do(func() {
		e.cl, e.err = NewClient(c)
		if e.err == nil {
			e.err = e.cl.Login()
		}
	})
	return e.cl, e.err
}

// Close stops every client's TGT renewal and empties the cache.
func (k *Cache) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, e := range k.m {
		if e.cl != nil {
			e.cl.Close()
		}
	}
	k.m = nil
}
