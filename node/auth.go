package node

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/raaft/raaft/ledger"
)

// Roles a user may hold. Every API operation declares the roles it accepts.
const (
	RoleMatching = "matching"
	RoleFinance  = "finance"
	RoleOperator = "operator"
	RoleAuditor  = "auditor"
)

// Roles is the closed set of roles.
var Roles = []string{RoleMatching, RoleFinance, RoleOperator, RoleAuditor}

// Auth errors, mapped to 401/403 by the error table.
var (
	ErrNoToken     = errors.New("no bearer token")
	ErrBadToken    = errors.New("token not accepted")
	ErrForbidden   = errors.New("role not allowed")
	ErrWrongAgency = errors.New("token is for another agency")
)

const (
	tokenLenMax      = 8 << 10 // bytes of a bearer token
	devTokenTTLMax   = 24 * time.Hour
	defaultRoleClaim = "roles"
	sessionCookie    = "raaft_session" // the web console keeps the token here
)

// Principal is an authenticated user of this node's agency.
type Principal struct {
	// User is an opaque pseudonym of the token's issuer and subject: it is
	// what the ledger records as the acting user, never the subject itself
	// (which may be an email address).
	User  string
	Roles []string
}

// Has reports whether the principal holds any of roles.
func (p Principal) Has(roles ...string) bool {
	return slices.ContainsFunc(roles, func(r string) bool { return slices.Contains(p.Roles, r) })
}

// AuthConfig configures an Authenticator.
type AuthConfig struct {
	Issuer, Audience string
	Keys             jwk.Set // each key must carry alg and kid
	RoleClaim        string  // default "roles"
	Skew             time.Duration
	Agency           string // tokens naming another agency (claim "agency") are refused
	Now              func() time.Time
}

// Authenticator verifies users' JWTs: signature by a key in the set,
// issuer, audience, a required exp (jwt.Parse accepts tokens without one
// unless told), bounded clock skew, and roles from the role claim.
type Authenticator struct {
	cfg AuthConfig
}

// NewAuthenticator checks the key set (alg and kid on every key: jwx
// matches keys by them) and returns an authenticator.
func NewAuthenticator(cfg AuthConfig) (*Authenticator, error) {
	if cfg.Issuer == "" || cfg.Audience == "" || cfg.Keys == nil {
		return nil, errors.New("auth: issuer, audience and a key set are required")
	}
	for i := range cfg.Keys.Len() {
		k, _ := cfg.Keys.Key(i)
		if _, ok := k.Algorithm(); !ok {
			return nil, fmt.Errorf("auth: JWKS key %d has no \"alg\"", i)
		}
		if _, ok := k.KeyID(); !ok {
			return nil, fmt.Errorf("auth: JWKS key %d has no \"kid\"", i)
		}
	}
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = defaultRoleClaim
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Authenticator{cfg: cfg}, nil
}

// LoadJWKS reads a JSON Web Key Set from a file.
func LoadJWKS(path string) (jwk.Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth.jwks: %w", err)
	}
	return jwk.Parse(b)
}

// Authenticate verifies the request's bearer token.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || raw == "" {
		if c, err := r.Cookie(sessionCookie); err == nil {
			raw = c.Value
		}
	}
	if raw == "" {
		return Principal{}, ErrNoToken
	}
	if len(raw) > tokenLenMax {
		return Principal{}, fmt.Errorf("%w: token too long", ErrBadToken)
	}
	return a.Verify(raw)
}

// Verify checks a raw token.
func (a *Authenticator) Verify(raw string) (Principal, error) {
	tok, err := jwt.ParseString(raw,
		jwt.WithKeySet(a.cfg.Keys), jwt.WithIssuer(a.cfg.Issuer), jwt.WithAudience(a.cfg.Audience),
		jwt.WithRequiredClaim("exp"), jwt.WithRequiredClaim("sub"), jwt.WithAcceptableSkew(a.cfg.Skew),
		jwt.WithClock(jwt.ClockFunc(a.cfg.Now)))
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	var agency string
	if err := tok.Get("agency", &agency); err == nil && agency != a.cfg.Agency {
		return Principal{}, ErrWrongAgency
	}
	var roles []string
	if err := tok.Get(a.cfg.RoleClaim, &roles); err != nil {
		var anyRoles []any
		if err2 := tok.Get(a.cfg.RoleClaim, &anyRoles); err2 != nil {
			return Principal{}, fmt.Errorf("%w: no %q claim", ErrBadToken, a.cfg.RoleClaim)
		}
		for _, r := range anyRoles {
			if s, ok := r.(string); ok {
				roles = append(roles, s)
			}
		}
	}
	roles = slices.DeleteFunc(roles, func(r string) bool { return !slices.Contains(Roles, r) })
	sub, _ := tok.Subject()
	iss, _ := tok.Issuer()
	return Principal{User: pseudonym(iss, sub), Roles: roles}, nil
}

// pseudonym is the ledger's acting-user id: 22 base64url characters of
// SHA-256(issuer | subject), so no identifier reaches the ledger.
func pseudonym(iss, sub string) string {
	sum := sha256.Sum256([]byte(iss + "|" + sub))
	return "u" + base64.RawURLEncoding.EncodeToString(sum[:])[:21]
}

// DevIssuer issues tokens for trying raaft out and for tests, with a
// node-local key. A node trusts it only when auth.dev_issuer is on.
type DevIssuer struct {
	key              jwk.Key
	pub              jwk.Set
	issuer, audience string
	agency           string
}

// NewDevIssuer makes an issuer for agency's users.
func NewDevIssuer(priv ed25519.PrivateKey, issuer, audience, agency string) (*DevIssuer, error) {
	k, err := jwk.Import(priv)
	if err != nil {
		return nil, err
	}
	kid, err := ledger.KeyID(priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	if err := k.Set(jwk.KeyIDKey, kid); err != nil {
		return nil, err
	}
	if err := k.Set(jwk.AlgorithmKey, jwa.EdDSA()); err != nil {
		return nil, err
	}
	pk, err := jwk.PublicKeyOf(k)
	if err != nil {
		return nil, err
	}
	set := jwk.NewSet()
	if err := set.AddKey(pk); err != nil {
		return nil, err
	}
	return &DevIssuer{key: k, pub: set, issuer: issuer, audience: audience, agency: agency}, nil
}

// Keys is the public key set that verifies this issuer's tokens.
func (d *DevIssuer) Keys() jwk.Set { return d.pub }

// Issue signs a token for user sub with roles, valid for ttl (at most 24 h).
func (d *DevIssuer) Issue(sub string, roles []string, ttl time.Duration, now time.Time) (string, error) {
	if ttl <= 0 || ttl > devTokenTTLMax {
		return "", fmt.Errorf("token lifetime %v: expected up to %v", ttl, devTokenTTLMax)
	}
	for _, r := range roles {
		if !slices.Contains(Roles, r) {
			return "", fmt.Errorf("role %q: expected one of %v", r, Roles)
		}
	}
	tok, err := jwt.NewBuilder().Issuer(d.issuer).Audience([]string{d.audience}).Subject(sub).
		IssuedAt(now).Expiration(now.Add(ttl)).Claim(defaultRoleClaim, roles).Claim("agency", d.agency).Build()
	if err != nil {
		return "", err
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), d.key))
	return string(b), err
}
