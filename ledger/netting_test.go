package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// applyPlan applies a plan's transfers to positions and reports any agency
// left with a non-zero balance, or too many transfers.
func applyPlan(positions []ledger.NetPosition, ts []ledger.NetTransfer) error {
	bal := map[string]int64{}
	for _, p := range positions {
		bal[p.Agency] = p.NetPence
	}
	for _, t := range ts {
		if t.AmountPence <= 0 || t.From == t.To {
			return fmt.Errorf("transfer %+v", t)
		}
		bal[t.From] += t.AmountPence
		bal[t.To] -= t.AmountPence
	}
	for _, p := range positions {
		if bal[p.Agency] != 0 {
			return fmt.Errorf("agency %s left at %d after %v", p.Agency, bal[p.Agency], ts)
		}
	}
	if len(bal) != len(positions) {
		return fmt.Errorf("plan pays agencies without a position: %v", ts)
	}
	if len(ts) > max(len(positions)-1, 0) {
		return fmt.Errorf("%d transfers for %d agencies", len(ts), len(positions))
	}
	return nil
}

func TestPlanSettlement(t *testing.T) {
	cases := []struct {
		name string
		in   []ledger.NetPosition
		want []ledger.NetTransfer
	}{
		{"empty", nil, nil},
		{"all zero", []ledger.NetPosition{{"a", 0}, {"b", 0}}, nil},
		{"two", []ledger.NetPosition{{"a", 100}, {"b", -100}}, []ledger.NetTransfer{{"b", "a", 100}}},
		{"largest debtor to largest creditor", []ledger.NetPosition{{"a", 100}, {"b", -70}, {"c", -30}, {"d", 50}, {"e", -50}},
			[]ledger.NetTransfer{{"b", "a", 70}, {"e", "d", 50}, {"c", "a", 30}}},
		{"ties by id", []ledger.NetPosition{{"c", 10}, {"b", -10}, {"a", 10}, {"d", -10}},
			[]ledger.NetTransfer{{"b", "a", 10}, {"d", "c", 10}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ledger.PlanSettlement(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %v; want %v", got, c.want)
			}
			if err := applyPlan(c.in, got); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, bad := range [][]ledger.NetPosition{{{"a", 1}}, {{"a", 1}, {"a", -1}}, {{"a", -1 << 63}, {"b", 1}}} {
		if _, err := ledger.PlanSettlement(bad); err == nil {
			t.Errorf("positions %v accepted", bad)
		}
	}
	// random positions: always cleared, in at most n-1 transfers, the same plan in any input order
	r := rand.New(rand.NewPCG(3, 5))
	for range 500 {
		n := 1 + r.IntN(12)
		ps := make([]ledger.NetPosition, n)
		var sum int64
		for i := range n - 1 {
			ps[i] = ledger.NetPosition{Agency: fmt.Sprintf("ag%02d", i), NetPence: r.Int64N(2_000_000) - 1_000_000}
			sum += ps[i].NetPence
		}
		ps[n-1] = ledger.NetPosition{Agency: fmt.Sprintf("ag%02d", n-1), NetPence: -sum}
		got, err := ledger.PlanSettlement(ps)
		if err != nil {
			t.Fatal(err)
		}
		if err := applyPlan(ps, got); err != nil {
			t.Fatal(err)
		}
		r.Shuffle(n, func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		again, _ := ledger.PlanSettlement(ps)
		if fmt.Sprint(again) != fmt.Sprint(got) {
			t.Fatalf("plan depends on input order: %v vs %v", got, again)
		}
	}
}

func TestNettingEndToEnd(t *testing.T) {
	x := newTL(t, 5) // a5 takes no part
	const a1, a2, a3, a4, a5 = 0, 1, 2, 3, 4
	ack := func(debtor, creditor int, moveIn string) uint64 {
		o := x.placed(debtor, creditor, 1, moveIn)
		x.ok(creditor, ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: o.ID, AmountPence: o.AmountPence})
		x.ok(debtor, ledger.TypeAcknowledge, ledger.ObligationPayload{ObligationID: o.ID})
		return o.ID
	}
	o1 := ack(a2, a1, "2026-04-02") // a2 owes a1 27,000
	o2 := ack(a3, a2, "2026-04-03") // a3 owes a2 27,000
	o3 := ack(a1, a3, "2026-04-04") // a1 owes a3 27,000
	o4 := ack(a4, a1, "2026-04-05") // a4 owes a1 27,000
	// a2 owes a4 10,000 after a dispute
	o5 := x.placed(a2, a4, 1, "2026-04-06").ID
	x.ok(a4, ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: o5, AmountPence: fee27k})
	x.ok(a2, ledger.TypeDispute, ledger.DisputePayload{ObligationID: o5, Reason: "amount_incorrect"})
	x.ok(a4, ledger.TypeProposeResolution, ledger.ResolutionPayload{ObligationID: o5, AmountPence: 1_000_000})
	x.ok(a2, ledger.TypeAcceptResolution, ledger.ResolutionPayload{ObligationID: o5, AmountPence: 1_000_000})
	// not nettable: not agreed; a payment awaiting receipt; outside the period
	open := x.placed(a3, a1, 1, "2026-04-07").ID
	waiting := ack(a4, a3, "2026-04-08")
	pay := x.ok(a4, ledger.TypeRecordPayment, ledger.PaymentPayload{ObligationID: waiting, AmountPence: 100, Reference: ledgertest.Token("wait")}).Seq
	late := ack(a3, a4, "2026-05-10")

	period := ledger.Period{From: "2026-04-01", To: "2026-04-30"}
	plan, err := x.l.NettingPlan(period)
	if err != nil {
		t.Fatal(err)
	}
	// a1 +27,000; a2 -10,000; a3 0; a4 -17,000
	wantPos := []ledger.NetPosition{{"a1", 2_700_000}, {"a2", -1_000_000}, {"a3", 0}, {"a4", -1_700_000}}
	wantTs := []ledger.NetTransfer{{"a4", "a1", 1_700_000}, {"a2", "a1", 1_000_000}}
	if fmt.Sprint(plan.Obligations) != fmt.Sprint([]uint64{o1, o2, o3, o4, o5}) || fmt.Sprint(plan.Positions) != fmt.Sprint(wantPos) ||
		fmt.Sprint(plan.Transfers) != fmt.Sprint(wantTs) || plan.GrossPence != 4*fee27k+1_000_000 {
		t.Fatalf("plan %+v", plan)
	}
	if err := applyPlan(plan.Positions, plan.Transfers); err != nil {
		t.Fatal(err)
	}
	before, _ := x.balances()

	x.rejected(ledger.CodeUnauthorised, a5, ledger.TypeNettingOpen, ledger.NettingOpenPayload(period))
	x.rejected(ledger.CodeConflict, a1, ledger.TypeNettingOpen, ledger.NettingOpenPayload{From: "2025-04-01", To: "2025-04-30"}) // nothing to net
	x.rejected(ledger.CodeInvalid, a1, ledger.TypeNettingOpen, ledger.NettingOpenPayload{From: period.To, To: period.From})
	runID := x.ok(a3, ledger.TypeNettingOpen, ledger.NettingOpenPayload(period)).Seq // a3 nets to zero but is a party
	run, err := x.l.NettingRun(runID)
	if err != nil || run.Status != ledger.RunOpen || len(run.Legs) != 2 || run.Legs[0].From != "a4" || run.Legs[1].From != "a2" {
		t.Fatalf("run %+v %v", run, err)
	}
	for _, id := range []uint64{o1, o2, o3, o4, o5} {
		if o := x.wantStatus(id, ledger.FeeNetting); o.NettingRun != runID {
			t.Fatalf("obligation %d in run %d", id, o.NettingRun)
		}
	}
	x.wantStatus(open, ledger.FeeOpen)
	x.wantStatus(waiting, ledger.FeeAcknowledged)
	x.wantStatus(late, ledger.FeeAcknowledged)
	// novation changes no agency's balance
	if after, _ := x.balances(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("balances changed by netting: %v -> %v", before, after)
	}
	// netted obligations are no longer paid or written off one by one
	x.rejected(ledger.CodeConflict, a2, ledger.TypeRecordPayment, ledger.PaymentPayload{ObligationID: o1, AmountPence: 1, Reference: ledgertest.Token("n1")})
	x.rejected(ledger.CodeConflict, a2, ledger.TypeRequestWriteOff, ledger.WriteOffPayload{ObligationID: o1, Reason: "agreed_waiver"})
	x.rejected(ledger.CodeConflict, a1, ledger.TypeNettingOpen, ledger.NettingOpenPayload(period)) // nothing left
	if fp, _ := x.l.FeePosition("a4", "2026-05-01"); fp.OwesPence != 1_700_000+fee27k-100 || fp.DuePence != fp.OwesPence || fp.OwedPence != fee27k || fp.OwedDuePence != 0 {
		t.Fatalf("a4 position %+v", fp)
	}

	x.rejected(ledger.CodeUnauthorised, a1, ledger.TypeNettingPay, ledger.NettingPayPayload{RunID: runID, Leg: 0, Reference: ledgertest.Token("leg0")})
	x.rejected(ledger.CodeConflict, a1, ledger.TypeNettingConfirm, ledger.NettingLegPayload{RunID: runID, Leg: 0})
	x.rejected(ledger.CodeNotFound, a4, ledger.TypeNettingPay, ledger.NettingPayPayload{RunID: runID, Leg: 2, Reference: ledgertest.Token("leg0")})
	x.rejected(ledger.CodeNotFound, a4, ledger.TypeNettingPay, ledger.NettingPayPayload{RunID: 9999, Leg: 0, Reference: ledgertest.Token("leg0")})
	x.ok(a4, ledger.TypeNettingPay, ledger.NettingPayPayload{RunID: runID, Leg: 0, Reference: ledgertest.Token("leg0")})
	x.rejected(ledger.CodeConflict, a4, ledger.TypeNettingPay, ledger.NettingPayPayload{RunID: runID, Leg: 0, Reference: ledgertest.Token("leg0b")})
	x.rejected(ledger.CodeUnauthorised, a4, ledger.TypeNettingConfirm, ledger.NettingLegPayload{RunID: runID, Leg: 0})
	x.ok(a1, ledger.TypeNettingConfirm, ledger.NettingLegPayload{RunID: runID, Leg: 0})
	x.wantStatus(o1, ledger.FeeNetting)
	x.ok(a2, ledger.TypeNettingPay, ledger.NettingPayPayload{RunID: runID, Leg: 1, Reference: ledgertest.Token("leg1")})
	x.ok(a1, ledger.TypeNettingConfirm, ledger.NettingLegPayload{RunID: runID, Leg: 1})
	if run, _ := x.l.NettingRun(runID); run.Status != ledger.RunSettled {
		t.Fatalf("run %+v", run)
	}
	for _, id := range []uint64{o1, o2, o3, o4, o5} {
		x.wantStatus(id, ledger.FeeSettled)
	}
	x.rejected(ledger.CodeConflict, a2, ledger.TypeNettingPay, ledger.NettingPayPayload{RunID: runID, Leg: 1, Reference: ledgertest.Token("leg1b")})
	// what is left is exactly the three obligations netting did not take
	x.ok(a3, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: pay})
	posted, _ := x.balances()
	want := map[string]int64{"a3": fee27k - 100 - fee27k, "a4": -(fee27k - 100) + fee27k}
	for _, id := range []string{"a1", "a2", "a3", "a4", "a5"} {
		if posted[id] != want[id] {
			t.Fatalf("after the run, %s has %d; want %d (all: %v)", id, posted[id], want[id], posted)
		}
	}
	if err := x.l.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestNettingWithoutLegs: when positions already cancel, opening the run settles it.
func TestNettingWithoutLegs(t *testing.T) {
	x := newTL(t, 2)
	for _, pair := range [][2]int{{1, 0}, {0, 1}} {
		o := x.placed(pair[0], pair[1], 1, "2026-04-02")
		x.ok(pair[1], ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: o.ID, AmountPence: o.AmountPence})
		x.ok(pair[0], ledger.TypeAcknowledge, ledger.ObligationPayload{ObligationID: o.ID})
	}
	run := x.ok(0, ledger.TypeNettingOpen, ledger.NettingOpenPayload{From: "2026-04-01", To: "2026-04-30"}).Seq
	if r, _ := x.l.NettingRun(run); r.Status != ledger.RunSettled || len(r.Legs) != 0 || len(r.Obligations) != 2 {
		t.Fatalf("run %+v", r)
	}
	x.wantBalances(nil, nil)
}
