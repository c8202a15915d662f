package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"
	"golang.org/x/oauth2"
)

// OIDC limits.
const (
	// oidcCookie carries the state, PKCE verifier, nonce and return path of
	// one sign-in between the redirect to the identity provider and back.
	oidcCookie = "raaft_oidc"
	// oidcFlowTTL bounds how long a sign-in at the provider may take.
	oidcFlowTTL = 10 * time.Minute
	// oidcExchangeTimeout bounds the code-for-token exchange.
	oidcExchangeTimeout = 15 * time.Second
)

// OIDCConfig is an agency identity provider's authorization code flow
// (OpenID Connect, with PKCE S256). The tokens it returns must be ones the
// node's authenticator accepts (issuer, audience, JWKS, roles claim): the
// access token if the provider issues JWT access tokens for the node's
// audience, else the ID token (then auth.audience is the client id).
type OIDCConfig struct {
	// AuthURL and TokenURL are the provider's endpoints.
	AuthURL, TokenURL string
	// ClientID and ClientSecret identify the node to the provider; the
	// secret may be empty for a public client (PKCE still applies).
	ClientID, ClientSecret string
	// RedirectURL is this console's /signin/callback as the browser reaches it.
	RedirectURL string
	// Scopes requested; "openid" is always included.
	Scopes []string
	// HTTPClient makes the token exchange; nil means a client with a 15 s timeout.
	HTTPClient *http.Client
}

type oidcFlow struct {
	oauth *oauth2.Config
	hc    *http.Client
}

func newOIDCFlow(cfg OIDCConfig) (*oidcFlow, error) {
	for k, v := range map[string]string{"auth_url": cfg.AuthURL, "token_url": cfg.TokenURL, "redirect_url": cfg.RedirectURL} { //det:ok checks only
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("console: oidc %s %q: expected an absolute http(s) URL", k, v)
		}
	}
	if cfg.ClientID == "" {
		return nil, errors.New("console: oidc client_id is required")
	}
	scopes := []string{"openid"}
	for _, s := range cfg.Scopes {
		if s != "openid" {
			scopes = append(scopes, s)
		}
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: oidcExchangeTimeout}
	}
	return &oidcFlow{hc: hc, oauth: &oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RedirectURL: cfg.RedirectURL,
		Scopes: scopes, Endpoint: oauth2.Endpoint{AuthURL: cfg.AuthURL, TokenURL: cfg.TokenURL}}}, nil
}

// oidcState is what the console remembers across the provider's redirect.
type oidcState struct {
	State    string `json:"s"`
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
	Next     string `json:"next"`
	Expires  int64  `json:"exp"`
}

// oidcStart redirects the browser to the identity provider.
func (c *Console) oidcStart(w http.ResponseWriter, r *http.Request) {
	if c.oidc == nil {
		c.render(w, r, http.StatusNotFound, "error", view{Title: "Sign in", Error: &notice{Text: "This node has no identity provider configured (auth.oidc). Sign in with a token instead."}})
		return
	}
	st := oidcState{State: randomString(), Verifier: oauth2.GenerateVerifier(), Nonce: randomString(),
		Next: safeNext(r.URL.Query().Get("next")), Expires: c.cfg.Now().Add(oidcFlowTTL).Unix()}
	raw, _ := json.Marshal(st)
	// SameSite=Lax: the provider's redirect back is a cross-site top-level
	// navigation, on which a Strict cookie would not be sent.
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: c.seal(raw), Path: "/signin/callback", MaxAge: int(oidcFlowTTL.Seconds()),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, c.oidc.oauth.AuthCodeURL(st.State, oauth2.S256ChallengeOption(st.Verifier),
		oauth2.SetAuthURLParam("nonce", st.Nonce)), http.StatusFound)
}

// oidcCallback checks the state, exchanges the code (with the PKCE
// verifier) and signs the user in with the first returned token the
// node's authenticator accepts.
func (c *Console) oidcCallback(w http.ResponseWriter, r *http.Request) {
	fail := func(msg string) {
		c.render(w, r, http.StatusBadRequest, "signin", view{Title: "Sign in", Error: &notice{Text: msg}, Data: c.signinData("/")})
	}
	if c.oidc == nil {
		fail("This node has no identity provider configured (auth.oidc).")
		return
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		fail("Your identity provider refused the sign-in: " + e + " " + q.Get("error_description"))
		return
	}
	ck, err := r.Cookie(oidcCookie)
	var st oidcState
	if err != nil || c.unseal(ck.Value, &st) != nil || st.Expires < c.cfg.Now().Unix() {
		fail("The sign-in took too long or was started in another browser. Please start again.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Path: "/signin/callback", MaxAge: -1})
	if !hmac.Equal([]byte(q.Get("state")), []byte(st.State)) || q.Get("code") == "" {
		fail("The sign-in response does not match this browser's sign-in (state). Please start again.")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), oauth2.HTTPClient, c.oidc.hc), oidcExchangeTimeout)
	defer cancel()
	tok, err := c.oidc.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		c.log.Warn("console: oidc code exchange", "err", err)
		fail("Your identity provider did not complete the sign-in (code exchange failed). Please start again.")
		return
	}
	idTok, _ := tok.Extra("id_token").(string)
	var lastErr error
	for _, cand := range []struct{ raw, kind string }{{tok.AccessToken, "access"}, {idTok, "id"}} {
		if cand.raw == "" {
			continue
		}
		if _, err := c.cfg.Verify(cand.raw); err != nil {
			lastErr = err
			continue
		}
		if cand.kind == "id" && claimString(cand.raw, "nonce") != st.Nonce {
			lastErr = errors.New("the ID token's nonce does not match this sign-in")
			continue
		}
		c.setCookie(w, r, sessionCookie, cand.raw, 0)
		// A page, not a redirect: the session cookie is SameSite=Strict, and
		// a redirect chain that began at the provider would not carry it.
		c.render(w, r, http.StatusOK, "continue", view{Title: "Signed in", Data: st.Next})
		return
	}
	fail(fmt.Sprintf("Your identity provider's token is not accepted by this node: %v. Ask your IT team to check auth.issuer, auth.audience and the roles claim.", lastErr))
}

// seal returns b with an HMAC under the process key, base64url-encoded.
func (c *Console) seal(b []byte) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("oidc|"))
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (c *Console) unseal(s string, v any) error {
	body, mac, ok := strings.Cut(s, ".")
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	sum, err2 := base64.RawURLEncoding.DecodeString(mac)
	if !ok || err1 != nil || err2 != nil {
		return errors.New("malformed")
	}
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("oidc|"))
	m.Write(b)
	if !hmac.Equal(sum, m.Sum(nil)) {
		return errors.New("bad mac")
	}
	return json.Unmarshal(b, v)
}

// claimString reads a string claim of a JWT that Verify has already
// accepted (so the signature is not checked again here).
func claimString(raw, name string) string {
	tok, err := jwt.ParseInsecure([]byte(raw))
	if err != nil {
		return ""
	}
	var v string
	if err := tok.Get(name, &v); err != nil {
		return ""
	}
	return v
}

func randomString() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// safeNext keeps a return path on this site: a local absolute path only.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}
