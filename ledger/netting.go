package ledger

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Multilateral netting. A netting run takes the agreed, unpaid obligations
// of a period (by move-in date) and replaces them with at most n-1 net
// payments between the n agencies involved:
//
//  1. fee.netting_open computes the plan from the state at that entry, so
//     every node computes the same one, and novates: each obligation's
//     outstanding amount is discharged by a posted "netted" transfer and
//     each leg of the plan is owed by a posted "net_due" transfer. Every
//     agency's balance is the same before and after (the plan clears
//     exactly its net position), and the federation still sums to zero.
//  2. fee.netting_pay: a leg's payer records its payment (pending).
//  3. fee.netting_confirm: the leg's payee confirms receipt (posted).
//     When every leg is confirmed the run and all its obligations settle.
//
// The plan is deterministic: positions sorted by agency id; each step pays
// the largest debtor's debt to the largest creditor (ties broken by the
// smaller agency id), so every step clears at least one agency.

// Limits of netting.
const (
	nettingAgenciesMax    = 256  // agencies in one run (legs are fewer)
	nettingObligationsMax = 5000 // obligations one run takes over; narrow the period beyond it
)

// Netting run statuses.
const (
	RunOpen    = "open"
	RunSettled = "settled"
)

// Netting leg statuses.
const (
	LegDue       = "due"
	LegPaid      = "paid"
	LegConfirmed = "confirmed"
)

// Period is a range of calendar dates YYYY-MM-DD, inclusive at both ends.
// Netting and obligation queries select by move-in date; statements by
// the ledger date of each movement.
type Period struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// FeeYearPeriod is the period of one fee year: 1 April to 31 March.
func FeeYearPeriod(year int) Period {
	return Period{From: fmt.Sprintf("%04d-04-01", year), To: fmt.Sprintf("%04d-03-31", year+1)}
}

// Validate checks both dates and their order.
func (p Period) Validate() error {
	if r := p.validate(); r != nil {
		return r
	}
	return nil
}

func (p *Period) validate() *Rejection {
	if _, err := parseDate(p.From); err != nil {
		return reject(CodeInvalid, "from: %q: %v", truncate(p.From), err)
	}
	if _, err := parseDate(p.To); err != nil {
		return reject(CodeInvalid, "to: %q: %v", truncate(p.To), err)
	}
	if p.To < p.From {
		return reject(CodeInvalid, "to: %s is before from %s", p.To, p.From)
	}
	return nil
}

// contains reports whether a date (YYYY-MM-DD, so ordered as text) is in the period.
func (p Period) contains(date string) bool { return date >= p.From && date <= p.To }

// NetPosition is an agency's net fee position in a netting: positive when
// it is owed more than it owes.
type NetPosition struct {
	Agency   string `json:"agency"`
	NetPence int64  `json:"net_pence"`
}

// NetTransfer is one payment of a settlement plan.
type NetTransfer struct {
	From        string `json:"from"`
	To          string `json:"to"`
	AmountPence int64  `json:"amount_pence"`
}

// NettingPlan is what a netting of a period would do now.
type NettingPlan struct {
	Period      Period        `json:"period"`
	Obligations []uint64      `json:"obligations"` // ids, ascending
	GrossPence  int64         `json:"gross_pence"` // sum of their outstanding amounts
	Positions   []NetPosition `json:"positions"`   // every agency party to them, by id
	Transfers   []NetTransfer `json:"transfers"`   // at most len(Positions)-1
}

// NettingLeg is one payment of an open or settled run.
type NettingLeg struct {
	From         string      `json:"from"`
	To           string      `json:"to"`
	AmountPence  int64       `json:"amount_pence"`
	Status       string      `json:"status"` // due | paid | confirmed
	Reference    string      `json:"reference,omitempty"`
	Transfer     *TransferID `json:"payment_transfer,omitempty"` // the pending net_payment
	PaidSeq      uint64      `json:"paid_seq,omitempty"`
	ConfirmedSeq uint64      `json:"confirmed_seq,omitempty"`
}

// NettingRun is a netting in progress or done. Its id is the sequence of
// the fee.netting_open entry.
type NettingRun struct {
	ID          uint64        `json:"id"`
	Period      Period        `json:"period"`
	Opener      string        `json:"opener"`
	Status      string        `json:"status"`
	Obligations []uint64      `json:"obligations"`
	GrossPence  int64         `json:"gross_pence"`
	Positions   []NetPosition `json:"positions"`
	Legs        []NettingLeg  `json:"legs"`
	OpenedMs    int64         `json:"opened_ms"`
	SettledSeq  uint64        `json:"settled_seq,omitempty"`
}

// PlanSettlement returns the transfers that clear every position: at most
// n-1 for n positions, deterministic for the same positions in any order.
// Positions must have distinct agencies and sum to zero.
func PlanSettlement(positions []NetPosition) ([]NetTransfer, error) {
	bal := slices.Clone(positions)
	slices.SortFunc(bal, func(x, y NetPosition) int { return strings.Compare(x.Agency, y.Agency) })
	var sum int64
	for i, p := range bal {
		var ok bool
		if sum, ok = addPence(sum, p.NetPence); !ok || p.NetPence == minPence {
			return nil, errors.New("netting: positions overflow")
		}
		if i > 0 && p.Agency == bal[i-1].Agency {
			return nil, fmt.Errorf("netting: agency %s has two positions", p.Agency)
		}
	}
	if sum != 0 {
		return nil, fmt.Errorf("netting: positions sum to %d pence, not zero", sum)
	}
	var out []NetTransfer
	for range bal { // each step clears at least one agency
		d, c := largest(bal, -1), largest(bal, 1)
		if d < 0 || c < 0 {
			break
		}
		amt := min(-bal[d].NetPence, bal[c].NetPence)
		out = append(out, NetTransfer{From: bal[d].Agency, To: bal[c].Agency, AmountPence: amt})
		bal[d].NetPence += amt
		bal[c].NetPence -= amt
	}
	if len(out) > max(len(bal)-1, 0) {
		panic(fmt.Sprintf("ledger: netting plan of %d transfers for %d agencies", len(out), len(bal)))
	}
	return out, nil
}

const minPence = -1 << 63

// largest returns the index of the largest position of a sign (-1 debtors,
// 1 creditors) by magnitude, ties to the smaller agency id (bal is sorted
// by id, so the first found wins), or -1.
func largest(bal []NetPosition, sign int64) int {
	best := -1
	for i, p := range bal {
		v := p.NetPence * sign
		if v > 0 && (best < 0 || v > bal[best].NetPence*sign) {
			best = i
		}
	}
	return best
}

// nettable reports whether a netting may take over the obligation: its
// amount is agreed, no payment awaits confirmation and something is owed.
func nettable(o *Obligation, p Period) bool {
	return o.agreed() && o.PaidPence == o.ConfirmedPence && o.AgreedPence > o.PaidPence && p.contains(o.MoveInDate)
}

// computeNetting builds the plan for a period from the state in tx. It
// reads only the unsettled obligations. More than nettingObligationsMax
// obligations is a rejection (narrow the period), never a silent cut.
func computeNetting(tx *bolt.Tx, p Period) (*NettingPlan, []*Obligation, *Rejection, error) {
	plan := &NettingPlan{Period: p, Obligations: []uint64{}, Positions: []NetPosition{}, Transfers: []NetTransfer{}}
	var obls []*Obligation
	at := map[string]int{} // agency -> index in plan.Positions; looked up, never ranged
	add := func(agency string, v int64) bool {
		i, ok := at[agency]
		if !ok {
			i = len(plan.Positions)
			at[agency] = i
			plan.Positions = append(plan.Positions, NetPosition{Agency: agency})
		}
		plan.Positions[i].NetPence, ok = addPence(plan.Positions[i].NetPence, v)
		return ok
	}
	c := tx.Bucket(bFeeUnsettled).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		var o Obligation
		if ok, err := getJSON(tx.Bucket(bFeeObligations), k, &o); err != nil || !ok {
			return nil, nil, nil, errCorruptf("unsettled index names obligation %d that is not stored (%v)", bytesU64(k), err)
		}
		if !nettable(&o, p) {
			continue
		}
		if len(obls) == nettingObligationsMax {
			return nil, nil, reject(CodeConflict, "more than %d obligations to net between %s and %s; net a shorter period", nettingObligationsMax, p.From, p.To), nil
		}
		out := o.AgreedPence - o.PaidPence
		gross, ok := addPence(plan.GrossPence, out)
		if !ok || !add(o.Creditor, out) || !add(o.Debtor, -out) {
			return nil, nil, reject(CodeInvalid, "netting between %s and %s: totals overflow", p.From, p.To), nil
		}
		plan.GrossPence = gross
		obls = append(obls, &o)
		plan.Obligations = append(plan.Obligations, o.ID)
	}
	if len(plan.Positions) > nettingAgenciesMax {
		return nil, nil, reject(CodeConflict, "%d agencies to net; at most %d in one run", len(plan.Positions), nettingAgenciesMax), nil
	}
	slices.SortFunc(plan.Positions, func(x, y NetPosition) int { return strings.Compare(x.Agency, y.Agency) })
	ts, err := PlanSettlement(plan.Positions)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	plan.Transfers = append(plan.Transfers, ts...)
	return plan, obls, nil, nil
}

// nettingOpen opens a run: only an agency with a position in it may.
func (a *applier) nettingOpen(c *cmdCtx, p *NettingOpenPayload) (*Rejection, error) {
	plan, obls, rj, err := computeNetting(a.tx, Period{From: p.From, To: p.To})
	if rj != nil || err != nil {
		return rj, err
	}
	if len(obls) == 0 {
		return reject(CodeConflict, "no agreed, unpaid obligations with a move-in date from %s to %s to net", p.From, p.To), nil
	}
	if !slices.ContainsFunc(plan.Positions, func(np NetPosition) bool { return np.Agency == c.cmd.Agency }) {
		return reject(CodeUnauthorised, "agency %s is not a party to any obligation in this netting; a party opens it", c.cmd.Agency), nil
	}
	xs := make([]Transfer, 0, len(obls)+len(plan.Transfers))
	for _, o := range obls {
		t := discharges(o.Creditor, o.Debtor, o.AgreedPence-o.PaidPence, PhasePosted, TransferNetted)
		t.Obligation, t.Run = o.ID, c.seq
		xs = append(xs, t)
	}
	run := &NettingRun{ID: c.seq, Period: plan.Period, Opener: c.cmd.Agency, Status: RunOpen, Obligations: plan.Obligations,
		GrossPence: plan.GrossPence, Positions: plan.Positions, Legs: []NettingLeg{}, OpenedMs: c.now}
	for i, nt := range plan.Transfers {
		t := owes(nt.To, nt.From, nt.AmountPence, PhasePosted, TransferNetDue)
		t.Run, t.Leg = c.seq, i
		xs = append(xs, t)
		run.Legs = append(run.Legs, NettingLeg{From: nt.From, To: nt.To, AmountPence: nt.AmountPence, Status: LegDue})
	}
	if rj, err := a.applyTransfers(c, xs); rj != nil || err != nil {
		return rj, err
	}
	for _, o := range obls {
		o.Status, o.NettingRun, o.NettedPence = FeeNetting, run.ID, o.AgreedPence-o.PaidPence
		if err := a.putObligation(c, o); err != nil {
			return nil, err
		}
	}
	return nil, a.settleRunIfDone(c, run)
}

// run loads a netting run, or nil.
func (a *applier) run(id uint64) (*NettingRun, error) {
	var r NettingRun
	ok, err := getJSON(a.tx.Bucket(bFeeRuns), u64(id), &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

// runLeg loads an open run and one of its legs.
func (a *applier) runLeg(id uint64, leg int) (*NettingRun, *NettingLeg, *Rejection, error) {
	r, err := a.run(id)
	if err != nil || r == nil {
		return nil, nil, reject(CodeNotFound, "no netting run %d", id), err
	}
	if leg >= len(r.Legs) {
		return nil, nil, reject(CodeNotFound, "netting run %d has %d legs; no leg %d", id, len(r.Legs), leg), nil
	}
	if r.Status != RunOpen {
		return nil, nil, reject(CodeConflict, "netting run %d is %s", id, r.Status), nil
	}
	return r, &r.Legs[leg], nil, nil
}

func (a *applier) nettingPay(c *cmdCtx, p *NettingPayPayload) (*Rejection, error) {
	r, leg, rj, err := a.runLeg(p.RunID, p.Leg)
	if rj != nil || err != nil {
		return rj, err
	}
	if c.cmd.Agency != leg.From {
		return reject(CodeUnauthorised, "only the payer %s may record payment of leg %d of netting run %d", leg.From, p.Leg, r.ID), nil
	}
	if leg.Status != LegDue {
		return reject(CodeConflict, "leg %d of netting run %d is already %s", p.Leg, r.ID, leg.Status), nil
	}
	t := discharges(leg.To, leg.From, leg.AmountPence, PhasePending, TransferNetPayment)
	t.Run, t.Leg = r.ID, p.Leg
	xs := []Transfer{t}
	if rj, err := a.applyTransfers(c, xs); rj != nil || err != nil {
		return rj, err
	}
	id := xs[0].ID
	leg.Status, leg.Reference, leg.Transfer, leg.PaidSeq = LegPaid, p.Reference, &id, c.seq
	return nil, a.putRun(r)
}

func (a *applier) nettingConfirm(c *cmdCtx, p *NettingLegPayload) (*Rejection, error) {
	r, leg, rj, err := a.runLeg(p.RunID, p.Leg)
	if rj != nil || err != nil {
		return rj, err
	}
	if c.cmd.Agency != leg.To {
		return reject(CodeUnauthorised, "only the payee %s may confirm receipt of leg %d of netting run %d", leg.To, p.Leg, r.ID), nil
	}
	if leg.Status != LegPaid {
		return reject(CodeConflict, "leg %d of netting run %d is %s; its payer records the payment first", p.Leg, r.ID, leg.Status), nil
	}
	pt, err := a.transfer(*leg.Transfer)
	if err != nil {
		return nil, err
	}
	if rj, err := a.applyTransfers(c, []Transfer{resolve(pt, PhasePostPending)}); rj != nil || err != nil {
		return rj, err
	}
	leg.Status, leg.ConfirmedSeq = LegConfirmed, c.seq
	return nil, a.settleRunIfDone(c, r)
}

// settleRunIfDone stores the run and, once every leg is confirmed, settles
// it and every obligation it took over.
func (a *applier) settleRunIfDone(c *cmdCtx, r *NettingRun) error {
	done := !slices.ContainsFunc(r.Legs, func(l NettingLeg) bool { return l.Status != LegConfirmed })
	if done {
		r.Status, r.SettledSeq = RunSettled, c.seq
		for _, id := range r.Obligations {
			o, err := a.obligation(id)
			if err != nil || o == nil {
				return errCorruptf("netting run %d names missing obligation %d (%v)", r.ID, id, err)
			}
			o.Status, o.SettledSeq = FeeSettled, c.seq
			if err := a.putObligation(c, o); err != nil {
				return err
			}
		}
	}
	return a.putRun(r)
}

func (a *applier) putRun(r *NettingRun) error {
	if !slices.Contains(a.fee.runs, r.ID) {
		a.fee.runs = append(a.fee.runs, r.ID)
	}
	return a.putJSONState(bFeeRuns, u64(r.ID), r)
}
