package console

import (
	"github.com/raaft/raaft/protocol"
	"net/http"
	"slices"
	"strings"
)

// signinData is the sign-in page's model.
type signinData struct {
	Next     string
	OIDC     bool
	DevRoles []string // one-click roles when the dev issuer is on
}

func (c *Console) signinData(next string) *signinData {
	d := &signinData{Next: safeNext(next), OIDC: c.oidc != nil}
	if c.cfg.DevSignIn != nil {
		d.DevRoles = protocol.Roles
	}
	return d
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "signin", view{Title: "Sign in", Flash: c.takeFlash(w, r), Data: c.signinData(r.URL.Query().Get("next"))})
}

// signin accepts a pasted token: checked like every API call, then kept in
// the session cookie.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, tokenBytesMax+formBytesMax)
	if err := r.ParseForm(); err != nil {
		c.render(w, r, http.StatusBadRequest, "signin", view{Title: "Sign in", Error: &notice{Text: "The form could not be read: " + err.Error()}, Data: c.signinData("/")})
		return
	}
	next := r.PostForm.Get("next")
	tok := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(r.PostForm.Get("token")), "Bearer "))
	if tok == "" {
		c.render(w, r, http.StatusBadRequest, "signin", view{Title: "Sign in", Error: &notice{Text: "Paste the token your agency's identity provider gave you."}, Data: c.signinData(next)})
		return
	}
	if len(tok) > tokenBytesMax {
		c.render(w, r, http.StatusBadRequest, "signin", view{Title: "Sign in", Error: &notice{Text: "That token is too long to be a raaft token."}, Data: c.signinData(next)})
		return
	}
	c.startSession(w, r, tok, next)
}

// signinDev signs in as a demo user with one role (dev issuer only).
func (c *Console) signinDev(w http.ResponseWriter, r *http.Request) {
	if c.cfg.DevSignIn == nil {
		c.render(w, r, http.StatusNotFound, "error", view{Title: "Sign in", Error: &notice{Text: "One-click sign-in is only for local trials (auth.dev_issuer)."}})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, formBytesMax)
	if err := r.ParseForm(); err != nil || !slices.Contains(protocol.Roles, r.PostForm.Get("role")) {
		c.render(w, r, http.StatusBadRequest, "signin", view{Title: "Sign in", Error: &notice{Text: "Choose a role: matching, finance, operator or auditor."}, Data: c.signinData("/")})
		return
	}
	tok, err := c.cfg.DevSignIn(r.PostForm.Get("role"))
	if err != nil {
		c.log.Error("console: dev sign-in", "err", err)
		c.render(w, r, http.StatusInternalServerError, "signin", view{Title: "Sign in", Error: &notice{Text: "The dev issuer could not issue a token."}, Data: c.signinData("/")})
		return
	}
	c.startSession(w, r, tok, r.PostForm.Get("next"))
}

func (c *Console) startSession(w http.ResponseWriter, r *http.Request, tok, next string) {
	s, err := c.cfg.Verify(tok)
	if err != nil {
		c.render(w, r, http.StatusUnauthorized, "signin", view{Title: "Sign in", Error: &notice{Text: "This node does not accept that token: " + err.Error()}, Data: c.signinData(next)})
		return
	}
	if len(s.Roles) == 0 {
		c.render(w, r, http.StatusForbidden, "signin", view{Title: "Sign in", Error: &notice{Text: "That token carries no raaft role (matching, finance, operator or auditor). Ask your IT team to grant one."}, Data: c.signinData(next)})
		return
	}
	c.setCookie(w, r, sessionCookie, tok, 0)
	to := safeNext(next)
	if to == "/" {
		to = landing(s)
	}
	c.setFlash(w, r, notice{"ok", "Signed in as " + s.User + " (" + strings.Join(s.Roles, ", ") + ") for " + c.cfg.Agency + "."})
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// landing is the first page for a user's roles.
func landing(s Session) string {
	switch {
	case s.has(protocol.RoleMatching):
		return "/search"
	case s.has(protocol.RoleFinance):
		return "/fees"
	default:
		return "/federation"
	}
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	c.clearCookie(w, r, sessionCookie)
	c.setFlash(w, r, notice{"ok", "Signed out."})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
