package ledger_test

import (
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// Agencies in these tests: 0 = a1 (creditor: approved the adopter),
// 1 = a2 (debtor: the child's agency), 2 = a3 (a bystander). Under the
// default schedule the fee is the LA/RAA rate, £27,000.
const (
	cred, debt, other = 0, 1, 2
	fee27k            = int64(2_700_000)
)

func (x *tl) obl(id uint64) ledger.Obligation {
	x.t.Helper()
	o, err := x.l.Obligation(id)
	if err != nil {
		x.t.Fatal(err)
	}
	return o
}

func (x *tl) wantStatus(id uint64, status string) ledger.Obligation {
	x.t.Helper()
	o := x.obl(id)
	if o.Status != status {
		x.t.Fatalf("obligation %d is %s; want %s", id, o.Status, status)
	}
	return o
}

// balances returns each agency's posted and pending fee balance
// (receivable plus payable), and asserts the federation sums to zero.
func (x *tl) balances() (posted, pending map[string]int64) {
	x.t.Helper()
	accts, err := x.l.FeeAccounts("")
	if err != nil {
		x.t.Fatal(err)
	}
	posted, pending = map[string]int64{}, map[string]int64{}
	var sum, sumPending int64
	for _, a := range accts {
		posted[a.Agency] += a.BalancePence()
		pending[a.Agency] += a.PendingPence()
		sum += a.BalancePence()
		sumPending += a.PendingPence()
	}
	if sum != 0 || sumPending != 0 {
		x.t.Fatalf("balances sum to %d posted, %d pending; want zero: %+v", sum, sumPending, accts)
	}
	return posted, pending
}

func (x *tl) wantBalances(posted, pending map[string]int64) {
	x.t.Helper()
	gp, gq := x.balances()
	for _, id := range []string{"a1", "a2", "a3"} {
		if gp[id] != posted[id] || gq[id] != pending[id] {
			x.t.Fatalf("agency %s: posted %d pending %d; want %d and %d", id, gp[id], gq[id], posted[id], pending[id])
		}
	}
}

func (x *tl) invoiced(id uint64) {
	x.t.Helper()
	x.ok(cred, ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: id, AmountPence: fee27k})
}

func (x *tl) acknowledged(id uint64) {
	x.t.Helper()
	x.invoiced(id)
	x.ok(debt, ledger.TypeAcknowledge, ledger.ObligationPayload{ObligationID: id})
}

func (x *tl) pay(id uint64, pence int64, ref string) uint64 {
	x.t.Helper()
	return x.ok(debt, ledger.TypeRecordPayment, ledger.PaymentPayload{ObligationID: id, AmountPence: pence, Reference: ledgertest.Token(ref)}).Seq
}

func newFeeLifecycle(t *testing.T) (*tl, uint64) {
	t.Helper()
	x := newTL(t, 3)
	o := x.placed(debt, cred, 1, "2026-04-02")
	if o.Debtor != "a2" || o.Creditor != "a1" || o.AmountPence != fee27k {
		t.Fatalf("obligation %+v", o)
	}
	return x, o.ID
}

func TestFeeInvoice(t *testing.T) {
	x, id := newFeeLifecycle(t)
	x.wantBalances(nil, map[string]int64{"a1": fee27k, "a2": -fee27k}) // raised, pending until agreed
	x.rejected(ledger.CodeUnauthorised, debt, ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: id, AmountPence: fee27k})
	x.rejected(ledger.CodeUnauthorised, other, ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: id, AmountPence: fee27k})
	x.rejected(ledger.CodeNotFound, cred, ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: 9999, AmountPence: fee27k})
	// another amount needs an adjustment code from the closed list
	x.rejected(ledger.CodeInvalid, cred, ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: id, AmountPence: 2_600_000})
	x.rejected(ledger.CodeInvalid, cred, ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: id, AmountPence: 2_600_000, Adjustment: "because"})
	x.wantStatus(id, ledger.FeeOpen)
	x.ok(cred, ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: id, AmountPence: 2_600_000, Adjustment: "partial_waiver"})
	o := x.wantStatus(id, ledger.FeeInvoiced)
	if o.InvoicedPence != 2_600_000 || o.Adjustment != "partial_waiver" {
		t.Fatalf("invoice: %+v", o)
	}
	x.rejected(ledger.CodeConflict, cred, ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: id, AmountPence: fee27k})
	// the matching amount needs no code
	id2 := x.placed(debt, cred, 1, "2026-04-02").ID
	x.ok(cred, ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: id2, AmountPence: fee27k})
	// acknowledging agrees the invoiced amount, not the scheduled one
	x.ok(debt, ledger.TypeAcknowledge, ledger.ObligationPayload{ObligationID: id})
	if o := x.obl(id); o.AgreedPence != 2_600_000 {
		t.Fatalf("agreed %d; want the invoiced 2,600,000", o.AgreedPence)
	}
}

func TestFeeAcknowledge(t *testing.T) {
	x, id := newFeeLifecycle(t)
	x.rejected(ledger.CodeConflict, debt, ledger.TypeAcknowledge, ledger.ObligationPayload{ObligationID: id}) // not invoiced
	x.invoiced(id)
	x.rejected(ledger.CodeUnauthorised, cred, ledger.TypeAcknowledge, ledger.ObligationPayload{ObligationID: id})
	x.rejected(ledger.CodeUnauthorised, other, ledger.TypeAcknowledge, ledger.ObligationPayload{ObligationID: id})
	x.ok(debt, ledger.TypeAcknowledge, ledger.ObligationPayload{ObligationID: id})
	o := x.wantStatus(id, ledger.FeeAcknowledged)
	if o.AgreedPence != fee27k {
		t.Fatalf("agreed %d", o.AgreedPence)
	}
	// the pending fee is voided and the agreed amount posted
	x.wantBalances(map[string]int64{"a1": fee27k, "a2": -fee27k}, nil)
	x.rejected(ledger.CodeConflict, debt, ledger.TypeAcknowledge, ledger.ObligationPayload{ObligationID: id})
	x.rejected(ledger.CodeConflict, debt, ledger.TypeDispute, ledger.DisputePayload{ObligationID: id, Reason: "amount_incorrect"})
	ts, err := x.l.ObligationTransfers(id)
	if err != nil || len(ts) != 3 || ts[0].Phase != ledger.PhasePending || ts[1].Phase != ledger.PhaseVoidPending || ts[2].Code != ledger.TransferFeeAgreed {
		t.Fatalf("transfers %+v %v", ts, err)
	}
}

func TestFeeDisputeResolutionNeedsBothSides(t *testing.T) {
	x, id := newFeeLifecycle(t)
	x.invoiced(id)
	x.rejected(ledger.CodeUnauthorised, cred, ledger.TypeDispute, ledger.DisputePayload{ObligationID: id, Reason: "amount_incorrect"})
	x.rejected(ledger.CodeInvalid, debt, ledger.TypeDispute, ledger.DisputePayload{ObligationID: id, Reason: "we do not like it"})
	x.ok(debt, ledger.TypeDispute, ledger.DisputePayload{ObligationID: id, Reason: "placement_over_12_months_without_order"})
	if o := x.wantStatus(id, ledger.FeeDisputed); o.DisputeReason != "placement_over_12_months_without_order" {
		t.Fatalf("reason %q", o.DisputeReason)
	}
	x.rejected(ledger.CodeConflict, debt, ledger.TypeAcknowledge, ledger.ObligationPayload{ObligationID: id})
	x.rejected(ledger.CodeConflict, debt, ledger.TypeRecordPayment, ledger.PaymentPayload{ObligationID: id, AmountPence: 1, Reference: ledgertest.Token("r")})
	x.rejected(ledger.CodeConflict, debt, ledger.TypeAcceptResolution, ledger.ResolutionPayload{ObligationID: id, AmountPence: 2_000_000}) // nothing proposed
	x.rejected(ledger.CodeUnauthorised, other, ledger.TypeProposeResolution, ledger.ResolutionPayload{ObligationID: id, AmountPence: 1})
	x.ok(cred, ledger.TypeProposeResolution, ledger.ResolutionPayload{ObligationID: id, AmountPence: 2_000_000})
	// one side alone cannot resolve: the proposer cannot accept its own proposal
	x.rejected(ledger.CodeUnauthorised, cred, ledger.TypeAcceptResolution, ledger.ResolutionPayload{ObligationID: id, AmountPence: 2_000_000})
	x.rejected(ledger.CodeUnauthorised, other, ledger.TypeAcceptResolution, ledger.ResolutionPayload{ObligationID: id, AmountPence: 2_000_000})
	x.rejected(ledger.CodeConflict, debt, ledger.TypeAcceptResolution, ledger.ResolutionPayload{ObligationID: id, AmountPence: 2_100_000})
	x.wantStatus(id, ledger.FeeDisputed)
	// a counter-proposal replaces the first; accepting the stale amount fails
	x.ok(debt, ledger.TypeProposeResolution, ledger.ResolutionPayload{ObligationID: id, AmountPence: 1_500_000})
	x.rejected(ledger.CodeUnauthorised, debt, ledger.TypeAcceptResolution, ledger.ResolutionPayload{ObligationID: id, AmountPence: 1_500_000})
	x.rejected(ledger.CodeConflict, cred, ledger.TypeAcceptResolution, ledger.ResolutionPayload{ObligationID: id, AmountPence: 2_000_000})
	x.ok(cred, ledger.TypeAcceptResolution, ledger.ResolutionPayload{ObligationID: id, AmountPence: 1_500_000})
	if o := x.wantStatus(id, ledger.FeeResolved); o.AgreedPence != 1_500_000 {
		t.Fatalf("agreed %d", o.AgreedPence)
	}
	x.wantBalances(map[string]int64{"a1": 1_500_000, "a2": -1_500_000}, nil)

	// resolved at nothing: settled at once, nothing owed
	id2 := x.placed(debt, cred, 1, "2026-04-02").ID
	x.invoiced(id2)
	x.ok(debt, ledger.TypeDispute, ledger.DisputePayload{ObligationID: id2, Reason: "not_an_interagency_placement"})
	x.ok(debt, ledger.TypeProposeResolution, ledger.ResolutionPayload{ObligationID: id2, AmountPence: 0})
	x.ok(cred, ledger.TypeAcceptResolution, ledger.ResolutionPayload{ObligationID: id2, AmountPence: 0})
	x.wantStatus(id2, ledger.FeeSettled)
	x.wantBalances(map[string]int64{"a1": 1_500_000, "a2": -1_500_000}, nil)
}

func TestFeePaymentsAndReceipts(t *testing.T) {
	x, id := newFeeLifecycle(t)
	x.invoiced(id)
	x.rejected(ledger.CodeConflict, debt, ledger.TypeRecordPayment, ledger.PaymentPayload{ObligationID: id, AmountPence: 1, Reference: ledgertest.Token("r0")}) // not agreed
	x.ok(debt, ledger.TypeAcknowledge, ledger.ObligationPayload{ObligationID: id})
	x.rejected(ledger.CodeUnauthorised, cred, ledger.TypeRecordPayment, ledger.PaymentPayload{ObligationID: id, AmountPence: 1, Reference: ledgertest.Token("r0")})
	x.rejected(ledger.CodeUnauthorised, other, ledger.TypeRecordPayment, ledger.PaymentPayload{ObligationID: id, AmountPence: 1, Reference: ledgertest.Token("r0")})
	x.rejected(ledger.CodePersonalData, debt, ledger.TypeRecordPayment, ledger.PaymentPayload{ObligationID: id, AmountPence: 1, Reference: "payment.for.jane@example.org"})
	p1 := x.pay(id, 1_000_000, "r1") // partial
	x.rejected(ledger.CodeConflict, debt, ledger.TypeRecordPayment, ledger.PaymentPayload{ObligationID: id, AmountPence: 5, Reference: ledgertest.Token("r1")})
	x.rejected(ledger.CodeInvalid, debt, ledger.TypeRecordPayment, ledger.PaymentPayload{ObligationID: id, AmountPence: 1_700_001, Reference: ledgertest.Token("r2")}) // overpayment
	o := x.wantStatus(id, ledger.FeeAcknowledged)
	if o.PaidPence != 1_000_000 || o.OutstandingPence() != 1_700_000 {
		t.Fatalf("after a partial payment: %+v", o)
	}
	// recorded, not yet received: pending
	x.wantBalances(map[string]int64{"a1": fee27k, "a2": -fee27k}, map[string]int64{"a1": -1_000_000, "a2": 1_000_000})
	p2 := x.pay(id, 1_700_000, "r2")
	x.rejected(ledger.CodeInvalid, debt, ledger.TypeRecordPayment, ledger.PaymentPayload{ObligationID: id, AmountPence: 1, Reference: ledgertest.Token("r3")})
	// only the creditor confirms receipt, once
	x.rejected(ledger.CodeUnauthorised, debt, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: p1})
	x.rejected(ledger.CodeUnauthorised, other, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: p1})
	x.rejected(ledger.CodeNotFound, cred, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: 9999})
	x.ok(cred, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: p1})
	x.rejected(ledger.CodeConflict, cred, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: p1})
	if pay, _ := x.l.Payment(p1); pay.Status != ledger.PaymentConfirmed || pay.AmountPence != 1_000_000 {
		t.Fatalf("payment %+v", pay)
	}
	// paid in full but not all received: not settled yet
	x.wantStatus(id, ledger.FeeAcknowledged)
	x.wantBalances(map[string]int64{"a1": 1_700_000, "a2": -1_700_000}, map[string]int64{"a1": -1_700_000, "a2": 1_700_000})
	x.ok(cred, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: p2})
	if o := x.wantStatus(id, ledger.FeeSettled); o.ConfirmedPence != fee27k || o.SettledSeq == 0 {
		t.Fatalf("settled %+v", o)
	}
	x.wantBalances(nil, nil)
	x.rejected(ledger.CodeConflict, debt, ledger.TypeRecordPayment, ledger.PaymentPayload{ObligationID: id, AmountPence: 1, Reference: ledgertest.Token("r4")})
	if err := x.l.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestFeeWriteOffNeedsBoth(t *testing.T) {
	x, id := newFeeLifecycle(t)
	x.rejected(ledger.CodeConflict, cred, ledger.TypeAgreeWriteOff, ledger.ObligationPayload{ObligationID: id}) // nothing requested
	x.rejected(ledger.CodeUnauthorised, other, ledger.TypeRequestWriteOff, ledger.WriteOffPayload{ObligationID: id, Reason: "agreed_waiver"})
	x.rejected(ledger.CodeInvalid, debt, ledger.TypeRequestWriteOff, ledger.WriteOffPayload{ObligationID: id, Reason: "forgot"})
	x.ok(debt, ledger.TypeRequestWriteOff, ledger.WriteOffPayload{ObligationID: id, Reason: "grant_funded"})
	x.rejected(ledger.CodeConflict, debt, ledger.TypeRequestWriteOff, ledger.WriteOffPayload{ObligationID: id, Reason: "grant_funded"})
	x.rejected(ledger.CodeConflict, cred, ledger.TypeRequestWriteOff, ledger.WriteOffPayload{ObligationID: id, Reason: "grant_funded"})
	x.rejected(ledger.CodeUnauthorised, debt, ledger.TypeAgreeWriteOff, ledger.ObligationPayload{ObligationID: id})
	x.rejected(ledger.CodeUnauthorised, other, ledger.TypeAgreeWriteOff, ledger.ObligationPayload{ObligationID: id})
	x.wantStatus(id, ledger.FeeOpen)
	x.ok(cred, ledger.TypeAgreeWriteOff, ledger.ObligationPayload{ObligationID: id})
	x.wantStatus(id, ledger.FeeWrittenOff)
	x.wantBalances(nil, nil) // the pending fee is voided
	x.rejected(ledger.CodeConflict, cred, ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: id, AmountPence: fee27k})

	// an agreed fee with a partial payment: the unpaid rest is written off,
	// after the creditor confirms what it received
	id2 := x.placed(debt, cred, 1, "2026-04-02").ID
	x.acknowledged(id2)
	p := x.pay(id2, 1_000_000, "w1")
	x.ok(cred, ledger.TypeRequestWriteOff, ledger.WriteOffPayload{ObligationID: id2, Reason: "placement_disrupted"})
	x.rejected(ledger.CodeConflict, debt, ledger.TypeAgreeWriteOff, ledger.ObligationPayload{ObligationID: id2})
	x.ok(cred, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: p})
	x.ok(debt, ledger.TypeAgreeWriteOff, ledger.ObligationPayload{ObligationID: id2})
	if o := x.wantStatus(id2, ledger.FeeWrittenOff); o.WrittenOffPence != 1_700_000 {
		t.Fatalf("written off %d; want the unpaid 1,700,000", o.WrittenOffPence)
	}
	x.wantBalances(nil, nil)
	if err := x.l.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestObligationQueries(t *testing.T) {
	x := newTL(t, 3)
	o1 := x.placed(1, 0, 1, "2026-04-02") // a2 owes a1
	o2 := x.placed(2, 0, 1, "2026-04-10") // a3 owes a1
	o3 := x.placed(0, 1, 1, "2026-05-02") // a1 owes a2
	x.ok(0, ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: o2.ID, AmountPence: fee27k})
	ids := func(q ledger.ObligationQuery) []uint64 {
		t.Helper()
		if q.Limit == 0 {
			q.Limit = 10
		}
		obls, err := x.l.Obligations(q)
		if err != nil {
			t.Fatal(err)
		}
		out := []uint64{}
		for _, o := range obls {
			out = append(out, o.ID)
		}
		return out
	}
	eq := func(got []uint64, want ...uint64) {
		t.Helper()
		if len(want) == 0 {
			want = []uint64{}
		}
		if len(got) != len(want) {
			t.Fatalf("got %v; want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("got %v; want %v", got, want)
			}
		}
	}
	eq(ids(ledger.ObligationQuery{}), o1.ID, o2.ID, o3.ID)
	eq(ids(ledger.ObligationQuery{Agency: "a1"}), o1.ID, o2.ID, o3.ID)
	eq(ids(ledger.ObligationQuery{Agency: "a1", Role: ledger.RoleCreditor}), o1.ID, o2.ID)
	eq(ids(ledger.ObligationQuery{Agency: "a1", Role: ledger.RoleDebtor}), o3.ID)
	eq(ids(ledger.ObligationQuery{Agency: "a1", Counterparty: "a3"}), o2.ID)
	eq(ids(ledger.ObligationQuery{Agency: "a2"}), o1.ID, o3.ID)
	eq(ids(ledger.ObligationQuery{Status: ledger.FeeInvoiced}), o2.ID)
	eq(ids(ledger.ObligationQuery{Period: &ledger.Period{From: "2026-04-05", To: "2026-04-30"}}), o2.ID)
	eq(ids(ledger.ObligationQuery{Period: &ledger.Period{From: "2026-04-05", To: "2026-04-30"}, Status: ledger.FeeOpen}))
	eq(ids(ledger.ObligationQuery{After: o1.ID, Limit: 1}), o2.ID)
	for _, bad := range []ledger.ObligationQuery{{Limit: 0}, {Limit: 1001}, {Limit: 1, Role: "payer", Agency: "a1"}, {Limit: 1, Role: ledger.RoleDebtor},
		{Limit: 1, Status: "paid"}, {Limit: 1, Period: &ledger.Period{From: "2026-05-01", To: "2026-04-01"}}} {
		if _, err := x.l.Obligations(bad); err == nil {
			t.Errorf("query %+v accepted", bad)
		}
	}
	fp, err := x.l.FeePosition("a1", "2026-06-01")
	if err != nil || fp.OwedPence != 2*fee27k || fp.OwesPence != fee27k || fp.Open != 3 {
		t.Fatalf("position %+v %v", fp, err)
	}
}
