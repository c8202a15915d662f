package ledger

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// diffState names the first state bucket and key where the stored state
// (tx) differs from the replayed one, after their state hashes differed.
// Buckets are compared in stateHash's order, keys in bbolt's byte order,
// so this finds the first difference the hash saw.
func (v *verifier) diffState(stored *bolt.Tx, want Hash) error {
	return v.fresh.view(func(replayed *bolt.Tx) error {
		for _, name := range stateBuckets {
			k, exp, found, differ := firstDiff(replayed.Bucket(name).Cursor(), stored.Bucket(name).Cursor())
			if !differ {
				continue
			}
			what := "the stored value differs from the replayed one"
			switch {
			case exp == nil:
				what = "the stored key is one the replay does not have"
			case found == nil:
				what = "the key is missing from the file; the replay has it"
			}
			seq := v.writer(name, k)
			if seq != nil {
				what += fmt.Sprintf(" (last written by entry %d)", *seq)
			}
			v.failAt(seq, name, k, fmt.Sprintf("stored state differs from the replayed state: %s; state hash %s, replayed %s", what, want, v.rep.StateHash), exp, found)
			return nil
		}
		v.failAt(nil, nil, nil, fmt.Sprintf("replayed state hash %s differs from the stored %s, yet no key differs", v.rep.StateHash, want), nil, nil)
		return nil
	})
}

// firstDiff walks two cursors in step and returns the first key whose
// value differs or that only one side has (nil value on the other).
func firstDiff(a, b *bolt.Cursor) (key, va, vb []byte, differ bool) {
	ka, va := a.First()
	kb, vb := b.First()
	for ka != nil || kb != nil {
		switch c := cmpKeys(ka, kb); {
		case c < 0:
			return ka, va, nil, true
		case c > 0:
			return kb, nil, vb, true
		case !bytes.Equal(va, vb):
			return ka, va, vb, true
		}
		ka, va = a.Next()
		kb, vb = b.Next()
	}
	return nil, nil, nil, false
}

// cmpKeys orders keys, a nil key (the end of a bucket) last.
func cmpKeys(a, b []byte) int {
	switch {
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return bytes.Compare(a, b)
}

// writer returns the sequence of the entry that last wrote a key, where
// the key says: an entry's own sequence, or the newest replayed entry
// that touched a listing.
func (v *verifier) writer(bucket, key []byte) *uint64 {
	switch {
	case bytes.Equal(bucket, bEntries) && len(key) == 8:
		seq := binary.BigEndian.Uint64(key)
		return &seq
	case bytes.Equal(bucket, bListings) && len(key) == 4:
		if h := v.fresh.cache.history(binary.BigEndian.Uint32(key)); len(h) > 0 {
			return &h[len(h)-1]
		}
	}
	return nil
}
