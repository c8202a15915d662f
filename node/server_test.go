package node_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// TestEveryEndpoint walks every listing, reservation, ledger, cluster and
// health endpoint through the protocol client, in the order an officer and
// an auditor would use them, checking what each returns and what the
// ledger holds after.
func TestEveryEndpoint(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	m, aud, op := e.client(node.RoleMatching), e.client(node.RoleAuditor), e.client(node.RoleOperator)
	tok, other := protocol.NewToken(), protocol.NewToken()
	var hold, hold2 uint64
	today := e.clock.Now().UTC().Format(time.DateOnly)

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"publish", func(t *testing.T) {
			r, err := m.Publish(ctx, protocol.ListingRequest{Token: tok, Attrs: ledgertest.Attrs()}, "")
			if err != nil || !r.Accepted || r.Seq != 1 || r.EntryHash == nil || r.Root == nil || r.TreeSize != 2 || r.Replayed {
				t.Fatalf("%v %+v", err, r)
			}
			if _, err := m.Publish(ctx, protocol.ListingRequest{Token: other, Attrs: ledgertest.Attrs()}, ""); err != nil {
				t.Fatal(err)
			}
		}},
		{"search", func(t *testing.T) {
			res, err := m.Search(ctx, protocol.SearchValues(ledger.SearchQuery{Regions: []string{"north_west"}, Children: 2,
				NeedsMin: map[string]ledger.Level{"trauma_attachment": ledger.LevelMedium}, Limit: 1}))
			if err != nil || res.Total != 2 || len(res.Listings) != 1 || res.Listings[0].Token != tok || res.Next == 0 {
				t.Fatalf("%v %+v", err, res)
			}
			page2, err := m.Search(ctx, url.Values{"region": {"north_west"}, "after": {itoa(uint64(res.Next))}})
			if err != nil || len(page2.Listings) != 1 || page2.Listings[0].Token != other {
				t.Fatalf("page 2: %v %+v", err, page2)
			}
			if res, err := op.Search(ctx, url.Values{"need.trauma_attachment": {"high"}}); err != nil || res.Total != 0 || res.Listings == nil {
				t.Fatalf("need filter: %v %+v", err, res)
			}
		}},
		{"update", func(t *testing.T) {
			attrs := ledgertest.Attrs()
			attrs.TravelBand = "national"
			if _, err := m.Update(ctx, tok, attrs, ""); err != nil {
				t.Fatal(err)
			}
			v, err := m.Listing(ctx, tok, false)
			if err != nil || v.Attrs.TravelBand != "national" {
				t.Fatalf("%v %+v", err, v.Attrs)
			}
		}},
		{"pause and resume", func(t *testing.T) {
			if _, err := m.Pause(ctx, tok, ""); err != nil {
				t.Fatal(err)
			}
			if v, _ := m.Listing(ctx, tok, false); v.Status != ledger.StatusPaused {
				t.Fatalf("status %s", v.Status)
			}
			if _, err := m.Resume(ctx, tok, ""); err != nil {
				t.Fatal(err)
			}
		}},
		{"reserve", func(t *testing.T) {
			r, err := m.Reserve(ctx, protocol.ReserveRequest{Listing: tok, ChildTokens: []string{protocol.NewToken()}, Flags: []string{"age_5_plus"}}, "")
			if err != nil || r.ID == 0 || r.ID != r.Seq {
				t.Fatalf("%v %+v", err, r)
			}
			hold = r.ID
			v, err := m.Listing(ctx, tok, true)
			if err != nil || v.Status != ledger.StatusReserved || v.Hold == nil || v.Hold.ID != hold {
				t.Fatalf("%v %+v", err, v)
			}
		}},
		{"reservation and list", func(t *testing.T) {
			r, err := m.Reservation(ctx, hold, false)
			if err != nil || r.Holder != "a1" || r.Status != ledger.ResActive {
				t.Fatalf("%v %+v", err, r)
			}
			rs, err := e.client(node.RoleFinance).Reservations(ctx, "", ledger.ResActive)
			if err != nil || len(rs) != 1 || rs[0].ID != hold {
				t.Fatalf("%v %+v", err, rs)
			}
			if rs, err := m.Reservations(ctx, "a2", ""); err != nil || len(rs) != 0 || rs == nil {
				t.Fatalf("other agency: %v %+v", err, rs)
			}
		}},
		{"extend, confirm, place", func(t *testing.T) {
			before, _ := m.Reservation(ctx, hold, false)
			if _, err := m.Extend(ctx, hold, ""); err != nil {
				t.Fatal(err)
			}
			if r, _ := m.Reservation(ctx, hold, false); r.Extensions != 1 || r.ExpiresMs <= before.ExpiresMs {
				t.Fatalf("extend: %+v", r)
			}
			if _, err := m.Confirm(ctx, hold, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Place(ctx, hold, today, ""); err != nil {
				t.Fatal(err)
			}
			if v, _ := m.Listing(ctx, tok, false); v.Status != ledger.StatusPlaced {
				t.Fatalf("status %s", v.Status)
			}
		}},
		{"release", func(t *testing.T) {
			r, err := m.Reserve(ctx, protocol.ReserveRequest{Listing: other, ChildTokens: []string{protocol.NewToken()}}, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Release(ctx, r.ID, "not_a_match", ""); err != nil {
				t.Fatal(err)
			}
			if got, _ := m.Reservation(ctx, r.ID, false); got.Status != ledger.ResReleased || got.EndReason != "not_a_match" {
				t.Fatalf("%+v", got)
			}
		}},
		{"expire", func(t *testing.T) {
			r, err := m.Reserve(ctx, protocol.ReserveRequest{Listing: other, ChildTokens: []string{protocol.NewToken()}, HoldDays: 7}, "")
			if err != nil {
				t.Fatal(err)
			}
			hold2 = r.ID
			_, err = m.Expire(ctx, hold2, "")
			expectProblem(t, err, http.StatusConflict, string(ledger.CodeConflict)) // not due yet
			e.clock.Advance(8 * 24 * time.Hour)
			if _, err := m.Expire(ctx, hold2, ""); err != nil {
				t.Fatal(err)
			}
			if got, _ := m.Reservation(ctx, hold2, true); got.Status != ledger.ResExpired {
				t.Fatalf("%+v", got)
			}
		}},
		{"withdraw", func(t *testing.T) {
			if _, err := m.Withdraw(ctx, other, ""); err != nil {
				t.Fatal(err)
			}
			if v, _ := op.Listing(ctx, other, false); v.Status != ledger.StatusWithdrawn {
				t.Fatalf("status %s", v.Status)
			}
		}},
		{"history", func(t *testing.T) {
			h, err := aud.History(ctx, tok)
			if err != nil || len(h) != 8 { // publish update pause resume reserve extend confirm place
				t.Fatalf("%v: %d entries", err, len(h))
			}
			if h[0].Command == nil || h[0].Command.Type != ledger.TypePublish || h[7].Command.Type != ledger.TypePlace {
				t.Fatalf("%+v", h)
			}
		}},
		{"entry", func(t *testing.T) {
			en, err := aud.Entry(ctx, 1)
			if err != nil || en.Seq != 1 || en.Command == nil || en.Command.Type != ledger.TypePublish {
				t.Fatalf("%v %+v", err, en)
			}
			payload, err := ledger.VerifyCompact([]byte(en.Signed), e.fed.Agencies[0].Key.Public().(ed25519.PublicKey))
			if err != nil || !strings.Contains(string(payload), tok) {
				t.Fatalf("the entry's signature does not verify with a1's key: %v", err)
			}
			if strings.Contains(string(payload), envSubject) || en.Command.User == "" {
				t.Fatalf("the acting user should be a pseudonym: %q", en.Command.User)
			}
			if g, err := aud.Entry(ctx, 0); err != nil || g.Kind != "genesis" || g.Signed == "" {
				t.Fatalf("genesis: %v %+v", err, g)
			}
		}},
		{"head and proofs", func(t *testing.T) {
			h, err := aud.Head(ctx, true)
			if err != nil || h.Size != e.size(t) {
				t.Fatalf("%v %+v", err, h)
			}
			ip, err := aud.Inclusion(ctx, 3, 0)
			if err != nil || ip.Verify() != nil || ip.Root != h.Root || ip.Size != h.Size {
				t.Fatalf("inclusion: %v %+v", err, ip)
			}
			cp, err := aud.Consistency(ctx, 2, h.Size)
			if err != nil || cp.Verify() != nil || cp.Root2 != h.Root {
				t.Fatalf("consistency: %v %+v", err, cp)
			}
		}},
		{"cluster and agencies", func(t *testing.T) {
			st, err := e.client(node.RoleFinance).Cluster(ctx)
			if err != nil || st.NodeID != "a1-node" || st.LeaderID != "a1-node" || st.Head.Size != e.size(t) || st.AppliedIndex == 0 {
				t.Fatalf("%v %+v", err, st)
			}
			ags, err := aud.Agencies(ctx)
			if err != nil || len(ags) != 2 || ags[0].ID != "a1" || ags[1].ID != "a2" {
				t.Fatalf("%v %+v", err, ags)
			}
		}},
		{"health", func(t *testing.T) {
			anon := protocol.NewClient(e.url, "", nil)
			if err := anon.Healthz(ctx); err != nil {
				t.Fatal(err)
			}
			if err := anon.Readyz(ctx); err != nil {
				t.Fatal(err)
			}
			notReady := error(errString("catching up: applied 3 of 9"))
			e.ready.Store(&notReady)
			pe := expectProblem(t, anon.Readyz(ctx), http.StatusServiceUnavailable, protocol.ProblemNotReady)
			if !strings.Contains(pe.Detail, "catching up") {
				t.Fatalf("detail %q", pe.Detail)
			}
			if err := anon.Healthz(ctx); err != nil {
				t.Fatalf("not ready is still alive: %v", err)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return
		}
	}
	if err := e.l.Check(); err != nil {
		t.Fatal(err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func itoa(n uint64) string { b, _ := json.Marshal(n); return string(b) }
