package consensus

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/raaft/raaft/ledger"
)

// fsm adapts the ledger to raft.BatchingFSM. It is deliberately thin: the
// apply logic lives in ledger, so `raaft ledger verify` replays the same
// code without Raft. The ledger stores the last applied Raft index in the
// same bbolt transaction as the state, and skips entries at or below it,
// so a restart or a snapshot restore never applies an entry twice and never
// skips one.
type fsm struct {
	l *ledger.Ledger
	// applied is the highest log index whose batch the FSM has finished.
	// raft's own AppliedIndex moves when logs are handed to the FSM, before
	// they are applied, so linearizable reads wait on this instead.
	applied atomic.Uint64
	// stall, when set (tests only), is waited on before each batch: a test
	// holds one node's FSM back to open the gap between an entry's commit
	// and its apply there.
	stall atomic.Pointer[chan struct{}]
	// restore installs a snapshot stream after checking it against the
	// federation (Node.restoreCarried).
	restore func(io.Reader) error
	// carry is the newest quorum-cosigned checkpoint at or below a size,
	// written ahead of a snapshot of that size (nil: none).
	carry func(size uint64) *Checkpoint
}

var (
	_ raft.FSM         = (*fsm)(nil)
	_ raft.BatchingFSM = (*fsm)(nil)
)

// Apply applies one log entry (raft calls ApplyBatch when it can).
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch hands the command entries of a batch to the ledger in one
// transaction and returns one result per log. Non-command logs (noop,
// configuration) yield nil. A storage failure panics: an FSM that cannot
// apply must stop the node rather than let it diverge (raft#307).
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	if ch := f.stall.Load(); ch != nil {
		<-*ch
	}
	out := make([]any, len(logs))
	entries := make([]ledger.Entry, 0, len(logs))
	pos := make([]int, 0, len(logs))
	for i, lg := range logs {
		if lg.Type != raft.LogCommand {
			continue
		}
		entries = append(entries, ledger.Entry{Index: lg.Index, Data: lg.Data})
		pos = append(pos, i)
	}
	defer f.applied.Store(logs[len(logs)-1].Index)
	if len(entries) == 0 {
		return out
	}
	res, err := f.l.ApplyBatch(entries)
	if err != nil {
		panic(fmt.Sprintf("consensus: ledger cannot apply logs %d..%d: %v", entries[0].Index, entries[len(entries)-1].Index, err))
	}
	for j, i := range pos {
		r := res[j]
		out[i] = &r
	}
	return out
}

// Snapshot captures the ledger as it is at the last applied index (a
// read transaction, begun here on the FSM goroutine between batches, so
// it holds exactly the entries up to that index); Persist writes it out
// while batches go on, with a header carrying its size, root, state hash
// and applied index.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	s, err := f.l.BeginSnapshot()
	if err != nil {
		return nil, err
	}
	return &ledgerSnapshot{s: s, cp: f.carry(s.Header().Size)}, nil
}

// Restore replaces the ledger with a snapshot from the leader, once the
// ledger has checked it (ledger.Restore) and verify has compared it with
// the federation's co-signed checkpoints. A refused snapshot leaves the
// ledger as it was and fails the install; the leader tries again later.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.restore(rc); err != nil {
		return err
	}
	idx, err := f.l.LastApplied()
	f.applied.Store(idx)
	return err
}

type ledgerSnapshot struct {
	s  *ledger.LedgerSnapshot
	cp *Checkpoint // carried ahead of the ledger snapshot; nil: none
}

// Persist writes the snapshot to the sink: the checkpoint it carries,
// then the ledger.
func (s *ledgerSnapshot) Persist(sink raft.SnapshotSink) error {
	err := writeCarried(sink, s.cp)
	if err == nil {
		_, err = s.s.WriteTo(sink)
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("consensus: snapshot: %w", err)
	}
	return sink.Close()
}

// Release ends the snapshot's read transaction.
func (s *ledgerSnapshot) Release() { s.s.Release() }
