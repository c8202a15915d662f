package ledger

import (
	"bytes"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// obligationsPageMax bounds one page of Obligations.
const obligationsPageMax = 1000

// Obligation roles in queries.
const (
	RoleDebtor   = "debtor"
	RoleCreditor = "creditor"
)

// FeeSchedule returns the fee schedule in force.
func (l *Ledger) FeeSchedule() (s FeeSchedule, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bMeta), kFees, &s)
		if err == nil && !ok {
			err = ErrNoGenesis
		}
		return err
	})
	return s, err
}

// Obligation returns one obligation, or ErrNotFound.
func (l *Ledger) Obligation(id uint64) (o Obligation, err error) {
	err = l.view(func(tx *bolt.Tx) error { return getOrNotFound(tx.Bucket(bFeeObligations), u64(id), &o) })
	return o, err
}

// PlacementFee returns the fee decision of a placed reservation: its
// obligation, or why none is owed; ErrNotFound if it is not placed.
func (l *Ledger) PlacementFee(reservationID uint64) (pf PlacementFee, err error) {
	err = l.view(func(tx *bolt.Tx) error { return getOrNotFound(tx.Bucket(bFeeByRes), u64(reservationID), &pf) })
	return pf, err
}

// Payment returns one recorded payment, or ErrNotFound.
func (l *Ledger) Payment(id uint64) (p Payment, err error) {
	err = l.view(func(tx *bolt.Tx) error { return getOrNotFound(tx.Bucket(bFeePayments), u64(id), &p) })
	return p, err
}

// NettingRun returns one netting run, or ErrNotFound.
func (l *Ledger) NettingRun(id uint64) (r NettingRun, err error) {
	err = l.view(func(tx *bolt.Tx) error { return getOrNotFound(tx.Bucket(bFeeRuns), u64(id), &r) })
	return r, err
}

func getOrNotFound(b *bolt.Bucket, k []byte, v any) error {
	ok, err := getJSON(b, k, v)
	if err == nil && !ok {
		err = ErrNotFound
	}
	return err
}

// NettingPlan returns the netting a fee.netting_open for period p would
// perform now: the obligations it takes over (agreed, no payment awaiting
// confirmation, something owed, move-in date in p), each agency's net
// position and the settlement transfers.
func (l *Ledger) NettingPlan(p Period) (plan NettingPlan, err error) {
	if err := p.Validate(); err != nil {
		return plan, err
	}
	err = l.view(func(tx *bolt.Tx) error {
		np, _, rj, err := computeNetting(tx, p)
		if rj != nil {
			return rj
		}
		if err == nil {
			plan = *np
		}
		return err
	})
	return plan, err
}

// FeeAccounts returns the fee accounts of an agency ("" for every agency), by agency then kind.
func (l *Ledger) FeeAccounts(agency string) (out []Account, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		prefix := []byte{}
		if agency != "" {
			prefix = []byte(agency + "\x00")
		}
		c := tx.Bucket(bFeeAccounts).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var a Account
			if err := jsonUnmarshal(v, &a); err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// ObligationTransfers returns every transfer of an obligation, in order.
func (l *Ledger) ObligationTransfers(id uint64) (out []Transfer, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		out, err = linkedTransfers(tx, bFeeOblXfers, id)
		return err
	})
	return out, err
}

func linkedTransfers(tx *bolt.Tx, index []byte, id uint64) ([]Transfer, error) {
	var out []Transfer
	prefix := u64(id)
	c := tx.Bucket(index).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		var t Transfer
		if ok, err := getJSON(tx.Bucket(bFeeTransfers), k[8:], &t); err != nil || !ok {
			return nil, errCorruptf("%s index names transfer %x that is not stored (%v)", index, k[8:], err)
		}
		out = append(out, t)
	}
	return out, nil
}

// ObligationQuery selects obligations. The zero value of each filter
// means "any"; Limit is required.
type ObligationQuery struct {
	Agency       string  `json:"agency,omitempty"`       // a party
	Role         string  `json:"role,omitempty"`         // debtor | creditor: Agency's side (needs Agency)
	Counterparty string  `json:"counterparty,omitempty"` // the other party (needs Agency)
	Status       string  `json:"status,omitempty"`       // one of FeeStatuses
	Period       *Period `json:"period,omitempty"`       // move-in dates
	After        uint64  `json:"after,omitempty"`        // only ids above this (the last id of the previous page)
	Limit        int     `json:"limit"`                  // 1..1000
}

// Validate checks the query; messages name the field.
func (q *ObligationQuery) Validate() error {
	switch {
	case q.Limit < 1 || q.Limit > obligationsPageMax:
		return reject(CodeInvalid, "limit: %d: expected 1..%d", q.Limit, obligationsPageMax)
	case q.Role != "" && q.Role != RoleDebtor && q.Role != RoleCreditor:
		return reject(CodeInvalid, "role: %q: expected debtor or creditor", truncate(q.Role))
	case (q.Role != "" || q.Counterparty != "") && q.Agency == "":
		return reject(CodeInvalid, "role and counterparty need agency")
	case q.Status != "" && !slices.Contains(FeeStatuses, q.Status):
		return reject(CodeInvalid, "status: %q: expected one of %v", truncate(q.Status), FeeStatuses)
	}
	if q.Period != nil {
		return q.Period.Validate()
	}
	return nil
}

func (q *ObligationQuery) match(o *Obligation) bool {
	switch {
	case q.Status != "" && o.Status != q.Status:
		return false
	case q.Period != nil && !q.Period.contains(o.MoveInDate):
		return false
	case q.Role == RoleDebtor && o.Debtor != q.Agency, q.Role == RoleCreditor && o.Creditor != q.Agency:
		return false
	case q.Counterparty != "" && o.Debtor != q.Counterparty && o.Creditor != q.Counterparty:
		return false
	}
	return true
}

// Obligations returns up to q.Limit obligations matching q, ascending by
// id (the placement's sequence). Page with After.
func (l *Ledger) Obligations(q ObligationQuery) ([]Obligation, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	out := []Obligation{}
	err := l.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bFeeObligations)
		prefix, keyOf := []byte{}, func(k []byte) []byte { return k }
		c := b.Cursor()
		if q.Agency != "" {
			prefix = []byte(q.Agency + "\x00")
			keyOf = func(k []byte) []byte { return k[len(prefix):] }
			c = tx.Bucket(bFeeByAgency).Cursor()
		}
		for k, _ := c.Seek(append(bytes.Clone(prefix), u64(q.After+1)...)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < q.Limit; k, _ = c.Next() {
			var o Obligation
			if ok, err := getJSON(b, keyOf(k), &o); err != nil || !ok {
				return errCorruptf("obligation index names %x that is not stored (%v)", k, err)
			}
			if q.match(&o) {
				out = append(out, o)
			}
		}
		return nil
	})
	return out, err
}

// FeePosition is what an agency owes and is owed in fees, and how much of
// each is due by a date. Netting legs count once a run has taken over the
// obligations; a payment recorded but not yet confirmed counts as paid.
type FeePosition struct {
	Agency       string `json:"agency"`
	AsOf         string `json:"as_of"`
	OwesPence    int64  `json:"owes_pence"`
	DuePence     int64  `json:"due_pence"`
	OwedPence    int64  `json:"owed_pence"`
	OwedDuePence int64  `json:"owed_due_pence"`
	Open         int    `json:"open_obligations"` // not settled or written off
}

// FeePosition returns the agency's fee position with dues counted up to asOf (YYYY-MM-DD).
func (l *Ledger) FeePosition(agency, asOf string) (FeePosition, error) {
	fp := FeePosition{Agency: agency, AsOf: asOf}
	if _, err := parseDate(asOf); err != nil {
		return fp, reject(CodeInvalid, "as_of: %q: %v", truncate(asOf), err)
	}
	err := l.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bAgencies).Get([]byte(agency)) == nil {
			return fmt.Errorf("%w: agency %q", ErrNotFound, agency)
		}
		prefix := []byte(agency + "\x00")
		c := tx.Bucket(bFeeByAgency).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			var o Obligation
			if ok, err := getJSON(tx.Bucket(bFeeObligations), k[len(prefix):], &o); err != nil || !ok {
				return errCorruptf("obligation index names %x that is not stored (%v)", k, err)
			}
			if o.final() {
				continue
			}
			fp.Open++
			fp.add(o.Debtor == agency, o.OutstandingPence(), o.DuePence(asOf))
		}
		return tx.Bucket(bFeeRuns).ForEach(func(_, v []byte) error {
			var r NettingRun
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			for _, leg := range r.Legs {
				if leg.Status == LegDue && (leg.From == agency || leg.To == agency) {
					fp.add(leg.From == agency, leg.AmountPence, leg.AmountPence)
				}
			}
			return nil
		})
	})
	return fp, err
}

func (fp *FeePosition) add(owes bool, outstanding, due int64) {
	if owes {
		fp.OwesPence += outstanding
		fp.DuePence += due
		return
	}
	fp.OwedPence += outstanding
	fp.OwedDuePence += due
}
