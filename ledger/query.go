package ledger

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SearchResult is one page of a listing search.
type SearchResult struct {
	Total    int       `json:"total"` // matches of the whole query, all pages
	Listings []Listing `json:"listings"`
	// Next is the cursor for the next page (pass as After), 0 when this is the last page.
	Next uint32 `json:"next,omitempty"`
}

// Search returns listings matching q, in publication order, one page at a time.
func (l *Ledger) Search(q SearchQuery) (SearchResult, error) {
	if err := q.Validate(); err != nil {
		return SearchResult{}, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = 50
	}
	ords, total := l.index.match(&q, limit+1)
	res := SearchResult{Total: total, Listings: make([]Listing, 0, min(len(ords), limit))}
	if len(ords) > limit {
		res.Next = ords[limit-1] + 1
		ords = ords[:limit]
	}
	err := l.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bListings)
		for _, o := range ords {
			var li Listing
			if ok, err := getListingRec(b, listingKey(o), &li); err != nil || !ok {
				return fmt.Errorf("%w: index names listing ordinal %d that is not stored", ErrCorrupt, o)
			}
			res.Listings = append(res.Listings, li)
		}
		return nil
	})
	return res, err
}

// ListingView is a listing with its current hold, if any.
type ListingView struct {
	Listing
	Hold *Reservation `json:"hold,omitempty"`
}

// Listing returns a listing and its current hold, or ErrNotFound. A hold
// past due in ledger time is shown as it is stored (active) until an entry
// expires it; callers compare ExpiresMs with the ledger clock.
func (l *Ledger) Listing(token string) (v ListingView, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		ok, err := l.getListing(tx, token, &v.Listing)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if v.HoldID != 0 {
			var r Reservation
			if ok, err := getResRec(tx.Bucket(bRes), v.HoldID, &r); err != nil || !ok {
				return fmt.Errorf("%w: hold %d of listing %s", ErrCorrupt, v.HoldID, token)
			}
			v.Hold = &r
		}
		return nil
	})
	return v, err
}

// getListing reads the listing token in tx. The token's ordinal comes from
// the index, which is updated after a commit: a read transaction older
// than the commit that published the token does not find it.
func (l *Ledger) getListing(tx *bolt.Tx, token string, li *Listing) (bool, error) {
	o, ok := l.index.ordinal(token)
	if !ok {
		return false, nil
	}
	ok, err := getListingRec(tx.Bucket(bListings), listingKey(o), li)
	if err == nil && ok && li.Token != token {
		err = fmt.Errorf("%w: listing %s: ordinal %d holds %q", ErrCorrupt, token, o, li.Token)
	}
	return ok, err
}

// HistoryEntry is one accepted entry that touched a listing.
type HistoryEntry struct {
	Record
	Command *Command `json:"command"`
}

// ListingHistory returns the accepted entries that touched a listing, oldest first (at most limit).
func (l *Ledger) ListingHistory(token string, limit int) (out []HistoryEntry, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		var li Listing
		if ok, err := l.getListing(tx, token, &li); err != nil || !ok {
			if err == nil {
				err = ErrNotFound
			}
			return err
		}
		hist, size := l.cache.history(li.Ordinal), getU64(tx.Bucket(bHead), kSize)
		for _, seq := range hist[:min(len(hist), limit)] {
			if seq >= size {
				break // committed after this read began
			}
			e, err := entryAt(tx, seq)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Reservation returns one reservation, or ErrNotFound.
func (l *Ledger) Reservation(id uint64) (r Reservation, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		ok, err := getResRec(tx.Bucket(bRes), id, &r)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	return r, err
}

// ReservationsByAgency returns reservations an agency holds or whose
// adopter it approved, newest first, optionally only those with a status (at most limit).
func (l *Ledger) ReservationsByAgency(agency, status string, limit int) (out []Reservation, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		prefix := []byte(agency + "\x00")
		c := tx.Bucket(bResByAgency).Cursor()
		end := append(bytes.Clone(prefix[:len(prefix)-1]), 1)
		k, _ := c.Seek(end)
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Prev() {
			var r Reservation
			if ok, err := getResRec(tx.Bucket(bRes), bytesU64(k[len(prefix):]), &r); err != nil || !ok {
				return fmt.Errorf("%w: reservation index %x", ErrCorrupt, k)
			}
			if status == "" || r.Status == status {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

// DueHolds returns the ids of active holds whose expiry is at or before nowMs (at most limit), oldest first.
func (l *Ledger) DueHolds(nowMs int64, limit int) (ids []uint64, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bDue).Cursor()
		for k, _ := c.First(); k != nil && len(ids) < limit; k, _ = c.Next() {
			if int64(bytesU64(k[:8])) > nowMs {
				break
			}
			ids = append(ids, bytesU64(k[8:]))
		}
		return nil
	})
	return ids, err
}

// Entry returns the accepted entry at seq, or ErrNotFound.
func (l *Ledger) Entry(seq uint64) (e HistoryEntry, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		e, err = entryAt(tx, seq)
		return err
	})
	return e, err
}

func entryAt(tx *bolt.Tx, seq uint64) (HistoryEntry, error) {
	f, err := entryValue(tx.Bucket(bEntries), seq)
	if err != nil {
		return HistoryEntry{}, err
	}
	r, err := recordOf(&f)
	if err != nil {
		return HistoryEntry{}, err
	}
	r.Data = bytes.Clone(r.Data)
	e := HistoryEntry{Record: r}
	if r.Kind == "command" {
		if j, err := parseCompact(r.Data, nil); err == nil {
			e.Command, _, _ = DecodeCommand(j.payload)
		}
	}
	return e, nil
}

// ForEachEntry calls fn for every accepted entry from seq from, in order,
// inside one read transaction (for verification and export).
func (l *Ledger) ForEachEntry(from uint64, fn func(r Record) error) error {
	return l.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEntries).Cursor()
		for k, v := c.Seek(u64(from)); k != nil; k, v = c.Next() {
			f, err := decodeEntryValue(v)
			if err != nil {
				return err
			}
			r, err := recordOf(&f)
			if err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// recordOf decodes an entry value's record, with its stored entry hash
// and tree nodes.
func recordOf(f *entryFields) (Record, error) {
	r, err := decodeRecord(f.record)
	r.EntryHash = f.hash
	r.nodes = f.nodes
	return r, err
}
