package ledger_test

import (
	"strings"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

func TestListingLifecycle(t *testing.T) {
	x := newTL(t, 3)
	tok := x.publish(0, "l1")
	if v := x.listing(tok); v.Status != ledger.StatusAvailable || v.Agency != "a1" {
		t.Fatalf("after publish: %+v", v.Listing)
	}
	x.rejected(ledger.CodeConflict, 0, ledger.TypePublish, ledger.ListingPayload{Token: tok, Attrs: ledgertest.Attrs()})
	// only the approving agency changes its listing
	x.rejected(ledger.CodeUnauthorised, 1, ledger.TypePause, ledger.TokenPayload{Token: tok})
	x.rejected(ledger.CodeUnauthorised, 1, ledger.TypeUpdate, ledger.ListingPayload{Token: tok, Attrs: ledgertest.Attrs()})
	x.rejected(ledger.CodeUnauthorised, 1, ledger.TypeWithdraw, ledger.TokenPayload{Token: tok})
	x.rejected(ledger.CodeConflict, 0, ledger.TypeResume, ledger.TokenPayload{Token: tok})
	x.ok(0, ledger.TypePause, ledger.TokenPayload{Token: tok})
	if x.listing(tok).Status != ledger.StatusPaused {
		t.Fatal("not paused")
	}
	x.rejected(ledger.CodeConflict, 1, ledger.TypeReserve, ledger.ReservePayload{Listing: tok, ChildTokens: []string{ledgertest.Token("c")}})
	x.ok(0, ledger.TypeResume, ledger.TokenPayload{Token: tok})
	attrs := ledgertest.Attrs()
	attrs.Region = "london"
	x.ok(0, ledger.TypeUpdate, ledger.ListingPayload{Token: tok, Attrs: attrs})
	if x.listing(tok).Attrs.Region != "london" {
		t.Fatal("update not applied")
	}
	x.ok(0, ledger.TypeWithdraw, ledger.TokenPayload{Token: tok})
	x.rejected(ledger.CodeConflict, 0, ledger.TypeUpdate, ledger.ListingPayload{Token: tok, Attrs: attrs})
	x.rejected(ledger.CodeNotFound, 0, ledger.TypePause, ledger.TokenPayload{Token: ledgertest.Token("nope")})
	hist, err := x.l.ListingHistory(tok, 100)
	if err != nil || len(hist) != 5 {
		t.Fatalf("history: %d entries, err %v; want 5 (publish, pause, resume, update, withdraw)", len(hist), err)
	}
	if hist[0].Command.Type != ledger.TypePublish || hist[4].Command.Type != ledger.TypeWithdraw {
		t.Fatalf("history order: %s .. %s", hist[0].Command.Type, hist[4].Command.Type)
	}
}

func TestApprovalDateNotInFuture(t *testing.T) {
	x := newTL(t, 1)
	a := ledgertest.Attrs()
	a.ApprovalDate = "2027-01-01" // genesis is 2026-04-01
	x.rejected(ledger.CodeInvalid, 0, ledger.TypePublish, ledger.ListingPayload{Token: ledgertest.Token("f"), Attrs: a})
}

func TestReservationExclusive(t *testing.T) {
	x := newTL(t, 3)
	tok := x.publish(0, "l1")
	r := x.reserve(1, tok, "c1")
	if !r.Accepted {
		t.Fatalf("first reserve rejected: %v", r.Rejection)
	}
	v := x.listing(tok)
	if v.Status != ledger.StatusReserved || v.Hold == nil || v.Hold.Holder != "a2" || v.Hold.ID != r.Seq {
		t.Fatalf("after reserve: %+v", v)
	}
	wantExp := x.now + 28*ledgertest.DayMs
	if v.Hold.ExpiresMs != wantExp {
		t.Fatalf("expires %d, want default 28 days %d", v.Hold.ExpiresMs, wantExp)
	}
	second := x.reserve(2, tok, "c2")
	if second.Accepted || second.Rejection.Code != ledger.CodeConflict || second.Rejection.HoldExpiresMs != wantExp {
		t.Fatalf("second reserve: %+v; want conflict naming expiry %d", second.Rejection, wantExp)
	}
	if !strings.Contains(second.Rejection.Message, "a2") {
		t.Fatalf("conflict should name the holder: %s", second.Rejection.Message)
	}
	// same agency, another child: still one hold per listing
	if again := x.reserve(1, tok, "c3"); again.Accepted {
		t.Fatal("second hold by the same agency accepted")
	}
}

func TestReservationFitAndPolicy(t *testing.T) {
	x := newTL(t, 2)
	tok := x.publish(0, "l1")
	x.rejected(ledger.CodeInvalid, 1, ledger.TypeReserve, ledger.ReservePayload{Listing: tok,
		ChildTokens: []string{ledgertest.Token("a"), ledgertest.Token("b"), ledgertest.Token("c")}}) // approved for 2
	x.rejected(ledger.CodeInvalid, 1, ledger.TypeReserve, ledger.ReservePayload{Listing: tok,
		ChildTokens: []string{ledgertest.Token("a")}, HoldDays: 29}) // policy max 28
	x.rejected(ledger.CodeNotFound, 1, ledger.TypeReserve, ledger.ReservePayload{Listing: ledgertest.Token("none"),
		ChildTokens: []string{ledgertest.Token("a")}})
	a := ledgertest.Attrs()
	a.ChildrenMax, a.SiblingGroupOK = 1, false
	single := ledgertest.Token("single")
	x.ok(0, ledger.TypePublish, ledger.ListingPayload{Token: single, Attrs: a})
	x.rejected(ledger.CodeInvalid, 1, ledger.TypeReserve, ledger.ReservePayload{Listing: single,
		ChildTokens: []string{ledgertest.Token("a"), ledgertest.Token("b")}})
	r := x.do(1, ledger.TypeReserve, ledger.ReservePayload{Listing: single, ChildTokens: []string{ledgertest.Token("a")}, HoldDays: 7})
	if !r.Accepted {
		t.Fatal(r.Rejection)
	}
	if res, _ := x.l.Reservation(r.Seq); res.ExpiresMs != x.now+7*ledgertest.DayMs {
		t.Fatalf("hold_days 7 not honoured: %d", res.ExpiresMs)
	}
}

func TestHoldsPerChildLimit(t *testing.T) {
	x := newTL(t, 2)
	for i := range 4 {
		x.publish(0, "l"+string(rune('a'+i)))
	}
	for i := range 3 {
		if r := x.reserve(1, ledgertest.Token("l"+string(rune('a'+i))), "same-child"); !r.Accepted {
			t.Fatalf("hold %d: %v", i, r.Rejection)
		}
	}
	rj := x.rejected(ledger.CodeConflict, 1, ledger.TypeReserve, ledger.ReservePayload{Listing: ledgertest.Token("ld"), ChildTokens: []string{ledgertest.Token("child-same-child")}})
	if !strings.Contains(rj.Message, "3 active holds") {
		t.Fatalf("message: %s", rj.Message)
	}
	// once one of them expires, the child may be held again
	x.now += 29 * ledgertest.DayMs
	if r := x.reserve(1, ledgertest.Token("ld"), "same-child"); !r.Accepted {
		t.Fatalf("after expiry: %v", r.Rejection)
	}
}

func TestExtendOnce(t *testing.T) {
	x := newTL(t, 3)
	tok := x.publish(0, "l1")
	id := x.reserve(1, tok, "c1").Seq
	x.rejected(ledger.CodeUnauthorised, 2, ledger.TypeExtend, ledger.ReservationPayload{ReservationID: id})
	x.rejected(ledger.CodeUnauthorised, 0, ledger.TypeExtend, ledger.ReservationPayload{ReservationID: id})
	before, _ := x.l.Reservation(id)
	x.ok(1, ledger.TypeExtend, ledger.ReservationPayload{ReservationID: id})
	after, _ := x.l.Reservation(id)
	if after.ExpiresMs != before.ExpiresMs+28*ledgertest.DayMs || after.Extensions != 1 {
		t.Fatalf("extend: %+v", after)
	}
	x.rejected(ledger.CodeConflict, 1, ledger.TypeExtend, ledger.ReservationPayload{ReservationID: id})
	x.rejected(ledger.CodeNotFound, 1, ledger.TypeExtend, ledger.ReservationPayload{ReservationID: 9999})
	// the due index follows the new expiry
	if due, _ := x.l.DueHolds(before.ExpiresMs, 10); len(due) != 0 {
		t.Fatalf("old expiry still due: %v", due)
	}
	if due, _ := x.l.DueHolds(after.ExpiresMs, 10); len(due) != 1 || due[0] != id {
		t.Fatalf("new expiry not due: %v", due)
	}
}

func TestRelease(t *testing.T) {
	x := newTL(t, 3)
	tok := x.publish(0, "l1")
	id := x.reserve(1, tok, "c1").Seq
	x.rejected(ledger.CodeUnauthorised, 2, ledger.TypeRelease, ledger.ReleasePayload{ReservationID: id})
	x.rejected(ledger.CodeInvalid, 0, ledger.TypeRelease, ledger.ReleasePayload{ReservationID: id})                             // owner needs a reason
	x.rejected(ledger.CodeInvalid, 0, ledger.TypeRelease, ledger.ReleasePayload{ReservationID: id, Reason: "not_a_match"})      // a holder's reason
	x.rejected(ledger.CodeInvalid, 1, ledger.TypeRelease, ledger.ReleasePayload{ReservationID: id, Reason: "adopter_withdrew"}) // an owner's reason
	x.ok(1, ledger.TypeRelease, ledger.ReleasePayload{ReservationID: id, Reason: "not_a_match"})
	if v := x.listing(tok); v.Status != ledger.StatusAvailable || v.Hold != nil {
		t.Fatalf("after release: %+v", v)
	}
	x.rejected(ledger.CodeConflict, 1, ledger.TypeRelease, ledger.ReleasePayload{ReservationID: id})
	// owner release with a reason
	id2 := x.reserve(2, tok, "c2").Seq
	x.rejected(ledger.CodeConflict, 0, ledger.TypeWithdraw, ledger.TokenPayload{Token: tok}) // held: release first
	x.ok(0, ledger.TypeRelease, ledger.ReleasePayload{ReservationID: id2, Reason: "adopter_withdrew"})
	r2, _ := x.l.Reservation(id2)
	if r2.Status != ledger.ResReleased || r2.EndReason != "adopter_withdrew" {
		t.Fatalf("owner release: %+v", r2)
	}
	x.ok(0, ledger.TypeWithdraw, ledger.TokenPayload{Token: tok})
}

func TestExpiry(t *testing.T) {
	x := newTL(t, 3)
	tok := x.publish(0, "l1")
	id := x.reserve(1, tok, "c1").Seq
	rj := x.rejected(ledger.CodeConflict, 2, ledger.TypeExpire, ledger.ReservationPayload{ReservationID: id})
	if rj.HoldExpiresMs == 0 {
		t.Fatal("not-due rejection should name the expiry")
	}
	x.now += 28 * ledgertest.DayMs // exactly at expiry: due
	x.ok(2, ledger.TypeExpire, ledger.ReservationPayload{ReservationID: id})
	r, _ := x.l.Reservation(id)
	if r.Status != ledger.ResExpired || x.listing(tok).Status != ledger.StatusAvailable {
		t.Fatalf("after expire: %+v", r)
	}
	x.rejected(ledger.CodeConflict, 2, ledger.TypeExpire, ledger.ReservationPayload{ReservationID: id})
	// the holder can no longer confirm
	x.rejected(ledger.CodeConflict, 1, ledger.TypeConfirm, ledger.ReservationPayload{ReservationID: id})
}

func TestLazyExpiryOnTouch(t *testing.T) {
	x := newTL(t, 3)
	tok := x.publish(0, "l1")
	id := x.reserve(1, tok, "c1").Seq
	x.now += 28*ledgertest.DayMs + 1
	// a rejected command touching the hold changes nothing
	x.rejected(ledger.CodeUnauthorised, 2, ledger.TypeExtend, ledger.ReservationPayload{ReservationID: id})
	if r, _ := x.l.Reservation(id); r.Status != ledger.ResActive {
		t.Fatalf("a rejected command expired the hold: %s", r.Status)
	}
	// another agency's reserve expires it lazily and takes the listing
	r2 := x.reserve(2, tok, "c2")
	if !r2.Accepted {
		t.Fatalf("reserve after expiry: %v", r2.Rejection)
	}
	old, _ := x.l.Reservation(id)
	if old.Status != ledger.ResExpired || old.EndedSeq != r2.Seq {
		t.Fatalf("old hold: %+v; want expired by entry %d", old, r2.Seq)
	}
	if v := x.listing(tok); v.Hold.ID != r2.Seq {
		t.Fatalf("listing hold %d, want %d", v.Hold.ID, r2.Seq)
	}
}

func TestClockMonotonic(t *testing.T) {
	x := newTL(t, 3)
	tok := x.publish(0, "l1")
	id := x.reserve(1, tok, "c1").Seq
	x.now += 30 * ledgertest.DayMs
	x.publish(0, "l2")             // accepted: ledger clock moves to now
	x.now -= 30 * ledgertest.DayMs // a proposer with a slow clock
	// the hold is past due in ledger time even though this envelope is older
	x.ok(2, ledger.TypeExpire, ledger.ReservationPayload{ReservationID: id})
}

func TestConfirmAndPlace(t *testing.T) {
	x := newTL(t, 3)
	tok := x.publish(0, "l1")
	id := x.reserve(1, tok, "c1").Seq
	x.rejected(ledger.CodeConflict, 1, ledger.TypePlace, ledger.PlacePayload{ReservationID: id, MoveInDate: "2026-04-10"}) // not confirmed
	x.rejected(ledger.CodeUnauthorised, 0, ledger.TypeConfirm, ledger.ReservationPayload{ReservationID: id})
	x.ok(1, ledger.TypeConfirm, ledger.ReservationPayload{ReservationID: id})
	if v := x.listing(tok); v.Status != ledger.StatusMatched {
		t.Fatalf("after confirm: %s", v.Status)
	}
	x.rejected(ledger.CodeConflict, 1, ledger.TypeConfirm, ledger.ReservationPayload{ReservationID: id})
	x.rejected(ledger.CodeConflict, 1, ledger.TypeRelease, ledger.ReleasePayload{ReservationID: id})
	x.rejected(ledger.CodeConflict, 2, ledger.TypeReserve, ledger.ReservePayload{Listing: tok, ChildTokens: []string{ledgertest.Token("c9")}})
	x.rejected(ledger.CodeUnauthorised, 2, ledger.TypePlace, ledger.PlacePayload{ReservationID: id, MoveInDate: "2026-04-01"})
	x.rejected(ledger.CodeInvalid, 1, ledger.TypePlace, ledger.PlacePayload{ReservationID: id, MoveInDate: "2026-03-01"}) // before the hold
	x.rejected(ledger.CodeInvalid, 1, ledger.TypePlace, ledger.PlacePayload{ReservationID: id, MoveInDate: "2026-05-01"}) // in the future
	x.now += 5 * ledgertest.DayMs
	x.ok(1, ledger.TypePlace, ledger.PlacePayload{ReservationID: id, MoveInDate: "2026-04-05"})
	r, _ := x.l.Reservation(id)
	if r.Status != ledger.ResPlaced || r.MoveInDate != "2026-04-05" || x.listing(tok).Status != ledger.StatusPlaced {
		t.Fatalf("after place: %+v", r)
	}
	x.rejected(ledger.CodeConflict, 1, ledger.TypePlace, ledger.PlacePayload{ReservationID: id, MoveInDate: "2026-04-05"})
}

func TestConfirmAfterExpiryRejected(t *testing.T) {
	x := newTL(t, 2)
	tok := x.publish(0, "l1")
	id := x.reserve(1, tok, "c1").Seq
	x.now += 28 * ledgertest.DayMs
	x.rejected(ledger.CodeConflict, 1, ledger.TypeConfirm, ledger.ReservationPayload{ReservationID: id})
}

func TestReservationsByAgency(t *testing.T) {
	x := newTL(t, 3)
	t1, t2 := x.publish(0, "l1"), x.publish(0, "l2")
	r1 := x.reserve(1, t1, "c1").Seq
	r2 := x.reserve(2, t2, "c2").Seq
	held, _ := x.l.ReservationsByAgency("a2", "", 10)
	if len(held) != 1 || held[0].ID != r1 {
		t.Fatalf("a2 holds %+v", held)
	}
	owned, _ := x.l.ReservationsByAgency("a1", "", 10)
	if len(owned) != 2 || owned[0].ID != r2 || owned[1].ID != r1 {
		t.Fatalf("a1 (owner) sees %+v; want newest first", owned)
	}
	if act, _ := x.l.ReservationsByAgency("a3", ledger.ResReleased, 10); len(act) != 0 {
		t.Fatalf("status filter: %+v", act)
	}
}
