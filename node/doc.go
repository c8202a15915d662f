// Package node is the raaft daemon: it wires the configuration, the ledger,
// consensus and the HTTPS JSON API of one agency's node (Daemon, the Main
// that `raaft node run` and the whole-binary tests start), and it is the
// API itself (Server).
//
// # The API
//
// Server serves /v1 (listings, reservations, fees, ledger entries and
// proofs, cluster status, the agency registry), /healthz, /readyz and
// /metrics; Routes lists every operation with its roles and query
// parameters, and docs/API.md documents them. A write is built into a
// ledger.Command (type, payload, idempotency id, acting user), signed with
// the node's agency key and submitted through a Replicator: consensus.Node
// in production (ConsensusReplicator), LocalReplicator in tests. Reads come
// from this node's ledger.
//
// # Read consistency
//
// Every read takes ?consistency= with rqlite's level names:
//
//   - local (the default): read this node's ledger as it is. Fast, never
//     leaves the node, and stale by at most the replication lag: a write
//     acknowledged by another node may not be visible yet.
//   - linearizable: first wait until this node has applied everything
//     committed before the request arrived (Replicator.Barrier: the leader
//     confirms its leadership and its commit index, and this node applies up
//     to it), then read. Use it before acting on what was read, e.g. to
//     check a hold just placed through another node. It costs a round trip
//     to the leader and fails (503/504) when there is none.
//
// rqlite's "none" and "weak" levels have no counterpart: local is the
// cheapest read, and linearizable the only stronger one.
//
// # Errors
//
// Every failure is an RFC 9457 problem (application/problem+json) whose
// type is one of protocol's Problem* names. errors.go holds the one table
// from errors to status and type: ledger rejection codes (invalid 400,
// unauthorised 403, not_found 404, conflict 409, personal_data 422),
// authentication (no or bad token 401, wrong role or agency 403), and the
// outcomes of replication (no leader 503: nothing was written; deadline
// 504: unknown, retry with the same key). A ledger rejection is a value in
// ledger.Result, not a Go error; it goes through the same table. Anything
// else is logged and shown as a bare 500.
//
// # Idempotency
//
// Every write needs an Idempotency-Key header (8-64 of A-Z a-z 0-9 _ -).
// The command's ledger id is a hash of the acting user, the command type
// and the key, so keys never collide across users or kinds of write. A
// retry with the same key returns the first answer, status and body
// unchanged, with Idempotent-Replayed: true; a key reused for a different
// request (an accepted one whose payload differs) is refused with 422
// idempotency_key_reused rather than answered with the other request's
// result.
//
// # Audit
//
// Every authenticated call appends one JSON line (AccessRecord: time, user
// pseudonym, role, operation, query, status) to the access log, never the
// ledger. Listing searches and reads are refused if their line cannot be
// written.
package node
