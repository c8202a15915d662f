package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/raaft/raaft/consensus"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// goodListing is a valid publish body with a fresh token.
func goodListing(t *testing.T) string {
	t.Helper()
	b, err := json.Marshal(protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestErrorClasses sends one request of every error class through raw
// HTTP and checks the problem: status, content type, type, code and the
// field it names; and that none of it reached the ledger.
func TestErrorClasses(t *testing.T) {
	e := newTestEnv(t)
	mine, theirs := e.publish(t), e.publishA2(t)
	size := e.size(t)
	key := map[string]string{"Idempotency-Key": "key-00000001"}
	good := goodListing(t)
	cases := []struct {
		name, method, path, body, role string
		hdr                            map[string]string
		status                         int
		problem, code, field           string
	}{
		{"no token", "GET", "/v1/listings", "", "", nil, 401, protocol.ProblemUnauthenticated, "", ""},
		{"wrong role for search", "GET", "/v1/listings", "", node.RoleFinance, nil, 403, protocol.ProblemForbidden, "", ""},
		{"wrong role for write", "POST", "/v1/listings", good, node.RoleAuditor, key, 403, protocol.ProblemForbidden, "", ""},
		{"operator may not write", "POST", "/v1/listings/" + mine + "/pause", "", node.RoleOperator, key, 403, protocol.ProblemForbidden, "", ""},
		{"unknown field", "POST", "/v1/listings", strings.Replace(good, `"token"`, `"name":"Jane","token"`, 1), node.RoleMatching, key, 400, protocol.ProblemInvalid, "", "name"},
		{"unknown nested field", "POST", "/v1/listings", strings.Replace(good, `"region"`, `"postcode":"M1 1AA","region"`, 1), node.RoleMatching, key, 400, protocol.ProblemInvalid, "", "postcode"},
		{"wrong type", "POST", "/v1/listings", strings.Replace(good, `"children_max":2`, `"children_max":"two"`, 1), node.RoleMatching, key, 400, protocol.ProblemInvalid, "", "attrs.children_max"},
		{"malformed JSON", "POST", "/v1/listings", `{"token":`, node.RoleMatching, key, 400, protocol.ProblemInvalid, "", ""},
		{"trailing data", "POST", "/v1/listings", good + `{}`, node.RoleMatching, key, 400, protocol.ProblemInvalid, "", ""},
		{"empty body", "POST", "/v1/listings", "", node.RoleMatching, key, 400, protocol.ProblemInvalid, "", ""},
		{"body on a body-less action", "POST", "/v1/listings/" + mine + "/pause", `{"reason":"x"}`, node.RoleMatching, key, 400, protocol.ProblemInvalid, "", "reason"},
		{"missing Idempotency-Key", "POST", "/v1/listings", good, node.RoleMatching, nil, 400, protocol.ProblemInvalid, "", "Idempotency-Key"},
		{"short Idempotency-Key", "POST", "/v1/listings", good, node.RoleMatching, map[string]string{"Idempotency-Key": "short"}, 400, protocol.ProblemInvalid, "", "Idempotency-Key"},
		{"oversize body", "POST", "/v1/listings", `{"token":"` + strings.Repeat("a", 20<<10) + `"}`, node.RoleMatching, key, 413, protocol.ProblemTooLarge, "", ""},
		{"personal data", "POST", "/v1/listings", strings.Replace(good, `"token":"`, `"token":"Jane Smith `, 1), node.RoleMatching, key, 422, protocol.ProblemPersonalData, string(ledger.CodePersonalData), ""},
		{"ledger rule", "POST", "/v1/reservations", `{"listing":"` + mine + `","child_tokens":["` + protocol.NewToken() + `"],"hold_days":400}`, node.RoleMatching, key, 400, protocol.ProblemInvalid, string(ledger.CodeInvalid), ""},
		{"another agency's listing", "POST", "/v1/listings/" + theirs + "/withdraw", "", node.RoleMatching, key, 403, protocol.ProblemUnauthorised, string(ledger.CodeUnauthorised), ""},
		{"bad query value", "GET", "/v1/listings?children=two", "", node.RoleMatching, nil, 400, protocol.ProblemInvalid, "", "children"},
		{"query value outside the enumeration", "GET", "/v1/listings?region=atlantis", "", node.RoleMatching, nil, 400, protocol.ProblemInvalid, "", "region"},
		{"unknown query parameter", "GET", "/v1/listings?colour=blue", "", node.RoleMatching, nil, 400, protocol.ProblemInvalid, "", "colour"},
		{"unknown need", "GET", "/v1/listings?need.hair=high", "", node.RoleMatching, nil, 400, protocol.ProblemInvalid, "", "need.hair"},
		{"bad level", "GET", "/v1/listings?ethnicity_min=very", "", node.RoleMatching, nil, 400, protocol.ProblemInvalid, "", "ethnicity_min"},
		{"bad consistency", "GET", "/v1/head?consistency=strong", "", node.RoleAuditor, nil, 400, protocol.ProblemInvalid, "", "consistency"},
		{"parameter on a route without any", "GET", "/v1/head?size=3", "", node.RoleAuditor, nil, 400, protocol.ProblemInvalid, "", "size"},
		{"parameter on a write", "POST", "/v1/listings?dry_run=true", good, node.RoleMatching, key, 400, protocol.ProblemInvalid, "", "dry_run"},
		{"bad reservation status", "GET", "/v1/reservations?status=pending", "", node.RoleMatching, nil, 400, protocol.ProblemInvalid, "", "status"},
		{"amount on a dispute", "POST", "/v1/fees/obligations/1/dispute", `{"reason":"not_placed","amount_pence":5000}`, node.RoleFinance, key, 400, protocol.ProblemInvalid, "", "amount_pence"},
		{"reason on an invoice", "POST", "/v1/fees/obligations/1/invoice", `{"amount_pence":5000,"reason":"x"}`, node.RoleFinance, key, 400, protocol.ProblemInvalid, "", "reason"},
		{"amount on a netting leg payment", "POST", "/v1/fees/netting/1/legs/0/pay", `{"reference":"r1","amount_pence":1}`, node.RoleFinance, key, 400, protocol.ProblemInvalid, "", "amount_pence"},
		{"bad path id", "POST", "/v1/reservations/abc/extend", "", node.RoleMatching, key, 400, protocol.ProblemInvalid, "", "id"},
		{"missing proof seq", "GET", "/v1/proofs/inclusion?size=2", "", node.RoleAuditor, nil, 400, protocol.ProblemInvalid, "", "seq"},
		{"missing listing", "GET", "/v1/listings/" + protocol.NewToken(), "", node.RoleMatching, nil, 404, protocol.ProblemNotFound, "", ""},
		{"missing listing's history", "GET", "/v1/listings/" + protocol.NewToken() + "/history", "", node.RoleAuditor, nil, 404, protocol.ProblemNotFound, "", ""},
		{"missing reservation", "GET", "/v1/reservations/999", "", node.RoleMatching, nil, 404, protocol.ProblemNotFound, "", ""},
		{"missing entry", "GET", "/v1/entries/999", "", node.RoleAuditor, nil, 404, protocol.ProblemNotFound, "", ""},
		{"proof past the head", "GET", "/v1/proofs/inclusion?seq=99", "", node.RoleAuditor, nil, 404, protocol.ProblemNotFound, "", ""},
		{"reserving a missing listing", "POST", "/v1/reservations", `{"listing":"` + protocol.NewToken() + `","child_tokens":["` + protocol.NewToken() + `"]}`, node.RoleMatching, key, 404, protocol.ProblemNotFound, string(ledger.CodeNotFound), ""},
		{"no such route", "GET", "/v1/nothing", "", node.RoleMatching, nil, 404, protocol.ProblemNotFound, "", ""},
		{"no such method", "DELETE", "/v1/listings/" + mine, "", node.RoleMatching, nil, 405, protocol.ProblemMethodNotAllowed, "", ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := c.hdr
			if hdr != nil { // a fresh key per case: one case's answer must not be replayed to another
				hdr = map[string]string{"Idempotency-Key": fmt.Sprintf("%s-%03d", hdr["Idempotency-Key"], i)}
				if c.name == "short Idempotency-Key" {
					hdr = c.hdr
				}
			}
			r := e.do(t, c.method, c.path, c.body, c.role, hdr)
			var p protocol.Problem
			if err := json.Unmarshal([]byte(r.body), &p); err != nil {
				t.Fatalf("%d %s: not JSON: %v", r.status, r.body, err)
			}
			code := c.code
			if code == "" {
				code = c.problem
			}
			switch {
			case r.status != c.status || p.Status != c.status:
				t.Fatalf("status %d (body %d); want %d: %s", r.status, p.Status, c.status, r.body)
			case r.header.Get("Content-Type") != "application/problem+json":
				t.Fatalf("content type %q", r.header.Get("Content-Type"))
			case p.Type != protocol.ProblemTypeBase+c.problem || p.Code != code || p.Title == "":
				t.Fatalf("type %q code %q title %q; want %s %s", p.Type, p.Code, p.Title, c.problem, code)
			case p.Field != c.field:
				t.Fatalf("field %q; want %q (%s)", p.Field, c.field, p.Detail)
			case p.Detail == "":
				t.Fatal("no detail")
			}
			if c.status == 405 && r.header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
	if got := e.size(t); got != size {
		t.Fatalf("bad input reached the ledger: size %d, was %d", got, size)
	}
}

// TestConflictNamesHoldExpiry: the second hold on an adopter is a definite
// conflict, and the client's error says when the first hold ends.
func TestConflictNamesHoldExpiry(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	tok := e.publish(t)
	c := e.client(node.RoleMatching)
	first, err := c.Reserve(ctx, protocol.ReserveRequest{Listing: tok, ChildTokens: []string{protocol.NewToken()}}, "")
	if err != nil {
		t.Fatal(err)
	}
	held, _ := e.l.Reservation(first.ID)
	_, err = c.Reserve(ctx, protocol.ReserveRequest{Listing: tok, ChildTokens: []string{protocol.NewToken()}}, "")
	pe := expectProblem(t, err, http.StatusConflict, string(ledger.CodeConflict))
	if pe.HoldExpiresMs != held.ExpiresMs || pe.HoldExpiresMs == 0 {
		t.Fatalf("hold_expires_ms %d; the hold ends at %d", pe.HoldExpiresMs, held.ExpiresMs)
	}
	if pe.Code != string(ledger.CodeConflict) {
		t.Fatalf("code %q", pe.Code)
	}
}

// TestReplicationOutcomes: the three outcomes of a write stay apart. No
// leader is 503 (nothing written), a deadline is 504 (unknown), anything
// else is a 500 that tells the user nothing and is logged.
func TestReplicationOutcomes(t *testing.T) {
	e := newTestEnv(t)
	cases := []struct {
		name    string
		err     error
		status  int
		problem string
	}{
		{"no leader", fmt.Errorf("forward: %w", consensus.ErrNoLeader), 503, protocol.ProblemNoLeader},
		{"deadline", fmt.Errorf("apply: %w", context.DeadlineExceeded), 504, protocol.ProblemOutcomeUnknown},
		{"leadership lost", consensus.ErrUnknownOutcome, 504, protocol.ProblemOutcomeUnknown},
		{"shutting down", consensus.ErrClosed, 503, protocol.ProblemNotReady},
		{"unexpected", errors.New("disk on fire at /var/lib/raaft"), 500, protocol.ProblemInternal},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.rep.failNext(c.err)
			r := e.do(t, "POST", "/v1/listings", goodListing(t), node.RoleMatching, map[string]string{"Idempotency-Key": fmt.Sprintf("outcome-%04d", i)})
			var p protocol.Problem
			_ = json.Unmarshal([]byte(r.body), &p)
			if r.status != c.status || p.Type != protocol.ProblemTypeBase+c.problem {
				t.Fatalf("%d %s; want %d %s", r.status, r.body, c.status, c.problem)
			}
			if c.status == 500 && (p.Detail != "" || strings.Contains(r.body, "disk")) {
				t.Fatalf("an internal error leaked its detail: %s", r.body)
			}
		})
	}
	if !strings.Contains(e.logs.String(), "disk on fire") {
		t.Fatalf("the internal error was not logged: %s", e.logs.String())
	}
	if e.size(t) != 1 {
		t.Fatal("a failed proposal reached the ledger")
	}
}
