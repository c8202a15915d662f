package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Double entry, in the style of TigerBeetle. Every agency has two fee
// accounts: receivable (what others owe it) and payable (what it owes).
// Every financial movement is a stored, immutable Transfer that debits one
// account and credits another by the same amount, so across the federation
// debits equal credits and the balances (debits - credits) sum to zero.
//
// Like TigerBeetle, an account keeps four totals: debits and credits,
// pending and posted. A pending transfer reserves an amount that a later
// transfer either posts or voids (in full, exactly once). The ledger uses
// pending for amounts one side has asserted and the other has not yet
// agreed: the scheduled fee until the debtor agrees an amount, a payment
// until the creditor confirms receipt.

// Account kinds.
const (
	AccountReceivable = "receivable"
	AccountPayable    = "payable"
)

// Transfer phases (TigerBeetle's pending, post_pending_transfer and void_pending_transfer flags).
const (
	PhasePosted      = "posted"
	PhasePending     = "pending"
	PhasePostPending = "post_pending" // posts the pending transfer it names, in full
	PhaseVoidPending = "void_pending" // voids the pending transfer it names
)

// Transfer codes: what a movement is. Each debits the creditor's (or
// payee's) receivable and credits the debtor's (payer's) payable, or the
// reverse for movements that discharge a debt.
const (
	TransferFeeExpected = "fee_expected" // pending: the scheduled fee, raised at placement
	TransferFeeAgreed   = "fee_agreed"   // posted: the amount acknowledged or agreed on resolution
	TransferPayment     = "payment"      // pending when recorded by the debtor, posted on receipt
	TransferWriteOff    = "write_off"    // posted: the unpaid rest, written off by both agencies
	TransferNetted      = "netted"       // posted: an obligation discharged into a netting run
	TransferNetDue      = "net_due"      // posted: a netting run's leg, owed by its payer
	TransferNetPayment  = "net_payment"  // pending when the payer records it, posted on receipt
)

// AccountKey names an account: an agency and a kind.
type AccountKey struct {
	Agency string `json:"agency"`
	Kind   string `json:"kind"`
}

func (k AccountKey) key() []byte { return []byte(k.Agency + "\x00" + k.Kind) }

// Account holds the running totals of one account, in pence.
type Account struct {
	Agency              string `json:"agency"`
	Kind                string `json:"kind"`
	DebitsPendingPence  int64  `json:"debits_pending_pence"`
	DebitsPostedPence   int64  `json:"debits_posted_pence"`
	CreditsPendingPence int64  `json:"credits_pending_pence"`
	CreditsPostedPence  int64  `json:"credits_posted_pence"`
}

// BalancePence is the posted balance, debits minus credits: positive on a
// receivable (owed to the agency), negative on a payable (owed by it).
func (a *Account) BalancePence() int64 { return a.DebitsPostedPence - a.CreditsPostedPence }

// PendingPence is the pending balance, debits minus credits.
func (a *Account) PendingPence() int64 { return a.DebitsPendingPence - a.CreditsPendingPence }

// TransferID names a transfer: the ledger sequence of the entry that made
// it and its index within that entry. Its text form is "seq-n".
type TransferID struct {
	Seq uint64
	N   uint32
}

// String returns the text form "seq-n".
func (t TransferID) String() string {
	return strconv.FormatUint(t.Seq, 10) + "-" + strconv.FormatUint(uint64(t.N), 10)
}

// MarshalText encodes the id as "seq-n".
func (t TransferID) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText decodes "seq-n".
func (t *TransferID) UnmarshalText(b []byte) error {
	s, n, ok := strings.Cut(string(b), "-")
	seq, err1 := strconv.ParseUint(s, 10, 64)
	idx, err2 := strconv.ParseUint(n, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return errors.New("transfer id: expected seq-n")
	}
	*t = TransferID{Seq: seq, N: uint32(idx)}
	return nil
}

func (t TransferID) key() []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint64(b, t.Seq)
	binary.BigEndian.PutUint32(b[8:], t.N)
	return b
}

func transferIDFromKey(k []byte) TransferID {
	return TransferID{Seq: binary.BigEndian.Uint64(k), N: binary.BigEndian.Uint32(k[8:])}
}

// Transfer is one stored movement. It never changes once written: a
// pending transfer is resolved by a later post_pending or void_pending
// transfer naming it.
type Transfer struct {
	ID          TransferID  `json:"id"`
	Debit       AccountKey  `json:"debit"`
	Credit      AccountKey  `json:"credit"`
	AmountPence int64       `json:"amount_pence"`
	Phase       string      `json:"phase"`
	Pending     *TransferID `json:"pending_id,omitempty"` // post_pending, void_pending
	Code        string      `json:"code"`
	Obligation  uint64      `json:"obligation,omitempty"`
	Payment     uint64      `json:"payment,omitempty"`
	Run         uint64      `json:"run,omitempty"`
	Leg         int         `json:"leg,omitempty"`
	TimeMs      int64       `json:"time_ms"` // ledger time of the entry
}

// posts reports whether the transfer moves posted balances (what statements show).
func (t *Transfer) posts() bool { return t.Phase == PhasePosted || t.Phase == PhasePostPending }

// owes returns a transfer that records debtor owing creditor amount (debit
// the creditor's receivable, credit the debtor's payable).
func owes(creditor, debtor string, amount int64, phase, code string) Transfer {
	return Transfer{Debit: AccountKey{creditor, AccountReceivable}, Credit: AccountKey{debtor, AccountPayable}, AmountPence: amount, Phase: phase, Code: code}
}

// discharges returns a transfer that reduces what debtor owes creditor.
func discharges(creditor, debtor string, amount int64, phase, code string) Transfer {
	return Transfer{Debit: AccountKey{debtor, AccountPayable}, Credit: AccountKey{creditor, AccountReceivable}, AmountPence: amount, Phase: phase, Code: code}
}

// resolve returns the transfer that posts or voids pending p in full.
func resolve(p *Transfer, phase string) Transfer {
	id := p.ID
	t := *p
	t.Phase, t.Pending = phase, &id
	return t
}

// applyTransfers assigns ids to one command's transfers, applies them to
// the accounts with checked arithmetic and stores everything. A rule calls
// it once, after deciding and before any other write: an overflow is a
// rejection and nothing has been written yet. Resolving a pending transfer
// that is not pending, or a zero or one-sided transfer, is a programmer
// error and panics.
func (a *applier) applyTransfers(c *cmdCtx, xs []Transfer) (*Rejection, error) {
	var accts []*Account
	find := func(k AccountKey) (*Account, error) {
		for _, ac := range accts {
			if ac.Agency == k.Agency && ac.Kind == k.Kind {
				return ac, nil
			}
		}
		ac := &Account{Agency: k.Agency, Kind: k.Kind}
		if _, err := getJSON(a.tx.Bucket(bFeeAccounts), k.key(), ac); err != nil {
			return nil, err
		}
		accts = append(accts, ac)
		return ac, nil
	}
	var resolved []TransferID
	for i := range xs {
		t := &xs[i]
		t.ID, t.TimeMs = TransferID{Seq: c.seq, N: uint32(i)}, c.now
		if t.AmountPence <= 0 || t.Debit == t.Credit {
			panic(fmt.Sprintf("ledger: transfer %s: amount %d from %v to %v", t.ID, t.AmountPence, t.Credit, t.Debit))
		}
		d, err := find(t.Debit)
		if err != nil {
			return nil, err
		}
		cr, err := find(t.Credit)
		if err != nil {
			return nil, err
		}
		if t.Pending != nil {
			if err := a.checkResolvable(t, resolved); err != nil {
				return nil, err
			}
			resolved = append(resolved, *t.Pending)
		}
		if !moveTotals(t, d, cr) {
			return reject(CodeInvalid, "transfer %s of %d pence: account totals of %s and %s would overflow", t.ID, t.AmountPence, t.Debit.Agency, t.Credit.Agency), nil
		}
	}
	return nil, a.storeTransfers(xs, accts, resolved)
}

// moveTotals applies one transfer to its two accounts; false on overflow.
func moveTotals(t *Transfer, d, cr *Account) bool {
	ok := true
	add := func(p *int64, v int64) {
		if ok {
			*p, ok = addPence(*p, v)
		}
	}
	switch t.Phase {
	case PhasePosted:
		add(&d.DebitsPostedPence, t.AmountPence)
		add(&cr.CreditsPostedPence, t.AmountPence)
	case PhasePending:
		add(&d.DebitsPendingPence, t.AmountPence)
		add(&cr.CreditsPendingPence, t.AmountPence)
	case PhasePostPending, PhaseVoidPending:
		add(&d.DebitsPendingPence, -t.AmountPence)
		add(&cr.CreditsPendingPence, -t.AmountPence)
		if t.Phase == PhasePostPending {
			add(&d.DebitsPostedPence, t.AmountPence)
			add(&cr.CreditsPostedPence, t.AmountPence)
		}
	default:
		panic("ledger: transfer phase " + t.Phase)
	}
	return ok
}

// checkResolvable asserts that t resolves a stored, still pending transfer
// with the same accounts and amount.
func (a *applier) checkResolvable(t *Transfer, already []TransferID) error {
	var p Transfer
	ok, err := getJSON(a.tx.Bucket(bFeeTransfers), t.Pending.key(), &p)
	if err != nil {
		return err
	}
	switch {
	case !ok || p.Phase != PhasePending:
		return errCorruptf("transfer %s resolves %s, which is not a pending transfer", t.ID, t.Pending)
	case a.tx.Bucket(bFeePending).Get(t.Pending.key()) == nil || slicesContainsID(already, *t.Pending):
		return errCorruptf("transfer %s resolves %s, which is already resolved", t.ID, t.Pending)
	case p.Debit != t.Debit || p.Credit != t.Credit || p.AmountPence != t.AmountPence:
		return errCorruptf("transfer %s does not match the pending transfer %s it resolves", t.ID, t.Pending)
	}
	return nil
}

func slicesContainsID(ids []TransferID, id TransferID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// storeTransfers writes transfers, their indexes, the accounts and the pending set.
func (a *applier) storeTransfers(xs []Transfer, accts []*Account, resolved []TransferID) error {
	for i := range xs {
		t := &xs[i]
		k := t.ID.key()
		if err := a.putJSONState(bFeeTransfers, k, t); err != nil {
			return err
		}
		for _, ag := range []string{t.Debit.Agency, t.Credit.Agency} {
			if err := a.put(bFeeAgencyXfers, append([]byte(ag+"\x00"), k...), nil); err != nil {
				return err
			}
		}
		if t.Obligation != 0 {
			if err := a.put(bFeeOblXfers, append(u64(t.Obligation), k...), nil); err != nil {
				return err
			}
		}
		if t.Run != 0 {
			if err := a.put(bFeeRunXfers, append(u64(t.Run), k...), nil); err != nil {
				return err
			}
		}
		if t.Phase == PhasePending {
			if err := a.put(bFeePending, k, present); err != nil {
				return err
			}
		}
	}
	for _, id := range resolved {
		if err := a.del(bFeePending, id.key()); err != nil {
			return err
		}
	}
	for _, ac := range accts {
		if err := a.putJSONState(bFeeAccounts, AccountKey{ac.Agency, ac.Kind}.key(), ac); err != nil {
			return err
		}
	}
	return nil
}

// present is the value of set-like index entries that are looked up with
// Get: bbolt returns nil for a nil value written earlier in the same
// transaction, which would read as absent.
var present = []byte{1}

// transfer loads one stored transfer.
func (a *applier) transfer(id TransferID) (*Transfer, error) {
	var t Transfer
	ok, err := getJSON(a.tx.Bucket(bFeeTransfers), id.key(), &t)
	if err == nil && !ok {
		err = errCorruptf("transfer %s missing", id)
	}
	return &t, err
}
