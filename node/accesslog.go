package node

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// AccessRecord is one line of the access log: who called which operation,
// when, with what query, and the status they got. The log is local to the
// node (ServerConfig.AccessLog), never on the ledger: it is how an agency
// answers "who looked at this adopter's listing?" (DESIGN, Data protection).
type AccessRecord struct {
	// Time is the node's clock, RFC 3339 with nanoseconds, UTC.
	Time string `json:"time"`
	// Node is the node that served the call, when configured.
	Node string `json:"node,omitempty"`
	// User is the caller's pseudonym (the ledger's acting user), never the
	// token's subject.
	User string `json:"user"`
	// Role is the role the call was allowed under: the first of the
	// operation's roles the caller holds.
	Role string `json:"role"`
	// Operation is the route's OperationID (searchListings, getListing, ...).
	Operation string `json:"operation"`
	// Query holds the path parameters (token, id, seq) and the query
	// parameters of the call.
	Query map[string][]string `json:"query"`
	// Status is the HTTP status the call got.
	Status int `json:"status"`
}

// accessLog appends AccessRecords as JSON lines, one Write per line,
// serialised so lines never interleave.
type accessLog struct {
	mu   sync.Mutex
	w    io.Writer
	now  func() time.Time
	node string
}

// record writes the line of one call.
func (a *accessLog) record(r *http.Request, rt Route, p Principal, status int) error {
	rec := AccessRecord{
		Time: a.now().UTC().Format(time.RFC3339Nano), Node: a.node, User: p.User, Role: p.roleFor(rt.Roles),
		Operation: rt.OperationID, Query: accessQuery(r, rt.Pattern), Status: status,
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, err = a.w.Write(append(line, '\n'))
	return err
}

// accessQuery gathers the call's path parameters (from the route pattern's
// {names}) and its query parameters (already checked against the route's).
func accessQuery(r *http.Request, pattern string) map[string][]string {
	q := map[string][]string{}
	if v, err := url.ParseQuery(r.URL.RawQuery); err == nil {
		q = v
	}
	for rest := pattern; ; {
		_, after, ok := strings.Cut(rest, "{")
		if !ok {
			break
		}
		name, tail, _ := strings.Cut(after, "}")
		q[name] = []string{r.PathValue(name)}
		rest = tail
	}
	return q
}
