package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

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
		if size := getU64(tx.Bucket(bHead), kSize); size > 0 {
			if err := checkStateSum(tx, size); err != nil {
				return fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
		}
		if err := l.checkOrdinals(tx); err != nil {
			return err
		}
		return l.checkCache(tx)
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
		if err := decodeListing(v, &li); err != nil {
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
		if err := decodeListing(v, &li); err != nil {
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
	activeCount := 0
	err = tx.Bucket(bRes).ForEach(func(k, v []byte) error {
		var r Reservation
		if err := decodeReservation(v, &r); err != nil {
			return err
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
// It also checks the state cache's copies of each listing and its hold.
func checkListings(tx *bolt.Tx, c *stateCache, touched []Listing) error {
	lb, rb, due := tx.Bucket(bListings), tx.Bucket(bRes), tx.Bucket(bDue)
	for i := range touched {
		tok := touched[i].Token
		var li Listing
		if ok, err := getListingRec(lb, listingKey(touched[i].Ordinal), &li); err != nil || !ok || li.Token != tok {
			return fmt.Errorf("%w: touched listing %s not stored", ErrCorrupt, tok)
		}
		if err := checkCachedListing(rb, c, &li); err != nil {
			return err
		}
		activeBy := map[string]uint64{}
		one := map[string]*Listing{tok: &li}
		n := 0
		for _, seq := range c.history(li.Ordinal) {
			var r Reservation
			ok, err := getResRec(rb, seq, &r)
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
	r, err := loadRange(tx.Bucket(bHead))
	if err != nil {
		return err
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return err
	}
	fromNodes, err := rootAt(tx.Bucket(bEntries), r.End())
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

// checkCache checks the state cache against the database it is derived
// from: the listings and their holds, the idempotency records, every
// listing's history and every child's active holds. Like checkOrdinals it
// holds only while no batch is being applied.
func (l *Ledger) checkCache(tx *bolt.Tx) error {
	c := l.cache
	c.mu.RLock()
	defer c.mu.RUnlock()
	rb := tx.Bucket(bRes)
	stored, holds := 0, 0
	children := map[string][]uint64{}
	err := tx.Bucket(bListings).ForEach(func(_, v []byte) error {
		var li Listing
		if err := decodeListing(v, &li); err != nil {
			return err
		}
		stored++
		if err := checkCachedListing(rb, c, &li); err != nil {
			return err
		}
		if li.HoldID != 0 {
			holds++
			// the cached hold now equals the stored one
			if h := c.holds[li.HoldID]; h.Status == ResActive {
				for _, ch := range h.ChildTokens {
					children[childKey(h.Holder, ch)] = append(children[childKey(h.Holder, ch)], h.ID)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	cached := 0
	for i := range c.listings {
		if c.listings[i].Token != "" {
			cached++
		}
	}
	if cached != stored || len(c.holds) != holds {
		return fmt.Errorf("%w: state cache has %d listings and %d holds; %d and %d are stored", ErrCorrupt, cached, len(c.holds), stored, holds)
	}
	if err := checkCachedChildren(c.children, children); err != nil {
		return err
	}
	if err := checkCachedAgencies(tx, c); err != nil {
		return err
	}
	return checkCachedEntries(tx, c)
}

// checkCachedListing checks the cache's copy of a stored listing, and of
// its hold, against the stored ones.
func checkCachedListing(rb *bolt.Bucket, c *stateCache, li *Listing) error {
	if got, ok := c.listing(li.Ordinal); !ok || got != *li {
		return fmt.Errorf("%w: state cache has listing %s (ordinal %d) as %+v; stored %+v", ErrCorrupt, li.Token, li.Ordinal, got, *li)
	}
	if li.HoldID == 0 {
		return nil
	}
	h, ok := c.holds[li.HoldID]
	if !ok {
		return fmt.Errorf("%w: state cache lacks hold %d of listing %s", ErrCorrupt, li.HoldID, li.Token)
	}
	enc := encodeReservation(&h)
	if want := rb.Get(u64(li.HoldID)); !bytes.Equal(enc, want) {
		return fmt.Errorf("%w: state cache has hold %d as %x; stored %x", ErrCorrupt, li.HoldID, enc, want)
	}
	return nil
}

func checkCachedChildren(got, want map[string][]uint64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%w: state cache has active holds for %d children; %d are active", ErrCorrupt, len(got), len(want))
	}
	for k, ids := range want { //det:ok read-only check, nothing stored
		g := slices.Clone(got[k])
		slices.Sort(g)
		slices.Sort(ids)
		if !slices.Equal(g, ids) {
			return fmt.Errorf("%w: state cache has active holds %v for child %q; stored %v", ErrCorrupt, got[k], k, ids)
		}
	}
	return nil
}

// checkCachedEntries checks, in one pass over the entries, the cache's
// idempotency keys of accepted commands and every listing's history.
func checkCachedEntries(tx *bolt.Tx, c *stateCache) error {
	entries := tx.Bucket(bEntries)
	stored := storedIdem(entries)
	commands := 0
	hist := map[uint32][]uint64{}
	err := entries.ForEach(func(k, v []byte) error {
		f, err := decodeEntryValue(v)
		if err != nil {
			return err
		}
		seq := bytesU64(k)
		for _, o := range f.ords {
			hist[o] = append(hist[o], seq)
		}
		if len(f.idem) == 0 {
			return nil
		}
		commands++
		if got, ok := c.idemSeq(f.idem, stored); !ok || got != seq {
			return fmt.Errorf("%w: state cache finds command %q at %d (%v); stored at %d", ErrCorrupt, f.idem, got, ok, seq)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if got := len(c.idem) + len(c.idemSpill); got != commands {
		return fmt.Errorf("%w: state cache knows %d accepted commands; %d are stored", ErrCorrupt, got, commands)
	}
	if len(hist) != len(c.hist) {
		return fmt.Errorf("%w: state cache has histories of %d listings; %d are stored", ErrCorrupt, len(c.hist), len(hist))
	}
	for ord, seqs := range hist { //det:ok read-only check, nothing stored
		if !slices.Equal(c.hist[ord], seqs) {
			return fmt.Errorf("%w: state cache has history %v for listing ordinal %d; stored %v", ErrCorrupt, c.hist[ord], ord, seqs)
		}
	}
	return nil
}

func checkCachedAgencies(tx *bolt.Tx, c *stateCache) error {
	n := 0
	err := tx.Bucket(bAgencies).ForEach(func(k, v []byte) error {
		n++
		ag, ok := c.agencies[string(k)]
		if !ok {
			return fmt.Errorf("%w: state cache lacks agency %s", ErrCorrupt, k)
		}
		enc, err := json.Marshal(&ag)
		if err != nil {
			return err
		}
		if !bytes.Equal(enc, v) {
			return fmt.Errorf("%w: state cache has agency %s as %s; stored %s", ErrCorrupt, k, enc, v)
		}
		return nil
	})
	if err == nil && n != len(c.agencies) {
		err = fmt.Errorf("%w: state cache has %d agencies; %d are stored", ErrCorrupt, len(c.agencies), n)
	}
	return err
}
