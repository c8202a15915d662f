package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// feePropertySteps is how many random commands TestPropertyFees applies;
// RAAFT_PROPERTY_COMMANDS raises it for long runs (make chaos).
func feePropertySteps() int {
	if n, err := strconv.Atoi(os.Getenv("RAAFT_PROPERTY_COMMANDS")); err == nil && n > 0 {
		return n / 4
	}
	return 3000
}

// feeWorld is what the fee property test knows of the ledger, to aim its
// random commands at things that exist.
type feeWorld struct {
	x           *tl
	r           *rand.Rand
	idx         map[string]int // agency id -> index
	listings    []string
	reservs     []uint64
	obligations []uint64
	runs        []uint64
	n           int
	accepted    map[string]int
}

// TestPropertyFees drives six agencies of every kind (RAA, VAA, LA inside
// an RAA, London or not) through random placements — by the real reserve,
// confirm and place commands — and random fee commands: invoices (right,
// adjusted and wrong amounts), acknowledgements, disputes, proposals and
// acceptances, partial and excessive payments, receipts, write-offs,
// netting runs, each sent by the right agency most of the time and by a
// random one otherwise. After every step: strict mode has checked what the
// step touched (obligation <-> placement links, transfers against
// amounts), the balances sum to zero, and the netting plan of the period
// clears every position with at most n-1 transfers; every 100 steps the
// full Check runs and the plan's positions are recomputed independently
// from the obligations. At the end a replay reproduces the state hash.
func TestPropertyFees(t *testing.T) {
	mk := func(id string, kind ledger.AgencyKind, london bool, raa string) *ledgertest.Agency {
		a := ledgertest.NewAgency(id, kind, london, "")
		a.Record.RAA = raa
		return a
	}
	ags := []*ledgertest.Agency{
		mk("a1", ledger.KindRAA, false, ""), mk("a2", ledger.KindVAA, true, ""), mk("a3", ledger.KindLA, false, "a1"),
		mk("a4", ledger.KindRAA, true, ""), mk("a5", ledger.KindVAA, false, ""), mk("a6", ledger.KindLA, false, "a4"),
	}
	w := &feeWorld{x: newFeeTL(t, ags, ledgertest.GenesisTimeMs, testFees()), r: rand.New(rand.NewPCG(2026, 4)), idx: map[string]int{}, accepted: map[string]int{}}
	for i, a := range ags {
		w.idx[a.Record.ID] = i
	}
	period := ledger.FeeYearPeriod(2026)
	steps := feePropertySteps()
	for step := range steps {
		w.x.now += w.r.Int64N(4 * 3600 * 1000)
		w.step()
		w.x.balances() // sums to zero, posted and pending
		plan, err := w.x.l.NettingPlan(period)
		if err != nil {
			t.Fatal(err)
		}
		if err := applyPlan(plan.Positions, plan.Transfers); err != nil {
			t.Fatalf("step %d: netting plan does not clear: %v", step, err)
		}
		if step%100 == 99 || step == steps-1 {
			if err := w.x.l.Check(); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			w.checkPositions(plan)
		}
	}
	t.Logf("%d steps; accepted: %v; %d obligations, %d netting runs", steps, w.accepted, len(w.obligations), len(w.runs))
	for _, typ := range []string{ledger.TypePlace, ledger.TypeInvoice, ledger.TypeAcknowledge, ledger.TypeDispute, ledger.TypeAcceptResolution,
		ledger.TypeRecordPayment, ledger.TypeConfirmReceipt, ledger.TypeAgreeWriteOff, ledger.TypeNettingOpen, ledger.TypeNettingConfirm} {
		if w.accepted[typ] == 0 {
			t.Errorf("no %s was accepted: the generator is not exercising the rules", typ)
		}
	}
	settled := 0
	for _, id := range w.obligations {
		if w.x.obl(id).Status == ledger.FeeSettled {
			settled++
		}
	}
	if settled == 0 {
		t.Error("no obligation settled")
	}
	rep, err := w.x.l.Verify(t.TempDir())
	if err != nil || rep.FirstBadSeq != nil {
		t.Fatalf("replay of the accepted log: %v %+v", err, rep)
	}
}

// checkPositions recomputes the netting positions from the obligations.
func (w *feeWorld) checkPositions(plan ledger.NettingPlan) {
	w.x.t.Helper()
	want := map[string]int64{}
	var ids []uint64
	for _, id := range w.obligations {
		o := w.x.obl(id)
		if (o.Status == ledger.FeeAcknowledged || o.Status == ledger.FeeResolved) && o.PaidPence == o.ConfirmedPence && o.AgreedPence > o.PaidPence {
			want[o.Creditor] += o.AgreedPence - o.PaidPence
			want[o.Debtor] -= o.AgreedPence - o.PaidPence
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if fmt.Sprint(ids) != fmt.Sprint(plan.Obligations) || len(plan.Positions) != len(want) {
		w.x.t.Fatalf("netting takes %v; nettable obligations are %v", plan.Obligations, ids)
	}
	for _, p := range plan.Positions {
		if want[p.Agency] != p.NetPence {
			w.x.t.Fatalf("netting position of %s is %d; the obligations give %d", p.Agency, p.NetPence, want[p.Agency])
		}
	}
}

func (w *feeWorld) pick(n int) int { return w.r.IntN(n) }

// who returns the agency index to send as: want most of the time, a random agency otherwise.
func (w *feeWorld) who(want string) int {
	if w.r.IntN(7) == 0 {
		return w.pick(len(w.idx))
	}
	return w.idx[want]
}

func (w *feeWorld) send(i int, typ string, payload any) ledger.Result {
	w.x.t.Helper()
	r := w.x.do(i, typ, payload)
	if r.Accepted {
		w.accepted[typ]++
	}
	return r
}

func (w *feeWorld) step() {
	switch k := w.r.IntN(100); {
	case k < 8 || len(w.listings) < 4:
		w.n++
		a := ledgertest.Attrs()
		a.ChildrenMax = 1 + w.r.IntN(4)
		a.SiblingGroupOK = a.ChildrenMax > 1
		tok := ledgertest.Token(fmt.Sprint("prop-fee-listing-", w.n))
		if w.send(w.pick(len(w.idx)), ledger.TypePublish, ledger.ListingPayload{Token: tok, Attrs: a}).Accepted {
			w.listings = append(w.listings, tok)
		}
	case k < 18:
		w.n++
		kids := []string{ledgertest.Token(fmt.Sprint("prop-fee-child-", w.n))}
		for range w.r.IntN(4) {
			w.n++
			kids = append(kids, ledgertest.Token(fmt.Sprint("prop-fee-child-", w.n)))
		}
		l := w.listings[len(w.listings)-1-w.pick(min(len(w.listings), 8))]
		if r := w.send(w.pick(len(w.idx)), ledger.TypeReserve, ledger.ReservePayload{Listing: l, ChildTokens: kids}); r.Accepted {
			w.reservs = append(w.reservs, r.Seq)
		}
	case k < 30 && len(w.reservs) > 0:
		w.placementStep()
	case k < 33 && len(w.obligations) > 0:
		if r := w.send(w.pick(len(w.idx)), ledger.TypeNettingOpen, ledger.NettingOpenPayload{From: "2026-04-01", To: "2027-03-31"}); r.Accepted {
			w.runs = append(w.runs, r.Seq)
		}
	case k < 40 && len(w.runs) > 0:
		w.runStep(w.runs[w.pick(len(w.runs))])
	case len(w.obligations) > 0:
		w.feeStep(w.x.obl(w.obligations[len(w.obligations)-1-w.pick(min(len(w.obligations), 20))]))
	}
}

// placementStep confirms or places a recent reservation.
func (w *feeWorld) placementStep() {
	id := w.reservs[len(w.reservs)-1-w.pick(min(len(w.reservs), 10))]
	res, err := w.x.l.Reservation(id)
	if err != nil {
		w.x.t.Fatal(err)
	}
	if res.Status == ledger.ResActive {
		w.send(w.who(res.Holder), ledger.TypeConfirm, ledger.ReservationPayload{ReservationID: id})
		return
	}
	moveIn := time.UnixMilli(w.x.now).UTC().Format(time.DateOnly)
	if r := w.send(w.who(res.Holder), ledger.TypePlace, ledger.PlacePayload{ReservationID: id, MoveInDate: moveIn}); r.Accepted {
		pf, err := w.x.l.PlacementFee(id)
		if err != nil {
			w.x.t.Fatal(err)
		}
		if (pf.Obligation != 0) != (res.Holder != res.ListingAgency && pf.NoFee != ledger.NoFeeIntraRAA) {
			w.x.t.Fatalf("placement %d (%s for %s): fee decision %+v", id, res.Holder, res.ListingAgency, pf)
		}
		if pf.Obligation != 0 {
			w.obligations = append(w.obligations, pf.Obligation)
		}
	}
}

// feeStep sends a command that fits the obligation's status, usually.
func (w *feeWorld) feeStep(o ledger.Obligation) {
	id, side := o.ID, []string{o.Debtor, o.Creditor}[w.pick(2)]
	amount := func(around int64) int64 { return max(0, around-around/4+w.r.Int64N(around/2+1)) }
	w.n++
	ref := ledgertest.Token(fmt.Sprint("prop-fee-ref-", w.n))
	switch o.Status {
	case ledger.FeeOpen:
		switch w.pick(4) {
		case 0:
			w.send(w.who(o.Creditor), ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: id, AmountPence: max(1, amount(o.AmountPence))}) // usually wrong without a code
		case 1:
			w.send(w.who(o.Creditor), ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: id, AmountPence: max(1, amount(o.AmountPence)), Adjustment: "block_contract_rate"})
		default:
			w.send(w.who(o.Creditor), ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: id, AmountPence: o.AmountPence})
		}
	case ledger.FeeInvoiced:
		if w.pick(3) == 0 {
			w.send(w.who(o.Debtor), ledger.TypeDispute, ledger.DisputePayload{ObligationID: id, Reason: ledger.DisputeReasons[w.pick(len(ledger.DisputeReasons))]})
		} else {
			w.send(w.who(o.Debtor), ledger.TypeAcknowledge, ledger.ObligationPayload{ObligationID: id})
		}
	case ledger.FeeDisputed:
		if o.Proposal == nil || w.pick(3) == 0 {
			w.send(w.who(side), ledger.TypeProposeResolution, ledger.ResolutionPayload{ObligationID: id, AmountPence: amount(o.InvoicedPence) * int64(w.pick(8)) / 7})
			return
		}
		otherSide := o.Creditor
		if o.Proposal.By == o.Creditor {
			otherSide = o.Debtor
		}
		amt := o.Proposal.AmountPence
		if w.pick(6) == 0 {
			amt++
		}
		w.send(w.who(otherSide), ledger.TypeAcceptResolution, ledger.ResolutionPayload{ObligationID: id, AmountPence: amt})
	case ledger.FeeAcknowledged, ledger.FeeResolved:
		w.agreedStep(o, ref)
	}
	if slices.Contains([]string{ledger.FeeNetting, ledger.FeeSettled, ledger.FeeWrittenOff}, o.Status) {
		return
	}
	switch {
	case o.WriteOff == nil && w.pick(12) == 0:
		w.send(w.who(side), ledger.TypeRequestWriteOff, ledger.WriteOffPayload{ObligationID: id, Reason: ledger.WriteOffReasons[w.pick(len(ledger.WriteOffReasons))]})
	case o.WriteOff != nil && w.pick(3) == 0:
		by := o.Creditor
		if o.WriteOff.By == o.Creditor {
			by = o.Debtor
		}
		w.send(w.who(by), ledger.TypeAgreeWriteOff, ledger.ObligationPayload{ObligationID: id})
	}
}

// agreedStep pays (partly, fully or too much) or confirms a recorded payment.
func (w *feeWorld) agreedStep(o ledger.Obligation, ref string) {
	for _, pid := range o.Payments {
		p, err := w.x.l.Payment(pid)
		if err != nil {
			w.x.t.Fatal(err)
		}
		if p.Status == ledger.PaymentRecorded && w.pick(2) == 0 {
			w.send(w.who(o.Creditor), ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: pid})
			return
		}
	}
	out := o.AgreedPence - o.PaidPence
	amt := out
	switch w.pick(5) {
	case 0:
		amt = out + 1 + w.r.Int64N(1000) // overpayment: refused
	case 1, 2:
		amt = 1 + w.r.Int64N(max(out, 1))
	}
	w.send(w.who(o.Debtor), ledger.TypeRecordPayment, ledger.PaymentPayload{ObligationID: o.ID, AmountPence: max(amt, 1), Reference: ref})
}

// runStep pays or confirms a leg of a netting run.
func (w *feeWorld) runStep(id uint64) {
	run, err := w.x.l.NettingRun(id)
	if err != nil {
		w.x.t.Fatal(err)
	}
	if run.Status != ledger.RunOpen || len(run.Legs) == 0 {
		return
	}
	i := w.pick(len(run.Legs))
	w.n++
	switch leg := run.Legs[i]; leg.Status {
	case ledger.LegDue:
		w.send(w.who(leg.From), ledger.TypeNettingPay, ledger.NettingPayPayload{RunID: id, Leg: i, Reference: ledgertest.Token(fmt.Sprint("prop-fee-leg-", w.n))})
	case ledger.LegPaid:
		w.send(w.who(leg.To), ledger.TypeNettingConfirm, ledger.NettingLegPayload{RunID: id, Leg: i})
	}
}
