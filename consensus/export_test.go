package consensus

import (
	"context"
	"sync"

	"github.com/hashicorp/raft"
)

// StallFSM holds this node's FSM before its next batch until resume is
// called: the node's Raft goes on committing, its ledger stops moving.
func (n *Node) StallFSM() (resume func()) {
	ch := make(chan struct{})
	n.fsm.stall.Store(&ch)
	return sync.OnceFunc(func() { n.fsm.stall.Store(nil); close(ch) })
}

// Await is await, for tests that hand it a raft future.
func (n *Node) Await(ctx context.Context, f raft.Future) error { return n.await(ctx, f) }
