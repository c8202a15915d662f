package ledger

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// stateCache is the state the apply loop reads on every command, kept
// decoded in memory, and the indexes whose keys are random (so that in
// bbolt each entry would dirty pages of its own):
//
//   - every agency, every listing, by ordinal, and every reservation a
//     listing names as its hold (active, confirmed or placed): every
//     command reads its agency, a reserve or release its listing and hold,
//     and decoding them from JSON was a fifth of an entry's cost;
//   - the idempotency id of every accepted command: the command's id is a
//     hash, so a bbolt index keyed by it wrote a random page per entry;
//   - each listing's history and each child's active holds, likewise.
//
// bbolt stores the same facts with each entry (its idempotency key and the
// listings it touched, entry.go), so a batch writes at the end of the
// entries bucket only. The cache is derived state, like the search index: built
// from ledger.db on open and restore, updated after each committed batch
// from the batch's own writes (applier.merge), never hashed or stored.
// Check compares it with the database.
//
// Memory: measured on a ledger of 200,000 entries each publishing a
// listing, this and the search index took 98 MB, about 490 bytes a
// listing (docs/OPERATIONS.md); an entry that publishes nothing adds its
// idempotency key and history.
//
// Only the FSM goroutine writes it (in merge, under mu); that goroutine
// reads it without the lock, other readers take mu.RLock.
type stateCache struct {
	mu        sync.RWMutex
	listings  []Listing              // by ordinal; Token "" where there is none
	holds     map[uint64]Reservation // every reservation some listing holds (HoldID)
	idem      map[idemHash]uint64    // accepted commands: idemHashOf(agency NUL id) -> seq
	idemSpill map[string]uint64      // ids whose hash an earlier id already had (expected empty)
	hist      map[uint32][]uint64    // listing ordinal -> the entries that touched it, ascending
	children  map[string][]uint64    // holder NUL child token -> the child's active holds
	agencies  map[string]Agency      // every agency in the registry
}

// idemHash is a 128-bit digest of an idempotency key: the map keeps 16
// bytes a command instead of the key. A hit is confirmed against the
// stored key, so a collision costs a spill entry, never a wrong answer.
type idemHash [16]byte

func idemHashOf(key []byte) idemHash {
	sum := sha256.Sum256(key)
	return idemHash(sum[:16])
}

func newStateCache() *stateCache {
	return &stateCache{holds: map[uint64]Reservation{}, idem: map[idemHash]uint64{},
		idemSpill: map[string]uint64{}, hist: map[uint32][]uint64{}, children: map[string][]uint64{}, agencies: map[string]Agency{}}
}

// load builds the cache from the database. The listings come from the
// search index's own pass over the listings bucket (addListing).
func (c *stateCache) load(tx *bolt.Tx) error {
	if err := tx.Bucket(bAgencies).ForEach(func(_, v []byte) error {
		var ag Agency
		if err := jsonUnmarshal(v, &ag); err != nil {
			return err
		}
		c.agencies[ag.ID] = ag
		return nil
	}); err != nil {
		return err
	}
	rb := tx.Bucket(bRes)
	for i := range c.listings {
		li := &c.listings[i]
		if li.Token == "" || li.HoldID == 0 {
			continue
		}
		var r Reservation
		if ok, err := getResRec(rb, li.HoldID, &r); err != nil || !ok {
			return fmt.Errorf("%w: listing %s holds missing reservation %d", ErrCorrupt, li.Token, li.HoldID)
		}
		c.holds[r.ID] = r
		if r.Status == ResActive {
			for _, ch := range r.ChildTokens {
				k := childKey(r.Holder, ch)
				c.children[k] = append(c.children[k], r.ID)
			}
		}
	}
	return tx.Bucket(bEntries).ForEach(func(k, v []byte) error {
		f, err := decodeEntryValue(v)
		if err != nil {
			return err
		}
		seq := bytesU64(k)
		if len(f.idem) > 0 {
			c.addIdem(f.idem, seq)
		}
		for _, o := range f.ords {
			c.addHist(o, seq)
		}
		return nil
	})
}

// addListing files a listing under its ordinal.
func (c *stateCache) addListing(li *Listing) {
	for int(li.Ordinal) >= len(c.listings) {
		c.listings = append(c.listings, Listing{})
	}
	c.listings[li.Ordinal] = *li
}

// listing returns the committed listing with this ordinal.
func (c *stateCache) listing(ord uint32) (Listing, bool) {
	if int(ord) >= len(c.listings) || c.listings[ord].Token == "" {
		return Listing{}, false
	}
	return c.listings[ord], true
}

// addIdem records that the command with idempotency key key was accepted
// at seq. A key is accepted once, so a hash already present is another
// key's: a collision, kept exactly in the spill map.
func (c *stateCache) addIdem(key []byte, seq uint64) {
	h := idemHashOf(key)
	if _, ok := c.idem[h]; ok {
		c.idemSpill[string(key)] = seq
		return
	}
	c.idem[h] = seq
}

// idemSeq returns the sequence of the accepted command with idempotency
// key key, reading stored keys through stored to confirm a hash hit.
func (c *stateCache) idemSeq(key []byte, stored func(uint64) []byte) (uint64, bool) {
	if seq, ok := c.idemSpill[string(key)]; ok {
		return seq, true
	}
	seq, ok := c.idem[idemHashOf(key)]
	if !ok || !bytes.Equal(stored(seq), key) {
		return 0, false
	}
	return seq, true
}

// addHist records that entry seq touched listing ord; entries arrive in
// sequence order, each naming a listing once (putListing).
func (c *stateCache) addHist(ord uint32, seq uint64) {
	c.hist[ord] = append(c.hist[ord], seq)
}

// history returns a copy of the sequences of the entries that touched a listing.
func (c *stateCache) history(ord uint32) []uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.hist[ord])
}

func childKey(holder, child string) string { return holder + "\x00" + child }

// cloneReservation returns r with slices of its own, so that a copy the
// applier changes never aliases the cache.
func cloneReservation(r *Reservation) *Reservation {
	cp := *r
	cp.ChildTokens = slices.Clone(r.ChildTokens)
	cp.Flags = slices.Clone(r.Flags)
	return &cp
}
