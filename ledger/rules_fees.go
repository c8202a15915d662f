package ledger

import (
	"fmt"
	"time"
)

// placementFee decides, without writing, what fee a placement creates: an
// obligation, or the reason there is none. The fee year is the one
// containing the move-in date; a fee year the schedule does not cover is
// a rejection (invalid, naming the year), because recording the placement
// without its fee would break "no fee without a placement" the other way
// round: a placement whose fee nobody can ever raise. Governance adds the
// year (set_fee_schedule) and the placement is retried.
func (a *applier) placementFee(c *cmdCtx, r *Reservation, moveIn time.Time) (*Obligation, PlacementFee, *Rejection, error) {
	if r.Holder == r.ListingAgency {
		return nil, PlacementFee{NoFee: NoFeeSameAgency}, nil, nil
	}
	debtor, err := a.agency(r.Holder)
	if err != nil {
		return nil, PlacementFee{}, nil, err
	}
	creditor, err := a.agency(r.ListingAgency)
	if err != nil {
		return nil, PlacementFee{}, nil, err
	}
	if debtor == nil || creditor == nil {
		return nil, PlacementFee{}, nil, errCorruptf("reservation %d names an agency not in the registry", r.ID)
	}
	fs, err := a.feeSchedule()
	if err != nil {
		return nil, PlacementFee{}, nil, err
	}
	year := feeYearOf(moveIn)
	fy := fs.year(year)
	if fy == nil {
		return nil, PlacementFee{}, reject(CodeInvalid, "move_in_date %s is in fee year %s, which the fee schedule does not cover (it covers %s); the federation must set that year's fees (governance %s) before this placement can be recorded",
			moveIn.Format(time.DateOnly), FeeYearLabel(year), fs.yearsLabel(), ActionSetFeeSchedule), nil
	}
	if fy.IntraRAA == IntraRAANoFee && sameRAA(debtor, creditor) {
		return nil, PlacementFee{NoFee: NoFeeIntraRAA}, nil, nil
	}
	tier := TierLARAA
	if creditor.Kind == KindVAA {
		tier = TierVAA
	}
	amount, rj := fy.tierAmount(tier, r.Children, creditor.London)
	if rj != nil {
		return nil, PlacementFee{}, rj, nil
	}
	o := &Obligation{
		ID: c.seq, Reservation: r.ID, Listing: r.Listing, Debtor: r.Holder, Creditor: r.ListingAgency,
		Children: r.Children, MoveInDate: moveIn.Format(time.DateOnly), FeeYear: year, Tier: tier,
		London: creditor.London, VAT: fy.VAT, AmountPence: amount, Instalments: fy.instalmentsFrom(moveIn),
		CreatedMs: c.now, Status: FeeOpen,
	}
	return o, PlacementFee{Obligation: o.ID}, nil, nil
}

// sameRAA reports whether two agencies are inside one RAA: a council whose
// raa names the other agency, or two councils naming the same RAA.
func sameRAA(x, y *Agency) bool {
	switch {
	case x.Kind == KindLA && x.RAA != "" && x.RAA == y.ID:
		return true
	case y.Kind == KindLA && y.RAA != "" && y.RAA == x.ID:
		return true
	}
	return x.Kind == KindLA && y.Kind == KindLA && x.RAA != "" && x.RAA == y.RAA
}

// recordPlacementFee writes a placement's fee decision: the obligation and
// its pending fee_expected transfer, and the placement's link to it. It is
// called before the placement's other writes, because the transfer may
// still be refused (overflow).
func (a *applier) recordPlacementFee(c *cmdCtx, resID uint64, o *Obligation, pf PlacementFee) (*Rejection, error) {
	byRes := a.tx.Bucket(bFeeByRes)
	if byRes.Get(u64(resID)) != nil {
		return nil, errCorruptf("reservation %d already has a fee decision", resID)
	}
	if o != nil {
		xs := []Transfer{owes(o.Creditor, o.Debtor, o.AmountPence, PhasePending, TransferFeeExpected)}
		xs[0].Obligation = o.ID
		if rj, err := a.applyTransfers(c, xs); rj != nil || err != nil {
			return rj, err
		}
		o.Expected = xs[0].ID
		if err := a.put(bFeeByAgency, agencyResKey(o.Debtor, o.ID), []byte("debtor")); err != nil {
			return nil, err
		}
		if err := a.put(bFeeByAgency, agencyResKey(o.Creditor, o.ID), []byte("creditor")); err != nil {
			return nil, err
		}
		if err := a.putObligation(c, o); err != nil {
			return nil, err
		}
	}
	return nil, a.putJSONState(bFeeByRes, u64(resID), pf)
}

func (a *applier) dispatchFee(c *cmdCtx, p any) (*Rejection, error) {
	switch p := p.(type) {
	case *InvoicePayload:
		return a.invoice(c, p)
	case *ObligationPayload:
		if c.cmd.Type == TypeAcknowledge {
			return a.acknowledge(c, p)
		}
		return a.agreeWriteOff(c, p)
	case *DisputePayload:
		return a.dispute(c, p)
	case *ResolutionPayload:
		if c.cmd.Type == TypeProposeResolution {
			return a.proposeResolution(c, p)
		}
		return a.acceptResolution(c, p)
	case *PaymentPayload:
		return a.recordPayment(c, p)
	case *ReceiptPayload:
		return a.confirmReceipt(c, p)
	case *WriteOffPayload:
		return a.requestWriteOff(c, p)
	case *NettingOpenPayload:
		return a.nettingOpen(c, p)
	case *NettingPayPayload:
		return a.nettingPay(c, p)
	case *NettingLegPayload:
		return a.nettingConfirm(c, p)
	}
	return nil, fmt.Errorf("no rule for payload %T", p)
}

// partyTo loads an obligation the command's agency is a party to.
func (a *applier) partyTo(c *cmdCtx, id uint64) (*Obligation, *Rejection, error) {
	o, err := a.obligation(id)
	if err != nil {
		return nil, nil, err
	}
	if o == nil {
		return nil, reject(CodeNotFound, "no obligation %d", id), nil
	}
	if c.cmd.Agency != o.Debtor && c.cmd.Agency != o.Creditor {
		return nil, reject(CodeUnauthorised, "obligation %d is between %s (debtor) and %s (creditor); agency %s is not a party", o.ID, o.Debtor, o.Creditor, c.cmd.Agency), nil
	}
	return o, nil, nil
}

// onlyBy rejects unless the command's agency is want (named by its role).
func onlyBy(c *cmdCtx, want, role, what string, id uint64) *Rejection {
	if c.cmd.Agency != want {
		return reject(CodeUnauthorised, "only the %s %s may %s obligation %d", role, want, what, id)
	}
	return nil
}

// needStatus rejects unless the obligation is in one of the statuses.
func needStatus(o *Obligation, what string, statuses ...string) *Rejection {
	for _, s := range statuses {
		if o.Status == s {
			return nil
		}
	}
	if o.Status == FeeNetting {
		return reject(CodeConflict, "obligation %d is in netting run %d; the run's legs are paid instead", o.ID, o.NettingRun)
	}
	return reject(CodeConflict, "obligation %d is %s; %s needs it %v", o.ID, o.Status, what, statuses)
}

func (a *applier) invoice(c *cmdCtx, p *InvoicePayload) (*Rejection, error) {
	o, rj, err := a.partyTo(c, p.ObligationID)
	if rj != nil || err != nil {
		return rj, err
	}
	if rj := onlyBy(c, o.Creditor, "creditor", "invoice", o.ID); rj != nil {
		return rj, nil
	}
	if rj := needStatus(o, "an invoice", FeeOpen); rj != nil {
		return rj, nil
	}
	if p.Adjustment == "" && p.AmountPence != o.AmountPence {
		return reject(CodeInvalid, "amount_pence %d differs from the scheduled fee %d of obligation %d; invoicing another amount needs an adjustment code",
			p.AmountPence, o.AmountPence, o.ID), nil
	}
	o.Status, o.InvoiceSeq, o.InvoicedPence, o.Adjustment = FeeInvoiced, c.seq, p.AmountPence, p.Adjustment
	return nil, a.putObligation(c, o)
}

func (a *applier) acknowledge(c *cmdCtx, p *ObligationPayload) (*Rejection, error) {
	o, rj, err := a.partyTo(c, p.ObligationID)
	if rj != nil || err != nil {
		return rj, err
	}
	if rj := onlyBy(c, o.Debtor, "debtor", "acknowledge", o.ID); rj != nil {
		return rj, nil
	}
	if rj := needStatus(o, "an acknowledgement", FeeInvoiced); rj != nil {
		return rj, nil
	}
	return a.agree(c, o, o.InvoicedPence, FeeAcknowledged)
}

// agree fixes the amount the debtor owes: the pending scheduled fee is
// voided and the agreed amount posted. An agreed amount of nothing settles.
func (a *applier) agree(c *cmdCtx, o *Obligation, amount int64, status string) (*Rejection, error) {
	exp, err := a.transfer(o.Expected)
	if err != nil {
		return nil, err
	}
	xs := []Transfer{resolve(exp, PhaseVoidPending)}
	if amount > 0 {
		t := owes(o.Creditor, o.Debtor, amount, PhasePosted, TransferFeeAgreed)
		t.Obligation = o.ID
		xs = append(xs, t)
	}
	if rj, err := a.applyTransfers(c, xs); rj != nil || err != nil {
		return rj, err
	}
	o.Status, o.AgreedPence, o.AgreedSeq = status, amount, c.seq
	if amount == 0 {
		o.Status, o.SettledSeq = FeeSettled, c.seq
	}
	return nil, a.putObligation(c, o)
}

func (a *applier) dispute(c *cmdCtx, p *DisputePayload) (*Rejection, error) {
	o, rj, err := a.partyTo(c, p.ObligationID)
	if rj != nil || err != nil {
		return rj, err
	}
	if rj := onlyBy(c, o.Debtor, "debtor", "dispute", o.ID); rj != nil {
		return rj, nil
	}
	if rj := needStatus(o, "a dispute", FeeInvoiced); rj != nil {
		return rj, nil
	}
	o.Status, o.DisputeReason = FeeDisputed, p.Reason
	return nil, a.putObligation(c, o)
}

// proposeResolution records one side's proposed amount; a later proposal
// (by either side) replaces it, as a counter-offer.
func (a *applier) proposeResolution(c *cmdCtx, p *ResolutionPayload) (*Rejection, error) {
	o, rj, err := a.partyTo(c, p.ObligationID)
	if rj != nil || err != nil {
		return rj, err
	}
	if rj := needStatus(o, "a resolution proposal", FeeDisputed); rj != nil {
		return rj, nil
	}
	o.Proposal = &FeeProposal{By: c.cmd.Agency, AmountPence: p.AmountPence, Seq: c.seq}
	return nil, a.putObligation(c, o)
}

// acceptResolution agrees the other side's proposal: a dispute resolves
// only with entries from both agencies.
func (a *applier) acceptResolution(c *cmdCtx, p *ResolutionPayload) (*Rejection, error) {
	o, rj, err := a.partyTo(c, p.ObligationID)
	if rj != nil || err != nil {
		return rj, err
	}
	if rj := needStatus(o, "accepting a resolution", FeeDisputed); rj != nil {
		return rj, nil
	}
	switch pr := o.Proposal; {
	case pr == nil:
		return reject(CodeConflict, "obligation %d has no resolution proposal to accept", o.ID), nil
	case pr.By == c.cmd.Agency:
		return reject(CodeUnauthorised, "agency %s proposed this resolution of obligation %d; the other agency must accept it", pr.By, o.ID), nil
	case pr.AmountPence != p.AmountPence:
		return reject(CodeConflict, "the resolution proposed for obligation %d is %d pence, not %d", o.ID, pr.AmountPence, p.AmountPence), nil
	}
	return a.agree(c, o, p.AmountPence, FeeResolved)
}

func (a *applier) recordPayment(c *cmdCtx, p *PaymentPayload) (*Rejection, error) {
	o, rj, err := a.partyTo(c, p.ObligationID)
	if rj != nil || err != nil {
		return rj, err
	}
	if rj := onlyBy(c, o.Debtor, "debtor", "record a payment on", o.ID); rj != nil {
		return rj, nil
	}
	if rj := needStatus(o, "a payment", FeeAcknowledged, FeeResolved); rj != nil {
		return rj, nil
	}
	if len(o.Payments) >= paymentsPerObligationMax {
		return reject(CodeConflict, "obligation %d has %d payments; at most %d", o.ID, len(o.Payments), paymentsPerObligationMax), nil
	}
	for _, id := range o.Payments {
		prev, err := a.payment(id)
		if err != nil {
			return nil, err
		}
		if prev.Reference == p.Reference {
			return reject(CodeConflict, "payment reference already recorded on obligation %d (payment %d)", o.ID, id), nil
		}
	}
	if outstanding := o.AgreedPence - o.PaidPence; p.AmountPence > outstanding {
		return reject(CodeInvalid, "payment of %d pence exceeds the %d pence outstanding on obligation %d; overpayment is refused", p.AmountPence, outstanding, o.ID), nil
	}
	t := discharges(o.Creditor, o.Debtor, p.AmountPence, PhasePending, TransferPayment)
	t.Obligation, t.Payment = o.ID, c.seq
	xs := []Transfer{t}
	if rj, err := a.applyTransfers(c, xs); rj != nil || err != nil {
		return rj, err
	}
	pay := &Payment{ID: c.seq, Obligation: o.ID, Debtor: o.Debtor, Creditor: o.Creditor, AmountPence: p.AmountPence,
		Reference: p.Reference, Status: PaymentRecorded, Transfer: xs[0].ID}
	if err := a.putJSONState(bFeePayments, u64(pay.ID), pay); err != nil {
		return nil, err
	}
	o.PaidPence += p.AmountPence // at most AgreedPence: checked above
	o.Payments = append(o.Payments, pay.ID)
	return nil, a.putObligation(c, o)
}

func (a *applier) payment(id uint64) (*Payment, error) {
	var p Payment
	ok, err := getJSON(a.tx.Bucket(bFeePayments), u64(id), &p)
	if err != nil || !ok {
		return nil, err
	}
	return &p, nil
}

// confirmReceipt posts one recorded payment; the obligation settles when
// confirmed receipts cover the agreed amount.
func (a *applier) confirmReceipt(c *cmdCtx, p *ReceiptPayload) (*Rejection, error) {
	pay, err := a.payment(p.PaymentID)
	if err != nil || pay == nil {
		return reject(CodeNotFound, "no payment %d", p.PaymentID), err
	}
	if c.cmd.Agency != pay.Creditor {
		return reject(CodeUnauthorised, "only the creditor %s may confirm receipt of payment %d", pay.Creditor, pay.ID), nil
	}
	if pay.Status != PaymentRecorded {
		return reject(CodeConflict, "payment %d is already %s", pay.ID, pay.Status), nil
	}
	o, err := a.obligation(pay.Obligation)
	if err != nil || o == nil {
		return nil, errCorruptf("payment %d names missing obligation %d (%v)", pay.ID, pay.Obligation, err)
	}
	pt, err := a.transfer(pay.Transfer)
	if err != nil {
		return nil, err
	}
	if rj, err := a.applyTransfers(c, []Transfer{resolve(pt, PhasePostPending)}); rj != nil || err != nil {
		return rj, err
	}
	pay.Status, pay.ConfirmedSeq = PaymentConfirmed, c.seq
	if err := a.putJSONState(bFeePayments, u64(pay.ID), pay); err != nil {
		return nil, err
	}
	o.ConfirmedPence += pay.AmountPence // at most PaidPence
	if o.ConfirmedPence == o.AgreedPence {
		o.Status, o.SettledSeq = FeeSettled, c.seq
	}
	return nil, a.putObligation(c, o)
}

// requestWriteOff is one agency's half of a write-off; the other agrees.
func (a *applier) requestWriteOff(c *cmdCtx, p *WriteOffPayload) (*Rejection, error) {
	o, rj, err := a.partyTo(c, p.ObligationID)
	if rj != nil || err != nil {
		return rj, err
	}
	if rj := needStatus(o, "a write-off", FeeOpen, FeeInvoiced, FeeAcknowledged, FeeDisputed, FeeResolved); rj != nil {
		return rj, nil
	}
	if w := o.WriteOff; w != nil {
		if w.By == c.cmd.Agency {
			return reject(CodeConflict, "agency %s already asked to write obligation %d off", w.By, o.ID), nil
		}
		return reject(CodeConflict, "agency %s already asked to write obligation %d off; agree with %s", w.By, o.ID, TypeAgreeWriteOff), nil
	}
	o.WriteOff = &FeeProposal{By: c.cmd.Agency, Reason: p.Reason, Seq: c.seq}
	return nil, a.putObligation(c, o)
}

// agreeWriteOff writes the obligation off with the second agency's
// agreement: a fee not yet agreed has its pending transfer voided; an
// agreed fee has its unpaid rest discharged by a write_off transfer.
// Payments awaiting confirmation must be confirmed first, so nothing
// pending is left behind.
func (a *applier) agreeWriteOff(c *cmdCtx, p *ObligationPayload) (*Rejection, error) {
	o, rj, err := a.partyTo(c, p.ObligationID)
	if rj != nil || err != nil {
		return rj, err
	}
	if rj := needStatus(o, "a write-off", FeeOpen, FeeInvoiced, FeeAcknowledged, FeeDisputed, FeeResolved); rj != nil {
		return rj, nil
	}
	switch w := o.WriteOff; {
	case w == nil:
		return reject(CodeConflict, "no write-off of obligation %d has been requested", o.ID), nil
	case w.By == c.cmd.Agency:
		return reject(CodeUnauthorised, "agency %s asked to write obligation %d off; the other agency must agree", w.By, o.ID), nil
	case o.PaidPence != o.ConfirmedPence:
		return reject(CodeConflict, "obligation %d has %d pence of payments awaiting confirmation of receipt; the creditor confirms them first", o.ID, o.PaidPence-o.ConfirmedPence), nil
	}
	var xs []Transfer
	if o.expectedPending() {
		exp, err := a.transfer(o.Expected)
		if err != nil {
			return nil, err
		}
		xs = append(xs, resolve(exp, PhaseVoidPending))
	} else if rest := o.AgreedPence - o.ConfirmedPence; rest > 0 {
		t := discharges(o.Creditor, o.Debtor, rest, PhasePosted, TransferWriteOff)
		t.Obligation = o.ID
		xs = append(xs, t)
		o.WrittenOffPence = rest
	}
	if rj, err := a.applyTransfers(c, xs); rj != nil || err != nil {
		return rj, err
	}
	o.Status, o.SettledSeq = FeeWrittenOff, c.seq
	return nil, a.putObligation(c, o)
}
