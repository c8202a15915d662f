package ledger

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Check verifies the DESIGN invariants over the stored state, like bbolt's
// Tx.Check does for pages: at most one active hold per listing and the
// listing points at it; listing status agrees with its hold; a hold that
// ended has ended exactly once (one end sequence, one reason); the due
// index holds exactly the active holds; the tree head matches the stored
// nodes; and the fee invariants of fees_check.go (double entry sums to
// zero, obligations tied to their placements). It costs O(listings +
// reservations + transfers); tests run it after every step, and
// Options.Strict runs the incremental checks after every batch.
func (l *Ledger) Check() error {
	return l.view(func(tx *bolt.Tx) error {
		if err := checkTx(tx); err != nil {
			return err
		}
		return l.checkOrdinals(tx)
	})
}

// checkOrdinals checks the derived token -> ordinal map against the
// listings bucket: every stored listing is found by its token, and the map
// names no listing that is not stored. The map is updated after each
// commit, so this holds only while no batch is being applied (as in tests).
func (l *Ledger) checkOrdinals(tx *bolt.Tx) error {
	b := tx.Bucket(bListings)
	n := 0
	err := b.ForEach(func(_, v []byte) error {
		var li Listing
		if err := jsonUnmarshal(v, &li); err != nil {
			return err
		}
		if o, ok := l.index.ordinal(li.Token); !ok || o != li.Ordinal {
			return fmt.Errorf("%w: index maps listing %s to ordinal %d (found %v), stored as %d", ErrCorrupt, li.Token, o, ok, li.Ordinal)
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	l.index.mu.RLock()
	defer l.index.mu.RUnlock()
	if len(l.index.ordinals) != n {
		return fmt.Errorf("%w: index knows %d listing tokens, %d are stored", ErrCorrupt, len(l.index.ordinals), n)
	}
	return nil
}

func checkTx(tx *bolt.Tx) error {
	listings := map[string]*Listing{}
	err := tx.Bucket(bListings).ForEach(func(k, v []byte) error {
		var li Listing
		if err := jsonUnmarshal(v, &li); err != nil {
			return err
		}
		if !bytes.Equal(k, listingKey(li.Ordinal)) {
			return fmt.Errorf("%w: listing %s (ordinal %d) stored under key %x", ErrCorrupt, li.Token, li.Ordinal, k)
		}
		if listings[li.Token] != nil {
			return fmt.Errorf("%w: listing %s stored twice", ErrCorrupt, li.Token)
		}
		listings[li.Token] = &li
		return nil
	})
	if err != nil {
		return err
	}
	activeBy := map[string]uint64{}
	due := tx.Bucket(bDue)
	activeCount, childKeys := 0, 0
	children := tx.Bucket(bChildRes)
	err = tx.Bucket(bRes).ForEach(func(k, v []byte) error {
		var r Reservation
		if err := jsonUnmarshal(v, &r); err != nil {
			return err
		}
		if r.Status == ResActive { // the per-child index holds exactly the active holds
			for _, ch := range r.ChildTokens {
				if children.Get(childResKey(r.Holder, ch, r.ID)) == nil {
					return fmt.Errorf("%w: active reservation %d missing from the child index", ErrCorrupt, r.ID)
				}
				childKeys++
			}
		}
		return checkReservation(&r, listings, activeBy, due, &activeCount)
	})
	if err != nil {
		return err
	}
	for tok, li := range listings { //det:ok read-only check, nothing stored
		if err := checkListing(tok, li, activeBy); err != nil {
			return err
		}
	}
	if n := due.Stats().KeyN; n != activeCount {
		return fmt.Errorf("%w: due index has %d holds, %d are active", ErrCorrupt, n, activeCount)
	}
	if n := children.Stats().KeyN; n != childKeys {
		return fmt.Errorf("%w: child index has %d entries, active holds name %d children", ErrCorrupt, n, childKeys)
	}
	if err := checkFeesTx(tx); err != nil {
		return err
	}
	return checkHead(tx)
}

func checkReservation(r *Reservation, listings map[string]*Listing, activeBy map[string]uint64, due *bolt.Bucket, activeCount *int) error {
	li := listings[r.Listing]
	if li == nil {
		return fmt.Errorf("%w: reservation %d names missing listing %s", ErrCorrupt, r.ID, r.Listing)
	}
	switch r.Status {
	case ResActive:
		if prev, ok := activeBy[r.Listing]; ok {
			return fmt.Errorf("%w: listing %s has two active holds, %d and %d", ErrCorrupt, r.Listing, prev, r.ID)
		}
		activeBy[r.Listing] = r.ID
		*activeCount++
		if r.EndedSeq != 0 || r.EndReason != "" {
			return fmt.Errorf("%w: active reservation %d has an end", ErrCorrupt, r.ID)
		}
		if due.Get(dueKey(r.ExpiresMs, r.ID)) == nil {
			return fmt.Errorf("%w: active reservation %d missing from the due index", ErrCorrupt, r.ID)
		}
	case ResReleased, ResExpired, ResConfirmed, ResPlaced:
		if r.EndedSeq == 0 || r.EndReason == "" || r.EndedSeq <= r.ID {
			return fmt.Errorf("%w: ended reservation %d (%s) has no single end", ErrCorrupt, r.ID, r.Status)
		}
	default:
		return fmt.Errorf("%w: reservation %d has status %q", ErrCorrupt, r.ID, r.Status)
	}
	return nil
}

func checkListing(tok string, li *Listing, activeBy map[string]uint64) error {
	id, held := activeBy[tok]
	switch {
	case held && (li.Status != StatusReserved || li.HoldID != id):
		return fmt.Errorf("%w: listing %s is %s (hold %d) but reservation %d is active", ErrCorrupt, tok, li.Status, li.HoldID, id)
	case !held && li.Status == StatusReserved:
		return fmt.Errorf("%w: listing %s is reserved with no active hold", ErrCorrupt, tok)
	case (li.Status == StatusMatched || li.Status == StatusPlaced) && li.HoldID == 0:
		return fmt.Errorf("%w: listing %s is %s with no reservation", ErrCorrupt, tok, li.Status)
	}
	return nil
}

// checkListings checks the invariants for the given listings only, in
// O(history of those listings): every hold ever placed on a listing is in
// its history (the reserve entry's sequence is the hold's id), so at most
// one of them may be active and it must be the one the listing points at.
// Strict mode runs it for the listings a batch touched, the only places an
// invariant can newly break.
func checkListings(tx *bolt.Tx, touched []Listing) error {
	lb, rb, hb, due := tx.Bucket(bListings), tx.Bucket(bRes), tx.Bucket(bListingHist), tx.Bucket(bDue)
	for i := range touched {
		tok := touched[i].Token
		var li Listing
		if ok, err := getJSON(lb, listingKey(touched[i].Ordinal), &li); err != nil || !ok || li.Token != tok {
			return fmt.Errorf("%w: touched listing %s not stored", ErrCorrupt, tok)
		}
		activeBy := map[string]uint64{}
		one := map[string]*Listing{tok: &li}
		n := 0
		prefix := histPrefix(li.Ordinal)
		c := hb.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			var r Reservation
			ok, err := getJSON(rb, k[len(prefix):], &r)
			if err != nil {
				return err
			}
			if ok && r.Listing == tok {
				if err := checkReservation(&r, one, activeBy, due, &n); err != nil {
					return err
				}
			}
		}
		if err := checkListing(tok, &li, activeBy); err != nil {
			return err
		}
	}
	return nil
}

// checkHead checks that the stored compact range agrees with the stored tree nodes.
func checkHead(tx *bolt.Tx) error {
	m := tx.Bucket(bMeta)
	r, err := loadRange(m)
	if err != nil {
		return err
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return err
	}
	fromNodes, err := rootAt(tx.Bucket(bTree), r.End())
	if err != nil {
		return err
	}
	if string(root) != string(fromNodes) {
		return fmt.Errorf("%w: tree head disagrees with stored nodes at size %d", ErrCorrupt, r.End())
	}
	if n := uint64(tx.Bucket(bEntries).Stats().KeyN); n != r.End() {
		return fmt.Errorf("%w: %d entries stored, tree size %d", ErrCorrupt, n, r.End())
	}
	return nil
}
