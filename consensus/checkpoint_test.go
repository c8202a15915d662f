package consensus

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// TestCheckpointOldSizesNotResigned: with the window of kept sizes full,
// a peer's signature for an older size is neither kept nor answered with a
// signature of ours, however often it comes.
func TestCheckpointOldSizesNotResigned(t *testing.T) {
	fed := ledgertest.NewFederation(2)
	l := publishedLedger(t, fed, 40)
	n := &Node{cfg: Config{NodeID: "a1-node", Signer: fed.Agencies[0].Signer}, l: l, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	c := newCheckpoints(n)
	peer := &checkpoints{n: &Node{cfg: Config{NodeID: "a2-node", Signer: fed.Agencies[1].Signer}, l: l}}
	from := func(size uint64) CheckpointSignature {
		root, err := l.RootAt(size)
		if err != nil {
			t.Fatal(err)
		}
		state, err := l.StateHashAt(size)
		if err != nil {
			t.Fatal(err)
		}
		s, err := peer.sign(size, root, state)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for size := uint64(20); size < 20+checkpointsKeptMax; size++ {
		if err := c.receive(from(size)); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.signed.Load(); got != checkpointsKeptMax {
		t.Fatalf("co-signed %d sizes; want %d", got, checkpointsKeptMax)
	}
	for range 3 {
		for _, old := range []uint64{5, 19} {
			if err := c.receive(from(old)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := c.signed.Load(); got != checkpointsKeptMax {
		t.Fatalf("%d signatures after peers sent old sizes; want still %d", got, checkpointsKeptMax)
	}
	if _, ok := c.bySize[5]; ok {
		t.Fatal("an old size was kept")
	}
	if err := c.receive(from(40)); err != nil || c.signed.Load() != checkpointsKeptMax+1 {
		t.Fatalf("a new size: %v, %d signatures", err, c.signed.Load())
	}
}

// checkpointLedger is a ledger of 3 agencies with 10 entries, and a node
// around it for the checkpoint exchange (no Raft: receive is called as
// the RPC server would).
func checkpointLedger(t *testing.T) (*ledgertest.Federation, *ledger.Ledger, *Node) {
	t.Helper()
	fed := ledgertest.NewFederation(3)
	l := publishedLedger(t, fed, 9)
	n := &Node{cfg: Config{NodeID: "a1-node", DataDir: t.TempDir(), Signer: fed.Agencies[0].Signer}, l: l, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return fed, l, n
}

// TestCheckpointDivergence: a head that differs from this node's in its
// state hash alone is never co-signed; once more than half of the active
// agencies (two of three) have signed one, the node has diverged, says so
// once, and signs nothing more.
func TestCheckpointDivergence(t *testing.T) {
	fed, l, n := checkpointLedger(t)
	var got []Divergence
	n.cfg.OnDivergence = func(d Divergence) { got = append(got, d) }
	c := newCheckpoints(n)
	n.cps = c
	root, _ := l.RootAt(10)
	mine, _ := l.StateHashAt(10)
	other := mine
	other[0] ^= 1
	peer := func(i int) *checkpoints {
		return &checkpoints{n: &Node{cfg: Config{NodeID: fmt.Sprintf("a%d-node", i+1), Signer: fed.Agencies[i].Signer}, l: l}}
	}
	s1, _ := peer(1).sign(10, root, other)
	if err := c.receive(s1); err == nil {
		t.Fatal("a head with another state hash was accepted")
	}
	if n.Diverged() || len(got) != 0 || c.signed.Load() != 0 {
		t.Fatalf("one agency of three: diverged %v, %d reports, %d signatures", n.Diverged(), len(got), c.signed.Load())
	}
	s2, _ := peer(2).sign(10, root, other)
	c.receive(s2)
	c.receive(s2)
	if !n.Diverged() || len(got) != 1 || got[0].StateHash != mine || got[0].QuorumStateHash != other || got[0].Size != 10 {
		t.Fatalf("two agencies of three: diverged %v, reports %+v", n.Diverged(), got)
	}
	if c.signed.Load() != 0 {
		t.Fatal("a diverged node signed")
	}
	// the quorum's head is kept, so a rebuild refuses this node's own snapshot
	if kept := newCheckpoints(n).cosignedUpTo(10); len(kept) != 1 || kept[0].StateHash != other || len(kept[0].Signatures) != 2 {
		t.Fatalf("kept after divergence: %+v; want the quorum's head at 10", kept)
	}
	if err := n.verifySnapshot(ledger.SnapshotHeader{Size: 10}, l); err == nil {
		t.Fatal("a snapshot of the diverged ledger was accepted")
	}
}

// TestCheckpointsPersisted: a checkpoint that reaches a quorum is kept in
// checkpoints.json, is read back by a node opened afterwards, and is what
// a snapshot is checked against.
func TestCheckpointsPersisted(t *testing.T) {
	fed, l, n := checkpointLedger(t)
	c := newCheckpoints(n)
	n.cps = c
	root, _ := l.RootAt(10)
	state, _ := l.StateHashAt(10)
	s1, _ := (&checkpoints{n: &Node{cfg: Config{NodeID: "a2-node", Signer: fed.Agencies[1].Signer}, l: l}}).sign(10, root, state)
	if err := c.receive(s1); err != nil {
		t.Fatal(err)
	}
	c.persist()
	again := newCheckpoints(n)
	kept := again.cosignedUpTo(10)
	if len(kept) != 1 || kept[0].Size != 10 || kept[0].StateHash != state || len(kept[0].Signatures) != 2 {
		t.Fatalf("after a restart: %+v; want the checkpoint at 10 with two signatures", kept)
	}
	g, cps, err := ReadCheckpoints(n.cfg.DataDir)
	if gh, _ := l.GenesisHash(); err != nil || g != gh || len(cps) != 1 {
		t.Fatalf("ReadCheckpoints: %v %s %d", err, g, len(cps))
	}
	// a snapshot whose state differs at that size is refused
	n.cps = again
	if err := n.verifySnapshot(ledger.SnapshotHeader{Size: 10}, l); err != nil {
		t.Fatalf("the ledger's own snapshot: %v", err)
	}
	again.kept[0].StateHash[0] ^= 1
	if err := n.verifySnapshot(ledger.SnapshotHeader{Size: 10}, l); err == nil {
		t.Fatal("a snapshot that differs from a co-signed checkpoint was accepted")
	}
}

// publishedLedger is a ledger of fed's genesis and n publishes, signed in
// turn by fed's agencies, at Raft indexes 1..n; closed with the test.
func publishedLedger(t *testing.T, fed *ledgertest.Federation, n int) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.InitGenesis(fed.Genesis); err != nil {
		t.Fatal(err)
	}
	var es []ledger.Entry
	for i := range n {
		ag := fed.Agencies[i%len(fed.Agencies)]
		e := ledgertest.Envelope(ledgertest.GenesisTimeMs+1, ag.Sign(ledger.TypePublish, fmt.Sprintf("pub-%06d", i), ledger.ListingPayload{Token: ledgertest.Token(fmt.Sprint("pub", i)), Attrs: ledgertest.Attrs()}))
		e.Index = uint64(i + 1)
		es = append(es, e)
	}
	if n > 0 {
		if _, err := l.ApplyBatch(es); err != nil {
			t.Fatal(err)
		}
	}
	return l
}
