package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// TestReadyMeansCaughtUpWithTheLeader: a follower restarted while 1,500
// entries were written without it must not say ready until it holds them
// all: its first 200 from /readyz comes with no lag, and its own head is
// then at least the federation's head from before it restarted. Before,
// readiness compared with the commit index the node knew at start (its
// own, old one), and said ready thousands of entries behind.
func TestReadyMeansCaughtUpWithTheLeader(t *testing.T) {
	ctx := processTest(t, 3*time.Minute)
	fed := startFederation(t, ctx, nil)
	ld := fed.leader(t, ctx)
	f, g := (ld+1)%3, (ld+2)%3
	devStop(fed.nodes[f : f+1])
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1500 / 8 {
				if _, err := fed.clients[g].Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, fmt.Sprintf("ready-%d-%04d", w, i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	before, err := fed.clients[g].Head(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := fed.nodes[f].start(fed.bin); err != nil {
		t.Fatal(err)
	}
	c := protocol.NewClient("https://"+fed.nodes[f].apiAddr, "", fed.hc)
	var notReady []string
	for {
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		rd, err := c.Readiness(rctx)
		rcancel()
		if err == nil {
			h, herr := fed.clients[f].Head(ctx, false)
			if herr != nil || h.Size < before.Size || rd.LagEntries != 0 || rd.AppliedIndex < rd.LeaderIndex {
				t.Fatalf("ready (%+v) with head %d (%v); the federation held %d before it restarted", rd, h.Size, herr, before.Size)
			}
			break
		}
		if len(notReady) < 5 && strings.Contains(err.Error(), "catching up") {
			notReady = append(notReady, err.Error())
		}
		if ctx.Err() != nil {
			t.Fatalf("never ready: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("before ready: %q", notReady)
}

// TestRemovedNodeSaysSo: once its agency's operator removes a follower
// from the registry, the follower's /readyz says it was removed (not
// "no leader", not ready), and the others leave it out of the Raft
// configuration and stay ready.
func TestRemovedNodeSaysSo(t *testing.T) {
	ctx := processTest(t, 2*time.Minute)
	fed := startFederation(t, ctx, nil)
	ld := fed.leader(t, ctx)
	f, g := (ld+1)%3, (ld+2)%3
	toks, err := devTokens(fed.nodes[f])
	if err != nil {
		t.Fatal(err)
	}
	id := fed.nodes[f].ag.id + "-node1"
	op := protocol.NewClient("https://"+fed.nodes[f].apiAddr, toks[node.RoleOperator], fed.hc)
	if _, err := op.RemoveNode(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	c := protocol.NewClient("https://"+fed.nodes[f].apiAddr, "", fed.hc)
	for {
		err := c.Ready(ctx)
		if err != nil && strings.Contains(err.Error(), "removed") {
			t.Log(err)
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the removed node's /readyz: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		st, err := fed.clients[g].Cluster(ctx)
		if err == nil && len(st.Servers) == 2 && !slices.ContainsFunc(st.Servers, func(s protocol.Server) bool { return s.ID == id }) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%s is still in the configuration: %+v, %v", id, st.Servers, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, i := range []int{ld, g} {
		if err := protocol.NewClient("https://"+fed.nodes[i].apiAddr, "", fed.hc).Ready(ctx); err != nil {
			t.Fatalf("%s after the removal: %v", fed.nodes[i].ag.id, err)
		}
	}
}

// TestNodeGauges: /metrics says where each node stands now: the leader's
// raaft_node_raft_state{state="leader"} is 1 and a follower's
// {state="follower"}, and each node's ledger entries and applied index
// are its head's.
func TestNodeGauges(t *testing.T) {
	ctx := processTest(t, 2*time.Minute)
	fed := startFederation(t, ctx, nil)
	ld := fed.leader(t, ctx)
	if _, err := fed.clients[ld].Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, ""); err != nil {
		t.Fatal(err)
	}
	h := fed.sameHeads(t, ctx, 0)
	for i, nd := range fed.nodes {
		m, err := protocol.NewClient("https://"+nd.apiAddr, "", fed.hc).Metrics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		state := "follower"
		if i == ld {
			state = "leader"
		}
		for _, want := range []string{
			fmt.Sprintf("raaft_node_raft_state{state=%q} 1", state),
			fmt.Sprintf("raaft_node_ledger_entries %d\n", h.Size),
			"raaft_node_raft_term ",
			"raaft_node_raft_applied_index ",
			"raaft_node_raft_last_snapshot_index ",
		} {
			if !strings.Contains(string(m), want) {
				t.Fatalf("%s's metrics lack %q", nd.ag.id, want)
			}
		}
	}
}
