package ledger

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"filippo.io/edwards25519"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// b64 is base64url without padding, as JOSE uses it.
var b64 = base64.RawURLEncoding

// EncodePublicKey encodes a raw Ed25519 public key as base64url.
func EncodePublicKey(pub ed25519.PublicKey) string { return b64.EncodeToString(pub) }

// decodePublicKey decodes a registered key (an agency's or a node's) and
// refuses keys no honest key generator produces: bytes that are not a
// point, a non-canonical encoding, and points of small order. Under a
// small-order key some signatures verify for every message (crypto/ed25519
// accepts them too), so such a key would let anyone sign for its holder.
func decodePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := b64.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("expected a base64url raw Ed25519 public key (43 characters)")
	}
	p, err := new(edwards25519.Point).SetBytes(b)
	switch {
	case err != nil:
		return nil, errors.New("not an Ed25519 public key: the bytes are not a curve point")
	case !bytes.Equal(p.Bytes(), b):
		return nil, errors.New("not an Ed25519 public key: non-canonical encoding")
	case new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1:
		return nil, errors.New("not a usable Ed25519 public key: a point of small order")
	}
	return ed25519.PublicKey(b), nil
}

// KeyID returns the RFC 7638 JWK thumbprint (SHA-256, base64url) of an
// Ed25519 public key. It is the "kid" every signature names, so a verifier
// finds the key without trusting anything in the signed message.
func KeyID(pub ed25519.PublicKey) (string, error) {
	k, err := jwk.Import(pub)
	if err != nil {
		return "", fmt.Errorf("ledger: import key: %w", err)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("ledger: thumbprint: %w", err)
	}
	return b64.EncodeToString(tp), nil
}

// Signer signs commands for one agency with its Ed25519 agency key.
// A Signer is safe for concurrent use; Rotate replaces its key for every
// later signature.
type Signer struct {
	agency string
	key    atomic.Pointer[signerKey]
	recent recentSigs
}

type signerKey struct {
	kid  string
	priv ed25519.PrivateKey
	// protected is the JWS protected header, base64url, exactly as jwx
	// writes it for this key: every signature carries the same one.
	protected []byte
}

// NewSigner returns a signer for agency with key priv.
func NewSigner(agency string, priv ed25519.PrivateKey) (*Signer, error) {
	s := &Signer{agency: agency}
	if err := s.Rotate(priv); err != nil {
		return nil, err
	}
	return s, nil
}

// Rotate makes priv the key of every later signature: the node calls it
// once the ledger has accepted an agency.rotate_key to priv's public key.
func (s *Signer) Rotate(priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("ledger: signer: a %d-byte private key; want %d", len(priv), ed25519.PrivateKeySize)
	}
	kid, err := KeyID(priv.Public().(ed25519.PublicKey))
	if err != nil {
		return err
	}
	h := jws.NewHeaders()
	if err := h.Set(jws.KeyIDKey, kid); err != nil {
		return err
	}
	probe, err := jws.Sign(nil, jws.WithKey(jwa.EdDSA(), priv, jws.WithProtectedHeaders(h)))
	if err != nil {
		return fmt.Errorf("ledger: signer: %w", err)
	}
	protected, _, _, err := jwsbb.SplitCompact(probe)
	if err != nil {
		return fmt.Errorf("ledger: signer: %w", err)
	}
	s.key.Store(&signerKey{kid: kid, priv: priv, protected: bytes.Clone(protected)})
	return nil
}

// Agency returns the agency this signer signs for.
func (s *Signer) Agency() string { return s.agency }

// KID returns the key id of the signing key.
func (s *Signer) KID() string { return s.key.Load().kid }

// PublicKey returns the signer's public key.
func (s *Signer) PublicKey() ed25519.PublicKey {
	return s.key.Load().priv.Public().(ed25519.PublicKey)
}

// Sign returns a compact JWS (EdDSA, with kid) over payload: the bytes
// jws.Sign gives (TestSignMatchesJWX), assembled here from the key's
// protected header and crypto/ed25519.Sign, because jwx's header encoding
// and option handling took as long as the signature itself, on every write.
func (s *Signer) Sign(payload []byte) ([]byte, error) {
	k := s.key.Load()
	n := len(k.protected) + 1 + b64.EncodedLen(len(payload))
	out := make([]byte, 0, n+1+b64.EncodedLen(ed25519.SignatureSize))
	out = append(append(out, k.protected...), '.')
	out = b64.AppendEncode(out, payload)
	sig := ed25519.Sign(k.priv, out) // the signing input: protected "." payload
	s.recent.add(k.kid, out, sig)
	out = append(out, '.')
	return b64.AppendEncode(out, sig), nil
}

// recentSigs remembers the last signedRecentMax signatures a Signer made:
// which key (kid) made each, over which signing input (its SHA-256). A
// node's FSM verifies every command in its log, most of them other
// agencies'; the ones its own signer made moments ago it finds here
// instead (Ledger.TrustOwnSignatures). That is exact, not a weaker check:
// the signature was made over exactly these bytes with the private half
// of the key the registry names, so it verifies; every other node checks
// it in full.
type recentSigs struct {
	mu   sync.Mutex
	m    map[[ed25519.SignatureSize]byte]signedBy
	ring [][ed25519.SignatureSize]byte // insertion order, for eviction
	next int
}

type signedBy struct {
	kid   string
	input [sha256.Size]byte
}

// signedRecentMax bounds recentSigs: well past the writes a node has in
// flight at once.
const signedRecentMax = 4096

func (r *recentSigs) add(kid string, input, sig []byte) {
	var k [ed25519.SignatureSize]byte
	copy(k[:], sig)
	v := signedBy{kid: kid, input: sha256.Sum256(input)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[[ed25519.SignatureSize]byte]signedBy, signedRecentMax)
		r.ring = make([][ed25519.SignatureSize]byte, signedRecentMax)
	}
	if _, ok := r.m[k]; ok {
		return
	}
	delete(r.m, r.ring[r.next])
	r.ring[r.next] = k
	r.next = (r.next + 1) % signedRecentMax
	r.m[k] = v
}

// made reports whether the signer made sig with key kid over input.
func (r *recentSigs) made(kid string, input, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize {
		return false
	}
	var k [ed25519.SignatureSize]byte
	copy(k[:], sig)
	r.mu.Lock()
	v, ok := r.m[k]
	r.mu.Unlock()
	return ok && v.kid == kid && v.input == sha256.Sum256(input)
}

// SignCommand fills in the agency and version, encodes c and signs it.
func (s *Signer) SignCommand(c Command) ([]byte, error) {
	c.V = CommandVersion
	c.Agency = s.agency
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return s.Sign(b)
}

// NewCommand builds a command with a typed payload.
func NewCommand(typ, id, user string, payload any) (Command, error) {
	p, err := json.Marshal(payload)
	if err != nil {
		return Command{}, err
	}
	return Command{V: CommandVersion, Type: typ, ID: id, User: user, Payload: p}, nil
}

// protectedHeader is the only JOSE header we accept: EdDSA with a kid.
// Anything else ("crit", "jku", embedded keys) is refused, so nothing in a
// message can steer which key verifies it.
type protectedHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ,omitempty"`
}

// compactJWS is a parsed compact JWS whose signature is not yet checked.
type compactJWS struct {
	kid     string
	input   []byte // the signing input: protected "." payload, both base64url
	payload []byte
	sig     []byte
}

func parseCompact(b []byte, hc *headerCache) (*compactJWS, error) {
	prot, pay, sig, err := jwsbb.SplitCompact(b)
	if err != nil {
		return nil, fmt.Errorf("not a compact JWS: %w", err)
	}
	return parseParts(prot, pay, sig, hc)
}

// headerCache remembers the kid of protected headers already parsed:
// every command an agency signs with one key carries the same header
// bytes, so the hot path skips a JSON decode. Bounded by headerCacheMax;
// past it, headers are parsed every time. A nil cache caches nothing.
type headerCache struct {
	m sync.Map
	n atomic.Int64
}

const headerCacheMax = 4096

func (hc *headerCache) kid(prot []byte) (string, error) {
	if hc != nil {
		if kid, ok := hc.m.Load(string(prot)); ok {
			return kid.(string), nil
		}
	}
	hb, err := b64.DecodeString(string(prot))
	if err != nil {
		return "", errors.New("protected header is not base64url")
	}
	var h protectedHeader
	if err := strictUnmarshal(hb, &h); err != nil {
		return "", fmt.Errorf("protected header: %s", jsonErr(err))
	}
	if h.Alg != "EdDSA" {
		return "", fmt.Errorf("alg %q: only EdDSA is accepted", truncate(h.Alg))
	}
	if h.Kid == "" {
		return "", errors.New("protected header has no kid")
	}
	if hc != nil && hc.n.Add(1) <= headerCacheMax {
		hc.m.Store(string(prot), h.Kid)
	}
	return h.Kid, nil
}

func parseParts(prot, pay, sig []byte, hc *headerCache) (*compactJWS, error) {
	kid, err := hc.kid(prot)
	if err != nil {
		return nil, err
	}
	h := protectedHeader{Kid: kid}
	p, err := b64decode(pay)
	if err != nil {
		return nil, errors.New("payload is not base64url")
	}
	s, err := b64decode(sig)
	if err != nil || len(s) != ed25519.SignatureSize {
		return nil, errors.New("signature is not a base64url Ed25519 signature")
	}
	input := make([]byte, 0, len(prot)+1+len(pay))
	input = append(append(append(input, prot...), '.'), pay...)
	return &compactJWS{kid: h.Kid, input: input, payload: p, sig: s}, nil
}

// b64decode is b64.DecodeString without copying src into a string first.
func b64decode(src []byte) ([]byte, error) {
	dst := make([]byte, b64.DecodedLen(len(src)))
	n, err := b64.Decode(dst, src)
	return dst[:n], err
}

// verify checks the signature with pub. Pure: safe to run in parallel.
func (j *compactJWS) verify(pub ed25519.PublicKey) error {
	if !ed25519.Verify(pub, j.input, j.sig) {
		return ErrBadSignature
	}
	return nil
}

// VerifyCompact verifies a compact JWS against one public key and returns
// its payload. It is how a client checks a signed checkpoint or command.
func VerifyCompact(b []byte, pub ed25519.PublicKey) ([]byte, error) {
	j, err := parseCompact(b, nil)
	if err != nil {
		return nil, err
	}
	if err := j.verify(pub); err != nil {
		return nil, err
	}
	return j.payload, nil
}
