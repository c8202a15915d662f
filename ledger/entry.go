package ledger

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
)

// One value per accepted entry. The entries bucket maps a sequence to
// everything the ledger keeps about that entry, in one value:
//
//	u8       entryValueVersion
//	[32]byte entry hash (the chain: SHA-256 of the previous hash and the record)
//	[32]byte state hash after the entry (commitment.go)
//	u8       n, then n tree-node hashes: the RFC 6962 nodes this leaf
//	         completes, level 0 (its leaf hash) upwards
//	u16      length, then the accepted command's idempotency key (agency NUL id)
//	u16      n, then n listing ordinals (u32) the entry touched
//	record   (encodeRecord: version, kind, seq, time, data), the Merkle leaf
//
// A bbolt commit costs per page it rewrites, and every bucket a batch
// writes rewrites at least its last leaf and the branch pages above it
// (three pages for a bucket of a few thousand pages). Entries, their
// hashes, the tree, the idempotency records and the listing history were
// five such buckets; as one they are one append point. A tree node
// (level l, index i) is stored with the leaf that completes it, leaf
// (i+1)·2^l - 1, at position l.
const entryValueVersion = 2

// entryFields is an entry value, decoded.
type entryFields struct {
	hash   Hash
	state  Hash     // the state hash after this entry
	nodes  [][]byte // tree nodes this leaf completes, by level
	idem   []byte   // empty for the genesis
	ords   []uint32
	record []byte
}

func encodeEntryValue(f *entryFields) []byte {
	n := 1 + 32 + 32 + 1 + 32*len(f.nodes) + 2 + len(f.idem) + 2 + 4*len(f.ords) + len(f.record)
	b := make([]byte, 0, n)
	b = append(b, entryValueVersion)
	b = append(b, f.hash[:]...)
	b = append(b, f.state[:]...)
	b = append(b, byte(len(f.nodes)))
	for _, h := range f.nodes {
		b = append(b, h...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(f.idem)))
	b = append(b, f.idem...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(f.ords)))
	for _, o := range f.ords {
		b = binary.BigEndian.AppendUint32(b, o)
	}
	return append(b, f.record...)
}

// decodeEntryValue splits an entry value; the fields alias v.
func decodeEntryValue(v []byte) (entryFields, error) {
	var f entryFields
	bad := func(what string) (entryFields, error) {
		return entryFields{}, fmt.Errorf("%w: entry value: %s", ErrCorrupt, what)
	}
	if len(v) < 1+32+32+1 || v[0] != entryValueVersion {
		return bad("version or length")
	}
	copy(f.hash[:], v[1:33])
	copy(f.state[:], v[33:65])
	n, v := int(v[65]), v[66:]
	if len(v) < 32*n+2 {
		return bad("tree nodes")
	}
	for i := range n {
		f.nodes = append(f.nodes, v[32*i:32*i+32])
	}
	v = v[32*n:]
	il := int(binary.BigEndian.Uint16(v))
	if len(v) < 2+il+2 {
		return bad("idempotency key")
	}
	f.idem, v = v[2:2+il], v[2+il:]
	on := int(binary.BigEndian.Uint16(v))
	if len(v) < 2+4*on {
		return bad("listing ordinals")
	}
	for i := range on {
		f.ords = append(f.ords, binary.BigEndian.Uint32(v[2+4*i:]))
	}
	f.record = v[2+4*on:]
	return f, nil
}

// entryValue returns the decoded value of entry seq, or ErrNotFound.
func entryValue(b *bolt.Bucket, seq uint64) (entryFields, error) {
	v := b.Get(u64(seq))
	if v == nil {
		return entryFields{}, fmt.Errorf("%w: entry %d", ErrNotFound, seq)
	}
	return decodeEntryValue(v)
}

// nodeHome is where tree node id is stored: in the value of the leaf
// that completes it, at that node's level.
func nodeHome(id compact.NodeID) (seq uint64, level int) {
	return (id.Index+1)<<id.Level - 1, int(id.Level)
}

// nodesCompleted is how many tree nodes leaf seq completes: itself and one
// for each trailing one bit of seq.
func nodesCompleted(seq uint64) int { return 1 + bits.TrailingZeros64(^seq) }
