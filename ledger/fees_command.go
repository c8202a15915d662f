package ledger

import (
	"slices"
	"strings"
)

// Fee command types: the lifecycle of an interagency fee obligation and of
// a netting run. Obligations themselves are created by reservation.place.
const (
	TypeInvoice           = "fee.invoice"
	TypeAcknowledge       = "fee.acknowledge"
	TypeDispute           = "fee.dispute"
	TypeProposeResolution = "fee.propose_resolution"
	TypeAcceptResolution  = "fee.accept_resolution"
	TypeRecordPayment     = "fee.record_payment"
	TypeConfirmReceipt    = "fee.confirm_receipt"
	TypeRequestWriteOff   = "fee.request_write_off"
	TypeAgreeWriteOff     = "fee.agree_write_off"
	TypeNettingOpen       = "fee.netting_open"
	TypeNettingPay        = "fee.netting_pay"
	TypeNettingConfirm    = "fee.netting_confirm"
)

// FeeCommandTypes lists the fee command types (also part of CommandTypes).
var FeeCommandTypes = []string{
	TypeInvoice, TypeAcknowledge, TypeDispute, TypeProposeResolution, TypeAcceptResolution,
	TypeRecordPayment, TypeConfirmReceipt, TypeRequestWriteOff, TypeAgreeWriteOff,
	TypeNettingOpen, TypeNettingPay, TypeNettingConfirm,
}

// ActionSetFeeSchedule replaces the fee schedule (governance, by quorum).
const ActionSetFeeSchedule = "set_fee_schedule"

// InvoiceAdjustments are the reasons a creditor may invoice an amount other
// than the scheduled fee. Without one the invoice must match the obligation.
var InvoiceAdjustments = []string{
	"ia_agreement_rate",            // the rate agreed on the interagency agreement (Form IA)
	"block_contract_rate",          // a block contract between the agencies
	"sibling_rate_confirmed",       // the sibling-group rate confirmed against the published rates
	"london_uplift_not_applicable", // the London uplift does not apply to this placement
	"partial_waiver",               // the creditor waives part of the fee
}

// DisputeReasons are the reasons a debtor may give for disputing an invoice.
var DisputeReasons = []string{
	"amount_incorrect", "tier_incorrect", "fee_year_incorrect", "sibling_rate_incorrect",
	"london_uplift_incorrect", "intra_raa_no_fee", "not_an_interagency_placement",
	"placement_disrupted", "placement_over_12_months_without_order", "duplicate_invoice",
}

// WriteOffReasons are the reasons given when asking to write a fee off.
var WriteOffReasons = []string{"agreed_waiver", "placement_disrupted", "grant_funded", "uneconomic_to_recover", "agency_closed"}

// ObligationPayload names an obligation (acknowledge, agree_write_off).
type ObligationPayload struct {
	ObligationID uint64 `json:"obligation_id"`
}

// InvoicePayload raises the invoice for an obligation. AmountPence must be
// the obligation's amount unless Adjustment names why it differs.
type InvoicePayload struct {
	ObligationID uint64 `json:"obligation_id"`
	AmountPence  int64  `json:"amount_pence"`
	Adjustment   string `json:"adjustment,omitempty"`
}

// DisputePayload disputes an invoice with a reason from DisputeReasons.
type DisputePayload struct {
	ObligationID uint64 `json:"obligation_id"`
	Reason       string `json:"reason"`
}

// ResolutionPayload proposes, or accepts, the amount that resolves a
// dispute. An acceptance names the amount it accepts, so it cannot accept
// a counter-proposal it has not seen.
type ResolutionPayload struct {
	ObligationID uint64 `json:"obligation_id"`
	AmountPence  int64  `json:"amount_pence"`
}

// PaymentPayload records a payment the debtor made. Reference is an opaque
// token the debtor's finance system can map to its remittance.
type PaymentPayload struct {
	ObligationID uint64 `json:"obligation_id"`
	AmountPence  int64  `json:"amount_pence"`
	Reference    string `json:"reference"`
}

// ReceiptPayload confirms receipt of one recorded payment (by its id).
type ReceiptPayload struct {
	PaymentID uint64 `json:"payment_id"`
}

// WriteOffPayload asks to write an obligation off; the other agency agrees.
type WriteOffPayload struct {
	ObligationID uint64 `json:"obligation_id"`
	Reason       string `json:"reason"`
}

// NettingOpenPayload opens a netting run over the agreed, unpaid
// obligations whose move-in date falls in [From, To].
type NettingOpenPayload struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// NettingPayPayload records that the payer of one leg of a run paid it.
type NettingPayPayload struct {
	RunID     uint64 `json:"run_id"`
	Leg       int    `json:"leg"`
	Reference string `json:"reference"`
}

// NettingLegPayload confirms receipt of one leg of a run (by its payee).
type NettingLegPayload struct {
	RunID uint64 `json:"run_id"`
	Leg   int    `json:"leg"`
}

// newFeePayload returns a fresh payload for a fee command type, or nil.
func newFeePayload(typ string) any {
	switch typ {
	case TypeAcknowledge, TypeAgreeWriteOff:
		return &ObligationPayload{}
	case TypeInvoice:
		return &InvoicePayload{}
	case TypeDispute:
		return &DisputePayload{}
	case TypeProposeResolution, TypeAcceptResolution:
		return &ResolutionPayload{}
	case TypeRecordPayment:
		return &PaymentPayload{}
	case TypeConfirmReceipt:
		return &ReceiptPayload{}
	case TypeRequestWriteOff:
		return &WriteOffPayload{}
	case TypeNettingOpen:
		return &NettingOpenPayload{}
	case TypeNettingPay:
		return &NettingPayPayload{}
	case TypeNettingConfirm:
		return &NettingLegPayload{}
	}
	return nil
}

func validateFeePayload(p any) *Rejection {
	switch p := p.(type) {
	case *ObligationPayload:
		return needObligationID(p.ObligationID)
	case *InvoicePayload:
		if r := needObligationID(p.ObligationID); r != nil {
			return r
		}
		if r := checkAmount("amount_pence", p.AmountPence, 1); r != nil {
			return r
		}
		return checkCode("adjustment", p.Adjustment, InvoiceAdjustments, true)
	case *DisputePayload:
		if r := needObligationID(p.ObligationID); r != nil {
			return r
		}
		return checkCode("reason", p.Reason, DisputeReasons, false)
	case *ResolutionPayload:
		if r := needObligationID(p.ObligationID); r != nil {
			return r
		}
		return checkAmount("amount_pence", p.AmountPence, 0)
	case *PaymentPayload:
		if r := needObligationID(p.ObligationID); r != nil {
			return r
		}
		if r := checkAmount("amount_pence", p.AmountPence, 1); r != nil {
			return r
		}
		return checkToken("reference", p.Reference)
	case *ReceiptPayload:
		if p.PaymentID == 0 {
			return reject(CodeInvalid, "payment_id: missing")
		}
	case *WriteOffPayload:
		if r := needObligationID(p.ObligationID); r != nil {
			return r
		}
		return checkCode("reason", p.Reason, WriteOffReasons, false)
	case *NettingOpenPayload:
		return (&Period{From: p.From, To: p.To}).validate()
	case *NettingPayPayload:
		if r := checkLeg(p.RunID, p.Leg); r != nil {
			return r
		}
		return checkToken("reference", p.Reference)
	case *NettingLegPayload:
		return checkLeg(p.RunID, p.Leg)
	}
	return nil
}

func needObligationID(id uint64) *Rejection {
	if id == 0 {
		return reject(CodeInvalid, "obligation_id: missing")
	}
	return nil
}

func checkAmount(field string, v, lo int64) *Rejection {
	if v < lo || v > feeAmountPenceMax {
		return reject(CodeInvalid, "%s: %d: expected %d..%d pence", field, v, lo, feeAmountPenceMax)
	}
	return nil
}

func checkCode(field, v string, set []string, optional bool) *Rejection {
	if (optional && v == "") || slices.Contains(set, v) {
		return nil
	}
	return reject(CodeInvalid, "%s: %q: expected one of %s", field, truncate(v), strings.Join(set, ", "))
}

func checkLeg(run uint64, leg int) *Rejection {
	switch {
	case run == 0:
		return reject(CodeInvalid, "run_id: missing")
	case leg < 0 || leg >= nettingAgenciesMax:
		return reject(CodeInvalid, "leg: %d: expected 0..%d", leg, nettingAgenciesMax-1)
	}
	return nil
}
