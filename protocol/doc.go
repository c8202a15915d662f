// Package protocol is what crosses the wire between raaft's HTTPS API and
// its clients: request and response types, the problem (error) types, and
// the Go client used by the CLI and tests. Errors come back as *Error with
// the same closed Code the ledger uses, so callers compare codes, never
// message strings.
package protocol
