package ledger

import (
	"fmt"
	"slices"
	"time"
)

const dayMs = int64(24 * time.Hour / time.Millisecond)

// ledgerDate is the calendar date (UTC) of a ledger time.
func ledgerDate(ms int64) time.Time {
	return time.UnixMilli(ms).UTC().Truncate(24 * time.Hour)
}

// loadListing reads a listing and its current hold. If the hold is active
// but past due in ledger time it is expired here, lazily, in memory: the
// caller writes it back only if its command is accepted, so a rejected
// command changes nothing, and a replay of the accepted entries expires the
// same holds at the same entries.
func (a *applier) loadListing(c *cmdCtx, token string) (*Listing, *Reservation, error) {
	var li Listing
	ok, err := getJSON(a.tx.Bucket(bListings), []byte(token), &li)
	if err != nil || !ok {
		return nil, nil, err
	}
	if li.HoldID == 0 {
		return &li, nil, nil
	}
	res, err := a.reservation(li.HoldID)
	if err != nil {
		return nil, nil, err
	}
	if res == nil {
		return nil, nil, errCorruptf("listing %s holds missing reservation %d", token, li.HoldID)
	}
	if res.Status == ResActive && c.now >= res.ExpiresMs {
		endHold(&li, res, ResExpired, "expired", c.seq)
	}
	return &li, res, nil
}

// endHold ends an active hold. It is the only place a hold ends, so a
// reservation ends at most once (Check asserts it).
func endHold(li *Listing, res *Reservation, status, reason string, seq uint64) {
	if res.Status != ResActive {
		panic("ledger: ending a hold that is not active")
	}
	res.Status, res.EndReason, res.EndedSeq = status, reason, seq
	if status == ResConfirmed {
		li.Status = StatusMatched
		return
	}
	li.Status, li.HoldID = StatusAvailable, 0
}

func (a *applier) reservation(id uint64) (*Reservation, error) {
	var r Reservation
	ok, err := getJSON(a.tx.Bucket(bRes), u64(id), &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

// putListing stores a listing, records the entry in its history and marks it for the search index.
func (a *applier) putListing(c *cmdCtx, li *Listing) error {
	li.Updated = c.seq
	if err := putJSON(a.tx.Bucket(bListings), []byte(li.Token), li); err != nil {
		return err
	}
	if err := a.tx.Bucket(bListingHist).Put(histKey(li.Token, c.seq), nil); err != nil {
		return err
	}
	a.markDirty(li)
	return nil
}

func histKey(token string, seq uint64) []byte {
	return append([]byte(token+"\x00"), u64(seq)...)
}

func (a *applier) publish(c *cmdCtx, p *ListingPayload) (*Rejection, error) {
	if a.tx.Bucket(bListings).Get([]byte(p.Token)) != nil {
		return reject(CodeConflict, "listing %s already exists", p.Token), nil
	}
	if rj := checkApprovalDate(c, p.Attrs.ApprovalDate); rj != nil {
		return rj, nil
	}
	ord := uint32(getU64(a.meta, kOrdinalNext))
	if ord == ^uint32(0) {
		return reject(CodeConflict, "listing ordinals exhausted"), nil
	}
	if err := a.meta.Put(kOrdinalNext, u64(uint64(ord)+1)); err != nil {
		return nil, err
	}
	li := &Listing{Token: p.Token, Agency: c.cmd.Agency, Ordinal: ord, Status: StatusAvailable, Attrs: p.Attrs, Created: c.seq}
	return nil, a.putListing(c, li)
}

func checkApprovalDate(c *cmdCtx, s string) *Rejection {
	d, _ := parseDate(s)
	if d.After(ledgerDate(c.now).Add(24 * time.Hour)) {
		return reject(CodeInvalid, "attrs.approval_date: %s is in the future", s)
	}
	return nil
}

// ownListing loads a listing the command's agency must own.
func (a *applier) ownListing(c *cmdCtx, token string) (*Listing, *Reservation, *Rejection, error) {
	li, res, err := a.loadListing(c, token)
	if err != nil {
		return nil, nil, nil, err
	}
	if li == nil {
		return nil, nil, reject(CodeNotFound, "no listing %s", token), nil
	}
	if li.Agency != c.cmd.Agency {
		return nil, nil, reject(CodeUnauthorised, "listing %s belongs to agency %s; only the approving agency may change it", token, li.Agency), nil
	}
	return li, res, nil, nil
}

func (a *applier) update(c *cmdCtx, p *ListingPayload) (*Rejection, error) {
	li, res, rj, err := a.ownListing(c, p.Token)
	if rj != nil || err != nil {
		return rj, err
	}
	if li.Status == StatusWithdrawn || li.Status == StatusPlaced {
		return reject(CodeConflict, "listing %s is %s and cannot change", p.Token, li.Status), nil
	}
	if rj := checkApprovalDate(c, p.Attrs.ApprovalDate); rj != nil {
		return rj, nil
	}
	li.Attrs = p.Attrs
	return nil, a.writeListingAndHold(c, li, res)
}

// listingStatus handles pause, resume and withdraw by the owner.
func (a *applier) listingStatus(c *cmdCtx, p *TokenPayload) (*Rejection, error) {
	li, res, rj, err := a.ownListing(c, p.Token)
	if rj != nil || err != nil {
		return rj, err
	}
	from, to := []string{StatusAvailable}, StatusPaused
	switch c.cmd.Type {
	case TypeResume:
		from, to = []string{StatusPaused}, StatusAvailable
	case TypeWithdraw:
		from, to = []string{StatusAvailable, StatusPaused}, StatusWithdrawn
	}
	if li.Status == StatusReserved && res != nil && res.Status == ResActive {
		return &Rejection{Code: CodeConflict, HoldExpiresMs: res.ExpiresMs,
			Message: "listing " + p.Token + " is held by agency " + res.Holder + "; release the hold (with a reason) first"}, nil
	}
	if !slices.Contains(from, li.Status) {
		return reject(CodeConflict, "listing %s is %s; %s needs it %v", p.Token, li.Status, c.cmd.Type, from), nil
	}
	li.Status = to
	return nil, a.writeListingAndHold(c, li, res)
}

// writeListingAndHold writes a listing and, if it was lazily expired, its hold.
func (a *applier) writeListingAndHold(c *cmdCtx, li *Listing, res *Reservation) error {
	if res != nil && res.EndedSeq == c.seq {
		if err := a.putRes(res); err != nil {
			return err
		}
	}
	return a.putListing(c, li)
}

func errCorruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}
