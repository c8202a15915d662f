package node_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
)

// idp is a test identity provider: a real Ed25519 key with kid and alg.
type idp struct {
	priv jwk.Key
	pub  jwk.Set
}

func newIDP(t *testing.T, label, kid string) *idp {
	t.Helper()
	k, err := jwk.Import(ledgertest.Key(label))
	if err != nil {
		t.Fatal(err)
	}
	must(t, k.Set(jwk.KeyIDKey, kid))
	must(t, k.Set(jwk.AlgorithmKey, jwa.EdDSA()))
	pk, err := jwk.PublicKeyOf(k)
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	must(t, set.AddKey(pk))
	return &idp{priv: k, pub: set}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// authNow is the clock every Verify in these tests runs at.
var authNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// claims are a token's claims; nil values are left out.
type claims map[string]any

func validClaims() claims {
	return claims{"iss": envIssuer, "aud": []string{envAudience}, "sub": "officer-9@a1.example",
		"exp": authNow.Add(time.Hour).Unix(), "iat": authNow.Unix(), "roles": []string{"matching", "auditor"}}
}

func (c claims) with(k string, v any) claims {
	out := claims{}
	for key, val := range c { //det:ok copying
		out[key] = val
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

// sign builds and signs a token with the idp's key.
func (p *idp) sign(t *testing.T, c claims) string {
	t.Helper()
	b := jwt.NewBuilder()
	for k, v := range c { //det:ok builder order does not matter
		switch k {
		case "exp", "iat", "nbf":
			b = b.Claim(k, time.Unix(v.(int64), 0))
		default:
			b = b.Claim(k, v)
		}
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), p.priv))
	if err != nil {
		t.Fatal(err)
	}
	return string(s)
}

func newAuth(t *testing.T, keys jwk.Set, mod func(*node.AuthConfig)) *node.Authenticator {
	t.Helper()
	cfg := node.AuthConfig{Issuer: envIssuer, Audience: envAudience, Keys: keys, Skew: 30 * time.Second, Agency: "a1",
		Now: func() time.Time { return authNow }}
	if mod != nil {
		mod(&cfg)
	}
	a, err := node.NewAuthenticator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestVerifyTokens checks each rule of token verification against real
// tokens signed with real keys.
func TestVerifyTokens(t *testing.T) {
	good := newIDP(t, "idp", "idp-1")
	impostor := newIDP(t, "impostor", "idp-1") // another key claiming the same kid
	stranger := newIDP(t, "stranger", "idp-2")
	auth := newAuth(t, good.pub, nil)
	in := func(d time.Duration) int64 { return authNow.Add(d).Unix() }
	cases := []struct {
		name  string
		token string
		want  error // nil: accepted
	}{
		{"valid", good.sign(t, validClaims()), nil},
		{"no exp", good.sign(t, validClaims().with("exp", nil)), node.ErrBadToken},
		{"no sub", good.sign(t, validClaims().with("sub", nil)), node.ErrBadToken},
		{"wrong issuer", good.sign(t, validClaims().with("iss", "https://evil.example")), node.ErrBadToken},
		{"wrong audience", good.sign(t, validClaims().with("aud", []string{"raaft-a2"})), node.ErrBadToken},
		{"audience among others", good.sign(t, validClaims().with("aud", []string{"other", envAudience})), nil},
		{"expired within the skew", good.sign(t, validClaims().with("exp", in(-20*time.Second))), nil},
		{"expired beyond the skew", good.sign(t, validClaims().with("exp", in(-40*time.Second))), node.ErrBadToken},
		{"not yet valid within the skew", good.sign(t, validClaims().with("nbf", in(20*time.Second))), nil},
		{"not yet valid beyond the skew", good.sign(t, validClaims().with("nbf", in(time.Minute))), node.ErrBadToken},
		{"unknown key", stranger.sign(t, validClaims()), node.ErrBadToken},
		{"another key with our kid", impostor.sign(t, validClaims()), node.ErrBadToken},
		{"unsigned", unsigned(t, validClaims()), node.ErrBadToken},
		{"not a JWT", "eyJhbGciOi.not.a-token", node.ErrBadToken},
		{"our agency", good.sign(t, validClaims().with("agency", "a1")), nil},
		{"another agency", good.sign(t, validClaims().with("agency", "a2")), node.ErrWrongAgency},
		{"no roles claim", good.sign(t, validClaims().with("roles", nil)), node.ErrBadToken},
		{"roles not an array", good.sign(t, validClaims().with("roles", "matching")), node.ErrBadToken},
		{"roles not strings", good.sign(t, validClaims().with("roles", []any{"matching", 7})), node.ErrBadToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := auth.Verify(c.token)
			if c.want == nil {
				if err != nil || !p.Has(node.RoleMatching) {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v; want %v", err, c.want)
			}
		})
	}
}

// unsigned is a token with alg none.
func unsigned(t *testing.T, c claims) string {
	t.Helper()
	hdr, err := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": "idp-1"})
	must(t, err)
	body, err := json.Marshal(c)
	must(t, err)
	return base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(body) + "."
}

// TestPrincipal: roles come from the configured claim, unknown ones are
// dropped, and the user is a pseudonym of issuer and subject.
func TestPrincipal(t *testing.T) {
	good := newIDP(t, "idp", "idp-1")
	auth := newAuth(t, good.pub, func(c *node.AuthConfig) { c.RoleClaim = "groups" })
	p, err := auth.Verify(good.sign(t, validClaims().with("roles", nil).with("groups", []string{"finance", "admin", "finance"})))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Roles, []string{node.RoleFinance}) {
		t.Fatalf("roles %v", p.Roles)
	}
	if strings.Contains(p.User, "officer") || len(p.User) != 22 {
		t.Fatalf("user %q should be an opaque 22-character pseudonym", p.User)
	}
	other, _ := newAuth(t, good.pub, nil).Verify(good.sign(t, validClaims()))
	if other.User != p.User {
		t.Fatal("the same issuer and subject should give the same pseudonym")
	}
	q, _ := auth.Verify(good.sign(t, validClaims().with("roles", nil).with("groups", []string{}).with("sub", "someone-else")))
	if q.User == p.User || len(q.Roles) != 0 {
		t.Fatalf("%+v", q)
	}
}

// TestAuthenticate reads the token from the request.
func TestAuthenticate(t *testing.T) {
	good := newIDP(t, "idp", "idp-1")
	auth := newAuth(t, good.pub, nil)
	tok := good.sign(t, validClaims())
	cases := []struct {
		name   string
		header string
		cookie string
		want   error
	}{
		{"bearer", "Bearer " + tok, "", nil},
		{"scheme in lower case", "bearer " + tok, "", nil},
		// the console keeps its own session; the API never reads cookies,
		// so another site cannot make a browser call it with a session
		{"session cookie is not a credential", "", tok, node.ErrNoToken},
		{"none", "", "", node.ErrNoToken},
		{"basic", "Basic dXNlcjpwYXNz", "", node.ErrNoToken},
		{"empty bearer", "Bearer ", "", node.ErrNoToken},
		{"oversize", "Bearer " + strings.Repeat("a", 9<<10), "", node.ErrBadToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/head", nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			if c.cookie != "" {
				r.AddCookie(&http.Cookie{Name: "raaft_session", Value: c.cookie})
			}
			_, err := auth.Authenticate(r)
			if !errors.Is(err, c.want) && (c.want != nil || err != nil) {
				t.Fatalf("got %v; want %v", err, c.want)
			}
		})
	}
}

// TestAPIRefusesTokens: through the API, a refused token is a 401 and a
// token for another agency a 403, both as problems.
func TestAPIRefusesTokens(t *testing.T) {
	e := newTestEnv(t)
	expired, err := e.iss.Issue(envSubject, []string{node.RoleMatching}, time.Minute, time.Now().Add(-10*time.Minute))
	must(t, err)
	foreign, err := node.NewDevIssuer(ledgertest.Key("issuer"), envIssuer, envAudience, "a2")
	must(t, err)
	a2tok, err := foreign.Issue(envSubject, []string{node.RoleMatching}, time.Hour, time.Now())
	must(t, err)
	for _, c := range []struct {
		name, token string
		status      int
	}{{"expired", expired, 401}, {"another agency", a2tok, 403}, {"garbage", "x.y.z", 401}} {
		t.Run(c.name, func(t *testing.T) {
			e.tokens["custom"] = c.token
			r := e.do(t, "GET", "/v1/head", "", "custom", nil)
			if r.status != c.status || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
}

// writeJWKS writes a key set document to a file.
func writeJWKS(t *testing.T, keys ...any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	must(t, err)
	path := filepath.Join(t.TempDir(), "jwks.json")
	must(t, os.WriteFile(path, b, 0o600))
	return path
}

// jwkJSON is a key as a JSON object, with fields removed or added.
func jwkJSON(t *testing.T, k jwk.Key, drop []string, add map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(k)
	must(t, err)
	var m map[string]any
	must(t, json.Unmarshal(b, &m))
	for _, d := range drop {
		delete(m, d)
	}
	for k, v := range add { //det:ok independent fields
		m[k] = v
	}
	return m
}

// TestLoadJWKS: a key set file is checked when it is loaded, and a key
// that could never verify a token is refused there, with a clear error.
func TestLoadJWKS(t *testing.T) {
	p := newIDP(t, "idp", "idp-1")
	pub, _ := p.pub.Key(0)
	cases := []struct {
		name    string
		path    string
		mention string // "" means it loads
	}{
		{"good", writeJWKS(t, jwkJSON(t, pub, nil, nil)), ""},
		{"key without alg", writeJWKS(t, jwkJSON(t, pub, []string{"alg"}, nil)), `no "alg"`},
		{"key without kid", writeJWKS(t, jwkJSON(t, pub, []string{"kid"}, nil)), `no "kid"`},
		{"private key", writeJWKS(t, jwkJSON(t, p.priv, nil, nil)), "private key"},
		{"shared secret", writeJWKS(t, map[string]any{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "kid": "s1", "alg": "HS256"}), "shared secret"},
		{"not a key set", writeJWKS(t, "nope"), "jwks"},
		{"missing file", filepath.Join(t.TempDir(), "none.json"), "auth.jwks"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set, err := node.LoadJWKS(c.path)
			if c.mention == "" {
				if err != nil {
					t.Fatal(err)
				}
				a := newAuth(t, set, nil)
				if _, err := a.Verify(p.sign(t, validClaims())); err != nil {
					t.Fatalf("a token does not verify with the loaded set: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("got %v; want an error mentioning %q", err, c.mention)
			}
			if c.name != "missing file" && c.name != "not a key set" && !strings.Contains(err.Error(), c.path) {
				t.Fatalf("the error should name the file: %v", err)
			}
		})
	}
}

// TestNewAuthenticatorChecks refuses configurations that cannot work.
func TestNewAuthenticatorChecks(t *testing.T) {
	p := newIDP(t, "idp", "idp-1")
	noAlg := jwk.NewSet()
	raw, err := jwk.Import(ledgertest.Key("noalg").Public().(ed25519.PublicKey))
	must(t, err)
	must(t, raw.Set(jwk.KeyIDKey, "k1"))
	must(t, noAlg.AddKey(raw))
	cases := []struct {
		name string
		cfg  node.AuthConfig
	}{
		{"no issuer", node.AuthConfig{Audience: "a", Keys: p.pub}},
		{"no audience", node.AuthConfig{Issuer: "i", Keys: p.pub}},
		{"no keys", node.AuthConfig{Issuer: "i", Audience: "a"}},
		{"skew too large", node.AuthConfig{Issuer: "i", Audience: "a", Keys: p.pub, Skew: time.Hour}},
		{"negative skew", node.AuthConfig{Issuer: "i", Audience: "a", Keys: p.pub, Skew: -time.Second}},
		{"key without alg", node.AuthConfig{Issuer: "i", Audience: "a", Keys: noAlg}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := node.NewAuthenticator(c.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestDevIssuer: its tokens verify with its key set and carry exp, roles
// and the agency; it refuses unknown roles and long lifetimes.
func TestDevIssuer(t *testing.T) {
	iss, err := node.NewDevIssuer(ledgertest.Key("dev"), envIssuer, envAudience, "a1")
	must(t, err)
	tok, err := iss.Issue("demo", []string{node.RoleOperator}, time.Hour, authNow)
	must(t, err)
	p, err := newAuth(t, iss.Keys(), nil).Verify(tok)
	if err != nil || !p.Has(node.RoleOperator) || p.Has(node.RoleMatching) {
		t.Fatalf("%v %+v", err, p)
	}
	if _, err := iss.Issue("demo", []string{"admin"}, time.Hour, authNow); err == nil {
		t.Fatal("unknown role issued")
	}
	if _, err := iss.Issue("demo", []string{node.RoleOperator}, 48*time.Hour, authNow); err == nil {
		t.Fatal("a 48 h token issued")
	}
	if _, err := newAuth(t, newIDP(t, "idp", "idp-1").pub, nil).Verify(tok); !errors.Is(err, node.ErrBadToken) {
		t.Fatalf("a dev token verified without the dev key being trusted: %v", err)
	}
}

// TestRemoteJWKS: a key set fetched over HTTPS verifies tokens, is
// refreshed in the background (a rotated key is picked up), survives a
// failed refresh, and stops with Close.
func TestRemoteJWKS(t *testing.T) {
	first, second := newIDP(t, "idp", "idp-1"), newIDP(t, "idp-rotated", "idp-2")
	var serving atomic.Pointer[jwk.Set]
	serving.Store(&first.pub)
	var failing atomic.Bool
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(*serving.Load())
	}))
	defer ts.Close()
	ctx := context.Background()
	if _, err := node.NewRemoteJWKS(ctx, "http://"+strings.TrimPrefix(ts.URL, "https://"), ts.Client(), 0, nil); err == nil {
		t.Fatal("a key set over plain http was accepted")
	}
	failing.Store(true)
	if _, err := node.NewRemoteJWKS(ctx, ts.URL, ts.Client(), 0, nil); err == nil {
		t.Fatal("started without a key set")
	}
	failing.Store(false)
	r, err := node.NewRemoteJWKS(ctx, ts.URL, ts.Client(), 10*time.Millisecond, nil)
	must(t, err)
	defer r.Close()
	auth := newAuth(t, nil, func(c *node.AuthConfig) { c.Remote = r })
	if _, err := auth.Verify(first.sign(t, validClaims())); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	time.Sleep(50 * time.Millisecond)
	if _, err := auth.Verify(first.sign(t, validClaims())); err != nil {
		t.Fatalf("a failed refresh dropped the key set: %v", err)
	}
	failing.Store(false)
	serving.Store(&second.pub)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := auth.Verify(second.sign(t, validClaims())); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rotated key was never picked up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	must(t, r.Close())
}

// TestVerifiedTokensAreRememberedBriefly: a verified token is remembered,
// but never past its expiry, and a key removed from the set stops its
// tokens within a minute.
func TestVerifiedTokensAreRememberedBriefly(t *testing.T) {
	good := newIDP(t, "idp", "idp-1")
	now := authNow
	auth := newAuth(t, good.pub, func(c *node.AuthConfig) { c.Now = func() time.Time { return now }; c.Skew = 0 })
	short := good.sign(t, validClaims().with("exp", authNow.Add(30*time.Second).Unix()))
	long := good.sign(t, validClaims())
	for _, tok := range []string{short, long} {
		if _, err := auth.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	now = authNow.Add(31 * time.Second) // past the short token's exp, within the memory's minute
	if _, err := auth.Verify(short); !errors.Is(err, node.ErrBadToken) {
		t.Fatalf("an expired token that was verified before: %v; want ErrBadToken", err)
	}
	k, _ := good.pub.Key(0)
	must(t, good.pub.RemoveKey(k)) // the provider drops its key
	if _, err := auth.Verify(long); err != nil {
		t.Fatalf("a token verified 31s ago, its key just removed: %v; want it remembered", err)
	}
	now = authNow.Add(61 * time.Second)
	if _, err := auth.Verify(long); !errors.Is(err, node.ErrBadToken) {
		t.Fatalf("a token whose key was removed over a minute ago: %v; want ErrBadToken", err)
	}
}
