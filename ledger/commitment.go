package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"

	bolt "go.etcd.io/bbolt"
)

// State commitment. Every entry's value stores the state hash after it:
// a hash of the derived state (listings, reservations, agencies, keys,
// proposals, policy, fee schedule, every fee account, transfer,
// obligation, payment and netting run, the idempotency key and listings
// each entry touched) and the ledger clock and size. Two nodes at the
// same size have the same state hash, and a node compares its own with
// the federation's at any size (StateHashAt) through co-signed
// checkpoints.
//
// It is kept incrementally: the state is a set of (bucket, key, value)
// elements, and the ledger keeps the sum modulo 2^256 of their SHA-256
// hashes (an additive multiset hash, Bellare and Micciancio's AdHash).
// A write subtracts the old element's hash and adds the new one's, so an
// entry costs one hash per value it writes, never a rescan; and the sum
// does not depend on the order the writes happen in, so it can be
// recomputed from the stored state alone (recomputeAcc, at open) and
// compared with the stored sum: any byte changed in a state record, an
// entry's idempotency key or its listings shows there. The published
// state hash is SHA-256 over the sum, the clock and the size.
//
// The sum detects damage and edits that are not crafted to collide: a
// 256-bit additive hash admits a generalised-birthday search (Wagner) by
// someone who can choose many records. Such a search on one node's files
// still has to match the quorum's co-signed state hash, and `raaft ledger
// verify` compares the replayed state with the stored one byte for byte
// (stateHash), which no such collision survives.
//
// Entries are elements too, but by their chained entry hash rather than
// their whole record: the chain (checked at open) commits to the record,
// so an entry costs hashing ~100 bytes instead of its ~900.
const (
	stateElemDomain  = "raaft-state-element/1"
	stateEntryDomain = "raaft-state-entry/1"
	stateHashDomain  = "raaft-state/1"
)

// kAcc is the head bucket's key for the state sum (32 bytes, big-endian).
var kAcc = []byte("state_acc")

// stateAcc is a sum modulo 2^256 of element hashes, as four 64-bit limbs,
// most significant first.
type stateAcc [4]uint64

func accFromBytes(b []byte) (stateAcc, error) {
	var a stateAcc
	if len(b) == 0 {
		return a, nil
	}
	if len(b) != 32 {
		return a, fmt.Errorf("%w: state sum is %d bytes", ErrCorrupt, len(b))
	}
	for i := range a {
		a[i] = binary.BigEndian.Uint64(b[8*i:])
	}
	return a, nil
}

func (a *stateAcc) bytes() []byte {
	b := make([]byte, 0, 32)
	for _, l := range a {
		b = binary.BigEndian.AppendUint64(b, l)
	}
	return b
}

// add adds h (a big-endian 256-bit number) modulo 2^256.
func (a *stateAcc) add(h *[32]byte) {
	var carry uint64
	for i := 3; i >= 0; i-- {
		a[i], carry = bits.Add64(a[i], binary.BigEndian.Uint64(h[8*i:]), carry)
	}
}

// sub subtracts h modulo 2^256.
func (a *stateAcc) sub(h *[32]byte) {
	var borrow uint64
	for i := 3; i >= 0; i-- {
		a[i], borrow = bits.Sub64(a[i], binary.BigEndian.Uint64(h[8*i:]), borrow)
	}
}

// elemHash is the hash of one state element: bucket, key and value, each
// length-prefixed so no two elements share an encoding. The input is
// assembled in a stack buffer and hashed in one call (one SHA-256 per
// value an entry writes is the commitment's main cost).
func elemHash(bucket, key, value []byte) [32]byte {
	var stack [256]byte
	n := len(stateElemDomain) + 12 + len(bucket) + len(key) + len(value)
	buf := stack[:0]
	if n > len(stack) {
		buf = make([]byte, 0, n)
	}
	buf = append(buf, stateElemDomain...)
	for _, part := range [][]byte{bucket, key, value} {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(part)))
		buf = append(buf, part...)
	}
	return sha256.Sum256(buf)
}

// entryElemHash is the element of one accepted entry: its sequence, its
// chained hash, its idempotency key and the listings it touched.
func entryElemHash(seq uint64, f *entryFields) [32]byte {
	b := make([]byte, 0, len(stateEntryDomain)+8+32+2+len(f.idem)+2+4*len(f.ords))
	b = append(b, stateEntryDomain...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = append(b, f.hash[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(f.idem)))
	b = append(b, f.idem...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(f.ords)))
	for _, o := range f.ords {
		b = binary.BigEndian.AppendUint32(b, o)
	}
	return sha256.Sum256(b)
}

// publishedStateHash is the state hash of a ledger of size entries whose
// state sums to acc at ledger time clockMs.
func publishedStateHash(acc *stateAcc, clockMs int64, size uint64) Hash {
	b := make([]byte, 0, len(stateHashDomain)+32+16)
	b = append(b, stateHashDomain...)
	b = append(b, acc.bytes()...)
	b = binary.BigEndian.AppendUint64(b, uint64(clockMs))
	b = binary.BigEndian.AppendUint64(b, size)
	return sha256.Sum256(b)
}

// committedBuckets are the state buckets summed element by element: all
// but the entries (summed per entry, entryElemHash) and the tree head
// (the size and clock enter the published hash; the root and newest
// entry hash are the tree's and the chain's).
var committedBuckets = func() [][]byte {
	var out [][]byte
	for _, b := range stateBuckets {
		if !bytes.Equal(b, bEntries) && !bytes.Equal(b, bHead) {
			out = append(out, b)
		}
	}
	return out
}()

// put writes k = v to a committed state bucket and updates the batch's
// state sum. Every write to such a bucket goes through put or del: a
// write that did not would show as a mismatch in Check and at open.
func (a *applier) put(name, k, v []byte) error {
	b := a.tx.Bucket(name)
	if old, ok := lookup(b, k); ok {
		h := elemHash(name, k, old)
		a.acc.sub(&h)
	}
	h := elemHash(name, k, v)
	a.acc.add(&h)
	return b.Put(k, v)
}

// putNew is put for a key the entry being applied creates, named by its
// own sequence (a new hold and its index keys): no old value can exist,
// so none is looked up, which saves a B+tree descent and a hash per key
// (a third of the state hash's cost on a reserve). Had the key existed,
// the file was already damaged: the stored sum then differs from the
// one recomputed from the state, which the check at open and the
// periodic check report as damage, as they would the stray key itself.
func (a *applier) putNew(name, k, v []byte) error {
	h := elemHash(name, k, v)
	a.acc.add(&h)
	return a.tx.Bucket(name).Put(k, v)
}

// del deletes k from a committed state bucket and updates the state sum.
func (a *applier) del(name, k []byte) error {
	b := a.tx.Bucket(name)
	if old, ok := lookup(b, k); ok {
		h := elemHash(name, k, old)
		a.acc.sub(&h)
	}
	return b.Delete(k)
}

// lookup is Get that tells a missing key from an empty value (bbolt's
// Get returns nil for both when the value was written in this
// transaction).
func lookup(b *bolt.Bucket, k []byte) ([]byte, bool) {
	fk, v := b.Cursor().Seek(k)
	if fk == nil || !bytes.Equal(fk, k) {
		return nil, false
	}
	return v, true
}

// putJSONState is putJSON for a committed state bucket.
func (a *applier) putJSONState(name, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return a.put(name, k, raw)
}

// recomputeAcc sums the state elements from the stored state alone, in
// one pass over the committed buckets and the entries: what the stored
// sum must equal. It returns the first entry whose value cannot be read.
func recomputeAcc(tx *bolt.Tx) (stateAcc, error) {
	var acc stateAcc
	for _, name := range committedBuckets {
		c := tx.Bucket(name).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			h := elemHash(name, k, v)
			acc.add(&h)
		}
	}
	c := tx.Bucket(bEntries).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		f, err := decodeEntryValue(v)
		if err != nil {
			return acc, fmt.Errorf("entry %d: %w", bytesU64(k), err)
		}
		h := entryElemHash(bytesU64(k), &f)
		acc.add(&h)
	}
	return acc, nil
}

// StateHashAt returns the state hash after the first size entries (the
// one stored with entry size-1), for comparing with a checkpoint another
// node signed at that size.
func (l *Ledger) StateHashAt(size uint64) (h Hash, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		h, err = stateHashAt(tx, size)
		return err
	})
	return h, err
}

func stateHashAt(tx *bolt.Tx, size uint64) (Hash, error) {
	if cur := getU64(tx.Bucket(bHead), kSize); size == 0 || size > cur {
		return Hash{}, fmt.Errorf("%w: state at size %d (ledger size %d)", ErrNotFound, size, cur)
	}
	f, err := entryValue(tx.Bucket(bEntries), size-1)
	if err != nil {
		return Hash{}, err
	}
	return f.state, nil
}
