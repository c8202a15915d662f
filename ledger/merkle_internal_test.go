package ledger

import (
	"encoding/binary"
	"testing"

	"github.com/transparency-dev/merkle/compact"
)

// TestNodeKeysArePostOrder: as leaves are appended, every node the tree
// stores gets the next key, so each batch writes at the end of the bucket.
func TestNodeKeysArePostOrder(t *testing.T) {
	r := rangeFactory.NewEmptyRange(0)
	next := uint64(0)
	seen := map[uint64]compact.NodeID{}
	leaf := make([]byte, 32)
	for i := range uint64(5000) {
		binary.BigEndian.PutUint64(leaf, i)
		var ids []compact.NodeID
		if err := r.Append(leaf, func(id compact.NodeID, _ []byte) { ids = append(ids, id) }); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			k := binary.BigEndian.Uint64(nodeKey(id))
			if prev, dup := seen[k]; dup {
				t.Fatalf("node %+v and %+v share key %d", id, prev, k)
			}
			seen[k] = id
			if k != next {
				t.Fatalf("leaf %d: node %+v has key %d, want %d (the next in post-order)", i, id, k, next)
			}
			next++
		}
	}
	if want := 2*5000 - uint64(bitsOnes(5000)); next != want {
		t.Fatalf("%d nodes stored for 5000 leaves, want %d", next, want)
	}
}

func bitsOnes(v uint64) int {
	n := 0
	for ; v != 0; v &= v - 1 {
		n++
	}
	return n
}
