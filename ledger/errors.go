package ledger

import (
	"errors"
	"fmt"
)

// Code is the closed set of reasons the ledger refuses a command. A Code is
// part of the stored result of a command (idempotent retries return it), so
// values are stable strings and never renamed.
type Code string

// Rejection codes. Every rejection is definite: the command changed nothing
// and retrying the same command (same idempotency id) returns the same result.
const (
	// CodeInvalid: the command is malformed, breaks the schema, or breaks a
	// domain rule that does not depend on who asked (e.g. a hold longer than policy).
	CodeInvalid Code = "invalid"
	// CodeUnauthorised: the signature does not verify against the registry at
	// this position, or the signer may not do this (e.g. another agency's listing).
	CodeUnauthorised Code = "unauthorised"
	// CodeConflict: the state forbids it now (e.g. the adopter is already held).
	CodeConflict Code = "conflict"
	// CodeNotFound: the command names a listing, reservation or proposal that does not exist.
	CodeNotFound Code = "not_found"
	// CodePersonalData: a field looks like a personal identifier (name, email,
	// phone, postcode, date of birth); such data never reaches the ledger.
	CodePersonalData Code = "personal_data"
)

// Rejection is a definite domain refusal of one command. It is returned as a
// value in the command's Result, never as a Go error from ApplyBatch, because
// rejections are deterministic outcomes that every node records identically.
type Rejection struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// HoldExpiresMs is set on a conflict with an active hold: when the
	// current hold ends (ledger time, ms since the Unix epoch).
	HoldExpiresMs int64 `json:"hold_expires_ms,omitempty"`
}

func (r *Rejection) Error() string { return fmt.Sprintf("%s: %s", r.Code, r.Message) }

func reject(code Code, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinel errors for operating conditions (not domain refusals).
var (
	// ErrNotFound is returned by queries for a listing, reservation, entry or
	// proposal that does not exist.
	ErrNotFound = errors.New("ledger: not found")
	// ErrNoGenesis is returned when the ledger has not been initialised with a genesis.
	ErrNoGenesis = errors.New("ledger: no genesis applied")
	// ErrGenesisMismatch is returned by InitGenesis when the ledger already holds a different genesis.
	ErrGenesisMismatch = errors.New("ledger: ledger holds a different genesis")
	// ErrBadEnvelope is returned when a log entry's bytes are not an envelope.
	ErrBadEnvelope = errors.New("ledger: malformed envelope")
	// ErrBadSnapshot is returned by Restore for a snapshot that is not a
	// raaft snapshot, is damaged, or fails a check against the federation.
	ErrBadSnapshot = errors.New("ledger: snapshot refused")
	// ErrBadSignature is returned by signature checks that fail.
	ErrBadSignature = errors.New("ledger: signature does not verify")
	// ErrCorrupt means stored state breaks an invariant: stop, do not repair silently.
	ErrCorrupt = errors.New("ledger: stored state is corrupt")
	// ErrClosed is returned by calls on a closed ledger.
	ErrClosed = errors.New("ledger: closed")
	// ErrFormat is returned by Open for a ledger.db written in a layout
	// this raaft does not read (by another version). It is derived from the
	// Raft log, so a node can rebuild it; the file is left untouched.
	ErrFormat = errors.New("ledger: stored in another format: format")
	// ErrDamaged is wrapped by every *Damage: a ledger file whose contents
	// disagree with themselves (chain, tree, state sum), or that is not a
	// whole, readable bbolt database (empty, truncated, zero-filled, a bad
	// meta page or page). Returned by Open, CheckIntegrity, CheckBoltFile,
	// OpenReadOnly and VerifyFile, with what is wrong and where.
	ErrDamaged = errors.New("ledger: damaged")
)

func damaged(format string, a ...any) error {
	return &Damage{Problem: fmt.Sprintf(format, a...)}
}
