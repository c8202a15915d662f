// Package protocol is what crosses the wire between raaft's HTTPS API and
// its clients: request and response types, the problem (error) types, the
// search parameters, and the Go client used by the CLI and tests.
//
// # Errors
//
// A node answers every failure with an RFC 9457 application/problem+json
// body whose type is ProblemTypeBase plus one of the Problem* names. The
// node maps each error to exactly one of them in one table (node/errors.go);
// the Client maps the type back and returns an *Error, whose Code is the
// ledger's rejection code for a ledger refusal (ledger.CodeConflict, ...)
// and the problem name otherwise, so callers compare codes, never message
// strings:
//
//	var pe *protocol.Error
//	if errors.As(err, &pe) && pe.Code == string(ledger.CodeConflict) {
//		// held by someone else until pe.HoldExpiresMs
//	}
//
// # Writes and retries
//
// Every write carries an Idempotency-Key. The client picks a random one when
// the caller gives none, and retries a write whose outcome it cannot know
// (503, 504, connection failure) with the same key, at most
// writeAttemptsMax times and never past its context: the ledger applies a
// command at most once per key, so a retry returns the first result.
// Reads are not retried.
package protocol
