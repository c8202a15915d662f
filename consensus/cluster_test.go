package consensus_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/raaft/raaft/consensus"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// cluster is an in-process federation: one agency per node, real ledgers
// on bbolt files, real Raft, real QUIC sockets on 127.0.0.1.
type cluster struct {
	t     testing.TB
	fed   *ledgertest.Federation
	nodes []*tnode
	tim   consensus.Timings
	n     int          // commands issued
	skew  atomic.Int64 // added to every node's clock (ms): tests move time forward
}

type tnode struct {
	id     string
	ag     *ledgertest.Agency
	dir    string
	addr   string
	l      *ledger.Ledger
	n      *consensus.Node
	filter *partition
}

// freeUDPAddrs reserves distinct loopback UDP ports for the genesis registry.
func freeUDPAddrs(t testing.TB, k int) []string {
	var out []string
	var conns []net.PacketConn
	for range k {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		out = append(out, c.LocalAddr().String())
	}
	for _, c := range conns {
		c.Close()
	}
	return out
}

func newCluster(t testing.TB, founders int, extra int, tim consensus.Timings) *cluster {
	t.Helper()
	addrs := freeUDPAddrs(t, founders+extra)
	var ags []*ledgertest.Agency
	for i := range founders + extra {
		ags = append(ags, ledgertest.NewAgency(fmt.Sprintf("ag%d", i+1), ledger.KindRAA, i == 0, addrs[i]))
	}
	c := &cluster{t: t, fed: ledgertest.Found(ags[:founders], ledger.DefaultPolicy()), tim: tim}
	for i, a := range ags {
		nd := &tnode{id: a.Record.Nodes[0].ID, ag: a, dir: t.TempDir(), addr: addrs[i], filter: newPartition()}
		c.nodes = append(c.nodes, nd)
	}
	for _, nd := range c.nodes[:founders] {
		c.start(nd, true)
	}
	t.Cleanup(c.close)
	return c
}

func (c *cluster) start(nd *tnode, bootstrap bool) {
	c.t.Helper()
	if err := c.tryStart(nd, bootstrap); err != nil {
		c.t.Fatal(err)
	}
}

// tryStart is start for goroutines other than the test's own.
func (c *cluster) tryStart(nd *tnode, bootstrap bool) error {
	var err error
	if nd.l == nil {
		nd.l, err = ledger.Open(filepath.Join(nd.dir, "ledger.db"), ledger.Options{NoSync: noSync, DeferSync: true, Strict: true})
		if err != nil {
			return err
		}
		if err := nd.l.InitGenesis(c.fed.Genesis); err != nil {
			return err
		}
	}
	nd.n, err = consensus.Open(consensus.Config{
		NodeID: nd.id, DataDir: nd.dir, Ledger: nd.l, Signer: nd.ag.Signer, NodeKey: nd.ag.NodeKey,
		BindAddr: nd.addr, Timings: c.tim, VotersMax: 3, NoSync: noSync, Bootstrap: bootstrap,
		ForwardTimeout: 5 * time.Second, CheckpointInterval: 100 * time.Millisecond, ExpireInterval: 100 * time.Millisecond,
		Now:          func() time.Time { return time.Now().Add(time.Duration(c.skew.Load()) * time.Millisecond) },
		PacketFilter: nd.filter.allow, RaftLogOutput: raftLog(c.t),
	})
	if err != nil {
		return fmt.Errorf("start %s: %w", nd.id, err)
	}
	return nil
}

// stop shuts a node down, keeping its files.
func (c *cluster) stop(nd *tnode) {
	if nd.n != nil {
		if err := nd.n.Close(); err != nil {
			c.t.Logf("close %s: %v", nd.id, err)
		}
		nd.n = nil
	}
}

func (c *cluster) close() {
	for _, nd := range c.nodes {
		c.stop(nd)
		if nd.l != nil {
			nd.l.Close()
			nd.l = nil
		}
	}
}

func (c *cluster) running() []*tnode {
	var out []*tnode
	for _, nd := range c.nodes {
		if nd.n != nil {
			out = append(out, nd)
		}
	}
	return out
}

// leader waits for exactly one leader among the given nodes.
func (c *cluster) leader(among ...*tnode) *tnode {
	c.t.Helper()
	if len(among) == 0 {
		among = c.running()
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var leaders []*tnode
		for _, nd := range among {
			if nd.n.Raft().State() == raft.Leader {
				leaders = append(leaders, nd)
			}
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no single leader within 15s")
	return nil
}

func (c *cluster) followers(among ...*tnode) []*tnode {
	ld := c.leader(among...)
	var out []*tnode
	for _, nd := range c.running() {
		if nd != ld {
			out = append(out, nd)
		}
	}
	return out
}

// sign builds a signed command of node nd's agency with a fresh idempotency id.
func (c *cluster) sign(nd *tnode, typ string, payload any) []byte {
	c.n++
	return nd.ag.Sign(typ, fmt.Sprintf("cl-%s-%06d", nd.id, c.n), payload)
}

func (c *cluster) propose(nd *tnode, signed []byte) (ledger.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return nd.n.Propose(ctx, signed)
}

func (c *cluster) mustAccept(nd *tnode, typ string, payload any) ledger.Result {
	c.t.Helper()
	r, err := c.propose(nd, c.sign(nd, typ, payload))
	if err != nil {
		c.t.Fatalf("%s at %s: %v", typ, nd.id, err)
	}
	if !r.Accepted {
		c.t.Fatalf("%s at %s rejected: %v", typ, nd.id, r.Rejection)
	}
	return r
}

func (c *cluster) publish(nd *tnode, label string) string {
	tok := ledgertest.Token(label)
	c.mustAccept(nd, ledger.TypePublish, ledger.ListingPayload{Token: tok, Attrs: ledgertest.Attrs()})
	return tok
}

// converge waits until every running node has the same ledger head, then
// checks that their state hashes are identical.
func (c *cluster) converge() ledger.Head {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var heads []ledger.Head
		for _, nd := range c.running() {
			h, err := nd.l.Head()
			if err != nil {
				c.t.Fatal(err)
			}
			heads = append(heads, h)
		}
		same := true
		for _, h := range heads[1:] {
			same = same && h.Size == heads[0].Size && h.Root == heads[0].Root && h.EntryHash == heads[0].EntryHash
		}
		if same {
			var first ledger.Hash
			for i, nd := range c.running() {
				sh, _ := nd.l.StateHash()
				if i == 0 {
					first = sh
				} else if sh != first {
					c.t.Fatalf("node %s state hash %s differs from %s", nd.id, sh, first)
				}
				if err := nd.l.Check(); err != nil {
					c.t.Fatalf("node %s: %v", nd.id, err)
				}
			}
			return heads[0]
		}
		if time.Now().After(deadline) {
			for i, nd := range c.running() {
				c.t.Logf("%s: size %d root %s", nd.id, heads[i].Size, heads[i].Root)
			}
			c.t.Fatal("ledgers did not converge within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func raftLog(t testing.TB) io.Writer {
	if testing.Verbose() {
		return tlogWriter{t}
	}
	return nil
}

// noSync: tests skip fsync unless RAAFT_TEST_FSYNC is set (latency experiments).
var noSync = os.Getenv("RAAFT_TEST_FSYNC") == ""
