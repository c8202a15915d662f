// Package consensus replicates the ledger between agency nodes with
// hashicorp/raft over QUIC with mutual TLS 1.3.
//
// # Design
//
// Storage. raft.db is our own bbolt log and stable store (BoltStore):
// hashicorp/raft v1.8 and raft-boltdb/v2 do not build together. It
// implements CommitTrackingLogStore, but RestoreCommittedLogs stays off:
// in raft v1.8.0 a restarted multi-node cluster loses its configuration
// with it (TestRestartAllOnPersistedState found this), and the ledger does
// not need it because it stores its own last applied index.
//
// FSM. A thin BatchingFSM over ledger.ApplyBatch (one bbolt transaction per
// batch, signatures verified in parallel). The ledger records the last
// applied Raft index in the same transaction as the state and skips
// entries at or below it, so a restart never applies an entry twice and
// never skips one; raft is told not to restore snapshots on start, and
// Open restores the newest snapshot itself only if the ledger is behind it.
// Snapshots are the ledger's consistent bbolt copy; restore swaps the file
// atomically.
//
// Transport. QUICLayer is a raft.StreamLayer: one UDP socket per node for
// listening and dialing, one cached connection per (peer, ALPN), each Raft
// connection or RPC a bidirectional stream closed in both directions.
// Peers are pinned by key: a node's TLS key must be registered for an
// active agency in the ledger (at bootstrap, in the genesis), checked on
// both sides of every handshake. ALPN raaft-raft/1 carries Raft,
// raaft-rpc/1 carries node-to-node RPC; anything else is refused. Raft's
// pipelining is off (MaxRPCsInFlight 1): with it, raft's replication can
// block for good on a stale term and Shutdown never returns
// (hashicorp/raft#612, seen here under load). Raft also leaves some futures
// unanswered at shutdown (a VerifyLeader queued on its buffered channel, a
// batch dropped with the FSM's queue), so no wait on a raft future is bare:
// Node.await bounds each by the caller's context and the node's life, and
// Close cannot be held up by one.
//
// Writes. Propose sends a signed command to the leader (forwarding over
// raaft-rpc/1 from followers, one request per stream, the hot ones in a
// small binary form: rpc_codec.go); the leader wraps it in an envelope with its
// clock, the only time the ledger sees. On a leader change the same bytes
// are retried at the new leader: the idempotency id inside the signed
// command makes a retry return the first result, never apply twice. The
// caller sees three outcomes kept apart: a result (definite), ErrNoLeader
// (definite, nothing written), ErrUnknownOutcome (retry with the same id).
//
// Reads (rqlite's levels). "local" reads this node's ledger, stale by at
// most the replication lag. "linearizable" (Barrier): the leader runs a
// raft Barrier once per term, notes its commit index, confirms its
// leadership with a quorum (VerifyLeader) and names the last entry at or
// below that commit index that the FSM applies (noop and barrier entries
// never reach it); the node that asked, leader or follower, waits until
// its own FSM has applied that entry. The commit index, not the leader's
// applied index, is the base because a follower may apply a committed
// entry before the leader's FSM does, and a read there may already have
// shown it. The wait is on the FSM's own index because raft's applied
// index moves when logs are handed to the FSM, before it has applied them.
//
// Membership. Founding nodes bootstrap from the genesis registry (every
// founder computes the same configuration; the first VotersMax are
// voters). A node added to the registry later (add_agency or
// register_node) asks the leader to join as a nonvoter, then to be
// promoted once caught up while there are fewer than VotersMax voters
// (3 or 5; further agencies stay nonvoters). The leader removes nodes
// whose registration ends.
//
// Housekeeping and checkpoints. The leader proposes reservation.expire for
// holds past due in ledger time. Every node signs its tree head (size,
// root) with its agency key and sends it to every registered node; a node
// holding that size checks the root (a mismatch is a fork, logged and never
// co-signed) and adds its own agency's signature. A head signed by more
// than half of the active agencies is marked quorum-cosigned. A node keeps
// the newest sizes only, and a size older than all of them is neither kept
// nor signed: otherwise nodes answer each other's signatures for sizes
// they have evicted by signing them again, for ever.
package consensus
