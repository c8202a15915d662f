package protocol

import (
	"crypto/rand"
	"fmt"

	"github.com/raaft/raaft/ledger"
)

// ProblemTypeBase prefixes every problem type URI (RFC 9457).
const ProblemTypeBase = "https://raaft.dev/problems/"

// Problem is an application/problem+json body.
type Problem struct {
	Type          string `json:"type"`
	Title         string `json:"title"`
	Status        int    `json:"status"`
	Detail        string `json:"detail,omitempty"`
	Code          string `json:"code,omitempty"`
	Field         string `json:"field,omitempty"`
	HoldExpiresMs int64  `json:"hold_expires_ms,omitempty"`
}

// Error is a problem returned by a node, as a Go error.
type Error struct {
	Status        int
	Type, Title   string
	Detail, Code  string
	Field         string
	HoldExpiresMs int64
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s (%d): %s", e.Title, e.Status, e.Detail)
	}
	return fmt.Sprintf("%s (%d)", e.Title, e.Status)
}

// WriteResult is the body of an accepted write: the ledger's result.
type WriteResult struct {
	ledger.Result
	// ID is the id of what the write created (reservation, proposal), when it created one.
	ID uint64 `json:"id,omitempty"`
}

// ReserveRequest asks for a hold (the ledger's payload).
type ReserveRequest = ledger.ReservePayload

// ReleaseRequest ends a hold.
type ReleaseRequest struct {
	Reason string `json:"reason,omitempty"`
}

// PlaceRequest records a placement.
type PlaceRequest struct {
	MoveInDate string `json:"move_in_date"`
}

// ListingRequest publishes or updates a listing.
type ListingRequest = ledger.ListingPayload

// Server is one member of the Raft configuration.
type Server struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"`
}

// CheckpointSignature is one agency's signature over a tree head.
type CheckpointSignature struct {
	Agency string      `json:"agency"`
	NodeID string      `json:"node_id"`
	Size   uint64      `json:"size"`
	Root   ledger.Hash `json:"root"`
	JWS    string      `json:"jws"`
}

// Checkpoint is a tree head with every agency signature collected for it.
type Checkpoint struct {
	Size           uint64                `json:"size"`
	Root           ledger.Hash           `json:"root"`
	Signatures     []CheckpointSignature `json:"signatures"`
	QuorumCosigned bool                  `json:"quorum_cosigned"`
}

// ClusterStatus is a node's view of the federation.
type ClusterStatus struct {
	NodeID             string      `json:"node_id"`
	Agency             string      `json:"agency"`
	State              string      `json:"state"`
	LeaderID           string      `json:"leader_id"`
	LeaderAddr         string      `json:"leader_addr"`
	Term               uint64      `json:"term"`
	CommitIndex        uint64      `json:"commit_index"`
	AppliedIndex       uint64      `json:"applied_index"`
	Servers            []Server    `json:"servers"`
	Head               ledger.Head `json:"head"`
	Checkpoint         *Checkpoint `json:"checkpoint,omitempty"`
	CosignedCheckpoint *Checkpoint `json:"cosigned_checkpoint,omitempty"`
}

// NewToken returns a fresh opaque token for an adopter or child record: 22
// random alphanumerics (about 130 bits) with at least one digit, so it
// passes the ledger's personal-data checks. Only the agency that made it
// can map it back to a person, in its own case system.
func NewToken() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	for {
		b := make([]byte, 22)
		if _, err := rand.Read(b); err != nil {
			panic(err)
		}
		digit := false
		for i := range b {
			// 248 = 4*62: reject bytes that would bias the alphabet
			for b[i] >= 248 {
				var one [1]byte
				if _, err := rand.Read(one[:]); err != nil {
					panic(err)
				}
				b[i] = one[0]
			}
			b[i] = alphabet[b[i]%62]
			digit = digit || b[i] >= '0' && b[i] <= '9'
		}
		tok := string(b)
		if digit && ledger.CheckToken(tok) == nil {
			return tok
		}
	}
}

// NewIdempotencyKey returns a random idempotency key for a write.
func NewIdempotencyKey() string { return "k" + NewToken() }
