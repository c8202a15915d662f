package ledger

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/transparency-dev/merkle/compact"
)

func TestEntryValueRoundTrip(t *testing.T) {
	h := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	for _, f := range []entryFields{
		{record: encodeRecord(kindGenesis, 0, 1, []byte("{}")), nodes: [][]byte{h(1)}},
		{hash: Hash{9}, nodes: [][]byte{h(1), h(2), h(3)}, idem: []byte("a1\x00cmd-0001"), ords: []uint32{7, 1 << 31}, record: encodeRecord(kindCommand, 7, 2, []byte("x.y.z"))},
	} {
		got, err := decodeEntryValue(encodeEntryValue(&f))
		if err != nil {
			t.Fatal(err)
		}
		if len(got.idem) == 0 {
			got.idem = nil
		}
		if !reflect.DeepEqual(got, f) {
			t.Fatalf("round trip: %+v, want %+v", got, f)
		}
	}
	v := encodeEntryValue(&entryFields{nodes: [][]byte{h(1)}, idem: []byte("k"), ords: []uint32{1}, record: []byte("r")})
	for n := range len(v) - 1 { // every truncation before the record is refused
		if _, err := decodeEntryValue(v[:n]); err == nil && n < len(v)-1 {
			t.Fatalf("a value truncated to %d of %d bytes decoded", n, len(v))
		}
	}
}

func TestNodesCompleted(t *testing.T) {
	r := rangeFactory.NewEmptyRange(0)
	leaf := make([]byte, 32)
	for seq := range uint64(1000) {
		n := 0
		if err := r.Append(leaf, func(id compact.NodeID, _ []byte) {
			if home, level := nodeHome(id); home != seq || level != n {
				t.Fatalf("leaf %d completes node %+v, stored with leaf %d at %d", seq, id, home, level)
			}
			n++
		}); err != nil {
			t.Fatal(err)
		}
		if n != nodesCompleted(seq) {
			t.Fatalf("leaf %d completes %d nodes; nodesCompleted says %d", seq, n, nodesCompleted(seq))
		}
	}
}

// FuzzDecodeEntryValue: no input makes the decoder panic, and what it
// decodes encodes back to the same bytes.
func FuzzDecodeEntryValue(f *testing.F) {
	f.Add(encodeEntryValue(&entryFields{nodes: [][]byte{make([]byte, 32)}, idem: []byte("a\x00b"), ords: []uint32{3}, record: []byte("rec")}))
	f.Add([]byte{entryValueVersion})
	f.Fuzz(func(t *testing.T, v []byte) {
		e, err := decodeEntryValue(v)
		if err != nil {
			return
		}
		if got := encodeEntryValue(&e); !bytes.Equal(got, v) {
			t.Fatalf("decoded %x, re-encoded %x", v, got)
		}
	})
}
