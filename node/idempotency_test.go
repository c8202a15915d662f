package node_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/raaft/raaft/consensus"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// TestIdempotentReplay: a retry with the same key gets the first answer,
// status and body byte for byte, marked Idempotent-Replayed, and writes
// nothing; for a rejection as for an acceptance.
func TestIdempotentReplay(t *testing.T) {
	e := newTestEnv(t)
	body := goodListing(t)
	key := map[string]string{"Idempotency-Key": "replay-key-01"}
	first := e.do(t, "POST", "/v1/listings", body, node.RoleMatching, key)
	size := e.size(t)
	second := e.do(t, "POST", "/v1/listings", body, node.RoleMatching, key)
	switch {
	case first.status != http.StatusCreated || first.header.Get("Idempotent-Replayed") != "":
		t.Fatalf("first: %d %q %s", first.status, first.header.Get("Idempotent-Replayed"), first.body)
	case second.status != first.status || second.body != first.body:
		t.Fatalf("replay differs:\n%d %s\n%d %s", first.status, first.body, second.status, second.body)
	case second.header.Get("Idempotent-Replayed") != "true":
		t.Fatal("replay not marked Idempotent-Replayed")
	case e.size(t) != size:
		t.Fatal("the replay was applied again")
	}

	// a rejection replays too: same problem, marked
	var tok ledger.ListingPayload
	_ = json.Unmarshal([]byte(body), &tok)
	if _, err := e.client(node.RoleMatching).Reserve(context.Background(), protocol.ReserveRequest{Listing: tok.Token, ChildTokens: []string{protocol.NewToken()}}, ""); err != nil {
		t.Fatal(err)
	}
	hold := `{"listing":"` + tok.Token + `","child_tokens":["` + protocol.NewToken() + `"]}`
	rkey := map[string]string{"Idempotency-Key": "replay-key-02"}
	r1 := e.do(t, "POST", "/v1/reservations", hold, node.RoleMatching, rkey)
	r2 := e.do(t, "POST", "/v1/reservations", hold, node.RoleMatching, rkey)
	if r1.status != http.StatusConflict || r2.status != r1.status || r2.body != r1.body || r2.header.Get("Idempotent-Replayed") != "true" || r1.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("rejection replay:\n%d %v %s\n%d %v %s", r1.status, r1.header, r1.body, r2.status, r2.header, r2.body)
	}
}

// TestIdempotencyKeyScope: keys belong to one user and one kind of write.
// The same key from another officer is another write; the same key reused
// by the same officer for a different request is refused, not answered
// with the first request's result.
func TestIdempotencyKeyScope(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	alice := protocol.NewClient(e.url, e.token(t, "alice@a1.example", node.RoleMatching), nil)
	bob := protocol.NewClient(e.url, e.token(t, "bob@a1.example", node.RoleMatching), nil)
	ta, tb := e.publish(t), e.publish(t)

	ra, err := alice.Reserve(ctx, protocol.ReserveRequest{Listing: ta, ChildTokens: []string{protocol.NewToken()}}, "shared-key-1")
	if err != nil {
		t.Fatal(err)
	}
	rb, err := bob.Reserve(ctx, protocol.ReserveRequest{Listing: tb, ChildTokens: []string{protocol.NewToken()}}, "shared-key-1")
	if err != nil || rb.Replayed || rb.ID == ra.ID {
		t.Fatalf("bob's write was answered with alice's: %v %+v", err, rb)
	}
	_, err = alice.Reserve(ctx, protocol.ReserveRequest{Listing: tb, ChildTokens: []string{protocol.NewToken()}}, "shared-key-1")
	pe := expectProblem(t, err, http.StatusUnprocessableEntity, protocol.ProblemIdempotencyKeyReused)
	if pe.Field != "Idempotency-Key" {
		t.Fatalf("field %q", pe.Field)
	}
	// the same key for another kind of write is another write
	if _, err := alice.Pause(ctx, ta, "shared-key-1"); err == nil {
		t.Fatal("pausing a reserved listing should be refused by the ledger")
	} else {
		expectProblem(t, err, http.StatusConflict, string(ledger.CodeConflict))
	}
	if got, _ := e.l.Reservation(ra.ID); got.Holder != "a1" {
		t.Fatalf("%+v", got)
	}
}

// TestClientRetriesWithTheSameKey: the client retries a write whose
// outcome it cannot know with the same key; when the first attempt did
// land, the retry is answered with its result and nothing is written twice.
func TestClientRetriesWithTheSameKey(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.client(node.RoleMatching)
	t.Run("no leader, then a leader", func(t *testing.T) {
		e.rep.failNext(consensus.ErrNoLeader, consensus.ErrNoLeader)
		before, size := e.rep.proposals.Load(), e.size(t)
		r, err := c.Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, "")
		if err != nil || !r.Accepted || r.Replayed {
			t.Fatalf("%v %+v", err, r)
		}
		if n := e.rep.proposals.Load() - before; n != 3 || e.size(t) != size+1 {
			t.Fatalf("%d proposals, %d entries", n, e.size(t)-size)
		}
	})
	t.Run("applied but timed out", func(t *testing.T) {
		e.rep.failAfterApplying(context.DeadlineExceeded)
		size := e.size(t)
		r, err := c.Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, "")
		if err != nil || !r.Accepted || !r.Replayed {
			t.Fatalf("%v %+v", err, r)
		}
		if e.size(t) != size+1 {
			t.Fatalf("written %d times", e.size(t)-size)
		}
	})
}

// TestLinearizableReads: consistency=linearizable waits for the
// Replicator's Barrier before reading; the default (local) does not.
func TestLinearizableReads(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	tok := e.publish(t)
	m := e.client(node.RoleMatching)
	r, err := m.Reserve(ctx, protocol.ReserveRequest{Listing: tok, ChildTokens: []string{protocol.NewToken()}}, "")
	if err != nil {
		t.Fatal(err)
	}
	reads := []struct {
		name         string
		linearizable bool
		read         func() error
	}{
		{"listing local", false, func() error { _, err := m.Listing(ctx, tok, false); return err }},
		{"listing linearizable", true, func() error { _, err := m.Listing(ctx, tok, true); return err }},
		{"reservation linearizable", true, func() error { _, err := m.Reservation(ctx, r.ID, true); return err }},
		{"head linearizable", true, func() error { _, err := m.Head(ctx, true); return err }},
		{"head local", false, func() error { _, err := m.Head(ctx, false); return err }},
		{"search linearizable", true, func() error {
			_, err := m.Search(ctx, map[string][]string{"consistency": {"linearizable"}, "status": {"reserved"}})
			return err
		}},
		{"search explicitly local", false, func() error {
			_, err := m.Search(ctx, map[string][]string{"consistency": {"local"}})
			return err
		}},
	}
	for _, rd := range reads {
		t.Run(rd.name, func(t *testing.T) {
			before := e.rep.barriers.Load()
			if err := rd.read(); err != nil {
				t.Fatal(err)
			}
			if called := e.rep.barriers.Load() > before; called != rd.linearizable {
				t.Fatalf("barrier called %v; want %v", called, rd.linearizable)
			}
		})
	}
}
