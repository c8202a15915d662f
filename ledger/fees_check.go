package ledger

import (
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The fee invariants (DESIGN Invariants 5), checked by Check over the
// whole state and by strict mode after every batch for what it touched:
//
//   - every account's totals equal the sum of the stored transfers, and
//     across all accounts posted debits equal posted credits and pending
//     debits equal pending credits: the balances sum to zero;
//   - every pending transfer is resolved at most once, and the pending set
//     holds exactly the unresolved ones;
//   - no obligation without a placement: its reservation is placed by that
//     place entry, was confirmed first, and is held by the paying agency
//     (the debtor) for the approving agency (the creditor);
//   - every placement has exactly one fee decision (an obligation or a
//     reason for none), and an obligation's own transfers agree with its
//     status and amounts;
//   - a netting run's legs clear its positions in at most n-1 payments,
//     and its transfers agree with its legs and obligations.

// checkFeesTx is the full check, O(transfers + obligations + reservations).
func checkFeesTx(tx *bolt.Tx) error {
	if err := checkAccounts(tx); err != nil {
		return err
	}
	err := tx.Bucket(bFeeObligations).ForEach(func(k, v []byte) error {
		var o Obligation
		if err := jsonUnmarshal(v, &o); err != nil {
			return err
		}
		return checkObligation(tx, &o)
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(bFeeRuns).ForEach(func(k, v []byte) error {
		var r NettingRun
		if err := jsonUnmarshal(v, &r); err != nil {
			return err
		}
		return checkRun(tx, &r)
	})
	if err != nil {
		return err
	}
	return checkPlacements(tx)
}

// checkFeesTouched is strict mode's check after a batch: the touched
// obligations and runs, and the federation-wide sums (O(accounts)).
func checkFeesTouched(tx *bolt.Tx, fb *feeBatch) error {
	for _, id := range fb.obligations {
		var o Obligation
		if ok, err := getJSON(tx.Bucket(bFeeObligations), u64(id), &o); err != nil || !ok {
			return fmt.Errorf("%w: touched obligation %d not stored", ErrCorrupt, id)
		}
		if err := checkObligation(tx, &o); err != nil {
			return err
		}
	}
	for _, id := range fb.runs {
		var r NettingRun
		if ok, err := getJSON(tx.Bucket(bFeeRuns), u64(id), &r); err != nil || !ok {
			return fmt.Errorf("%w: touched netting run %d not stored", ErrCorrupt, id)
		}
		if err := checkRun(tx, &r); err != nil {
			return err
		}
	}
	_, err := accountSums(tx)
	return err
}

// accountSums checks that the stored accounts sum to zero, posted and pending.
func accountSums(tx *bolt.Tx) (n int, err error) {
	var dp, cp, dq, cq int64
	err = tx.Bucket(bFeeAccounts).ForEach(func(k, v []byte) error {
		var a Account
		if err := jsonUnmarshal(v, &a); err != nil {
			return err
		}
		n++
		ok1, ok2, ok3, ok4 := true, true, true, true
		dp, ok1 = addPence(dp, a.DebitsPostedPence)
		cp, ok2 = addPence(cp, a.CreditsPostedPence)
		dq, ok3 = addPence(dq, a.DebitsPendingPence)
		cq, ok4 = addPence(cq, a.CreditsPendingPence)
		if !ok1 || !ok2 || !ok3 || !ok4 || a.DebitsPendingPence < 0 || a.CreditsPendingPence < 0 {
			return fmt.Errorf("%w: account %s/%s totals out of range: %+v", ErrCorrupt, a.Agency, a.Kind, a)
		}
		return nil
	})
	if err == nil && (dp != cp || dq != cq) {
		err = fmt.Errorf("%w: balances do not sum to zero: posted debits %d, credits %d; pending debits %d, credits %d", ErrCorrupt, dp, cp, dq, cq)
	}
	return n, err
}

// checkAccounts recomputes every account from the transfers and the
// pending set from the resolutions, and compares them with what is stored.
func checkAccounts(tx *bolt.Tx) error {
	n, err := accountSums(tx)
	if err != nil {
		return err
	}
	var accts []*Account
	find := func(k AccountKey) *Account {
		i, ok := slices.BinarySearchFunc(accts, k, func(a *Account, k AccountKey) int {
			return compareKeys(AccountKey{a.Agency, a.Kind}, k)
		})
		if !ok {
			accts = slices.Insert(accts, i, &Account{Agency: k.Agency, Kind: k.Kind})
		}
		return accts[i]
	}
	var pending []TransferID // unresolved, in id order
	err = tx.Bucket(bFeeTransfers).ForEach(func(k, v []byte) error {
		var t Transfer
		if err := jsonUnmarshal(v, &t); err != nil {
			return err
		}
		if t.ID != transferIDFromKey(k) || t.AmountPence <= 0 || t.Debit == t.Credit {
			return fmt.Errorf("%w: transfer %s is malformed", ErrCorrupt, transferIDFromKey(k))
		}
		switch t.Phase {
		case PhasePending:
			pending = append(pending, t.ID)
		case PhasePostPending, PhaseVoidPending:
			i := -1
			if t.Pending != nil {
				i = slices.Index(pending, *t.Pending)
			}
			if i < 0 {
				return fmt.Errorf("%w: transfer %s resolves a transfer that is not pending", ErrCorrupt, t.ID)
			}
			pending = slices.Delete(pending, i, i+1)
		}
		if !moveTotals(&t, find(t.Debit), find(t.Credit)) {
			return fmt.Errorf("%w: account totals overflow at transfer %s", ErrCorrupt, t.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(accts) != n {
		return fmt.Errorf("%w: %d accounts stored, transfers touch %d", ErrCorrupt, n, len(accts))
	}
	for _, want := range accts {
		var got Account
		if ok, err := getJSON(tx.Bucket(bFeeAccounts), AccountKey{want.Agency, want.Kind}.key(), &got); err != nil || !ok || got != *want {
			return fmt.Errorf("%w: account %s/%s is %+v; its transfers give %+v", ErrCorrupt, want.Agency, want.Kind, got, *want)
		}
	}
	pb := tx.Bucket(bFeePending)
	if pb.Stats().KeyN != len(pending) {
		return fmt.Errorf("%w: pending set has %d transfers; %d are unresolved", ErrCorrupt, pb.Stats().KeyN, len(pending))
	}
	for _, id := range pending {
		if pb.Get(id.key()) == nil {
			return fmt.Errorf("%w: unresolved transfer %s missing from the pending set", ErrCorrupt, id)
		}
	}
	return nil
}

func compareKeys(x, y AccountKey) int {
	switch {
	case x.Agency != y.Agency:
		return cmpString(x.Agency, y.Agency)
	}
	return cmpString(x.Kind, y.Kind)
}

func cmpString(x, y string) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// checkObligation checks one obligation's links and its own transfers.
func checkObligation(tx *bolt.Tx, o *Obligation) error {
	if err := checkObligationLinks(tx, o); err != nil {
		return err
	}
	if err := checkObligationAmounts(o); err != nil {
		return err
	}
	ts, err := linkedTransfers(tx, bFeeOblXfers, o.ID)
	if err != nil {
		return err
	}
	recv := AccountKey{o.Creditor, AccountReceivable}
	pay := AccountKey{o.Debtor, AccountPayable}
	posted, pendingNet, err := netOn(ts, recv, pay)
	if err != nil {
		return fmt.Errorf("obligation %d: %w", o.ID, err)
	}
	wantPosted := o.AgreedPence - o.ConfirmedPence - o.WrittenOffPence - o.NettedPence
	wantPending := -(o.PaidPence - o.ConfirmedPence)
	if o.expectedPending() {
		wantPosted, wantPending = 0, o.AmountPence
	}
	if posted != wantPosted || pendingNet != wantPending {
		return fmt.Errorf("%w: obligation %d (%s): its transfers leave %d posted and %d pending; its amounts say %d and %d",
			ErrCorrupt, o.ID, o.Status, posted, pendingNet, wantPosted, wantPending)
	}
	return nil
}

// netOn sums transfers that must all move between recv and pay: the
// posted and the still-pending net on recv (debits minus credits).
func netOn(ts []Transfer, recv, pay AccountKey) (posted, pending int64, err error) {
	var open []TransferID
	for _, t := range ts {
		sign := int64(1)
		switch {
		case t.Debit == recv && t.Credit == pay:
		case t.Debit == pay && t.Credit == recv:
			sign = -1
		default:
			return 0, 0, fmt.Errorf("%w: transfer %s moves %v to %v, outside %v and %v", ErrCorrupt, t.ID, t.Credit, t.Debit, recv, pay)
		}
		v := sign * t.AmountPence
		switch t.Phase {
		case PhasePosted:
			posted += v
		case PhasePending:
			pending += v
			open = append(open, t.ID)
		case PhasePostPending, PhaseVoidPending:
			if t.Pending == nil || !slices.Contains(open, *t.Pending) {
				return 0, 0, fmt.Errorf("%w: transfer %s resolves %v, not an open pending transfer of its own", ErrCorrupt, t.ID, t.Pending)
			}
			open = slices.DeleteFunc(open, func(id TransferID) bool { return id == *t.Pending })
			pending -= v
			if t.Phase == PhasePostPending {
				posted += v
			}
		}
	}
	return posted, pending, nil
}

// checkObligationLinks: no obligation without a placement by a confirmed
// reservation of the paying agency, and exactly one per placement.
func checkObligationLinks(tx *bolt.Tx, o *Obligation) error {
	var r Reservation
	ok, err := getResRec(tx.Bucket(bRes), o.Reservation, &r)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("%w: obligation %d names missing reservation %d", ErrCorrupt, o.ID, o.Reservation)
	case r.Status != ResPlaced || r.PlacedSeq != o.ID || r.MoveInDate != o.MoveInDate:
		return fmt.Errorf("%w: obligation %d has no placement: reservation %d is %s (placed at %d)", ErrCorrupt, o.ID, r.ID, r.Status, r.PlacedSeq)
	case r.EndReason != ResConfirmed || r.EndedSeq == 0 || r.EndedSeq >= r.PlacedSeq:
		return fmt.Errorf("%w: obligation %d: reservation %d was placed without being confirmed", ErrCorrupt, o.ID, r.ID)
	case r.Holder != o.Debtor || r.ListingAgency != o.Creditor || o.Debtor == o.Creditor || r.Children != o.Children:
		return fmt.Errorf("%w: obligation %d (%s owes %s) does not match reservation %d (held by %s for %s)", ErrCorrupt, o.ID, o.Debtor, o.Creditor, r.ID, r.Holder, r.ListingAgency)
	}
	var pf PlacementFee
	if ok, err := getJSON(tx.Bucket(bFeeByRes), u64(o.Reservation), &pf); err != nil || !ok || pf.Obligation != o.ID {
		return fmt.Errorf("%w: placement %d does not link to its obligation %d", ErrCorrupt, o.Reservation, o.ID)
	}
	byAg := tx.Bucket(bFeeByAgency)
	if byAg.Get(agencyResKey(o.Debtor, o.ID)) == nil || byAg.Get(agencyResKey(o.Creditor, o.ID)) == nil {
		return fmt.Errorf("%w: obligation %d missing from the agency index", ErrCorrupt, o.ID)
	}
	if (tx.Bucket(bFeeUnsettled).Get(u64(o.ID)) != nil) == o.final() {
		return fmt.Errorf("%w: obligation %d (%s) is wrongly in or out of the unsettled index", ErrCorrupt, o.ID, o.Status)
	}
	return nil
}

// checkObligationAmounts: the amounts fit the status.
func checkObligationAmounts(o *Obligation) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: obligation %d (%s): %s", ErrCorrupt, o.ID, o.Status, why)
	}
	switch {
	case !slices.Contains(FeeStatuses, o.Status):
		return bad("unknown status")
	case o.AmountPence < 1 || o.AmountPence > feeAmountPenceMax:
		return bad("amount out of range")
	case o.ConfirmedPence < 0 || o.ConfirmedPence > o.PaidPence || o.PaidPence > o.AgreedPence:
		return bad("confirmed <= paid <= agreed does not hold")
	case o.AgreedSeq == 0 && slices.Contains([]string{FeeAcknowledged, FeeResolved, FeeNetting, FeeSettled}, o.Status),
		o.AgreedSeq != 0 && slices.Contains([]string{FeeOpen, FeeInvoiced, FeeDisputed}, o.Status):
		return bad("agreed amount and status disagree")
	case o.Status == FeeSettled && o.ConfirmedPence+o.NettedPence != o.AgreedPence:
		return bad("settled, but receipts and netting do not cover the agreed amount")
	case o.Status == FeeWrittenOff && o.AgreedSeq != 0 && o.ConfirmedPence+o.WrittenOffPence != o.AgreedPence:
		return bad("written off, but receipts and the write-off do not cover the agreed amount")
	case o.Status == FeeNetting && o.NettingRun == 0, o.NettingRun != 0 && o.Status != FeeNetting && o.Status != FeeSettled:
		return bad("netting run and status disagree")
	}
	return nil
}

// checkRun checks a netting run: its obligations, its plan and its transfers.
func checkRun(tx *bolt.Tx, r *NettingRun) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: netting run %d: %s", ErrCorrupt, r.ID, fmt.Sprintf(format, args...))
	}
	var gross int64
	for _, id := range r.Obligations {
		var o Obligation
		if ok, err := getJSON(tx.Bucket(bFeeObligations), u64(id), &o); err != nil || !ok {
			return bad("names missing obligation %d", id)
		}
		want := FeeNetting
		if r.Status == RunSettled {
			want = FeeSettled
		}
		if o.NettingRun != r.ID || o.Status != want {
			return bad("obligation %d is %s in run %d", id, o.Status, o.NettingRun)
		}
		gross += o.NettedPence
	}
	if gross != r.GrossPence {
		return bad("obligations net %d pence; the run says %d", gross, r.GrossPence)
	}
	if len(r.Legs) > max(len(r.Positions)-1, 0) {
		return bad("%d legs for %d agencies", len(r.Legs), len(r.Positions))
	}
	bal := slices.Clone(r.Positions)
	for _, leg := range r.Legs {
		for i := range bal {
			switch bal[i].Agency {
			case leg.From:
				bal[i].NetPence += leg.AmountPence
			case leg.To:
				bal[i].NetPence -= leg.AmountPence
			}
		}
	}
	for _, p := range bal {
		if p.NetPence != 0 {
			return bad("its legs leave %s at %d pence", p.Agency, p.NetPence)
		}
	}
	return checkRunTransfers(tx, r)
}

// checkRunTransfers: each leg's transfers agree with its status, and the
// netted transfers discharge exactly the run's gross amount.
func checkRunTransfers(tx *bolt.Tx, r *NettingRun) error {
	ts, err := linkedTransfers(tx, bFeeRunXfers, r.ID)
	if err != nil {
		return err
	}
	var netted int64
	legTs := make([][]Transfer, len(r.Legs))
	for _, t := range ts {
		switch {
		case t.Code == TransferNetted:
			netted += t.AmountPence
		case t.Leg < 0 || t.Leg >= len(r.Legs):
			return fmt.Errorf("%w: netting run %d: transfer %s names leg %d", ErrCorrupt, r.ID, t.ID, t.Leg)
		default:
			legTs[t.Leg] = append(legTs[t.Leg], t)
		}
	}
	if netted != r.GrossPence {
		return fmt.Errorf("%w: netting run %d: netted transfers total %d; gross %d", ErrCorrupt, r.ID, netted, r.GrossPence)
	}
	for i, leg := range r.Legs {
		posted, pending, err := netOn(legTs[i], AccountKey{leg.To, AccountReceivable}, AccountKey{leg.From, AccountPayable})
		if err != nil {
			return fmt.Errorf("netting run %d leg %d: %w", r.ID, i, err)
		}
		wantPosted, wantPending := leg.AmountPence, int64(0)
		switch leg.Status {
		case LegPaid:
			wantPending = -leg.AmountPence
		case LegConfirmed:
			wantPosted = 0
		}
		if posted != wantPosted || pending != wantPending {
			return fmt.Errorf("%w: netting run %d leg %d (%s): transfers leave %d posted, %d pending", ErrCorrupt, r.ID, i, leg.Status, posted, pending)
		}
	}
	return nil
}

// checkPlacements: every placed reservation has exactly one fee decision,
// and every decision belongs to a placed reservation.
func checkPlacements(tx *bolt.Tx) error {
	byRes := tx.Bucket(bFeeByRes)
	placed := 0
	err := tx.Bucket(bRes).ForEach(func(k, v []byte) error {
		var r Reservation
		if err := decodeReservation(v, &r); err != nil {
			return err
		}
		if r.Status != ResPlaced {
			return nil
		}
		placed++
		var pf PlacementFee
		ok, err := getJSON(byRes, k, &pf)
		switch {
		case err != nil:
			return err
		case !ok:
			return fmt.Errorf("%w: placement %d has no fee decision", ErrCorrupt, r.ID)
		case r.EndReason != ResConfirmed:
			return fmt.Errorf("%w: placement %d was never confirmed", ErrCorrupt, r.ID)
		case (pf.Obligation != 0) == (pf.NoFee != ""):
			return fmt.Errorf("%w: placement %d has fee decision %+v", ErrCorrupt, r.ID, pf)
		case pf.NoFee == NoFeeSameAgency && r.Holder != r.ListingAgency:
			return fmt.Errorf("%w: placement %d between %s and %s owes no fee as same_agency", ErrCorrupt, r.ID, r.Holder, r.ListingAgency)
		case pf.Obligation != 0 && tx.Bucket(bFeeObligations).Get(u64(pf.Obligation)) == nil:
			return fmt.Errorf("%w: placement %d names missing obligation %d", ErrCorrupt, r.ID, pf.Obligation)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n := byRes.Stats().KeyN; n != placed {
		return fmt.Errorf("%w: %d fee decisions for %d placements", ErrCorrupt, n, placed)
	}
	return nil
}
