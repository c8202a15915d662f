package consensus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/raaft/raaft/ledger"
)

// Propose submits a signed command and returns the ledger's definite
// result. On a follower the command is forwarded to the leader over the
// RPC ALPN; on a leader change it is retried at the new leader with the
// same bytes (same idempotency id), so it is applied at most once. Errors:
// ErrNoLeader (definite, nothing written), ErrUnknownOutcome (it may have
// been written: retry with the same bytes), or the context's error.
func (n *Node) Propose(ctx context.Context, signed []byte) (ledger.Result, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.ForwardTimeout)
		defer cancel()
	}
	reached := false // a leader accepted the command for replication at least once
	for backoff := retryBackoffMin; ; backoff = min(2*backoff, retryBackoffMax) {
		if n.ctx.Err() != nil {
			if reached {
				return ledger.Result{}, fmt.Errorf("%w: node closing", ErrUnknownOutcome)
			}
			return ledger.Result{}, ErrClosed
		}
		res, attempted, err := n.proposeOnce(ctx, signed)
		if err == nil {
			return res, nil
		}
		reached = reached || attempted
		n.log.Debug("propose retry", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			if reached {
				return ledger.Result{}, fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
			}
			return ledger.Result{}, fmt.Errorf("%w: %v", ErrNoLeader, err)
		case <-time.After(backoff):
		}
	}
}

// proposeOnce tries the current leader once. attempted reports whether a
// leader may have appended the command (the outcome is then unknown on error).
func (n *Node) proposeOnce(ctx context.Context, signed []byte) (res ledger.Result, attempted bool, err error) {
	if n.raft.State() == raft.Leader {
		res, err := n.applyLocal(ctx, signed)
		return res, err == nil || !errors.Is(err, raft.ErrNotLeader), err
	}
	addr, id := n.raft.LeaderWithID()
	if addr == "" {
		return res, false, errors.New("no leader known")
	}
	conn, err := n.layer.DialRPC(ctx, string(addr))
	if err != nil {
		return res, false, fmt.Errorf("dial leader %s: %w", id, err)
	}
	// A leader that dies mid-call leaves the stream silent until the
	// caller's deadline (QUIC cannot tell a dead peer from a slow one
	// sooner). Raft can: once this node's Raft names another leader, or
	// none, the call is abandoned and the same bytes retried at the next
	// leader (same idempotency id: applied at most once), so a write
	// waits for an election, not for the forward timeout.
	stop := n.abandonOnLeaderChange(conn, id)
	resp, err := call(conn, deadlineOf(ctx), &rpcRequest{Op: opPropose, Signed: signed})
	if stop() {
		return res, true, fmt.Errorf("leader %s replaced while forwarding: %w", id, errLeaderChanged)
	}
	if err != nil {
		return res, !isNotLeader(err), err
	}
	if resp.Result == nil {
		return res, true, errors.New("leader returned no result")
	}
	return *resp.Result, true, nil
}

var errLeaderChanged = errors.New("the leader changed")

// forwards are the writes this node has forwarded to a leader and waits
// on. Raft tells the node when the leader changes (watchLeader); every
// forward to another leader is then abandoned at once. One registry and
// one goroutine serve them all, so a forward costs a map insert, not a
// goroutine and a timer.
type forwards struct {
	mu sync.Mutex
	m  map[*forward]struct{}
}

type forward struct {
	conn      interface{ Close() error }
	leader    raft.ServerID
	abandoned atomic.Bool
}

// abandonOnLeaderChange registers a forward to leader over conn. The
// returned stop unregisters it and reports whether it was abandoned (its
// conn closed because another node, or none, leads now).
func (n *Node) abandonOnLeaderChange(conn interface{ Close() error }, leader raft.ServerID) (stop func() bool) {
	fw := &forward{conn: conn, leader: leader}
	n.fwd.mu.Lock()
	if n.fwd.m == nil {
		n.fwd.m = map[*forward]struct{}{}
	}
	n.fwd.m[fw] = struct{}{}
	n.fwd.mu.Unlock()
	if _, id := n.raft.LeaderWithID(); id != leader { // changed before it was registered
		n.abandonForwards(id)
	}
	return func() bool {
		n.fwd.mu.Lock()
		delete(n.fwd.m, fw)
		n.fwd.mu.Unlock()
		return fw.abandoned.Load()
	}
}

// abandonForwards closes every forward to a node other than leader.
func (n *Node) abandonForwards(leader raft.ServerID) {
	n.fwd.mu.Lock()
	defer n.fwd.mu.Unlock()
	for fw := range n.fwd.m { //det:ok closing streams, order does not matter
		if fw.leader != leader && fw.abandoned.CompareAndSwap(false, true) {
			fw.conn.Close()
		}
	}
}

// watchLeader abandons forwards whenever Raft observes a new leader (or
// none); a slow poll backs the observer up, since a full observer
// channel drops observations.
func (n *Node) watchLeader(obs chan raft.Observation) {
	t := time.NewTicker(leaderWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-obs:
		case <-t.C:
		}
		_, id := n.raft.LeaderWithID()
		n.abandonForwards(id)
	}
}

// applyLocal appends the command on this leader, wrapped in an envelope
// carrying the leader's clock (the only time the ledger sees).
func (n *Node) applyLocal(ctx context.Context, signed []byte) (ledger.Result, error) {
	if n.cps.diverged.Load() {
		// its FSM's result could name an entry hash the quorum does not
		// store: never acknowledge it; the caller retries at the next leader
		return ledger.Result{}, fmt.Errorf("%w: this node's ledger differs from the federation's", ErrNoLeader)
	}
	timeout := time.Until(deadlineOf(ctx))
	if timeout <= 0 {
		return ledger.Result{}, context.DeadlineExceeded
	}
	f := n.raft.Apply(ledger.EncodeEnvelope(n.now().UnixMilli(), signed), min(timeout, n.cfg.Timings.ApplyTimeout))
	// Apply's timeout bounds only enqueueing; the future resolves when the
	// entry commits or leadership is lost. Wait no longer than the caller,
	// or than this node lives.
	if err := n.await(ctx, f); err != nil {
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return ledger.Result{}, fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
		}
		return ledger.Result{}, err
	}
	r, ok := f.Response().(*ledger.Result)
	if !ok || r == nil {
		return ledger.Result{}, fmt.Errorf("consensus: FSM returned %T", f.Response())
	}
	return *r, nil
}

// lastFSMIndex returns the index of the last entry at or below c that the
// FSM applies (a command or a configuration), so that every node's FSM
// reaches it: noop and barrier entries never reach the FSM's applied index.
// When no such entry lies above what this FSM has applied, that is the answer.
func (n *Node) lastFSMIndex(c uint64) (uint64, error) {
	applied := n.fsm.applied.Load()
	var lg raft.Log
	for i := c; i > applied; i-- {
		if err := n.logs.GetLog(i, &lg); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				// compacted into a snapshot, so the FSM has passed it
				// and every entry below it
				return n.fsm.applied.Load(), nil
			}
			return 0, fmt.Errorf("consensus: last FSM entry at or below %d: log %d: %w", c, i, err)
		}
		if lg.Type == raft.LogCommand || lg.Type == raft.LogConfiguration {
			return i, nil
		}
	}
	return applied, nil
}

// CommittedFSMIndex is the index this node's FSM must reach to hold every
// entry its Raft knows to be committed: the last command or configuration
// at or below the commit index. A node compares it with its applied index
// to tell whether it has caught up; the commit index itself may name a
// noop or barrier the FSM never reports.
func (n *Node) CommittedFSMIndex() (uint64, error) {
	return n.lastFSMIndex(n.raft.CommitIndex())
}

func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(rpcIOTimeout)
}

// Barrier returns once this node has applied everything committed before
// the call, so a read that follows is linearizable (rqlite's "linearizable"
// level): the leader notes its commit index (after a Barrier once per
// term, so it covers every earlier term's entries), confirms its
// leadership with a quorum (VerifyLeader) and names the last entry up to
// that index the FSM applies; this node, leader or follower, waits until
// its own FSM has applied it.
func (n *Node) Barrier(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.ForwardTimeout)
		defer cancel()
	}
	var idx uint64
	for backoff := retryBackoffMin; ; backoff = min(2*backoff, retryBackoffMax) {
		var err error
		if idx, err = n.readIndex(ctx); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrNoLeader, err)
		case <-n.ctx.Done():
			return ErrClosed
		case <-time.After(backoff):
		}
	}
	for n.fsm.applied.Load() < idx {
		select {
		case <-ctx.Done():
			return fmt.Errorf("consensus: applied %d of read index %d: %w", n.fsm.applied.Load(), idx, ctx.Err())
		case <-n.ctx.Done():
			return ErrClosed
		case <-time.After(appliedPollInterval):
		}
	}
	return nil
}

func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	if n.raft.State() == raft.Leader {
		return n.leaderReadIndex(ctx)
	}
	addr, _ := n.raft.LeaderWithID()
	if addr == "" {
		return 0, errors.New("no leader known")
	}
	conn, err := n.layer.DialRPC(ctx, string(addr))
	if err != nil {
		return 0, err
	}
	resp, err := call(conn, deadlineOf(ctx), &rpcRequest{Op: opReadIndex})
	if err != nil {
		return 0, err
	}
	return resp.ReadIndex, nil
}

func (n *Node) leaderReadIndex(ctx context.Context) (uint64, error) {
	timeout := time.Until(deadlineOf(ctx))
	term := n.raft.CurrentTerm()
	n.barrierMu.Lock()
	if n.barrierTerm != term {
		if err := n.await(ctx, n.raft.Barrier(timeout)); err != nil {
			n.barrierMu.Unlock()
			return 0, err
		}
		n.barrierTerm = term
	}
	n.barrierMu.Unlock()
	// The read index is the commit index (the Raft thesis, §6.4), not this
	// FSM's applied index: a follower may apply a committed entry before
	// the leader's FSM does, and a read there may already have shown it.
	// (The applied index was used here until `make chaos` found exactly
	// that: TestLinearizableReadAtLaggingLeader.) The per-term Barrier makes
	// the commit index cover earlier terms' entries.
	idx, err := n.CommittedFSMIndex()
	if err != nil {
		return 0, err
	}
	if err := n.await(ctx, n.raft.VerifyLeader()); err != nil {
		return 0, err
	}
	if n.raft.CurrentTerm() != term {
		return 0, raft.ErrLeadershipLost
	}
	return idx, nil
}

// CatchUp tells how far this node is behind the federation: it asks the
// leader for its commit index (the read index, after the leader confirms
// its leadership with a quorum; the last entry up to it the FSM applies)
// and waits up to wait for its own FSM to apply that far. It returns
// both indexes; applied < leader means this node is still catching up.
func (n *Node) CatchUp(ctx context.Context, wait time.Duration) (applied, leader uint64, err error) {
	leader, err = n.readIndex(ctx)
	if err != nil {
		return n.fsm.applied.Load(), 0, err
	}
	deadline := time.Now().Add(wait)
	for {
		applied = n.fsm.applied.Load()
		if applied >= leader || time.Now().After(deadline) {
			return applied, leader, nil
		}
		select {
		case <-ctx.Done():
			return applied, leader, nil
		case <-n.ctx.Done():
			return applied, leader, ErrClosed
		case <-time.After(appliedPollInterval):
		}
	}
}

// InConfiguration reports whether this node is a member (voter or
// nonvoter) of the Raft configuration it holds.
func (n *Node) InConfiguration() (bool, error) {
	conf, err := n.configuration()
	if err != nil {
		return false, err
	}
	for _, s := range conf.Servers {
		if string(s.ID) == n.cfg.NodeID {
			return true, nil
		}
	}
	return false, nil
}
