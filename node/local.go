package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
)

// LocalReplicator is the single-node fake of Replicator, kept beside its
// interface like raft's InmemStore: it applies each proposal straight to
// one ledger, as a one-node federation whose leader is always itself would.
// Each command is wrapped in an envelope stamped with Now (the leader's
// clock in the real thing) and applied with ApplyBatch under a mutex, with
// increasing log indexes, so the ledger sees what the FSM would feed it.
// Barrier returns at once: everything proposed is already applied.
//
// It is for tests, demos and tools that run the API without Raft. Its
// methods are safe for concurrent use; it owns no goroutines.
type LocalReplicator struct {
	ledger *ledger.Ledger
	now    func() time.Time
	nodeID string
	agency string

	mu    sync.Mutex
	index uint64 // the last log index applied
}

var _ Replicator = (*LocalReplicator)(nil)

// NewLocalReplicator returns a LocalReplicator over l, which must hold a
// genesis, continuing after the ledger's last applied index. now stamps
// envelopes (nil means time.Now); nodeID and agency name the node in Status.
func NewLocalReplicator(l *ledger.Ledger, nodeID, agency string, now func() time.Time) (*LocalReplicator, error) {
	last, err := l.LastApplied()
	if err != nil {
		return nil, fmt.Errorf("local replicator: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &LocalReplicator{ledger: l, now: now, nodeID: nodeID, agency: agency, index: last}, nil
}

// Propose applies one signed command and returns its result. A context
// already done returns its error and applies nothing.
func (r *LocalReplicator) Propose(ctx context.Context, signed []byte) (ledger.Result, error) {
	if err := ctx.Err(); err != nil {
		return ledger.Result{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	entry := ledger.Entry{Index: r.index + 1, Data: ledger.EncodeEnvelope(r.now().UnixMilli(), signed)}
	res, err := r.ledger.ApplyBatch([]ledger.Entry{entry})
	if err != nil {
		return ledger.Result{}, fmt.Errorf("local replicator: apply index %d: %w", entry.Index, err)
	}
	if len(res) != 1 {
		return ledger.Result{}, fmt.Errorf("local replicator: apply index %d: %d results for one entry", entry.Index, len(res))
	}
	r.index = entry.Index
	return res[0], nil
}

// Barrier returns at once (everything proposed is applied), or the
// context's error if it is already done.
func (r *LocalReplicator) Barrier(ctx context.Context) error { return ctx.Err() }

// Status describes the one-node cluster: this node leads, and the commit
// and applied indexes are the last index applied.
func (r *LocalReplicator) Status() protocol.ClusterStatus {
	r.mu.Lock()
	index := r.index
	r.mu.Unlock()
	head, err := r.ledger.Head()
	if err != nil {
		head = ledger.Head{} // Status cannot fail: an unreadable (closed) ledger shows as empty
	}
	return protocol.ClusterStatus{
		NodeID: r.nodeID, Agency: r.agency, State: "Leader", LeaderID: r.nodeID, Term: 1,
		CommitIndex: index, AppliedIndex: index, Head: head,
		Servers: []protocol.Server{{ID: r.nodeID, Suffrage: "Voter"}},
	}
}
