package protocol

import (
	"crypto/rand"

	"github.com/raaft/raaft/ledger"
)

// Request bodies. Where the ledger's payload is exactly what the caller
// sends, the request type is that payload (an alias), so the schema has one
// definition and the node's strict decoding refuses the same unknown fields
// the ledger would.
type (
	// ListingRequest publishes a listing: POST /v1/listings {token, attrs}.
	ListingRequest = ledger.ListingPayload
	// ReserveRequest asks for a hold: POST /v1/reservations
	// {listing, child_tokens, harder_to_place, hold_days}.
	ReserveRequest = ledger.ReservePayload
)

// UpdateRequest replaces a listing's attributes: PUT /v1/listings/{token}
// {attrs}. The token is the path's.
type UpdateRequest struct {
	Attrs ledger.ListingAttrs `json:"attrs"`
}

// ReleaseRequest ends a hold: POST /v1/reservations/{id}/release {reason}.
// The holder may omit the reason (ledger.HolderReleaseReasons); the
// approving agency must give one (ledger.OwnerReleaseReasons).
type ReleaseRequest struct {
	Reason string `json:"reason,omitempty"`
}

// PlaceRequest records that the child moved in:
// POST /v1/reservations/{id}/place {move_in_date} (YYYY-MM-DD).
type PlaceRequest struct {
	MoveInDate string `json:"move_in_date"`
}

// WriteResult is the body of an accepted write: the ledger's result (its
// sequence, entry hash, Merkle root and tree size) and the id of what the
// write created. A replayed write (same Idempotency-Key) has the same body
// as the first; the node marks the response with the header
// Idempotent-Replayed: true, which the client reports in Replayed.
type WriteResult struct {
	ledger.Result
	// ID is the id of what the write created (a reservation), when it created one.
	ID uint64 `json:"id,omitempty"`
	// Replayed is true when the node answered a retry with the first
	// result (set by the client from the response header; not in the body).
	Replayed bool `json:"-"`
}

// Entry is one accepted ledger entry: GET /v1/entries/{seq}. Signed is the
// exact signed bytes the ledger stores (a compact JWS for a command, the
// signed genesis document for entry 0), so an auditor can verify the
// agency's signature without trusting the node.
type Entry struct {
	ledger.HistoryEntry
	Signed string `json:"signed"`
}

// Health is the body of GET /healthz and of a ready GET /readyz.
type Health struct {
	Status string `json:"status"` // "ok" or "ready"
}

// LeadershipTransfer is the answer to POST /v1/cluster/transfer-leadership.
type LeadershipTransfer struct {
	From string `json:"from"` // the node that led
	To   string `json:"to"`   // the node that leads now
}

// Readiness is GET /readyz's answer when the node is ready: it has
// applied everything the leader had committed when asked.
type Readiness struct {
	Status       string `json:"status"`        // "ready"
	AppliedIndex uint64 `json:"applied_index"` // this node's last applied Raft index
	LeaderIndex  uint64 `json:"leader_index"`  // the leader's commit index (its last FSM entry at or below it)
	LagEntries   uint64 `json:"lag_entries"`   // leader_index - applied_index when behind, else 0
}

// Server is one member of the Raft configuration.
type Server struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"` // Voter | Nonvoter
}

// CheckpointSignature is one agency's signature over a tree head.
type CheckpointSignature struct {
	Agency    string      `json:"agency"`
	NodeID    string      `json:"node_id"`
	KID       string      `json:"kid"` // the agency key that signed (RFC 7638 thumbprint)
	Size      uint64      `json:"size"`
	Root      ledger.Hash `json:"root"`
	StateHash ledger.Hash `json:"state_hash"`
	// Signature is the compact JWS (EdDSA) over the checkpoint; verify it
	// with the agency's key from the registry (ledger.VerifyCompact).
	Signature string `json:"signature"`
}

// Checkpoint is a head (size, Merkle root, state hash) with every agency
// signature collected for it. A checkpoint co-signed by a quorum of
// agencies is what an auditor trusts.
type Checkpoint struct {
	Size           uint64                `json:"size"`
	Root           ledger.Hash           `json:"root"`
	StateHash      ledger.Hash           `json:"state_hash"`
	Signatures     []CheckpointSignature `json:"signatures"`
	QuorumCosigned bool                  `json:"quorum_cosigned"`
}

// CheckpointListFormat names the format of a CheckpointList document.
const CheckpointListFormat = "raaft-checkpoints/1"

// CheckpointList is the quorum-cosigned checkpoints a node keeps, oldest
// first: GET /v1/checkpoints, and the file `raaft ledger checkpoints
// --export` writes for an auditor to keep and `raaft ledger verify
// --checkpoints` checks a data directory against.
type CheckpointList struct {
	Format      string       `json:"format"`
	Genesis     ledger.Hash  `json:"genesis"`
	Checkpoints []Checkpoint `json:"checkpoints"`
}

// Claim is the checkpoint as the ledger checks it (Ledger.CheckCheckpoint).
func (c *Checkpoint) Claim(genesis ledger.Hash) ledger.CheckpointClaim {
	out := ledger.CheckpointClaim{CheckpointBody: ledger.CheckpointBody{Genesis: genesis, Size: c.Size, Root: c.Root, StateHash: c.StateHash}}
	for _, s := range c.Signatures {
		out.Signatures = append(out.Signatures, ledger.CheckpointSig{Agency: s.Agency, JWS: s.Signature})
	}
	return out
}

// ClusterStatus is a node's view of the federation: GET /v1/cluster.
type ClusterStatus struct {
	NodeID       string   `json:"node_id"`
	Agency       string   `json:"agency"`
	State        string   `json:"state"` // Leader | Follower | Candidate | Shutdown
	LeaderID     string   `json:"leader_id"`
	LeaderAddr   string   `json:"leader_addr"`
	Term         uint64   `json:"term"`
	CommitIndex  uint64   `json:"commit_index"`
	AppliedIndex uint64   `json:"applied_index"`
	Servers      []Server `json:"servers"` // voters and nonvoters
	// Head is this node's ledger: size, Merkle root, newest entry hash.
	Head ledger.Head `json:"head"`
	// Checkpoint is the newest checkpoint this node knows; CosignedCheckpoint
	// the newest one a quorum of agencies signed.
	Checkpoint         *Checkpoint `json:"checkpoint,omitempty"`
	CosignedCheckpoint *Checkpoint `json:"cosigned_checkpoint,omitempty"`
}

// Token lengths and alphabet of NewToken.
const (
	tokenChars    = 22 // about 130 random bits
	tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	// tokenByteLimit rejects random bytes at or above 248 = 4*62, so every
	// alphabet character is equally likely.
	tokenByteLimit = 248
	// tokenRandomBytes is drawn per attempt: 64 bytes hold 22 usable ones
	// with overwhelming probability.
	tokenRandomBytes = 64
)

// NewToken returns a fresh opaque token for an adopter or child record:
// 22 random alphanumerics from crypto/rand (about 130 bits) with at least
// one digit, so it passes the ledger's personal-data checks
// (ledger.CheckToken). Only the agency that made it can map it back to a
// person, in its own case system.
func NewToken() string {
	var buf [tokenRandomBytes]byte
	for {
		// crypto/rand.Read never fails: it crashes the program if the
		// kernel's source does, so there is no error to handle.
		_, _ = rand.Read(buf[:])
		var out [tokenChars]byte
		n, digit := 0, false
		for _, c := range buf {
			if c >= tokenByteLimit {
				continue
			}
			out[n] = tokenAlphabet[c%62]
			digit = digit || out[n] >= '0' && out[n] <= '9'
			if n++; n == tokenChars {
				break
			}
		}
		if tok := string(out[:]); n == tokenChars && digit && ledger.CheckToken(tok) == nil {
			return tok
		}
	}
}

// NewIdempotencyKey returns a random Idempotency-Key for a write
// (23 characters of A-Z a-z 0-9).
func NewIdempotencyKey() string { return "k" + NewToken() }
