package ledger

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// readOnlyLockTimeout is how long a read-only open waits for the file
// lock: a running node holds it exclusively, and an audit should say so
// rather than wait.
const readOnlyLockTimeout = time.Second

// ErrLocked is returned by OpenReadOnly when another process (a running
// node) holds ledger.db.
var ErrLocked = errors.New("ledger: the file is locked by another process (is the node still running?)")

// OpenReadOnly opens an existing ledger.db for reading only, for audits
// of a stopped node: the file is checked with CheckBoltFile first, opened
// with bbolt's ReadOnly (so no byte and no modification time changes,
// and no bucket is created), every bucket the format has must exist and
// the format must be this raaft's. The caches queries need are loaded.
// Writes (ApplyBatch, InitGenesis, Restore) fail. Damage is returned
// wrapping ErrDamaged.
func OpenReadOnly(path string) (*Ledger, error) {
	var l *Ledger
	err := guardFaults(func() error {
		var err error
		l, _, err = openReadOnly(path)
		if err != nil {
			return err
		}
		if err := l.db.View(l.loadCaches); err != nil {
			l.Close()
			return fmt.Errorf("ledger: load caches: %w", err)
		}
		return nil
	})
	return l, err
}

// openReadOnly is OpenReadOnly without the caches, for Verify: a value
// the caches cannot decode is damage to report by bucket and key, not a
// reason to stop before looking.
func openReadOnly(path string) (*Ledger, BoltFileInfo, error) {
	info, err := CheckBoltFile(path)
	if err != nil {
		return nil, info, err
	}
	opts := &bolt.Options{ReadOnly: true, Timeout: readOnlyLockTimeout, NoFreelistSync: true, FreelistType: bolt.FreelistMapType}
	db, err := bolt.Open(path, 0o600, opts)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, info, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	if err != nil {
		return nil, info, fmt.Errorf("ledger: open %s read-only: %w", path, err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		for _, b := range append(append([][]byte{}, stateBuckets...), localBuckets...) {
			if tx.Bucket(b) == nil {
				return damaged("bucket %q is missing: not a ledger, or not a whole one", b)
			}
		}
		return checkFormat(tx)
	})
	if err != nil {
		db.Close()
		return nil, info, err
	}
	l := &Ledger{path: path, db: db, keys: newKeyCache(), index: newSearchIndex(), cache: newStateCache()}
	return l, info, nil
}

// loadCaches fills the key cache, the search index and the state cache
// from tx (openDB and the read-only open).
func (l *Ledger) loadCaches(tx *bolt.Tx) error {
	if err := l.keys.load(tx); err != nil {
		return err
	}
	if err := tx.Bucket(bListings).ForEach(func(_, v []byte) error {
		var li Listing
		if err := decodeListing(v, &li); err != nil {
			return err
		}
		l.index.put(&li)
		l.cache.addListing(&li)
		return nil
	}); err != nil {
		return err
	}
	return l.cache.load(tx)
}

// ReadAppliedIndex returns the last applied Raft index recorded in the
// ledger file at path (a node's ledger.db, or the ledger inside a Raft
// snapshot), opening it read-only. 0 if none is recorded.
func ReadAppliedIndex(path string) (uint64, error) {
	var idx uint64
	err := guardFaults(func() error {
		l, _, err := openReadOnly(path)
		if err != nil {
			return err
		}
		defer l.Close()
		return l.view(func(tx *bolt.Tx) error {
			idx, err = appliedIndex(tx)
			return err
		})
	})
	return idx, err
}

// appliedIndex reads the local bucket's applied index, which must be
// absent (nothing applied through Raft yet) or 8 bytes.
func appliedIndex(tx *bolt.Tx) (uint64, error) {
	v := tx.Bucket(bLocal).Get(kApplied)
	if v != nil && len(v) != 8 {
		return 0, damaged("bucket %q key %q: %d bytes where an index is 8", bLocal, kApplied, len(v))
	}
	return getU64(tx.Bucket(bLocal), kApplied), nil
}

// CheckSyncMark returns ErrUnsynced if the ledger file at path was
// written without fsync (Options.DeferSync) and the machine has restarted
// since, as Open would, reading the marker only.
func CheckSyncMark(path string) error {
	boot, err := readBootID()
	if err != nil {
		boot = ""
	}
	return checkMark(path, boot)
}
