package ledger

import (
	"encoding/binary"
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
	li, ok := a.dirtySet[token] // written earlier in this batch
	if !ok {
		ord, known := a.l.index.ordinal(token)
		if !known {
			return nil, nil, nil
		}
		if li, ok = a.l.cache.listing(ord); !ok || li.Token != token {
			return nil, nil, errCorruptf("listing %s: ordinal %d holds %q", token, ord, li.Token)
		}
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

// reservation returns a copy of reservation id as of this point in the
// batch (nil if there is none): written earlier in the batch, held by a
// listing (the state cache), or else decoded from the database.
func (a *applier) reservation(id uint64) (*Reservation, error) {
	if r, ok := a.dirtyRes[id]; ok {
		return cloneReservation(r), nil
	}
	if r, ok := a.l.cache.holds[id]; ok {
		return cloneReservation(&r), nil
	}
	var r Reservation
	ok, err := getResRec(a.tx.Bucket(bRes), id, &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

// putListing stores a listing, records the entry in its history and marks it for the search index.
func (a *applier) putListing(c *cmdCtx, li *Listing) error {
	li.Updated = c.seq
	if err := a.put(bListings, listingKey(li.Ordinal), encodeListing(li)); err != nil {
		return err
	}
	if !slices.Contains(a.ords, li.Ordinal) { // the entry's history (appendEntry)
		a.ords = append(a.ords, li.Ordinal)
	}
	a.markDirty(li)
	return nil
}

// listingKey is a listing's key in the listings bucket: its ordinal,
// big-endian. Ordinals are dense and increasing, so a new listing appends
// at the end of the bucket instead of dirtying a random page, as a key of
// the (random) token would: that halved the pages a batch of publishes
// writes. The token -> ordinal map is derived state (searchIndex.ordinals),
// rebuilt from the listings on open and restore like the rest of the index.
func listingKey(ordinal uint32) []byte {
	return binary.BigEndian.AppendUint32(make([]byte, 0, 4), ordinal)
}

// listingOrdinal returns the ordinal of a listing token as of this point
// in the batch: listings written earlier in the batch first, then the
// committed ones.
func (a *applier) listingOrdinal(token string) (uint32, bool) {
	if li, ok := a.dirtySet[token]; ok {
		return li.Ordinal, true
	}
	return a.l.index.ordinal(token)
}

func (a *applier) publish(c *cmdCtx, p *ListingPayload) (*Rejection, error) {
	if _, ok := a.listingOrdinal(p.Token); ok {
		return reject(CodeConflict, "listing %s already exists", p.Token), nil
	}
	if rj := checkApprovalDate(c, p.Attrs.ApprovalDate); rj != nil {
		return rj, nil
	}
	ord := uint32(getU64(a.meta, kOrdinalNext))
	if ord == ^uint32(0) {
		return reject(CodeConflict, "listing ordinals exhausted"), nil
	}
	if err := a.put(bMeta, kOrdinalNext, u64(uint64(ord)+1)); err != nil {
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
