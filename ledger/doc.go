// Package ledger is raaft's domain: the signed, append-only ledger of
// adopter listings, exclusive match reservations and (later) interagency
// fees that every agency's node runs over the same Raft log.
//
// # Design
//
// The ledger is a deterministic state machine: a pure function of (state,
// entry). It imports no Raft, network, HTTP or configuration code and never
// reads a clock or a random source, so it can be tested, fuzzed,
// benchmarked and replayed alone (`raaft ledger verify` runs the same code
// without Raft).
//
// A command is JSON with a closed schema (DecodeCommand), signed by its
// agency as a compact JWS (EdDSA, kid = RFC 7638 thumbprint). The leader
// wraps it in an envelope carrying the leader's time (EncodeEnvelope);
// that time, made monotonic, is the only clock the rules see. ApplyBatch
// verifies all signatures of a batch in parallel (pure), then, in log
// order, authorises each command against the registry at that position,
// applies the domain rules and appends accepted commands to the hash chain
// and the RFC 6962 Merkle tree, all in one bbolt transaction together
// with the last applied Raft index, so a restart never applies an entry
// twice and never skips one.
//
// Rejected commands change nothing: rules load state, decide, and write
// only on acceptance. Lazy expiry of a past-due hold is part of the
// accepted command that touched it, never a side effect of a rejection.
// Therefore a replay of only the accepted entries reproduces the state
// byte for byte (StateHash); what a replay cannot reproduce (the last
// applied Raft index, remembered rejections) lives in local buckets that
// the state hash leaves out.
//
// Idempotency: results are remembered per (agency, id). A retried command
// returns its first result and changes nothing. A command whose signature
// fails is refused without being remembered, so a forger cannot poison an
// idempotency id.
//
// Determinism rules, enforced by TestDeterminismLint: no time.Now, no
// math/rand or crypto/rand, and no range over a map unless the line says
// why order cannot matter (//det:ok).
//
// The search index is derived, in-memory state (bitmaps per attribute
// value), rebuilt from the listings bucket on open and restore.
package ledger
