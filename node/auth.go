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
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
)

// Roles a user may hold (protocol owns the names, which cross the wire).
const (
	RoleMatching = protocol.RoleMatching
	RoleFinance  = protocol.RoleFinance
	RoleOperator = protocol.RoleOperator
	RoleAuditor  = protocol.RoleAuditor
)

// Roles is the closed set of roles; role names outside it in a token are ignored.
var Roles = protocol.Roles

// Auth errors, mapped to 401 (no or bad token) and 403 (role, agency) by
// the error table.
var (
	// ErrNoToken is returned when a request carries no bearer token.
	ErrNoToken = errors.New("no bearer token")
	// ErrBadToken is returned when a token does not verify: signature, key,
	// issuer, audience, expiry, or a missing required claim.
	ErrBadToken = errors.New("token not accepted")
	// ErrForbidden is returned when the token's roles may not call the operation.
	ErrForbidden = errors.New("role not allowed")
	// ErrWrongAgency is returned when the token's agency claim names
	// another agency: a user acts only for their own agency's node.
	ErrWrongAgency = errors.New("token is for another agency")
)

const (
	// tokenBytesMax bounds a bearer token.
	tokenBytesMax = 8 << 10
	// devTokenTTLMax bounds the lifetime of a dev issuer's token.
	devTokenTTLMax = 24 * time.Hour
	// skewMax bounds AuthConfig.Skew (config's auth.clock_skew maximum).
	skewMax = 5 * time.Minute
	// jwksKeysMax bounds the keys of a key set.
	jwksKeysMax = 100
	// defaultRoleClaim is the claim listing a user's roles unless configured.
	defaultRoleClaim = "roles"
	// agencyClaim, when a token has it, must name the node's agency.
	agencyClaim = "agency"
	// verifiedTokenTTL bounds how long a verified token is remembered, so
	// a key removed from the identity provider's set stops its tokens
	// within this time. Checking a JWT's signature costs about as much as
	// verifying a ledger entry; a user's token is presented on every call.
	verifiedTokenTTL = time.Minute
	// verifiedTokensMax bounds the remembered tokens; when full, expired
	// ones are dropped, and if none has expired, all of them.
	verifiedTokensMax = 4096
)

// Principal is an authenticated user of this node's agency.
type Principal struct {
	// User is an opaque pseudonym of the token's issuer and subject: it is
	// what the ledger records as the acting user and the access log as the
	// caller, never the subject itself (which may be an email address).
	User string
	// Roles are the token's roles that raaft knows, in token order.
	Roles []string
}

// Has reports whether the principal holds any of roles.
func (p Principal) Has(roles ...string) bool {
	return slices.ContainsFunc(roles, func(r string) bool { return slices.Contains(p.Roles, r) })
}

// roleFor is the first of roles the principal holds: the role a call was
// allowed under.
func (p Principal) roleFor(roles []string) string {
	for _, r := range roles {
		if slices.Contains(p.Roles, r) {
			return r
		}
	}
	return ""
}

// AuthConfig configures an Authenticator.
type AuthConfig struct {
	// Issuer is the required "iss" claim.
	Issuer string
	// Audience must be among the token's "aud" values.
	Audience string
	// Keys verify tokens. Each key must carry "alg" and "kid" (jwx matches
	// keys by them; without alg it matches none) and be a public key.
	Keys jwk.Set
	// Remote, if set, is an identity provider's key set, kept fresh; tokens
	// verify with a key from Keys or from Remote.
	Remote *RemoteJWKS
	// RoleClaim is the claim holding the roles, an array of strings;
	// "" means "roles".
	RoleClaim string
	// Skew is the leeway on exp, nbf and iat, 0 to 5 minutes. jwx's
	// default is 0, so it is always passed explicitly.
	Skew time.Duration
	// Agency is the node's agency: a token whose "agency" claim names
	// another is refused.
	Agency string
	// Now is the clock tokens are checked against; nil means time.Now.
	Now func() time.Time
}

// Authenticator verifies users' JWTs: signature by a key of the set,
// issuer, audience, a required exp (jwt.Parse accepts tokens without one
// unless told), a required sub, bounded clock skew, the agency claim, and
// roles from the role claim. Safe for concurrent use.
type Authenticator struct {
	cfg AuthConfig

	mu       sync.Mutex
	verified map[[sha256.Size]byte]verifiedToken // by SHA-256 of the raw token
}

// verifiedToken is a token that passed every check, remembered until the
// earlier of its exp and verifiedTokenTTL after the check.
type verifiedToken struct {
	p     Principal
	until time.Time
}

// NewAuthenticator checks cfg and the key set and returns an authenticator.
func NewAuthenticator(cfg AuthConfig) (*Authenticator, error) {
	switch {
	case cfg.Issuer == "" || cfg.Audience == "":
		return nil, errors.New("auth: issuer and audience are required")
	case cfg.Keys == nil && cfg.Remote == nil:
		return nil, errors.New("auth: a key set is required (auth.jwks, or auth.dev_issuer for trying raaft out)")
	case cfg.Skew < 0 || cfg.Skew > skewMax:
		return nil, fmt.Errorf("auth: clock skew %v: expected 0..%v", cfg.Skew, skewMax)
	}
	if cfg.Keys != nil {
		if err := checkKeySet(cfg.Keys); err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = defaultRoleClaim
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Authenticator{cfg: cfg, verified: map[[sha256.Size]byte]verifiedToken{}}, nil
}

// LoadJWKS reads a JSON Web Key Set from a file and checks it: at most 100
// keys, each public, each with "alg" and "kid". A key without alg would
// never match (jwx pitfall), so it is refused here, at start, with the
// file and key named, rather than as a 401 on every request.
func LoadJWKS(path string) (jwk.Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth.jwks: %w", err)
	}
	set, err := jwk.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("auth.jwks %s: %w", path, err)
	}
	if err := checkKeySet(set); err != nil {
		return nil, fmt.Errorf("auth.jwks %s: %w", path, err)
	}
	return set, nil
}

// checkKeySet refuses key sets tokens could not (or should not) be
// verified with.
func checkKeySet(set jwk.Set) error {
	if set.Len() > jwksKeysMax {
		return fmt.Errorf("key set has %d keys; at most %d", set.Len(), jwksKeysMax)
	}
	for i := range set.Len() {
		k, _ := set.Key(i)
		kid, ok := k.KeyID()
		if !ok || kid == "" {
			return fmt.Errorf("key %d has no \"kid\": every key must name its id", i)
		}
		if _, ok := k.Algorithm(); !ok {
			return fmt.Errorf("key %d (kid %q) has no \"alg\": every key must name its algorithm", i, kid)
		}
		if k.KeyType() == jwa.OctetSeq() {
			return fmt.Errorf("key %d (kid %q) is a shared secret (kty oct); only public keys may verify tokens", i, kid)
		}
		if priv, err := jwk.IsPrivateKey(k); err == nil && priv {
			return fmt.Errorf("key %d (kid %q) is a private key; publish only the public key", i, kid)
		}
	}
	return nil
}

// Authenticate verifies the request's bearer token (Authorization:
// Bearer, the scheme in any case). Cookies are never read: the web console
// keeps its session itself and calls the API with the bearer token, so no
// other site can make a browser call the API with the user's session.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	var raw string
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		raw = strings.TrimSpace(tok)
	}
	if raw == "" {
		return Principal{}, ErrNoToken
	}
	if len(raw) > tokenBytesMax {
		return Principal{}, fmt.Errorf("%w: token over %d bytes", ErrBadToken, tokenBytesMax)
	}
	return a.Verify(raw)
}

// Verify checks a raw token and returns its principal. A token that
// verified is remembered (by its SHA-256) until the earlier of its expiry
// and verifiedTokenTTL, so repeated calls skip the signature check;
// failures are never remembered.
func (a *Authenticator) Verify(raw string) (Principal, error) {
	key, now := sha256.Sum256([]byte(raw)), a.cfg.Now()
	a.mu.Lock()
	v, ok := a.verified[key]
	a.mu.Unlock()
	if ok && now.Before(v.until) {
		return Principal{User: v.p.User, Roles: slices.Clone(v.p.Roles)}, nil
	}
	p, exp, err := a.verify(raw)
	if err != nil {
		return Principal{}, err
	}
	until := now.Add(verifiedTokenTTL)
	if exp.Before(until) {
		until = exp
	}
	a.mu.Lock()
	if len(a.verified) >= verifiedTokensMax {
		for k, v := range a.verified { //det:ok eviction order does not matter
			if !now.Before(v.until) {
				delete(a.verified, k)
			}
		}
		if len(a.verified) >= verifiedTokensMax {
			clear(a.verified)
		}
	}
	a.verified[key] = verifiedToken{p: Principal{User: p.User, Roles: slices.Clone(p.Roles)}, until: until}
	a.mu.Unlock()
	return p, nil
}

// verify checks a raw token: signature, claims, agency and roles. It
// returns the principal and the token's expiry.
func (a *Authenticator) verify(raw string) (Principal, time.Time, error) {
	opts := []jwt.ParseOption{
		jwt.WithIssuer(a.cfg.Issuer), jwt.WithAudience(a.cfg.Audience),
		jwt.WithRequiredClaim("exp"), jwt.WithRequiredClaim("sub"),
		jwt.WithAcceptableSkew(a.cfg.Skew), jwt.WithClock(jwt.ClockFunc(a.cfg.Now)),
	}
	if a.cfg.Keys != nil {
		opts = append(opts, jwt.WithKeySet(a.cfg.Keys))
	}
	if a.cfg.Remote != nil {
		opts = append(opts, jwt.WithKeySet(a.cfg.Remote.Keys()))
	}
	tok, err := jwt.ParseString(raw, opts...)
	if err != nil {
		return Principal{}, time.Time{}, fmt.Errorf("%w: %v", ErrBadToken, err) // jwx's message, not its error: nothing to match on
	}
	if tok.Has(agencyClaim) {
		var agency string
		if err := tok.Get(agencyClaim, &agency); err != nil || agency != a.cfg.Agency {
			return Principal{}, time.Time{}, fmt.Errorf("%w: token agency %q, node agency %q", ErrWrongAgency, agency, a.cfg.Agency)
		}
	}
	roles, err := a.roles(tok)
	if err != nil {
		return Principal{}, time.Time{}, err
	}
	sub, _ := tok.Subject()
	iss, _ := tok.Issuer()
	exp, _ := tok.Expiration() // required above
	return Principal{User: pseudonym(iss, sub), Roles: roles}, exp, nil
}

// roles reads the role claim, an array of strings, keeping known roles.
func (a *Authenticator) roles(tok jwt.Token) ([]string, error) {
	var raw []any
	if err := tok.Get(a.cfg.RoleClaim, &raw); err != nil {
		return nil, fmt.Errorf("%w: claim %q: expected an array of role names", ErrBadToken, a.cfg.RoleClaim)
	}
	var roles []string
	for _, v := range raw {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: claim %q: expected an array of role names", ErrBadToken, a.cfg.RoleClaim)
		}
		if slices.Contains(Roles, s) && !slices.Contains(roles, s) {
			roles = append(roles, s)
		}
	}
	return roles, nil
}

// pseudonym is the ledger's acting-user id: "u" and 21 base64url
// characters of SHA-256(issuer | subject), so no identifier reaches the
// ledger or the access log, and the same person has the same pseudonym on
// every node of the agency.
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

// NewDevIssuer makes an issuer of tokens for agency's users, signing with
// priv (EdDSA; kid = RFC 7638 thumbprint).
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

// Issue signs a token for user sub with roles, issued at now and valid for
// ttl (at most 24 h). It carries iss, aud, sub, iat, exp, the roles claim
// and the agency claim.
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
		IssuedAt(now).Expiration(now.Add(ttl)).Claim(defaultRoleClaim, roles).Claim(agencyClaim, d.agency).Build()
	if err != nil {
		return "", err
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), d.key))
	return string(b), err
}
