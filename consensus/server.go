package consensus

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// serveRPC accepts node-to-node RPC streams until the node closes. Each
// stream is served by its own goroutine, at most rpcHandlersMax at once;
// past that the stream is refused (closed) rather than queued.
func (n *Node) serveRPC() {
	for {
		conn, peer, err := n.layer.AcceptRPC(n.ctx)
		if err != nil {
			if n.ctx.Err() == nil {
				n.log.Warn("rpc accept stopped", "err", err)
			}
			return
		}
		select {
		case n.sem <- struct{}{}:
		default:
			n.log.Warn("rpc handlers busy; refusing stream", "peer", peer.NodeID)
			conn.Close()
			continue
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer func() { <-n.sem }()
			n.handleRPC(conn, peer.NodeID)
		}()
	}
}

func (n *Node) handleRPC(conn net.Conn, peerID string) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(rpcIOTimeout + n.cfg.ForwardTimeout))
	var req rpcRequest
	if err := readFrame(conn, &req); err != nil {
		n.log.Debug("rpc read", "peer", peerID, "err", err)
		return
	}
	if req.Op == opSnapshot {
		n.sendSnapshot(conn, peerID, req.Applied) // streams past one frame
		return
	}
	resp := n.dispatch(&req, peerID)
	if err := writeFrame(conn, resp); err != nil {
		n.log.Debug("rpc write", "peer", peerID, "err", err)
	}
}

func (n *Node) dispatch(req *rpcRequest, peerID string) *rpcResponse {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ForwardTimeout)
	defer cancel()
	switch req.Op {
	case opPropose:
		if n.raft.State() != raft.Leader {
			return &rpcResponse{ErrCode: errCodeNotLeader, Err: "not the leader"}
		}
		res, err := n.applyLocal(ctx, req.Signed)
		if err != nil {
			return errResponse(err)
		}
		return &rpcResponse{Result: &res}
	case opReadIndex:
		if n.raft.State() != raft.Leader {
			return &rpcResponse{ErrCode: errCodeNotLeader, Err: "not the leader"}
		}
		idx, err := n.leaderReadIndex(ctx)
		if err != nil {
			return errResponse(err)
		}
		return &rpcResponse{ReadIndex: idx}
	case opTransfer:
		to, err := n.transferHere(ctx)
		if err != nil {
			return errResponse(err)
		}
		return &rpcResponse{LeaderID: to}
	case opJoin, opPromote:
		if req.NodeID != peerID {
			return &rpcResponse{ErrCode: errCodeRefused, Err: "a node may only ask for itself"}
		}
		if err := n.admit(req.Op, req.NodeID); err != nil {
			return errResponse(err)
		}
		return &rpcResponse{}
	case opCheckpoint:
		if req.Checkpoint == nil {
			return &rpcResponse{ErrCode: errCodeRefused, Err: "no checkpoint"}
		}
		if err := n.cps.receive(*req.Checkpoint); err != nil {
			return &rpcResponse{ErrCode: errCodeRefused, Err: err.Error()}
		}
		return &rpcResponse{}
	}
	return &rpcResponse{ErrCode: errCodeRefused, Err: "unknown op " + req.Op}
}

func errResponse(err error) *rpcResponse {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, ErrNotLeader):
		return &rpcResponse{ErrCode: errCodeNotLeader, Err: err.Error()}
	case errors.Is(err, errRefused):
		return &rpcResponse{ErrCode: errCodeRefused, Err: err.Error()}
	}
	return &rpcResponse{ErrCode: errCodeUnknown, Err: err.Error()}
}

var errRefused = errors.New("refused")
