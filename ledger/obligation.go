package ledger

import (
	"fmt"
	"slices"
)

// Obligation statuses. open → invoiced → acknowledged, or disputed →
// resolved; acknowledged and resolved carry an agreed amount that payments
// settle (settled) or that a netting run takes over (netting, then
// settled); written_off from any status before settled.
const (
	FeeOpen         = "open"
	FeeInvoiced     = "invoiced"
	FeeAcknowledged = "acknowledged"
	FeeDisputed     = "disputed"
	FeeResolved     = "resolved"
	FeeNetting      = "netting"
	FeeSettled      = "settled"
	FeeWrittenOff   = "written_off"
)

// FeeStatuses is the closed set of obligation statuses.
var FeeStatuses = []string{FeeOpen, FeeInvoiced, FeeAcknowledged, FeeDisputed, FeeResolved, FeeNetting, FeeSettled, FeeWrittenOff}

// Payment statuses.
const (
	PaymentRecorded  = "recorded"
	PaymentConfirmed = "confirmed"
)

// paymentsPerObligationMax bounds partial payments on one obligation.
const paymentsPerObligationMax = 36

// Obligation is the interagency fee one placement creates: the child's
// agency (debtor, the holder of the reservation) owes the approving agency
// (creditor, the listing's agency). Its id is the sequence of the place
// entry, so there is at most one per placement.
type Obligation struct {
	ID          uint64                 `json:"id"`
	Reservation uint64                 `json:"reservation"`
	Listing     string                 `json:"listing"`
	Debtor      string                 `json:"debtor"`
	Creditor    string                 `json:"creditor"`
	Children    int                    `json:"children"`
	MoveInDate  string                 `json:"move_in_date"`
	FeeYear     int                    `json:"fee_year"`
	Tier        string                 `json:"tier"`
	London      bool                   `json:"london"`
	VAT         string                 `json:"vat"`
	AmountPence int64                  `json:"amount_pence"` // the scheduled fee
	Instalments []ObligationInstalment `json:"instalments"`
	Expected    TransferID             `json:"expected_transfer"` // the pending fee_expected transfer
	CreatedMs   int64                  `json:"created_ms"`

	Status        string       `json:"status"`
	InvoiceSeq    uint64       `json:"invoice_seq,omitempty"`
	InvoicedPence int64        `json:"invoiced_pence,omitempty"`
	Adjustment    string       `json:"adjustment,omitempty"`
	DisputeReason string       `json:"dispute_reason,omitempty"`
	Proposal      *FeeProposal `json:"resolution_proposal,omitempty"`
	// AgreedPence is the amount the debtor acknowledged or both agreed on resolution.
	AgreedPence     int64        `json:"agreed_pence,omitempty"`
	AgreedSeq       uint64       `json:"agreed_seq,omitempty"`
	PaidPence       int64        `json:"paid_pence,omitempty"`      // payments recorded, confirmed or not
	ConfirmedPence  int64        `json:"confirmed_pence,omitempty"` // payments whose receipt is confirmed
	Payments        []uint64     `json:"payments,omitempty"`
	WriteOff        *FeeProposal `json:"write_off_request,omitempty"`
	WrittenOffPence int64        `json:"written_off_pence,omitempty"`
	NettingRun      uint64       `json:"netting_run,omitempty"`
	NettedPence     int64        `json:"netted_pence,omitempty"`
	SettledSeq      uint64       `json:"settled_seq,omitempty"` // settled or written off
	UpdatedSeq      uint64       `json:"updated_seq"`
}

// FeeProposal is one side's half of a two-sided step: a resolution amount
// or a write-off request, waiting for the other agency.
type FeeProposal struct {
	By          string `json:"by"`
	AmountPence int64  `json:"amount_pence,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Seq         uint64 `json:"seq"`
}

// Payment is one payment the debtor recorded against an obligation.
type Payment struct {
	ID           uint64     `json:"id"` // sequence of the record_payment entry
	Obligation   uint64     `json:"obligation"`
	Debtor       string     `json:"debtor"`
	Creditor     string     `json:"creditor"`
	AmountPence  int64      `json:"amount_pence"`
	Reference    string     `json:"reference"`
	Status       string     `json:"status"`
	Transfer     TransferID `json:"transfer"` // the pending payment transfer
	ConfirmedSeq uint64     `json:"confirmed_seq,omitempty"`
}

// PlacementFee records, for every placement, whether it created an
// obligation and if not why (same_agency, intra_raa).
type PlacementFee struct {
	Obligation uint64 `json:"obligation,omitempty"`
	NoFee      string `json:"no_fee,omitempty"`
}

// Reasons a placement owes no fee.
const (
	NoFeeSameAgency = "same_agency"
	NoFeeIntraRAA   = "intra_raa"
)

// agreed reports whether the obligation has an agreed amount that payments may settle.
func (o *Obligation) agreed() bool { return o.Status == FeeAcknowledged || o.Status == FeeResolved }

// final reports whether nothing more can happen to the obligation.
func (o *Obligation) final() bool { return o.Status == FeeSettled || o.Status == FeeWrittenOff }

// expectedPending reports whether the fee_expected transfer is still
// pending: it is voided when an amount is agreed, or on a write-off before that.
func (o *Obligation) expectedPending() bool {
	return o.AgreedSeq == 0 && o.Status != FeeWrittenOff
}

// billablePence is the amount the instalments split: agreed, else invoiced, else scheduled.
func (o *Obligation) billablePence() int64 {
	switch {
	case o.AgreedSeq != 0:
		return o.AgreedPence
	case o.InvoiceSeq != 0:
		return o.InvoicedPence
	}
	return o.AmountPence
}

// OutstandingPence is what the debtor still owes on this obligation: the
// scheduled or invoiced amount until one is agreed, then the agreed amount
// less recorded payments; nothing once settled, written off or taken over
// by a netting run (the run's legs are owed instead).
func (o *Obligation) OutstandingPence() int64 {
	switch {
	case o.final() || o.Status == FeeNetting:
		return 0
	case o.agreed():
		return o.AgreedPence - o.PaidPence
	}
	return o.billablePence()
}

// DuePence is the part of OutstandingPence whose instalments fall due on
// or before date (YYYY-MM-DD). A disputed invoice is owed but not due.
func (o *Obligation) DuePence(date string) int64 {
	out := o.OutstandingPence()
	if out == 0 || o.Status == FeeDisputed {
		return 0
	}
	parts, ok := splitInstalments(o.billablePence(), o.Instalments)
	if !ok {
		return out // unreachable within feeAmountPenceMax; owe everything rather than hide it
	}
	var due int64
	for i, in := range o.Instalments {
		if in.DueDate <= date {
			due += parts[i]
		}
	}
	if o.agreed() {
		due -= o.PaidPence
	}
	return min(max(due, 0), out)
}

// obligation loads an obligation, or nil.
func (a *applier) obligation(id uint64) (*Obligation, error) {
	var o Obligation
	ok, err := getJSON(a.tx.Bucket(bFeeObligations), u64(id), &o)
	if err != nil || !ok {
		return nil, err
	}
	return &o, nil
}

// putObligation stores an obligation and keeps the unsettled index in step
// with its status; touched obligations are checked in strict mode.
func (a *applier) putObligation(c *cmdCtx, o *Obligation) error {
	o.UpdatedSeq = c.seq
	if o.final() {
		if err := a.del(bFeeUnsettled, u64(o.ID)); err != nil {
			return err
		}
	} else if err := a.put(bFeeUnsettled, u64(o.ID), present); err != nil {
		return err
	}
	if !slices.Contains(a.fee.obligations, o.ID) {
		a.fee.obligations = append(a.fee.obligations, o.ID)
	}
	return a.putJSONState(bFeeObligations, u64(o.ID), o)
}

// feeBatch is what a batch changed in the fee state, for the strict-mode check.
type feeBatch struct {
	obligations []uint64
	runs        []uint64
}

// feeSchedule returns the schedule in force.
func (a *applier) feeSchedule() (*FeeSchedule, error) {
	var s FeeSchedule
	ok, err := getJSON(a.meta, kFees, &s)
	if err == nil && !ok {
		err = fmt.Errorf("%w: no fee schedule", ErrCorrupt)
	}
	return &s, err
}

func (a *applier) putFeeSchedule(s *FeeSchedule) error { return a.putJSONState(bMeta, kFees, s) }
