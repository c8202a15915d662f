package ledger

import (
	"encoding/binary"
	"slices"
	"strconv"
	"time"
)

// Reservation keys: due holds by expiry (for housekeeping), holds by agency
// (holder and owner); holds by (holder, child), for the per-child limit, are
// the state cache's (stateCache.children).
func dueKey(expiresMs int64, id uint64) []byte { return append(u64(uint64(expiresMs)), u64(id)...) }

func agencyResKey(agency string, id uint64) []byte {
	return append([]byte(agency+"\x00"), u64(id)...)
}

// putRes stores a reservation and keeps the due index and the per-child
// index (in the state cache) in step with its status: both hold active
// reservations only, so counting a child's holds costs its active holds,
// not its history.
func (a *applier) putRes(r *Reservation) error { return a.writeRes(r, a.put) }

// writeRes stores a reservation and its expiry index through put (or
// putNew, for a hold its entry creates).
func (a *applier) writeRes(r *Reservation, put func(name, k, v []byte) error) error {
	if r.Status == ResActive {
		if err := put(bDue, dueKey(r.ExpiresMs, r.ID), nil); err != nil {
			return err
		}
	} else if err := a.del(bDue, dueKey(r.ExpiresMs, r.ID)); err != nil {
		return err
	}
	for _, ch := range r.ChildTokens {
		a.setChildHold(childKey(r.Holder, ch), r.ID, r.Status == ResActive)
	}
	if _, ok := a.dirtyRes[r.ID]; !ok {
		a.dirtyResIDs = append(a.dirtyResIDs, r.ID)
	}
	a.dirtyRes[r.ID] = cloneReservation(r)
	return put(bRes, u64(r.ID), encodeReservation(r))
}

// childHolds returns the active holds for a holder's child as of this
// point in the batch. The caller must not change the slice.
func (a *applier) childHolds(key string) []uint64 {
	if ids, ok := a.children[key]; ok {
		return ids
	}
	return a.l.cache.children[key]
}

// setChildHold adds (active) or removes hold id in a child's active holds.
func (a *applier) setChildHold(key string, id uint64, active bool) {
	ids := a.childHolds(key)
	i := slices.Index(ids, id)
	switch {
	case active && i < 0:
		ids = append(slices.Clone(ids), id)
	case !active && i >= 0:
		ids = slices.Delete(slices.Clone(ids), i, i+1)
	default:
		return
	}
	if _, ok := a.children[key]; !ok {
		a.childKeys = append(a.childKeys, key)
	}
	a.children[key] = ids
}

func (a *applier) reserve(c *cmdCtx, p *ReservePayload) (*Rejection, error) {
	li, old, err := a.loadListing(c, p.Listing)
	if err != nil {
		return nil, err
	}
	if li == nil {
		return reject(CodeNotFound, "no listing %s", p.Listing), nil
	}
	if li.Status != StatusAvailable {
		return holdConflict(li, old), nil
	}
	pol, err := a.policy()
	if err != nil {
		return nil, err
	}
	if rj := checkFit(li, p, pol); rj != nil {
		return rj, nil
	}
	for _, child := range p.ChildTokens {
		n, err := a.activeHoldsForChild(c, child)
		if err != nil {
			return nil, err
		}
		if n >= pol.HoldsPerChildMax {
			return reject(CodeConflict, "child %s already has %d active holds; policy allows %d at once", child, n, pol.HoldsPerChildMax), nil
		}
	}
	days := p.HoldDays
	if days == 0 {
		days = pol.HoldDaysDefault
	}
	res := &Reservation{
		ID: c.seq, Listing: li.Token, ListingAgency: li.Agency, Holder: c.cmd.Agency,
		ChildTokens: slices.Clone(p.ChildTokens), Children: len(p.ChildTokens), Flags: slices.Clone(p.Flags),
		Status: ResActive, CreatedMs: c.now, ExpiresMs: c.now + int64(days)*dayMs,
	}
	if old != nil && old.EndedSeq == c.seq {
		if err := a.putRes(old); err != nil {
			return nil, err
		}
	}
	li.Status, li.HoldID = StatusReserved, res.ID
	return nil, a.storeNewHold(c, li, res)
}

// holdConflict explains why a listing cannot be reserved now.
func holdConflict(li *Listing, hold *Reservation) *Rejection {
	if li.Status == StatusReserved && hold != nil {
		return &Rejection{Code: CodeConflict, HoldExpiresMs: hold.ExpiresMs,
			Message: "adopter " + li.Token + " is already held by agency " + hold.Holder + " until " +
				time.UnixMilli(hold.ExpiresMs).UTC().Format(time.RFC3339)}
	}
	return reject(CodeConflict, "adopter %s is %s, not available", li.Token, li.Status)
}

func checkFit(li *Listing, p *ReservePayload, pol Policy) *Rejection {
	n := len(p.ChildTokens)
	switch {
	case n > li.Attrs.ChildrenMax:
		return reject(CodeInvalid, "%d children; adopter %s is approved for at most %d", n, li.Token, li.Attrs.ChildrenMax)
	case n > 1 && !li.Attrs.SiblingGroupOK:
		return reject(CodeInvalid, "adopter %s is not approved for a sibling group", li.Token)
	case p.HoldDays > pol.HoldDaysMax:
		return reject(CodeInvalid, "hold_days: %d exceeds policy hold_days_max %d", p.HoldDays, pol.HoldDaysMax)
	}
	return nil
}

// activeHoldsForChild counts the holder's holds for a child that are active and not past due.
func (a *applier) activeHoldsForChild(c *cmdCtx, child string) (int, error) {
	n := 0
	for _, id := range a.childHolds(childKey(c.cmd.Agency, child)) {
		r, err := a.reservation(id)
		if err != nil {
			return 0, err
		}
		if r != nil && r.Status == ResActive && c.now < r.ExpiresMs {
			n++
		}
	}
	return n, nil
}

func (a *applier) storeNewHold(c *cmdCtx, li *Listing, res *Reservation) error {
	if err := a.writeRes(res, a.putNew); err != nil {
		return err
	}
	if err := a.putNew(bResByAgency, agencyResKey(res.Holder, res.ID), []byte("holder")); err != nil {
		return err
	}
	if res.ListingAgency != res.Holder {
		if err := a.putNew(bResByAgency, agencyResKey(res.ListingAgency, res.ID), []byte("owner")); err != nil {
			return err
		}
	}
	return a.putListing(c, li)
}

// holdFor loads a reservation and its listing (with lazy expiry applied).
func (a *applier) holdFor(c *cmdCtx, id uint64) (*Listing, *Reservation, *Rejection, error) {
	r, err := a.reservation(id)
	if err != nil || r == nil {
		return nil, nil, reject(CodeNotFound, "no reservation %d", id), err
	}
	li, hold, err := a.loadListing(c, r.Listing)
	if err != nil {
		return nil, nil, nil, err
	}
	if li == nil {
		return nil, nil, nil, errCorruptf("reservation %d names missing listing %s", id, r.Listing)
	}
	if hold != nil && hold.ID == r.ID {
		r = hold // the lazily expired copy, if it expired
	}
	return li, r, nil, nil
}

// needActive rejects unless the hold is still active at this ledger time.
func needActive(r *Reservation) *Rejection {
	if r.Status != ResActive {
		return reject(CodeConflict, "reservation %d is %s", r.ID, r.Status)
	}
	return nil
}

func (a *applier) extend(c *cmdCtx, p *ReservationPayload) (*Rejection, error) {
	li, r, rj, err := a.holdFor(c, p.ReservationID)
	if rj != nil || err != nil {
		return rj, err
	}
	if r.Holder != c.cmd.Agency {
		return reject(CodeUnauthorised, "only the holding agency %s may extend reservation %d", r.Holder, r.ID), nil
	}
	if rj := needActive(r); rj != nil {
		return rj, nil
	}
	pol, err := a.policy()
	if err != nil {
		return nil, err
	}
	if r.Extensions >= pol.ExtensionsMax {
		return reject(CodeConflict, "reservation %d has been extended %d times; policy allows %d", r.ID, r.Extensions, pol.ExtensionsMax), nil
	}
	if err := a.del(bDue, dueKey(r.ExpiresMs, r.ID)); err != nil {
		return nil, err
	}
	r.Extensions++
	r.ExpiresMs += int64(pol.ExtensionDays) * dayMs
	if err := a.putRes(r); err != nil {
		return nil, err
	}
	return nil, a.putListing(c, li)
}

func (a *applier) release(c *cmdCtx, p *ReleasePayload) (*Rejection, error) {
	li, r, rj, err := a.holdFor(c, p.ReservationID)
	if rj != nil || err != nil {
		return rj, err
	}
	reason := p.Reason
	switch c.cmd.Agency {
	case r.Holder:
		if reason != "" && !slices.Contains(HolderReleaseReasons, reason) {
			return reject(CodeInvalid, "reason %q is an owner's reason; the holder gives one of %v", reason, HolderReleaseReasons), nil
		}
		if reason == "" {
			reason = "released"
		}
	case r.ListingAgency:
		if !slices.Contains(OwnerReleaseReasons, reason) {
			return reject(CodeInvalid, "the approving agency must give a reason, one of %v", OwnerReleaseReasons), nil
		}
	default:
		return reject(CodeUnauthorised, "only the holder %s or the approving agency %s may release reservation %d", r.Holder, r.ListingAgency, r.ID), nil
	}
	if rj := needActive(r); rj != nil {
		return rj, nil
	}
	endHold(li, r, ResReleased, reason, c.seq)
	if err := a.putRes(r); err != nil {
		return nil, err
	}
	return nil, a.putListing(c, li)
}

// expire ends a hold that is past due in ledger time; any member may propose it.
func (a *applier) expire(c *cmdCtx, p *ReservationPayload) (*Rejection, error) {
	li, r, rj, err := a.holdFor(c, p.ReservationID)
	if rj != nil || err != nil {
		return rj, err
	}
	if r.Status == ResActive {
		return &Rejection{Code: CodeConflict, HoldExpiresMs: r.ExpiresMs,
			Message: "reservation " + itoaU(r.ID) + " is not due to expire until " + time.UnixMilli(r.ExpiresMs).UTC().Format(time.RFC3339)}, nil
	}
	if r.EndedSeq != c.seq { // ended by an earlier entry, not by this expiry
		return reject(CodeConflict, "reservation %d already ended (%s)", r.ID, r.Status), nil
	}
	if err := a.putRes(r); err != nil {
		return nil, err
	}
	return nil, a.putListing(c, li)
}

func (a *applier) confirm(c *cmdCtx, p *ReservationPayload) (*Rejection, error) {
	li, r, rj, err := a.holdFor(c, p.ReservationID)
	if rj != nil || err != nil {
		return rj, err
	}
	if r.Holder != c.cmd.Agency {
		return reject(CodeUnauthorised, "only the holding agency %s may confirm reservation %d", r.Holder, r.ID), nil
	}
	if rj := needActive(r); rj != nil {
		return rj, nil
	}
	endHold(li, r, ResConfirmed, "confirmed", c.seq)
	if err := a.putRes(r); err != nil {
		return nil, err
	}
	return nil, a.putListing(c, li)
}

func (a *applier) place(c *cmdCtx, p *PlacePayload) (*Rejection, error) {
	li, r, rj, err := a.holdFor(c, p.ReservationID)
	if rj != nil || err != nil {
		return rj, err
	}
	if r.Holder != c.cmd.Agency {
		return reject(CodeUnauthorised, "only the holding agency %s may record the placement for reservation %d", r.Holder, r.ID), nil
	}
	if r.Status != ResConfirmed {
		return reject(CodeConflict, "reservation %d is %s; a placement needs a confirmed match", r.ID, r.Status), nil
	}
	moveIn, _ := parseDate(p.MoveInDate)
	if moveIn.Before(ledgerDate(r.CreatedMs)) || moveIn.After(ledgerDate(c.now).Add(24*time.Hour)) {
		return reject(CodeInvalid, "move_in_date %s: expected between the reservation date %s and today",
			p.MoveInDate, ledgerDate(r.CreatedMs).Format(time.DateOnly)), nil
	}
	obl, pf, rj, err := a.placementFee(c, r, moveIn)
	if rj != nil || err != nil {
		return rj, err
	}
	if rj, err := a.recordPlacementFee(c, r.ID, obl, pf); rj != nil || err != nil {
		return rj, err
	}
	r.Status, r.MoveInDate, r.PlacedSeq = ResPlaced, p.MoveInDate, c.seq
	li.Status = StatusPlaced
	if err := a.putRes(r); err != nil {
		return nil, err
	}
	return nil, a.putListing(c, li)
}

func bytesU64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func itoaU(v uint64) string { return strconv.FormatUint(v, 10) }
