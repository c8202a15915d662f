package node_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// TestLocalReplicator: proposals are applied in order with increasing
// indexes stamped with the injected clock; concurrent proposals are
// serialised; a reopened ledger continues after its last applied index;
// a done context applies nothing.
func TestLocalReplicator(t *testing.T) {
	fed := ledgertest.NewFederation(1)
	a1 := fed.Agencies[0]
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := ledger.Open(path, ledger.Options{NoSync: true, Strict: true})
	must(t, err)
	must(t, l.InitGenesis(fed.Genesis))
	at := time.UnixMilli(ledgertest.GenesisTimeMs).Add(time.Hour)
	r, err := node.NewLocalReplicator(l, "n1", "a1", func() time.Time { return at })
	must(t, err)
	ctx := context.Background()

	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := r.Propose(ctx, a1.Sign(ledger.TypePublish, fmt.Sprintf("publish-%04d", i), ledger.ListingPayload{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}))
			if err != nil || !res.Accepted {
				t.Errorf("%v %+v", err, res.Rejection)
			}
		})
	}
	wg.Wait()
	st := r.Status()
	if st.AppliedIndex != n || st.CommitIndex != n || st.Head.Size != n+1 || st.LeaderID != "n1" || st.State != "Leader" || st.Agency != "a1" {
		t.Fatalf("%+v", st)
	}
	if h, _ := l.Head(); h.ClockMs != at.UnixMilli() {
		t.Fatalf("ledger clock %d; the envelope time was %d", h.ClockMs, at.UnixMilli())
	}
	dup, err := r.Propose(ctx, a1.Sign(ledger.TypePublish, "publish-0000", ledger.ListingPayload{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}))
	if err != nil || !dup.Duplicate {
		t.Fatalf("a retried id should be a duplicate: %v %+v", err, dup)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Propose(done, a1.Sign(ledger.TypePublish, "publish-late", ledger.ListingPayload{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()})); !errors.Is(err, context.Canceled) {
		t.Fatalf("done context: %v", err)
	}
	if err := r.Barrier(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("barrier on a done context: %v", err)
	}
	must(t, l.Close())

	l2, err := ledger.Open(path, ledger.Options{NoSync: true, Strict: true})
	must(t, err)
	defer l2.Close()
	r2, err := node.NewLocalReplicator(l2, "n1", "a1", nil)
	must(t, err)
	res, err := r2.Propose(ctx, a1.Sign(ledger.TypePublish, "publish-after", ledger.ListingPayload{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}))
	if err != nil || !res.Accepted || res.Skipped || r2.Status().AppliedIndex != n+2 {
		t.Fatalf("after reopening: %v %+v %+v", err, res, r2.Status())
	}
}
