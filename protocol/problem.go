package protocol

import (
	"fmt"
	"net/http"
	"strings"
)

// ProblemTypeBase prefixes every problem type URI (RFC 9457 §3.1.1): a
// problem's type is ProblemTypeBase + one of the Problem* names.
const ProblemTypeBase = "https://raaft.dev/problems/"

// Problem names: the closed set of problem types a node returns. The names
// of ledger refusals equal the ledger's rejection codes (ledger.Code), so a
// client compares Error.Code with them directly. The node's error table
// (node/errors.go) gives each its HTTP status; these names never change.
const (
	// ProblemInvalid (400): malformed JSON, unknown field, wrong type, bad
	// query parameter, missing Idempotency-Key, or a ledger rule the command
	// breaks (ledger.CodeInvalid).
	ProblemInvalid = "invalid"
	// ProblemUnauthenticated (401): no bearer token, or one that does not verify.
	ProblemUnauthenticated = "unauthenticated"
	// ProblemForbidden (403): the token's role may not call this operation,
	// or the token is for another agency.
	ProblemForbidden = "forbidden"
	// ProblemUnauthorised (403): the ledger refused because the agency may
	// not do this, e.g. edit another agency's listing (ledger.CodeUnauthorised).
	ProblemUnauthorised = "unauthorised"
	// ProblemNotFound (404): no such listing, reservation, entry or route
	// (ledger.CodeNotFound).
	ProblemNotFound = "not_found"
	// ProblemMethodNotAllowed (405): the path exists, the method does not.
	ProblemMethodNotAllowed = "method_not_allowed"
	// ProblemConflict (409): the state forbids it now, e.g. the adopter is
	// already held; HoldExpiresMs says until when (ledger.CodeConflict).
	ProblemConflict = "conflict"
	// ProblemTooLarge (413): the request body is over the node's limit.
	ProblemTooLarge = "too_large"
	// ProblemPersonalData (422): a field looks like a personal identifier
	// (ledger.CodePersonalData).
	ProblemPersonalData = "personal_data"
	// ProblemIdempotencyKeyReused (422): the Idempotency-Key was already
	// used by this user for this operation with a different request.
	ProblemIdempotencyKeyReused = "idempotency_key_reused"
	// ProblemNoLeader (503): no leader was reachable; nothing was written.
	ProblemNoLeader = "no_leader"
	// ProblemNotReady (503): the node is starting, catching up or stopping.
	ProblemNotReady = "not_ready"
	// ProblemLedgerDiverged (503): this node's ledger differs from the one
	// more than half of the agencies signed; it serves nothing until it is
	// rebuilt. Ask another agency's node, or wait for the repair.
	ProblemLedgerDiverged = "ledger_diverged"
	// ProblemOutcomeUnknown (504): the write may or may not have been
	// applied; retry with the same Idempotency-Key.
	ProblemOutcomeUnknown = "outcome_unknown"
	// ProblemInternal (500): logged on the node; no detail is shown.
	ProblemInternal = "internal"
)

// Problem is an application/problem+json body (RFC 9457) with raaft's
// extension members code, field and hold_expires_ms.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Code is the ledger's rejection code for a ledger refusal, else the
	// problem name (the last segment of Type).
	Code string `json:"code,omitempty"`
	// Field names the offending input: a JSON field, query parameter,
	// path parameter or header.
	Field string `json:"field,omitempty"`
	// HoldExpiresMs is set on a conflict with an active hold: when it ends
	// (ledger time, ms since the Unix epoch).
	HoldExpiresMs int64 `json:"hold_expires_ms,omitempty"`
}

// ProblemName returns the problem name of a type URI (ProblemConflict for
// "https://raaft.dev/problems/conflict"), or "" if the type is not one of
// raaft's (a proxy's error page, say).
func ProblemName(typeURI string) string {
	name, ok := strings.CutPrefix(typeURI, ProblemTypeBase)
	if !ok || name == "" || strings.Contains(name, "/") {
		return ""
	}
	return name
}

// Error is a problem returned by a node, as a Go error. Compare Code with
// the ledger's codes or the Problem* names; never parse the message.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Type is the problem type URI; Title its summary; Detail this
	// occurrence's explanation (empty for internal errors).
	Type, Title, Detail string
	// Code is the ledger's rejection code for a ledger refusal, else the
	// problem name; "" when the response was not a raaft problem.
	Code string
	// HoldExpiresMs is when the hold that caused a conflict ends (ms since
	// the Unix epoch, ledger time), or 0.
	HoldExpiresMs int64
	// Field names the offending input, when one is to blame.
	Field string
}

// Error formats the problem for people: title, status and detail.
func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s (%d): %s", e.Title, e.Status, e.Detail)
	}
	return fmt.Sprintf("%s (%d)", e.Title, e.Status)
}

// errorOf turns a decoded problem body and the response status into an
// *Error, deriving Code from the type when the body carries none.
func errorOf(status int, p Problem) *Error {
	e := &Error{Status: status, Type: p.Type, Title: p.Title, Detail: p.Detail, Code: p.Code, Field: p.Field, HoldExpiresMs: p.HoldExpiresMs}
	if e.Code == "" {
		e.Code = ProblemName(p.Type)
	}
	if e.Title == "" {
		e.Title = http.StatusText(status)
	}
	return e
}
