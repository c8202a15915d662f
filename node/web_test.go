package node_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/raaft/raaft/config"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// webEnv is the web console of a test node (testEnv) on an httptest
// server, and a browser-like client: a cookie jar, redirects followed.
type webEnv struct {
	*testEnv
	web string
}

func newWebEnv(t *testing.T, oidc config.OIDC, extraKeys ...jwk.Key) *webEnv {
	t.Helper()
	e := newTestEnv(t)
	keys := e.iss.Keys()
	for _, k := range extraKeys {
		if err := keys.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	auth, err := node.NewAuthenticator(node.AuthConfig{Issuer: envIssuer, Audience: envAudience, Keys: keys, Skew: 30 * time.Second, Agency: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := node.NewWebHandler(node.WebConfig{API: e.srv, Auth: auth, Dev: e.iss, OIDC: oidc, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &webEnv{testEnv: e, web: hs.URL}
}

// page is what a browser-like request ended at.
type page struct {
	status int
	path   string
	body   string
	header http.Header
}

// browser is one user's cookie jar.
type browser struct {
	t  *testing.T
	hc *http.Client
	w  *webEnv
}

func (w *webEnv) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, w: w, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	resp, err := b.hc.Get(b.w.web + path)
	return b.read(resp, err)
}

func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	resp, err := b.hc.PostForm(b.w.web+path, form)
	return b.read(resp, err)
}

func (b *browser) read(resp *http.Response, err error) page {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, path: resp.Request.URL.RequestURI(), body: string(body), header: resp.Header}
}

// signIn pastes a token on the sign-in page.
func (b *browser) signIn(tok string) page {
	b.t.Helper()
	return b.post("/signin", url.Values{"token": {tok}})
}

var (
	csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	idemRe = regexp.MustCompile(`name="idem" value="([^"]+)"`)
)

// form returns the csrf and a fresh idempotency key of the forms on a page.
func (p page) form(t *testing.T) url.Values {
	t.Helper()
	c, i := csrfRe.FindStringSubmatch(p.body), idemRe.FindStringSubmatch(p.body)
	if c == nil || i == nil {
		t.Fatalf("%s has no console form:\n%s", p.path, p.body)
	}
	return url.Values{"csrf": {c[1]}, "idem": {i[1]}}
}

func (p page) must(t *testing.T, status int, path string, texts ...string) {
	t.Helper()
	if p.status != status || (path != "" && !strings.HasPrefix(p.path, path)) {
		t.Fatalf("got %d at %s; want %d at %s\n%s", p.status, p.path, status, path, p.body)
	}
	for _, s := range texts {
		if !strings.Contains(p.body, s) {
			t.Fatalf("%s does not say %q:\n%s", p.path, s, p.body)
		}
	}
}

func TestWebSignIn(t *testing.T) {
	w := newWebEnv(t, config.OIDC{})
	b := w.browser(t)
	b.get("/").must(t, 200, "/signin", "Access token", "Local trial") // dev issuer on: one-click sign-in offered
	b.signIn("").must(t, 400, "/signin", "Paste the token")
	b.signIn("not-a-jwt").must(t, 401, "/signin", "does not accept that token")
	noRoles, _ := w.iss.Issue("someone", []string{}, time.Hour, time.Now())
	b.signIn(noRoles).must(t, 403, "/signin", "carries no raaft role")
	other, _ := node.NewDevIssuer(ledgertest.Key("other-issuer"), envIssuer, envAudience, "a1")
	tok, _ := other.Issue("x", []string{"matching"}, time.Hour, time.Now())
	b.signIn(tok).must(t, 401, "/signin", "does not accept that token")
	// the right token lands on the page for the role, with a message
	b.signIn(w.tokens[node.RoleMatching]).must(t, 200, "/search", "Signed in as u", "adopters match")
	b.post("/signout", nil).must(t, 200, "/signin", "Signed out")
	b.get("/holds").must(t, 200, "/signin?next=%2Fholds")
	// the next parameter is kept through sign-in, and only for local paths
	b.post("/signin", url.Values{"token": {w.tokens[node.RoleOperator]}, "next": {"/federation"}}).must(t, 200, "/federation", "a1-node")
	b.post("/signin", url.Values{"token": {w.tokens[node.RoleOperator]}, "next": {"//evil.example/x"}}).must(t, 200, "/federation")
	// one-click sign-in (dev issuer)
	b2 := w.browser(t)
	b2.post("/signin/dev", url.Values{"role": {"finance"}}).must(t, 200, "/fees", "Signed in as", "We owe")
	b2.post("/signin/dev", url.Values{"role": {"root"}}).must(t, 400, "/signin", "Choose a role")
	// an expired session sends the user back to sign in, saying why
	b3 := w.browser(t)
	short, _ := w.iss.Issue(envSubject, []string{"matching"}, time.Second, time.Now().Add(-time.Minute))
	u, _ := url.Parse(w.web)
	b3.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "raaft_session", Value: short, Path: "/"}})
	b3.get("/search").must(t, 200, "/signin", "expired or is no longer valid")
}

func TestWebMatchingJourney(t *testing.T) {
	w := newWebEnv(t, config.OIDC{})
	ctx := context.Background()
	theirs, mine := w.publishA2(t), w.publish(t)
	b := w.browser(t)
	b.signIn(w.tokens[node.RoleMatching])

	// search: filters reach the API, bad ones are explained, not dropped
	b.get("/search?agency=a2&children=1").must(t, 200, "/search", "<strong>1</strong> adopter matches", theirs)
	b.get("/search?child_age_years=abc").must(t, 400, "/search", "child_age_years")
	b.get("/search?need.trauma_attachment=none&region=north_east&status=available").must(t, 200, "/search", "adopters match")

	// listing, reserve (and a double submit of the same form applies once)
	lp := b.get("/listings/" + theirs)
	lp.must(t, 200, "/listings/", "Reserve this adopter", "listing.publish", "default of 28 days; at most 28 days, then one extension of 28 days", `max="28"`)
	long := lp.form(t)
	long.Set("child_tokens", protocol.NewToken())
	long.Set("hold_days", "90")
	long.Set("idem", "console-too-long-hold")
	b.post("/listings/"+theirs+"/reserve", long).must(t, 200, "/listings/", "Not done (reserve)", "hold_days")
	f := lp.form(t)
	f.Set("child_tokens", protocol.NewToken())
	f["harder_to_place"] = []string{"age_5_plus", "sibling_group"}
	b.post("/listings/"+theirs+"/reserve", f).must(t, 200, "/holds", "Reserved: hold", "left", "Confirm match")
	before := w.size(t)
	b.post("/listings/"+theirs+"/reserve", f).must(t, 200, "/holds", "Reserved: hold")
	if w.size(t) != before {
		t.Fatalf("a double-submitted reserve form was applied twice (size %d -> %d)", before, w.size(t))
	}
	b.get("/listings/"+theirs).must(t, 200, "", "Your agency holds this adopter")

	// a form without this session's csrf token is refused
	forged := url.Values{"csrf": {"x"}, "idem": {"console-forged-key-1"}, "child_tokens": {protocol.NewToken()}}
	b.post("/listings/"+mine+"/reserve", forged).must(t, 403, "", "not sent from your current session")

	// bad input is explained and nothing reaches the ledger
	before = w.size(t)
	bad := lp.form(t)
	bad.Set("child_tokens", "")
	b.post("/listings/"+mine+"/reserve", bad).must(t, 200, "/listings/", "Enter the child")
	bad.Set("child_tokens", protocol.NewToken())
	bad.Set("children", "2")
	b.post("/listings/"+mine+"/reserve", bad).must(t, 200, "/listings/", "one reference per child")
	bad.Set("children", "1")
	bad.Set("child_tokens", "jane.smith@example.org")
	b.post("/listings/"+mine+"/reserve", bad).must(t, 200, "/listings/", "Not done (reserve)")
	if w.size(t) != before {
		t.Fatalf("refused forms reached the ledger (size %d -> %d)", before, w.size(t))
	}

	// someone else's hold: the page says who and until when
	res, err := w.rep.LocalReplicator.Propose(ctx, w.fed.Agencies[1].Sign(ledger.TypeReserve, "a2-hold-1",
		ledger.ReservePayload{Listing: mine, ChildTokens: []string{protocol.NewToken()}}))
	if err != nil || !res.Accepted {
		t.Fatalf("a2 reserve: %v %+v", err, res.Rejection)
	}
	b.get("/listings/"+mine).must(t, 200, "", "Held by <strong>a2</strong>", "left")
	stale := lp.form(t) // a page loaded before the hold
	stale.Set("idem", "console-stale-page-key")
	stale.Set("child_tokens", protocol.NewToken())
	b.post("/listings/"+mine+"/reserve", stale).must(t, 200, "/listings/", "Someone else holds this adopter until")

	// our holds: extend, confirm, place
	hp := b.get("/holds")
	id := regexp.MustCompile(`data-hold="(\d+)"`).FindStringSubmatch(hp.body)[1]
	b.post("/holds/"+id+"/extend", hp.form(t)).must(t, 200, "/holds", "Extended hold "+id)
	b.post("/holds/"+id+"/extend", b.get("/holds").form(t)).must(t, 200, "/holds", "Not done (extend)")
	b.post("/holds/"+id+"/confirm", b.get("/holds").form(t)).must(t, 200, "/holds", "Match confirmed for hold "+id, "Record placement")
	pf := b.get("/holds").form(t)
	b.post("/holds/"+id+"/place", pf).must(t, 200, "/holds", "Move-in date")
	pf.Set("move_in_date", w.clock.Now().Format(time.DateOnly))
	b.post("/holds/"+id+"/place", pf).must(t, 200, "/holds", "Placement recorded for hold "+id, "Ended and placed")
	b.post("/holds/"+id+"/teleport", pf).must(t, 200, "/holds", "Unknown action")

	// our own listing: pause and resume
	op := b.get("/listings/" + mine)
	op.must(t, 200, "", "Your agency")
	third := w.publish(t)
	tp := b.get("/listings/" + third)
	b.post("/listings/"+third+"/pause", tp.form(t)).must(t, 200, "/listings/", "Done: pause", "paused")
	b.post("/listings/"+third+"/resume", b.get("/listings/"+third).form(t)).must(t, 200, "/listings/", "Done: resume", "available")

	// every listing read through the console is in the local access log
	if n := strings.Count(w.alog.String(), `"operation":"getListing"`); n < 5 {
		t.Fatalf("access log has %d getListing lines; the console's reads must be logged", n)
	}
}

func TestWebRolesAndPages(t *testing.T) {
	w := newWebEnv(t, config.OIDC{})
	fin := w.browser(t)
	fin.signIn(w.tokens[node.RoleFinance]).must(t, 200, "/fees", "We owe", "Owed to us", "Netting plan", "None for this year")
	fin.get("/search").must(t, 403, "/search", "needs one of the roles")
	fin.get("/fees?year=20x6").must(t, 400, "/fees", "expected a year")
	resp := fin.get("/fees/statement.csv?year=2026")
	if resp.status != 200 || !strings.HasPrefix(resp.header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(resp.header.Get("Content-Disposition"), "attachment") || !strings.Contains(resp.body, ",") {
		t.Fatalf("statement download: %d %v\n%s", resp.status, resp.header, resp.body)
	}
	fin.get("/fees/statement.csv?year=next").must(t, 400, "", "expected a year")
	fin.post("/fees/obligations/1/invoice", url.Values{"csrf": {"x"}}).must(t, 403, "", "not sent from your current session")

	match := w.browser(t)
	match.signIn(w.tokens[node.RoleMatching])
	match.get("/fees").must(t, 403, "/fees", "needs one of the roles")

	op := w.browser(t)
	op.signIn(w.tokens[node.RoleOperator]).must(t, 200, "/federation", "a1-node", "Tree head", "Merkle root")
	op.get("/no-such-page").must(t, 404, "", "There is no page at /no-such-page")
	op.get("/listings/nope").must(t, 404, "", "not")

	// assets are embedded and served; the API is still JSON at /v1; the API
	// reads no cookies (a session cookie alone is not a credential there)
	css := op.get("/static/console.css")
	if css.status != 200 || !strings.Contains(css.header.Get("Content-Type"), "text/css") {
		t.Fatalf("console.css: %d %s", css.status, css.header.Get("Content-Type"))
	}
	api := op.get("/v1/head")
	if api.status != 401 || !strings.Contains(api.header.Get("Content-Type"), "problem+json") {
		t.Fatalf("/v1/head with only the console cookie: %d %s; want a 401 problem", api.status, api.body)
	}
	if h := op.get("/federation").header.Get("Content-Security-Policy"); !strings.Contains(h, "default-src 'self'") {
		t.Fatalf("pages need a Content-Security-Policy; got %q", h)
	}
}

// testIdP is an OpenID provider for the console's code flow: it signs
// the user in at once, checks the PKCE verifier, and returns an ID token
// whose nonce a test may spoil.
type testIdP struct {
	srv       *httptest.Server
	key       jwk.Key
	mu        sync.Mutex
	challenge string
	nonce     string
	badNonce  bool
}

func newTestIdP(t *testing.T) *testIdP {
	p := &testIdP{}
	k, err := jwk.Import(ledgertest.Key("idp"))
	if err != nil {
		t.Fatal(err)
	}
	_ = k.Set(jwk.KeyIDKey, "idp-1")
	_ = k.Set(jwk.AlgorithmKey, jwa.EdDSA())
	p.key = k
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p.mu.Lock()
		p.challenge, p.nonce = q.Get("code_challenge"), q.Get("nonce")
		p.mu.Unlock()
		if q.Get("code_challenge_method") != "S256" || q.Get("response_type") != "code" || !strings.Contains(q.Get("scope"), "openid") {
			http.Error(w, "bad authorization request", 400)
			return
		}
		http.Redirect(w, r, q.Get("redirect_uri")+"?code=code-1&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		p.mu.Lock()
		ok := base64.RawURLEncoding.EncodeToString(sum[:]) == p.challenge && r.PostForm.Get("code") == "code-1"
		nonce := p.nonce
		if p.badNonce {
			nonce = "other"
		}
		p.mu.Unlock()
		if !ok {
			http.Error(w, `{"error":"invalid_grant"}`, 400)
			return
		}
		tok, _ := jwt.NewBuilder().Issuer(envIssuer).Audience([]string{envAudience}).Subject("oidc-user").
			IssuedAt(time.Now()).Expiration(time.Now().Add(time.Hour)).Claim("roles", []string{"matching"}).Claim("nonce", nonce).Build()
		signed, _ := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), p.key))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"opaque-access","token_type":"Bearer","id_token":"`+string(signed)+`"}`)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func TestWebOIDC(t *testing.T) {
	idp := newTestIdP(t)
	pub, err := jwk.PublicKeyOf(idp.key)
	if err != nil {
		t.Fatal(err)
	}
	// The console's address is known only once it listens, so the
	// registered redirect is a placeholder the browser below rewrites.
	w := newWebEnv(t, config.OIDC{ClientID: "raaft-a1", AuthURL: idp.srv.URL + "/authorize", TokenURL: idp.srv.URL + "/token",
		RedirectURL: "http://127.0.0.1:1/signin/callback"}, pub)
	b := w.browser(t)
	b.hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host == "127.0.0.1:1" {
			u, _ := url.Parse(w.web)
			req.URL.Scheme, req.URL.Host, req.Host = u.Scheme, u.Host, u.Host
		}
		return nil
	}
	b.get("/signin").must(t, 200, "/signin", "Sign in with your agency")
	b.get("/signin/oidc?next=/holds").must(t, 200, "/signin/callback", "You are signed in", `href="/holds"`)
	b.get("/holds").must(t, 200, "/holds", "holds no adopters")

	// a spoilt nonce, a wrong state and a missing flow cookie are refused
	idp.mu.Lock()
	idp.badNonce = true
	idp.mu.Unlock()
	b2 := w.browser(t)
	b2.hc.CheckRedirect = b.hc.CheckRedirect
	b2.get("/signin/oidc").must(t, 400, "/signin/callback", "nonce does not match")
	b2.get("/signin/callback?code=code-1&state=wrong").must(t, 400, "", "took too long or was started in another browser")
	b2.get("/signin/callback?error=access_denied").must(t, 400, "", "refused the sign-in: access_denied")
}
