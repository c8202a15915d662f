package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// A node whose ledger must be rebuilt normally restores its own newest
// Raft snapshot and replays its Raft log from there. When every snapshot
// it holds is refused (damaged, or not the federation's) and its log no
// longer reaches back to what its ledger holds (compacted), nothing local
// suffices: it asks its peers for their newest snapshot over raaft-rpc/1,
// keeps the first one that passes the same checks as its own (genesis,
// co-signed checkpoints, chain, tree, state hash) and starts from it. Its
// Raft log is left as it is, so no entry it acknowledged is forgotten.
const (
	// peerSnapshotWaitMax bounds how long a node that cannot rebuild from
	// its own files waits for a peer to send a usable snapshot (peers may
	// be restarting too) before it gives up and fails to start.
	peerSnapshotWaitMax = 5 * time.Minute
	// peerSnapshotRetry is the pause between rounds over the peers.
	peerSnapshotRetry = 2 * time.Second
	// snapshotIOIdleMax is how long a snapshot transfer may make no
	// progress; each read or write that moves bytes extends it.
	snapshotIOIdleMax = 30 * time.Second
	// snapshotSendersMax is how many snapshots a node sends at once: a
	// snapshot is the whole ledger, so more would only slow each down.
	snapshotSendersMax = 1
)

var errNoUsableSnapshot = errors.New("consensus: no usable snapshot to rebuild the ledger from")

// snapshotOffer describes the snapshot that follows an opSnapshot
// response on the same stream: Size bytes of a ledger snapshot, as raft's
// snapshot store holds it.
type snapshotOffer struct {
	ID                 string             `json:"id"`
	Index              uint64             `json:"index"`
	Term               uint64             `json:"term"`
	Configuration      raft.Configuration `json:"configuration"`
	ConfigurationIndex uint64             `json:"configuration_index"`
	Size               int64              `json:"size"`
}

// sendSnapshot answers opSnapshot: the offer, then the snapshot's bytes.
// A peer asks for a snapshot that reaches at least minIndex (where its
// own Raft log starts); if this node's newest does not and it has applied
// that far, it takes a new one first: in a quiet federation the
// threshold may not bring one for a long time (found by
// TestLedgerRebuiltFromPeerSnapshot under CI load: the peers' newest
// snapshots ended at 14, the rebuilding node's log started at 16).
func (n *Node) sendSnapshot(conn net.Conn, peerID string, minIndex uint64) {
	select {
	case n.snapSend <- struct{}{}:
		defer func() { <-n.snapSend }()
	default:
		_ = writeFrame(conn, &rpcResponse{ErrCode: errCodeUnknown, Err: "busy sending a snapshot; try again"})
		return
	}
	list, err := n.snaps.List()
	if err == nil && (len(list) == 0 || list[0].Index < minIndex) && n.fsm.applied.Load() >= minIndex {
		switch err := n.raft.Snapshot().Error(); {
		case err == nil:
			n.log.Info("snapshot taken for a peer", "peer", peerID, "min_index", minIndex)
		case !errors.Is(err, raft.ErrNothingNewToSnapshot):
			n.log.Warn("snapshot for a peer", "peer", peerID, "err", err)
		}
		list, err = n.snaps.List()
	}
	if err != nil || len(list) == 0 {
		_ = writeFrame(conn, &rpcResponse{ErrCode: errCodeUnknown, Err: fmt.Sprintf("no snapshot to send (%v)", err)})
		return
	}
	meta, rc, err := n.snaps.Open(list[0].ID)
	if err != nil {
		_ = writeFrame(conn, &rpcResponse{ErrCode: errCodeUnknown, Err: "opening the snapshot: " + err.Error()})
		return
	}
	defer rc.Close()
	offer := &snapshotOffer{ID: meta.ID, Index: meta.Index, Term: meta.Term, Configuration: meta.Configuration, ConfigurationIndex: meta.ConfigurationIndex, Size: meta.Size}
	_ = conn.SetDeadline(time.Time{})
	w := idleConn{conn}
	if err := writeFrame(w, &rpcResponse{Snapshot: offer}); err != nil {
		return
	}
	start := time.Now()
	if _, err := io.Copy(w, rc); err != nil {
		n.log.Warn("sending a snapshot", "peer", peerID, "snapshot", meta.ID, "err", err)
		return
	}
	n.log.Info("snapshot sent to a peer", "peer", peerID, "snapshot", meta.ID, "bytes", meta.Size, "seconds", time.Since(start).Seconds())
}

// idleConn extends a connection's deadline by snapshotIOIdleMax on every
// read and write, so a transfer of any size fails only when it stalls.
type idleConn struct{ net.Conn }

func (c idleConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(snapshotIOIdleMax))
	return c.Conn.Read(p)
}

func (c idleConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(snapshotIOIdleMax))
	return c.Conn.Write(p)
}

// logReachesLedger reports whether the Raft log holds every entry after
// the ledger's applied index, so that Raft can replay from there.
func (n *Node) logReachesLedger() (bool, uint64, uint64, error) {
	first, err := n.store.FirstIndex()
	if err != nil {
		return false, 0, 0, err
	}
	applied, err := n.l.LastApplied()
	if err != nil {
		return false, 0, 0, err
	}
	return first == 0 || first <= applied+1, first, applied, nil
}

// catchUpFromPeers fetches a verified snapshot from a peer when neither
// the ledger nor the node's own snapshots reach the start of its Raft log.
func (n *Node) catchUpFromPeers(snaps raft.SnapshotStore) error {
	ok, first, applied, err := n.logReachesLedger()
	if err != nil || ok {
		return err
	}
	n.log.Warn("the ledger and this node's snapshots stop before its Raft log starts; asking the peers for a snapshot",
		"ledger_applied", applied, "log_first_index", first)
	ctx, cancel := context.WithTimeout(n.ctx, peerSnapshotWaitMax)
	defer cancel()
	var errs []error
	for {
		for _, p := range n.peerAddrs() {
			err := n.fetchSnapshot(ctx, snaps, p.id, p.addr, first-1)
			if err == nil {
				return nil
			}
			n.log.Warn("no usable snapshot from a peer", "peer", p.id, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", p.id, err))
		}
		select {
		case <-ctx.Done():
			if len(errs) > 8 {
				errs = errs[len(errs)-8:]
			}
			return fmt.Errorf("%w: the Raft log starts at %d, the ledger holds up to %d, and for %s no peer sent a snapshot that passed its checks: %w",
				errNoUsableSnapshot, first, applied, peerSnapshotWaitMax, errors.Join(errs...))
		case <-time.After(peerSnapshotRetry):
		}
	}
}

type peerAddr struct{ id, addr string }

// peerAddrs lists the other nodes of active agencies in the ledger's
// registry. The QUIC layer dials only addresses the registry names.
func (n *Node) peerAddrs() []peerAddr {
	ags, err := n.l.Agencies()
	if err != nil {
		return nil
	}
	var out []peerAddr
	for _, ag := range ags {
		if ag.Status != "active" {
			continue
		}
		for _, nd := range ag.Nodes {
			if nd.ID != n.cfg.NodeID && nd.Address != "" {
				out = append(out, peerAddr{nd.ID, nd.Address})
			}
		}
	}
	return out
}

// fetchSnapshot asks one peer for its newest snapshot, stores it in the
// node's snapshot store and restores the ledger from it (with every
// check a local snapshot gets). A snapshot before minIndex would leave a
// gap before the Raft log and is not taken.
func (n *Node) fetchSnapshot(ctx context.Context, snaps raft.SnapshotStore, peerID, addr string, minIndex uint64) error {
	dctx, cancel := context.WithTimeout(ctx, rpcIOTimeout)
	conn, err := n.layer.DialRPC(dctx, addr)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	c := idleConn{conn}
	if err := writeFrame(c, &rpcRequest{Op: opSnapshot, NodeID: n.cfg.NodeID, Applied: minIndex}); err != nil {
		return fmt.Errorf("consensus: rpc write: %w", err)
	}
	var resp rpcResponse
	if err := readFrame(c, &resp); err != nil {
		return fmt.Errorf("consensus: rpc read: %w", err)
	}
	if resp.ErrCode != "" {
		return &rpcError{resp.ErrCode, resp.Err}
	}
	offer := resp.Snapshot
	switch {
	case offer == nil:
		return errors.New("the peer sent no snapshot")
	case offer.Index < minIndex:
		return fmt.Errorf("its snapshot ends at index %d, before this node's Raft log starts (%d)", offer.Index, minIndex+1)
	case offer.Size <= 0:
		return fmt.Errorf("its snapshot claims %d bytes", offer.Size)
	}
	start := time.Now()
	sink, err := snaps.Create(raft.SnapshotVersionMax, offer.Index, offer.Term, offer.Configuration, offer.ConfigurationIndex, n.trans)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(sink, c, offer.Size); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("receiving %d bytes: %w", offer.Size, err)
	}
	if err := sink.Close(); err != nil {
		return err
	}
	n.log.Info("snapshot received from a peer", "peer", peerID, "peer_snapshot", offer.ID, "snapshot", sink.ID(), "index", offer.Index, "bytes", offer.Size, "seconds", time.Since(start).Seconds())
	if err := n.restoreSnapshot(snaps, sink.ID()); err != nil {
		n.moveSnapshotAside(sink.ID())
		return fmt.Errorf("its snapshot was refused: %w", err)
	}
	n.log.Warn("ledger rebuilt from a peer's snapshot", "peer", peerID, "index", offer.Index)
	return nil
}
