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
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.InitGenesis(fed.Genesis); err != nil {
		t.Fatal(err)
	}
	var es []ledger.Entry
	for i := range 40 {
		e := ledgertest.Envelope(ledgertest.GenesisTimeMs+1, fed.Agencies[0].Sign(ledger.TypePublish, fmt.Sprintf("cp-%06d", i), ledger.ListingPayload{Token: ledgertest.Token(fmt.Sprint("cp", i)), Attrs: ledgertest.Attrs()}))
		e.Index = uint64(i + 1)
		es = append(es, e)
	}
	if _, err := l.ApplyBatch(es); err != nil {
		t.Fatal(err)
	}
	n := &Node{cfg: Config{NodeID: "a1-node", Signer: fed.Agencies[0].Signer}, l: l, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	c := newCheckpoints(n)
	peer := &checkpoints{n: &Node{cfg: Config{NodeID: "a2-node", Signer: fed.Agencies[1].Signer}, l: l}}
	from := func(size uint64) CheckpointSignature {
		root, err := l.RootAt(size)
		if err != nil {
			t.Fatal(err)
		}
		s, err := peer.sign(size, root)
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
