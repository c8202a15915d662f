package node

import (
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/raaft/raaft/config"
	"github.com/raaft/raaft/node/console"
)

// devSessionTTL is how long a console one-click (dev issuer) sign-in lasts.
const devSessionTTL = 8 * time.Hour

// WebConfig wires the web console to a node's API.
type WebConfig struct {
	// API is the node's API server: the console calls it in-process.
	API *Server
	// Auth checks the console's session tokens, as it does the API's.
	Auth *Authenticator
	// Dev, when not nil, offers one-click sign-in (auth.dev_issuer on).
	Dev *DevIssuer
	// OIDC is the auth.oidc section; off when ClientID is empty.
	OIDC config.OIDC
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewWebHandler returns the node's whole HTTP handler: the JSON API under
// /v1, /healthz, /readyz and /metrics, and the web console everywhere else.
func NewWebHandler(cfg WebConfig) (http.Handler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cc := console.Config{
		API: cfg.API.Handler(), Agency: cfg.API.cfg.Agency, NodeID: cfg.API.cfg.NodeID, Now: cfg.Now, Logger: cfg.API.log,
		Verify: func(tok string) (console.Session, error) {
			p, err := cfg.Auth.Verify(tok)
			return console.Session{User: p.User, Roles: p.Roles}, err
		},
	}
	if cfg.Dev != nil {
		cc.DevSignIn = func(role string) (string, error) {
			return cfg.Dev.Issue("demo-"+role, []string{role}, devSessionTTL, cfg.Auth.cfg.Now()) // the clock tokens are checked against
		}
	}
	if o := cfg.OIDC; o.ClientID != "" {
		oc := &console.OIDCConfig{AuthURL: o.AuthURL, TokenURL: o.TokenURL, ClientID: o.ClientID, RedirectURL: o.RedirectURL, Scopes: o.Scopes}
		if o.ClientSecretFile != "" {
			b, err := os.ReadFile(o.ClientSecretFile)
			if err != nil {
				return nil, err
			}
			oc.ClientSecret = strings.TrimSpace(string(b))
		}
		cc.OIDC = oc
	}
	web, err := console.New(cc)
	if err != nil {
		return nil, err
	}
	api := cfg.API.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAPIPath(r.URL.Path) {
			api.ServeHTTP(w, r)
			return
		}
		web.ServeHTTP(w, r)
	}), nil
}

// isAPIPath reports whether a path belongs to the JSON API rather than the console.
func isAPIPath(p string) bool {
	return p == "/v1" || strings.HasPrefix(p, "/v1/") || p == "/healthz" || p == "/readyz" || p == "/metrics"
}
