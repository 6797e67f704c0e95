package krb

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Credentials say where an initiator's Kerberos identity comes from. Exactly one source is used, in
// this order: CCache, Keytab, Password.
type Credentials struct {
	// User is "user@REALM", "REALM\user" or "user" (then Realm, or the configuration's default realm).
	// With a CCache it may be empty: the cache's principal is used.
	User string
	// Password is used for an AS exchange when neither CCache nor Keytab is set. Never logged.
	Password string `json:"-"`
	// Keytab is a client keytab file holding User's keys (the nightly job's way: no password on disk).
	Keytab string
	// CCache is an MIT credential cache file from kinit ("FILE:" prefix allowed), e.g. $KRB5CCNAME.
	CCache string
	// Realm overrides the realm of User and the configuration's default realm.
	Realm string
	// KDCs ("host" or "host:port") replace the configuration's KDCs of the realm.
	KDCs []string
	// ConfigFile is the krb5.conf to read: $KRB5_CONFIG, else /etc/krb5.conf when empty; a missing
	// default file is fine when Realm and KDCs are given.
	ConfigFile string
}

// Principal splits User into name and realm (Realm wins; a NetBIOS "DOMAIN\" prefix is taken as the
// realm only when no Realm is given and then upper-cased).
func (c Credentials) Principal() (name, realm string) {
	name = c.User
	if d, n, ok := strings.Cut(name, `\`); ok {
		name, realm = n, strings.ToUpper(d)
	} else if n, r, ok := strings.Cut(name, "@"); ok {
		name, realm = n, strings.ToUpper(r)
	}
	if c.Realm != "" {
		realm = strings.ToUpper(c.Realm)
	}
	return name, realm
}

// LoadConfig reads the krb5.conf of c and applies Realm and KDCs. DNS lookups of KDCs and realms and
// host name canonicalisation stay as the file says (off by default in gokrb5).
func LoadConfig(c Credentials) (*config.Config, error) {
	path := c.ConfigFile
	explicit := path != ""
	if path == "" {
		path = os.Getenv("KRB5_CONFIG") // a missing file there is skipped, as MIT's profile library does
		if i := strings.IndexByte(path, ':'); i >= 0 {
			path = path[:i] // MIT allows a colon-separated list; the first file is used here
		}
	}
	if path == "" {
		path = "/etc/krb5.conf"
	}
	cfg, err := config.Load(path)
	var ud config.UnsupportedDirective
	switch {
	case err == nil, errors.As(err, &ud) && cfg != nil:
		// MIT-only settings (allow_rc4, ...) are fine.
	case !explicit && !fileExists(path):
		cfg = config.New() // no /etc/krb5.conf: Realm and KDCs must say everything
	default:
		return nil, fmt.Errorf("%w: krb5.conf %s: %v", ErrNoCredentials, path, err)
	}
	_, realm := c.Principal()
	if realm != "" && cfg.LibDefaults.DefaultRealm == "" {
		cfg.LibDefaults.DefaultRealm = realm
	}
	if c.Realm != "" {
		cfg.LibDefaults.DefaultRealm = strings.ToUpper(c.Realm)
	}
	if len(c.KDCs) > 0 {
		r := strings.ToUpper(cmp.Or(c.Realm, realm, cfg.LibDefaults.DefaultRealm))
		found := false
		for i := range cfg.Realms {
			if cfg.Realms[i].Realm == r {
				cfg.Realms[i].KDC = append([]string(nil), c.KDCs...)
				found = true
			}
		}
		if !found {
			cfg.Realms = append(cfg.Realms, config.Realm{Realm: r, KDC: append([]string(nil), c.KDCs...)})
		}
	}
	return cfg, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Client is a Kerberos initiator identity: a TGT (from the ticket cache, or obtained once with the
// keytab or password) and the service tickets obtained with it. It is safe for concurrent use;
// share one per credential across hosts so that the KDC sees one AS exchange, not one per host.
type Client struct {
	cl    *client.Client
	realm string

	loginOnce sync.Once
	loginErr  error
}

// NewClient builds a Client from c. Nothing is sent yet; the AS exchange happens on first use (or
// Login). A missing source is ErrNoCredentials.
func NewClient(c Credentials) (*Client, error) {
	cfg, err := LoadConfig(c)
	if err != nil {
		return nil, err
	}
	name, realm := c.Principal()
	if realm == "" {
		realm = cfg.LibDefaults.DefaultRealm
	}
	settings := []func(*client.Settings){client.DisablePAFXFAST(true)}
	switch {
	case c.CCache != "":
		path := strings.TrimPrefix(c.CCache, "FILE:")
		cc, err := credentials.LoadCCache(path)
		if err != nil {
			return nil, fmt.Errorf("%w: ticket cache %s: %v", ErrNoCredentials, path, err)
		}
		cl, err := client.NewFromCCache(cc, cfg, settings...)
		if err != nil {
			// The cache holds no TGT: it expired and was cleaned, or kinit never ran.
			return nil, fmt.Errorf("%w: ticket cache %s: %v", ErrTicketExpired, path, err)
		}
		return &Client{cl: cl, realm: cc.GetClientRealm()}, nil
	case c.Keytab != "":
		if name == "" || realm == "" {
			return nil, fmt.Errorf("%w: a keytab needs a user and a realm", ErrNoCredentials)
		}
		kt, err := keytab.Load(c.Keytab)
		if err != nil {
			return nil, fmt.Errorf("%w: keytab %s: %v", ErrNoCredentials, c.Keytab, err)
		}
		return &Client{cl: client.NewWithKeytab(name, realm, kt, cfg, settings...), realm: realm}, nil
	case c.Password != "":
		if name == "" || realm == "" {
			return nil, fmt.Errorf("%w: a password logon needs a user and a realm", ErrNoCredentials)
		}
		return &Client{cl: client.NewWithPassword(name, realm, c.Password, cfg, settings...), realm: realm}, nil
	}
	return nil, ErrNoCredentials
}

// Realm is the client's realm.
func (c *Client) Realm() string { return c.realm }

// Principal is "name@REALM" of the client.
func (c *Client) Principal() string {
	return c.cl.Credentials.CName().PrincipalNameString() + "@" + c.cl.Credentials.Domain()
}

// Login performs the AS exchange once (keytab or password); with a ticket cache it checks that the
// TGT is still valid. Errors are classified (ErrPreauthFailed, ErrKDCUnreachable, ...).
func (c *Client) Login() error {
	c.loginOnce.Do(func() {
		if !c.cl.Credentials.HasPassword() && !c.cl.Credentials.HasKeytab() {
			// ccache: gokrb5's AffirmLogin would fail without saying why.
			if err := c.cl.AffirmLogin(); err != nil {
				c.loginErr = fmt.Errorf("%w: %s", ErrTicketExpired, c.Principal())
			}
			return
		}
		if err := c.cl.Login(); err != nil {
			c.loginErr = Classify(err)
		}
	})
	return c.loginErr
}

// Close stops the TGT renewal of the underlying gokrb5 client.
func (c *Client) Close() { c.cl.Destroy() }

// ServiceTicket obtains (or finds cached) the service ticket for spn without building a context:
// an unknown SPN or an unreachable KDC shows before anything is sent to the host.
func (c *Client) ServiceTicket(spn string) error {
	if err := c.Login(); err != nil {
		return err
	}
	if _, _, err := c.cl.GetServiceTicket(spn); err != nil {
		return fmt.Errorf("%w: %s", Classify(err), spn)
	}
	return nil
}

// SPN is the WinRM service principal of a host: HTTP/<fqdn>.
func SPN(host string) string { return "HTTP/" + strings.ToLower(strings.TrimSuffix(host, ".")) }

// InitContext is an initiator's security context waiting for the acceptor's AP-REP.
type InitContext struct {
	sessionKey types.EncryptionKey // ticket session key: encrypts the AP-REP
	subkey     types.EncryptionKey // authenticator subkey
	seq        uint64              // authenticator sequence number
	ctime      time.Time
	cusec      int
	spnego     bool
}

// gssFlags are the context flags WinRM clients request: mutual authentication, sequencing,
// confidentiality and integrity.
const gssFlags = gssapi.ContextFlagMutual | gssapi.ContextFlagSequence | gssapi.ContextFlagConf | gssapi.ContextFlagInteg

// InitSecContext obtains a service ticket for spn (HTTP/<fqdn>) and returns the first context token:
// a GSS-API krb5 AP-REQ (raw, as pywinrm sends it) or, with useSPNEGO, that token inside a SPNEGO
// NegTokenInit. The authenticator carries a fresh subkey of the session key's type and a sequence
// number, and requests mutual authentication.
func (c *Client) InitSecContext(spn string, useSPNEGO bool) (*InitContext, []byte, error) {
	if err := c.Login(); err != nil {
		return nil, nil, err
	}
	tkt, key, err := c.cl.GetServiceTicket(spn)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s", Classify(err), spn)
	}
	auth, err := types.NewAuthenticator(c.cl.Credentials.Domain(), c.cl.Credentials.CName())
	if err != nil {
		return nil, nil, fmt.Errorf("%w: authenticator: %v", ErrBadToken, err)
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: session key type %d: %v", ErrBadToken, key.KeyType, err)
	}
	if err := auth.GenerateSeqNumberAndSubKey(key.KeyType, et.GetKeyByteSize()); err != nil {
		return nil, nil, fmt.Errorf("%w: subkey: %v", ErrBadToken, err)
	}
	cksum := make([]byte, 24)
	binary.LittleEndian.PutUint32(cksum[:4], 16) // Lgth; Bnd (no channel bindings) stays zero
	binary.LittleEndian.PutUint32(cksum[20:24], gssFlags)
	auth.Cksum = types.Checksum{CksumType: chksumtype.GSSAPI, Checksum: cksum}
	apReq, err := messages.NewAPReq(tkt, key, auth)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: AP-REQ: %v", ErrBadToken, err)
	}
	types.SetFlag(&apReq.APOptions, flags.APOptionMutualRequired)
	b, err := apReq.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: AP-REQ: %v", ErrBadToken, err)
	}
	tok := frameKRB5(tokAPReq, b)
	if useSPNEGO {
		if tok, err = spnegoInit(tok); err != nil {
			return nil, nil, fmt.Errorf("%w: SPNEGO: %v", ErrBadToken, err)
		}
	}
	ic := &InitContext{sessionKey: key, subkey: auth.SubKey, seq: uint64(auth.SeqNumber), ctime: auth.CTime, cusec: auth.Cusec, spnego: useSPNEGO}
	return ic, tok, nil
}

// Complete verifies the acceptor's reply token (a krb5 AP-REP, raw or in a SPNEGO NegTokenResp):
// mutual authentication. A KRB-ERROR token is classified (ErrClockSkew, ErrReplay, ...); a missing or
// unverifiable AP-REP is ErrMutualAuth. The returned Session seals with the acceptor's subkey when the
// acceptor sent one (RFC 4121), else the authenticator's subkey.
func (ic *InitContext) Complete(reply []byte) (_ *Session, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: malformed reply token", ErrMutualAuth)
		}
	}()
	if len(reply) == 0 {
		return nil, fmt.Errorf("%w: no reply token", ErrMutualAuth)
	}
	tok := reply
	if isSPNEGO(reply) {
		inner, _, state, err := krb5FromSPNEGO(reply)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMutualAuth, err)
		}
		if state == spnego.NegStateReject && len(inner) == 0 {
			return nil, fmt.Errorf("%w: the host rejected the Kerberos token", ErrMutualAuth)
		}
		tok = inner
	}
	id, msg, err := unframeKRB5(tok)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMutualAuth, err)
	}
	switch string(id) {
	case string(tokKRBError):
		return nil, KRBErrorToken(msg)
	case string(tokAPRep):
	default:
		return nil, fmt.Errorf("%w: unexpected token id %x", ErrMutualAuth, id)
	}
	var rep messages.APRep
	if err := rep.Unmarshal(msg); err != nil {
		return nil, fmt.Errorf("%w: AP-REP: %v", ErrMutualAuth, err)
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, ic.sessionKey, keyusage.AP_REP_ENCPART)
	if err != nil {
		return nil, fmt.Errorf("%w: AP-REP does not decrypt with the session key", ErrMutualAuth)
	}
	var enc messages.EncAPRepPart
	if err := enc.Unmarshal(plain); err != nil {
		return nil, fmt.Errorf("%w: AP-REP: %v", ErrMutualAuth, err)
	}
	if !enc.CTime.Equal(ic.ctime.Truncate(time.Second)) || enc.Cusec != ic.cusec {
		return nil, fmt.Errorf("%w: AP-REP time does not match the authenticator", ErrMutualAuth)
	}
	key, accSub := ic.subkey, false
	if len(enc.Subkey.KeyValue) > 0 && (isCFX(enc.Subkey.KeyType) || enc.Subkey.KeyType != ic.subkey.KeyType) {
		// MIT's rule: keep the acceptor's subkey for RFC 4121 enctypes (or a different enctype).
		key, accSub = enc.Subkey, isCFX(enc.Subkey.KeyType)
	}
	if len(key.KeyValue) == 0 {
		key = ic.sessionKey
	}
	return newSession(key, false, accSub, ic.seq, uint64(uint32(enc.SequenceNumber)))
}

// Sealer is an established context that seals WinRM messages: *Session (RFC 4121/4757 on top of
// gokrb5), or on Windows the current logon's SSPI context. Wrap returns the token header and the
// encrypted data, Unwrap takes them back; calls in one direction are serialized and in wire order.
type Sealer interface {
	Wrap(plain []byte) (header, data []byte, err error)
	Unwrap(header, data []byte) ([]byte, error)
}

// Initiator starts client contexts for service principals: a Client (credentials from a ticket
// cache, keytab or password) or, on Windows, the current logon (CurrentLogon). Start returns the
// first token (a raw GSS-API krb5 AP-REQ) and a function that verifies the acceptor's reply token
// (mutual authentication) and returns the sealing context. Implementations are safe for concurrent
// use; Close releases them.
type Initiator interface {
	Start(spn string) (token []byte, complete func(reply []byte) (Sealer, error), err error)
	Close()
}

var _ Initiator = (*Client)(nil)

// Start implements Initiator with InitSecContext (raw krb5 token) and Complete.
func (c *Client) Start(spn string) ([]byte, func([]byte) (Sealer, error), error) {
	ic, tok, err := c.InitSecContext(spn, false)
	if err != nil {
		return nil, nil, err
	}
	return tok, func(reply []byte) (Sealer, error) {
		s, err := ic.Complete(reply)
		if err != nil {
			return nil, err
		}
		return s, nil
	}, nil
}

// KRBErrorToken classifies the KRB-ERROR message inside an acceptor's error token.
func KRBErrorToken(msg []byte) error {
	var ke messages.KRBError
	if err := ke.Unmarshal(msg); err != nil {
		return fmt.Errorf("%w: KRB-ERROR: %v", ErrBadToken, err)
	}
	return Classify(ke)
}

func randomSeq(r io.Reader) int64 {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		_, _ = rand.Read(b[:])
	}
	v := int64(binary.BigEndian.Uint32(b[:]) & 0x3fffffff)
	if v == 0 {
		v = 1
	}
	return v
}
