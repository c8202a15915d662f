package node

import (
	"strconv"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/raaft/raaft/consensus"
)

// raftGauges exposes where this node stands, read when /metrics is
// scraped: its Raft state (one series per state, 1 for the current),
// term, commit and applied index, newest snapshot's index, and the
// ledger's size. raft's own raaft_raft_state_* are counters of
// transitions, which cannot say what the node is now.
type raftGauges struct {
	cons                                            func() *consensus.Node
	state, term, commit, applied, snapshot, entries *prometheus.Desc
}

func newRaftGauges(cons func() *consensus.Node) *raftGauges {
	return &raftGauges{
		cons:     cons,
		state:    prometheus.NewDesc("raaft_node_raft_state", "1 for the Raft state this node is in (leader, follower, candidate, shutdown), 0 for the others.", []string{"state"}, nil),
		term:     prometheus.NewDesc("raaft_node_raft_term", "The Raft term this node is in.", nil, nil),
		commit:   prometheus.NewDesc("raaft_node_raft_commit_index", "The highest Raft index this node knows to be committed.", nil, nil),
		applied:  prometheus.NewDesc("raaft_node_raft_applied_index", "The highest Raft index this node's ledger has applied.", nil, nil),
		snapshot: prometheus.NewDesc("raaft_node_raft_last_snapshot_index", "The Raft index of this node's newest snapshot (0: none yet).", nil, nil),
		entries:  prometheus.NewDesc("raaft_node_ledger_entries", "Entries in this node's ledger (its head's size).", nil, nil),
	}
}

func (g *raftGauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{g.state, g.term, g.commit, g.applied, g.snapshot, g.entries} {
		ch <- d
	}
}

func (g *raftGauges) Collect(ch chan<- prometheus.Metric) {
	n := g.cons()
	if n == nil {
		return // between the two Raft nodes of a rebuild in place
	}
	st := n.Status()
	cur := n.Raft().State()
	for _, s := range []raft.RaftState{raft.Leader, raft.Follower, raft.Candidate, raft.Shutdown} {
		v := 0.0
		if s == cur {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(g.state, prometheus.GaugeValue, v, stateLabel(s))
	}
	snap, _ := strconv.ParseUint(n.Raft().Stats()["last_snapshot_index"], 10, 64)
	for _, m := range []struct {
		d *prometheus.Desc
		v uint64
	}{{g.term, st.Term}, {g.commit, st.CommitIndex}, {g.applied, st.AppliedIndex}, {g.snapshot, snap}, {g.entries, st.Head.Size}} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.GaugeValue, float64(m.v))
	}
}

func stateLabel(s raft.RaftState) string {
	switch s {
	case raft.Leader:
		return "leader"
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	}
	return "shutdown"
}
