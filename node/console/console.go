package console

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/raaft/raaft/protocol"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Console limits.
const (
	// sessionCookie holds the user's token. HttpOnly (no script reads it),
	// SameSite=Strict (no other site's page sends it), Secure under TLS.
	sessionCookie = "raaft_session"
	// flashCookie carries one message to the page after a redirect.
	flashCookie = "raaft_flash"
	// flashBytesMax bounds a flash message (a cookie is at most 4 KiB).
	flashBytesMax = 600
	// tokenBytesMax bounds a token pasted at sign-in.
	tokenBytesMax = 8 << 10
	// formBytesMax bounds a console form post.
	formBytesMax = 64 << 10
	// apiBase is the origin of in-process API requests; it never reaches a socket.
	apiBase = "http://raaft.console"
)

// Session is a signed-in user, as the node's authenticator sees the token.
type Session struct {
	// User is the opaque pseudonym the ledger records.
	User string
	// Roles are the user's raaft roles (matching, finance, operator, auditor).
	Roles []string
}

// Has reports whether the session holds any of roles (templates use it).
func (s Session) Has(roles ...string) bool { return s.has(roles...) }

// has reports whether the session holds any of roles.
func (s Session) has(roles ...string) bool {
	return slices.ContainsFunc(roles, func(r string) bool { return slices.Contains(s.Roles, r) })
}

// Config wires a Console. API and Verify are required.
type Config struct {
	// API is the node's JSON API. The console calls it in-process with the
	// user's token, so every page goes through the same authentication,
	// roles, validation, idempotency and access log as the CLI.
	API http.Handler
	// Verify checks a token (signature, issuer, audience, expiry, agency)
	// and returns its session: the node's Authenticator.
	Verify func(token string) (Session, error)
	// Agency and NodeID label the pages.
	Agency, NodeID string
	// DevSignIn, when set (auth.dev_issuer on), issues a token for a demo
	// user with one role, so the sign-in page offers one-click sign-in. It
	// must stay nil outside a local trial: anyone reaching the page could
	// act for the agency.
	DevSignIn func(role string) (string, error)
	// OIDC, when set, adds "Sign in with your agency" (authorization code
	// flow with PKCE).
	OIDC *OIDCConfig
	// Now is the clock for "time left" and default dates; nil means time.Now.
	Now func() time.Time
	// Logger receives internal errors; nil discards.
	Logger *slog.Logger
}

// Console is the web console: server-rendered pages for matching and
// finance officers and operators. Safe for concurrent use.
type Console struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	pages map[string]*template.Template
	key   []byte // HMAC key of CSRF tokens and OIDC state, per process
	api   *http.Client
	oidc  *oidcFlow
}

// New builds the console.
func New(cfg Config) (*Console, error) {
	if cfg.API == nil || cfg.Verify == nil {
		return nil, errors.New("console: Config needs API and Verify")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), key: make([]byte, 32),
		api: &http.Client{Transport: inProcess{cfg.API}}}
	if _, err := rand.Read(c.key); err != nil {
		return nil, err
	}
	if cfg.OIDC != nil {
		f, err := newOIDCFlow(*cfg.OIDC)
		if err != nil {
			return nil, err
		}
		c.oidc = f
	}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	static, _ := fs.Sub(assets, "static")
	c.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(http.FileServerFS(static), time.Hour)))
	c.mux.HandleFunc("GET /signin", c.signinPage)
	c.mux.HandleFunc("POST /signin", c.signin)
	c.mux.HandleFunc("POST /signin/dev", c.signinDev)
	c.mux.HandleFunc("GET /signin/oidc", c.oidcStart)
	c.mux.HandleFunc("GET /signin/callback", c.oidcCallback)
	c.mux.HandleFunc("POST /signout", c.signout)
	c.mux.HandleFunc("GET /{$}", c.home)
	c.mux.HandleFunc("GET /search", c.page(c.search))
	c.mux.HandleFunc("GET /listings/{token}", c.page(c.listing))
	c.mux.HandleFunc("POST /listings/{token}/reserve", c.action(c.reserve))
	c.mux.HandleFunc("POST /listings/{token}/{op}", c.action(c.listingAction))
	c.mux.HandleFunc("GET /holds", c.page(c.holds))
	c.mux.HandleFunc("POST /holds/{id}/{op}", c.action(c.holdAction))
	c.mux.HandleFunc("GET /fees", c.page(c.fees))
	c.mux.HandleFunc("POST /fees/obligations/{id}/{op}", c.action(c.feeAction))
	c.mux.HandleFunc("POST /fees/payments/{id}/confirm", c.action(c.confirmReceipt))
	c.mux.HandleFunc("GET /fees/statement.csv", c.statement)
	c.mux.HandleFunc("GET /federation", c.page(c.federation))
	c.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "error", view{Title: "Not found", Session: c.optionalSession(r),
			Error: &notice{Text: "There is no page at " + r.URL.Path + "."}})
	})
}

func cacheFor(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(d.Seconds())))
		h.ServeHTTP(w, r)
	})
}

// view is what every page template gets.
type view struct {
	Title   string
	Nav     string // the active navigation entry
	Session *Session
	Agency  string
	NodeID  string
	CSRF    string
	Flash   *notice
	Error   *notice
	Data    any
	Now     time.Time
}

// notice is a message shown at the top of a page.
type notice struct {
	Kind string // ok | error
	Text string
}

// page wraps a GET handler that needs a session: no or expired token
// redirects to sign-in, remembering where the user was going.
func (c *Console) page(h func(r *http.Request, s Session, v *view) (string, int)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, tok, ok := c.session(w, r)
		if !ok {
			return
		}
		v := &view{Session: &s, CSRF: c.csrf(tok), Flash: c.takeFlash(w, r)}
		ctx := withToken(r.Context(), tok)
		if v.Flash != nil && v.Flash.Kind == "ok" {
			// Right after a write that succeeded: read your own write. The write was
			// applied by the leader; wait until this node has applied
			// everything committed (a linearizable read of the head) so
			// the page shows it.
			if _, err := c.client(r.WithContext(ctx)).Head(ctx, true); err != nil {
				c.log.Warn("console: read-your-writes barrier", "err", err)
			}
		}
		name, status := h(r.WithContext(ctx), s, v)
		if name == "" { // the handler redirected
			return
		}
		c.render(w, r, status, name, *v)
	}
}

// action wraps a POST handler: session, CSRF check, then a redirect
// (post/redirect/get) to where the handler says, with its message as a
// flash, so a reload never repeats the action.
func (c *Console) action(h func(r *http.Request, s Session) (to string, msg notice)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, tok, ok := c.session(w, r)
		if !ok {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, formBytesMax)
		if err := r.ParseForm(); err != nil {
			c.render(w, r, http.StatusBadRequest, "error", view{Title: "Bad request", Session: &s, Error: &notice{Text: "The form could not be read: " + err.Error()}})
			return
		}
		if !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(c.csrf(tok))) {
			c.render(w, r, http.StatusForbidden, "error", view{Title: "Form expired", Session: &s,
				Error: &notice{Text: "This form was not sent from your current session (it may be from before you signed in again). Go back, reload the page and try again."}})
			return
		}
		to, msg := h(r.WithContext(withToken(r.Context(), tok)), s)
		c.setFlash(w, r, msg)
		http.Redirect(w, r, to, http.StatusSeeOther)
	}
}

// session returns the signed-in user, or redirects to sign-in.
func (c *Console) session(w http.ResponseWriter, r *http.Request) (Session, string, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return Session{}, "", false
	}
	s, err := c.cfg.Verify(ck.Value)
	if err != nil {
		c.clearCookie(w, r, sessionCookie)
		c.setFlash(w, r, notice{Kind: "error", Text: "Your sign-in has expired or is no longer valid (" + err.Error() + "). Please sign in again."})
		http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return Session{}, "", false
	}
	return s, ck.Value, true
}

// optionalSession is the session if there is a valid one (for page chrome).
func (c *Console) optionalSession(r *http.Request) *Session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s, err := c.cfg.Verify(ck.Value)
	if err != nil {
		return nil
	}
	return &s
}

// csrf is the form token of a session: an HMAC of its bearer token under
// the process key, so it cannot be guessed by another site and changes
// when the user signs in again.
func (c *Console) csrf(token string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("csrf|" + token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:32]
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	c.setCookie(w, r, name, "", -1)
}

func (c *Console) setFlash(w http.ResponseWriter, r *http.Request, n notice) {
	if n.Text == "" {
		return
	}
	text := n.Text
	if len(text) > flashBytesMax {
		text = text[:flashBytesMax] + "…"
	}
	c.setCookie(w, r, flashCookie, url.QueryEscape(n.Kind+"|"+text), 60)
}

func (c *Console) takeFlash(w http.ResponseWriter, r *http.Request) *notice {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	c.clearCookie(w, r, flashCookie)
	raw, err := url.QueryUnescape(ck.Value)
	if err != nil {
		return nil
	}
	kind, text, _ := strings.Cut(raw, "|")
	if kind != "ok" {
		kind = "error"
	}
	return &notice{Kind: kind, Text: text}
}

// render executes a page template; a template error is logged and shown
// as a plain 500 (the page may be half written).
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	t, ok := c.pages[name]
	if !ok {
		c.log.Error("console: no template", "name", name)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	v.Agency, v.NodeID, v.Now = c.cfg.Agency, c.cfg.NodeID, c.cfg.Now()
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("console: rendering", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// tokenKey carries the user's token in a request context to the API client.
type tokenKey struct{}

func withToken(ctx context.Context, tok string) context.Context {
	return context.WithValue(ctx, tokenKey{}, tok)
}

// client is the API client acting as the request's user.
func (c *Console) client(r *http.Request) *protocol.Client {
	tok, _ := r.Context().Value(tokenKey{}).(string)
	return protocol.NewClient(apiBase, tok, c.api)
}

// newIdemKey is a fresh idempotency key for a form: rendered into the
// form, so a double submit or a retry after a timeout applies once.
func newIdemKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "console-" + base64.RawURLEncoding.EncodeToString(b[:])
}

// problemText turns an API error into a sentence for the user.
func problemText(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		msg := pe.Detail
		if msg == "" {
			msg = pe.Title
		}
		if pe.Field != "" && !strings.Contains(msg, pe.Field) {
			msg = pe.Field + ": " + msg
		}
		return msg
	}
	return err.Error()
}

// inProcess is an http.RoundTripper that serves a request with a handler in
// this process: the console's API calls never touch a socket.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	in := req.Clone(req.Context()) // a RoundTripper must not modify the caller's request
	in.RemoteAddr, in.RequestURI = "console", req.URL.RequestURI()
	t.h.ServeHTTP(rec, in)
	body := rec.body.Bytes()
	return &http.Response{StatusCode: rec.status, Status: http.StatusText(rec.status), Header: rec.header,
		Body: nopCloser{bytes.NewReader(body)}, ContentLength: int64(len(body)), Request: req,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

// recorder collects a handler's response in memory.
type recorder struct {
	header      http.Header
	status      int
	body        bytes.Buffer
	wroteHeader bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
