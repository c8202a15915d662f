package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	bolt "go.etcd.io/bbolt"
)

// The ledger is an RFC 6962 Merkle tree over entry records, kept with
// transparency-dev/merkle. Every perfect subtree's hash is stored as it
// completes, with the entry whose leaf completes it (entry.go), so
// inclusion and consistency proofs and historical roots read O(log n)
// entries and never rehash leaves.
var (
	treeHasher   = rfc6962.DefaultHasher
	rangeFactory = &compact.RangeFactory{Hash: treeHasher.HashChildren}
)

// loadRange reads the compact range of the whole tree from the head bucket.
func loadRange(h *bolt.Bucket) (*compact.Range, error) {
	size := getU64(h, kSize)
	raw := h.Get(kRange)
	if len(raw)%sha256.Size != 0 {
		return nil, fmt.Errorf("%w: compact range has %d bytes", ErrCorrupt, len(raw))
	}
	hashes := make([][]byte, 0, len(raw)/sha256.Size)
	for i := 0; i < len(raw); i += sha256.Size {
		hashes = append(hashes, append([]byte(nil), raw[i:i+sha256.Size]...))
	}
	r, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("%w: compact range: %v", ErrCorrupt, err)
	}
	return r, nil
}

func storeRange(h *bolt.Bucket, r *compact.Range) error {
	hs := r.Hashes()
	raw := make([]byte, 0, len(hs)*sha256.Size)
	for _, h := range hs {
		raw = append(raw, h...)
	}
	if err := h.Put(kRange, raw); err != nil {
		return err
	}
	return h.Put(kSize, u64(r.End()))
}

// rootAt returns the root of the tree of the first size leaves, from the
// nodes stored in the entries bucket.
func rootAt(tree *bolt.Bucket, size uint64) ([]byte, error) {
	if size == 0 {
		return treeHasher.EmptyRoot(), nil
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := nodeHashes(tree, ids)
	if err != nil {
		return nil, err
	}
	r, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

func nodeHashes(tree *bolt.Bucket, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		seq, level := nodeHome(id)
		f, err := entryValue(tree, seq)
		if err != nil || level >= len(f.nodes) {
			return nil, fmt.Errorf("%w: tree node (%d,%d) missing (%v)", ErrCorrupt, id.Level, id.Index, err)
		}
		out[i] = append([]byte(nil), f.nodes[level]...)
	}
	return out, nil
}

// InclusionProof is the audit path proving that entry Seq is in the tree of size Size with root Root.
type InclusionProof struct {
	Seq      uint64 `json:"seq"`
	Size     uint64 `json:"size"`
	LeafHash Hash   `json:"leaf_hash"`
	Root     Hash   `json:"root"`
	Path     []Hash `json:"path"`
}

// ConsistencyProof proves that the tree of size Size1 is a prefix of the tree of size Size2.
type ConsistencyProof struct {
	Size1 uint64 `json:"size1"`
	Size2 uint64 `json:"size2"`
	Root1 Hash   `json:"root1"`
	Root2 Hash   `json:"root2"`
	Path  []Hash `json:"path"`
}

// Inclusion returns an inclusion proof for entry seq in the tree of the
// given size (0 means the current size).
func (l *Ledger) Inclusion(seq, size uint64) (p InclusionProof, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		cur := getU64(tx.Bucket(bHead), kSize)
		if size == 0 {
			size = cur
		}
		if size > cur || seq >= size {
			return fmt.Errorf("%w: entry %d in a tree of size %d (ledger size %d)", ErrNotFound, seq, size, cur)
		}
		tree := tx.Bucket(bEntries)
		path, err := proofPath(tree, func() (proof.Nodes, error) { return proof.Inclusion(seq, size) })
		if err != nil {
			return err
		}
		root, err := rootAt(tree, size)
		if err != nil {
			return err
		}
		leaf, err := nodeHashes(tree, []compact.NodeID{compact.NewNodeID(0, seq)})
		if err != nil {
			return err
		}
		p = InclusionProof{Seq: seq, Size: size, Path: toHashes(path)}
		copy(p.LeafHash[:], leaf[0])
		copy(p.Root[:], root)
		return nil
	})
	return p, err
}

// Consistency returns a consistency proof between two tree sizes (size2 0 means current).
func (l *Ledger) Consistency(size1, size2 uint64) (p ConsistencyProof, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		cur := getU64(tx.Bucket(bHead), kSize)
		if size2 == 0 {
			size2 = cur
		}
		if size1 == 0 || size1 > size2 || size2 > cur {
			return fmt.Errorf("%w: consistency %d..%d (ledger size %d; sizes must be 1 <= size1 <= size2)", ErrNotFound, size1, size2, cur)
		}
		tree := tx.Bucket(bEntries)
		path, err := proofPath(tree, func() (proof.Nodes, error) { return proof.Consistency(size1, size2) })
		if err != nil {
			return err
		}
		r1, err := rootAt(tree, size1)
		if err != nil {
			return err
		}
		r2, err := rootAt(tree, size2)
		if err != nil {
			return err
		}
		p = ConsistencyProof{Size1: size1, Size2: size2, Path: toHashes(path)}
		copy(p.Root1[:], r1)
		copy(p.Root2[:], r2)
		return nil
	})
	return p, err
}

// proofPath reads the stored nodes a proof needs and rehashes its ephemeral node.
func proofPath(tree *bolt.Bucket, ids func() (proof.Nodes, error)) ([][]byte, error) {
	nodes, err := ids()
	if err != nil {
		return nil, err
	}
	hs, err := nodeHashes(tree, nodes.IDs)
	if err != nil {
		return nil, err
	}
	return nodes.Rehash(hs, treeHasher.HashChildren)
}

// Verify checks the inclusion proof against its root (RFC 6962 §2.1.1).
func (p InclusionProof) Verify() error {
	return proof.VerifyInclusion(treeHasher, p.Seq, p.Size, p.LeafHash[:], fromHashes(p.Path), p.Root[:])
}

// Verify checks the consistency proof between its two roots (RFC 6962 §2.1.2).
func (p ConsistencyProof) Verify() error {
	return proof.VerifyConsistency(treeHasher, p.Size1, p.Size2, fromHashes(p.Path), p.Root1[:], p.Root2[:])
}

// LeafHash returns the RFC 6962 leaf hash of an entry record.
func LeafHash(record []byte) Hash {
	var h Hash
	copy(h[:], treeHasher.HashLeaf(record))
	return h
}

func toHashes(bs [][]byte) []Hash {
	out := make([]Hash, len(bs))
	for i, b := range bs {
		copy(out[i][:], b)
	}
	return out
}

func fromHashes(hs []Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// keyEntry is one agency signing key, active or not.
type keyEntry struct {
	kid    string
	agency string
	vk     *verifyKey
}

func newKeyEntry(kid, agency string, pub ed25519.PublicKey) keyEntry {
	return keyEntry{kid: kid, agency: agency, vk: newVerifyKey(pub)}
}

// keyCache maps every key id ever registered to its key, so the parallel
// verification phase of a batch needs no database read. Whether a key may
// sign at a given position is decided later, in log order, from state.
type keyCache struct {
	mu      sync.RWMutex
	m       map[string]keyEntry
	headers headerCache
}

func newKeyCache() *keyCache { return &keyCache{m: map[string]keyEntry{}} }

func (c *keyCache) get(kid string) (keyEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.m[kid]
	return e, ok
}

func (c *keyCache) add(es []keyEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range es {
		c.m[e.kid] = e
	}
}

func (c *keyCache) load(tx *bolt.Tx) error {
	return tx.Bucket(bAgencies).ForEach(func(_, v []byte) error {
		var a Agency
		if err := jsonUnmarshal(v, &a); err != nil {
			return err
		}
		for _, k := range a.Keys {
			pub, err := decodePublicKey(k.PublicKey)
			if err != nil {
				return fmt.Errorf("%w: agency %s key %s", ErrCorrupt, a.ID, k.KID)
			}
			c.m[k.KID] = newKeyEntry(k.KID, a.ID, pub)
		}
		return nil
	})
}

// RootAt returns the Merkle root of the tree of the first size entries,
// for co-signing a checkpoint another node signed at that size.
func (l *Ledger) RootAt(size uint64) (h Hash, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		if cur := getU64(tx.Bucket(bHead), kSize); size > cur {
			return fmt.Errorf("%w: tree size %d (ledger size %d)", ErrNotFound, size, cur)
		}
		root, err := rootAt(tx.Bucket(bEntries), size)
		copy(h[:], root)
		return err
	})
	return h, err
}
