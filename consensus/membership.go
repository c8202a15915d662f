package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/raaft/raaft/ledger"
)

// Server is one member of the Raft configuration.
type Server struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"` // voter | nonvoter
}

// Status is the cluster as this node sees it.
type Status struct {
	NodeID       string      `json:"node_id"`
	Agency       string      `json:"agency"`
	State        string      `json:"state"`
	LeaderID     string      `json:"leader_id"`
	LeaderAddr   string      `json:"leader_addr"`
	Term         uint64      `json:"term"`
	CommitIndex  uint64      `json:"commit_index"`
	AppliedIndex uint64      `json:"applied_index"`
	Servers      []Server    `json:"servers"`
	Head         ledger.Head `json:"head"`
	// Checkpoint is the newest tree head any agency signed, with every
	// signature collected for it; CosignedCheckpoint the newest that more
	// than half of the active agencies signed.
	Checkpoint         *Checkpoint `json:"checkpoint,omitempty"`
	CosignedCheckpoint *Checkpoint `json:"cosigned_checkpoint,omitempty"`
}

// Status returns the node's view of the cluster.
func (n *Node) Status() Status {
	addr, id := n.raft.LeaderWithID()
	s := Status{
		NodeID: n.cfg.NodeID, Agency: n.cfg.Signer.Agency(), State: n.raft.State().String(),
		LeaderID: string(id), LeaderAddr: string(addr), Term: n.raft.CurrentTerm(),
		CommitIndex: n.raft.CommitIndex(), AppliedIndex: n.fsm.applied.Load(),
	}
	if f := n.raft.GetConfiguration(); n.await(n.ctx, f) == nil {
		for _, sv := range f.Configuration().Servers {
			suff := "voter"
			if sv.Suffrage != raft.Voter {
				suff = "nonvoter"
			}
			s.Servers = append(s.Servers, Server{ID: string(sv.ID), Address: string(sv.Address), Suffrage: suff})
		}
	}
	s.Head, _ = n.l.Head()
	s.Checkpoint, s.CosignedCheckpoint = n.cps.latest()
	return s
}

// admit runs on the leader for a node asking to join (as a nonvoter) or
// to be promoted (to voter, while there are fewer than VotersMax). The
// peer's TLS key was already checked against the registry; its address is
// taken from the registry, not from the request.
func (n *Node) admit(op, nodeID string) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	addr, err := n.registeredAddr(nodeID)
	if err != nil {
		return err
	}
	conf, err := n.configuration()
	if err != nil {
		return err
	}
	voters, member, isVoter := 0, false, false
	for _, s := range conf.Servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
		if string(s.ID) == nodeID {
			member, isVoter = true, s.Suffrage == raft.Voter
		}
	}
	timeout := n.cfg.Timings.ApplyTimeout
	switch {
	case op == opJoin && !member:
		n.log.Info("adding nonvoter", "id", nodeID, "addr", addr)
		return n.await(n.ctx, n.raft.AddNonvoter(raft.ServerID(nodeID), raft.ServerAddress(addr), 0, timeout))
	case op == opPromote && member && !isVoter && voters < n.cfg.VotersMax:
		n.log.Info("promoting to voter", "id", nodeID)
		return n.await(n.ctx, n.raft.AddVoter(raft.ServerID(nodeID), raft.ServerAddress(addr), 0, timeout))
	case op == opPromote && !member:
		return fmt.Errorf("%w: %s is not a member; join first", errRefused, nodeID)
	}
	return nil // already in the asked state, or no room for another voter
}

func (n *Node) registeredAddr(nodeID string) (string, error) {
	ags, err := n.l.Agencies()
	if err != nil {
		return "", err
	}
	for _, a := range ags {
		for _, nd := range a.Nodes {
			if nd.ID == nodeID && a.Status == "active" {
				return nd.Address, nil
			}
		}
	}
	return "", fmt.Errorf("%w: node %s is not registered", errRefused, nodeID)
}

func (n *Node) configuration() (raft.Configuration, error) {
	f := n.raft.GetConfiguration()
	if err := n.await(n.ctx, f); err != nil {
		return raft.Configuration{}, err
	}
	return f.Configuration(), nil
}

// membershipLoop keeps membership in step with the registry: a node not
// yet in the configuration asks to join; a caught-up nonvoter asks to be
// promoted; the leader removes servers whose node was unregistered.
func (n *Node) membershipLoop() {
	n.every(membershipInterval, func() {
		if err := n.membershipStep(); err != nil && n.ctx.Err() == nil {
			n.log.Debug("membership", "err", err)
		}
	})
}

func (n *Node) membershipStep() error {
	conf, err := n.configuration()
	if err != nil {
		return err
	}
	if n.raft.State() == raft.Leader {
		return n.removeUnregistered(conf)
	}
	var me *raft.Server
	for i := range conf.Servers {
		if string(conf.Servers[i].ID) == n.cfg.NodeID {
			me = &conf.Servers[i]
		}
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ForwardTimeout)
	defer cancel()
	switch {
	case me == nil:
		return n.askPeers(ctx, opJoin)
	case me.Suffrage != raft.Voter:
		idx, err := n.readIndex(ctx)
		if err != nil || n.fsm.applied.Load()+promoteLagEntriesMax < idx {
			return err
		}
		return n.askPeers(ctx, opPromote)
	}
	return nil
}

// askPeers sends a join or promote request to the leader if known, else to every registered node.
func (n *Node) askPeers(ctx context.Context, op string) error {
	var addrs []string
	if addr, _ := n.raft.LeaderWithID(); addr != "" {
		addrs = append(addrs, string(addr))
	} else {
		ags, err := n.l.Agencies()
		if err != nil {
			return err
		}
		for _, a := range ags {
			for _, nd := range a.Nodes {
				if nd.ID != n.cfg.NodeID && a.Status == "active" {
					addrs = append(addrs, nd.Address)
				}
			}
		}
	}
	var errs []error
	for _, addr := range addrs {
		conn, err := n.layer.DialRPC(ctx, addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := call(conn, deadlineOf(ctx), &rpcRequest{Op: op, NodeID: n.cfg.NodeID}); err != nil {
			errs = append(errs, err)
			continue
		}
		return nil
	}
	return errors.Join(errs...)
}

// removeUnregistered runs on the leader: it removes the servers whose
// node left the registry. A leader that was itself unregistered cannot
// remove itself and keep leading; it hands leadership to another voter,
// which then removes it.
func (n *Node) removeUnregistered(conf raft.Configuration) error {
	if _, err := n.registeredAddr(n.cfg.NodeID); errors.Is(err, errRefused) {
		n.log.Warn("this node was removed from the registry; handing leadership over so that the next leader removes it")
		return n.await(n.ctx, n.raft.LeadershipTransfer())
	}
	for _, s := range conf.Servers {
		if string(s.ID) == n.cfg.NodeID {
			continue
		}
		if _, err := n.registeredAddr(string(s.ID)); errors.Is(err, errRefused) {
			n.log.Warn("removing unregistered node from raft", "id", s.ID)
			if err := n.await(n.ctx, n.raft.RemoveServer(s.ID, 0, n.cfg.Timings.ApplyTimeout)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Remove removes a server from the cluster (leader only).
func (n *Node) Remove(id string) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	return n.await(n.ctx, n.raft.RemoveServer(raft.ServerID(id), 0, n.cfg.Timings.ApplyTimeout))
}

// TransferLeadership hands leadership from the current leader to the
// most caught-up other voter (raft's choice), asking the leader over
// raaft-rpc/1 when this node does not lead. It returns the old and the
// new leader's ids.
func (n *Node) TransferLeadership(ctx context.Context) (from, to string, err error) {
	if n.raft.State() == raft.Leader {
		to, err = n.transferHere(ctx)
		return n.cfg.NodeID, to, err
	}
	addr, id := n.raft.LeaderWithID()
	if addr == "" {
		return "", "", ErrNoLeader
	}
	conn, err := n.layer.DialRPC(ctx, string(addr))
	if err != nil {
		return string(id), "", err
	}
	resp, err := call(conn, deadlineOf(ctx), &rpcRequest{Op: opTransfer})
	if err != nil {
		return string(id), "", err
	}
	return string(id), resp.LeaderID, nil
}

// transferHere runs on the leader: it transfers leadership and waits
// (within ctx) until another node leads, returning its id.
func (n *Node) transferHere(ctx context.Context) (string, error) {
	if n.raft.State() != raft.Leader {
		return "", ErrNotLeader
	}
	if err := n.await(ctx, n.raft.LeadershipTransfer()); err != nil {
		return "", err
	}
	for {
		if _, id := n.raft.LeaderWithID(); id != "" && string(id) != n.cfg.NodeID {
			return string(id), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("leadership left this node but no new leader was known in time: %w", ctx.Err())
		case <-time.After(appliedPollInterval):
		}
	}
}
