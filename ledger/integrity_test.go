package ledger_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	bolt "go.etcd.io/bbolt"
)

// integrityLedger builds a ledger file of a dozen entries (publishes and
// holds) and returns its path, closed.
func integrityLedger(t *testing.T) string {
	t.Helper()
	x := newTL(t, 3)
	for i := range 8 {
		x.publish(i%3, "int"+string(rune('a'+i)))
	}
	x.reserve(1, ledgertest.Token("inta"), "c1")
	x.reserve(2, ledgertest.Token("intb"), "c2")
	return copyLedger(t, x.l)
}

// copyLedger writes a copy of l (through a snapshot) to a new file and
// returns its path, closed.
func copyLedger(t *testing.T, l *ledger.Ledger) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	var buf bytes.Buffer
	if err := l.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	other, err := ledger.Open(path, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Restore(&buf, nil); err != nil {
		t.Fatal(err)
	}
	other.Close()
	return path
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// damage edits one value of a closed ledger file with bbolt directly, as
// disk rot or an operator's edit would.
func damage(t *testing.T, path, bucket string, key []byte, edit func(v []byte) []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if key == nil {
			key, _ = b.Cursor().First()
		}
		return b.Put(key, edit(bytes.Clone(b.Get(key))))
	}); err != nil {
		t.Fatal(err)
	}
}

// TestCheckIntegrityFindsDamage: each kind of damage to a ledger file is
// found by the check a node runs before it serves, naming the first bad
// entry where there is one; an undamaged file passes.
func TestCheckIntegrityFindsDamage(t *testing.T) {
	flipLast := func(v []byte) []byte { v[len(v)-3] ^= 1; return v }
	cases := []struct {
		name    string
		bucket  string
		key     []byte
		edit    func([]byte) []byte
		from    uint64
		wantSeq int64 // -1: damage not in one entry
	}{
		{"command byte", "entries", seqKey(4), flipLast, 0, 4},
		{"entry hash", "entries", seqKey(6), func(v []byte) []byte { v[1] ^= 1; return v }, 0, 6},
		{"tree node", "entries", seqKey(7), func(v []byte) []byte { v[1+32+32+1+3] ^= 1; return v }, 0, 7},
		{"stored state hash of the newest entry", "entries", seqKey(10), func(v []byte) []byte { v[1+32+5] ^= 1; return v }, 0, 10},
		{"idempotency key", "entries", seqKey(3), func(v []byte) []byte {
			// after version, hashes, node count and nodes: u16 length, then the key
			n := int(v[65])
			v[66+32*n+2] ^= 1
			return v
		}, 0, -1},
		{"listing record", "listings", nil, func(v []byte) []byte { v[len(v)-1] ^= 1; return v }, 0, -1},
		{"reservation record", "reservations", nil, flipLast, 0, -1},
		{"agency record", "agencies", nil, func(v []byte) []byte { return bytes.Replace(v, []byte(`"active"`), []byte(`"remove"`), 1) }, 0, -1},
		{"command byte in the checked tail", "entries", seqKey(9), flipLast, 8, 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := integrityLedger(t)
			l, err := ledger.Open(path, ledger.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := l.CheckIntegrity(0); err != nil {
				t.Fatalf("undamaged ledger: %v", err)
			}
			l.Close()
			damage(t, path, c.bucket, c.key, c.edit)
			l, err = ledger.Open(path, ledger.Options{NoSync: true})
			if err == nil {
				defer l.Close()
				err = l.CheckIntegrity(c.from)
			}
			if !ledger.IsDamage(err) {
				t.Fatalf("damaged %s: open and check = %v, want damage", c.name, err)
			}
			d := &ledger.Damage{}
			if !errors.As(err, &d) {
				if c.wantSeq >= 0 {
					t.Fatalf("damage %v names no entry, want %d", err, c.wantSeq)
				}
				t.Log(err)
				return
			}
			switch {
			case c.wantSeq >= 0 && (d.Seq == nil || *d.Seq != uint64(c.wantSeq)):
				t.Fatalf("damage reported as %v, want at entry %d", err, c.wantSeq)
			case c.wantSeq < 0 && d.Seq != nil:
				t.Fatalf("damage reported at an entry (%v); it is in the state", err)
			}
			t.Log(err)
		})
	}
}

// TestStateHashAtEverySize: the state hash stored with each entry is the
// one a ledger fed the same entries one at a time reaches at that size,
// and Head reports the newest.
func TestStateHashAtEverySize(t *testing.T) {
	a := newTL(t, 3)
	var sizes []ledger.Hash
	for i := range 6 {
		a.publish(i%3, "sh"+string(rune('a'+i)))
		h, _ := a.l.Head()
		sizes = append(sizes, h.StateHash)
	}
	head, _ := a.l.Head()
	for i, want := range sizes {
		got, err := a.l.StateHashAt(head.Size - uint64(len(sizes)-1-i))
		if err != nil || got != want {
			t.Fatalf("state hash at size %d: %s (%v), want %s", head.Size-uint64(len(sizes)-1-i), got, err, want)
		}
	}
	if sizes[0] == sizes[1] {
		t.Fatal("state hash did not change with a publish")
	}
}

// TestRebuildInPlace: Rebuild sets the file aside and leaves the same
// Ledger holding only the genesis, ready to apply the federation's log
// again; its caches are those of the new file.
func TestRebuildInPlace(t *testing.T) {
	x := newTL(t, 3)
	for i := range 4 {
		x.publish(i%3, "rb"+string(rune('a'+i)))
	}
	before, _ := x.l.Head()
	if err := x.l.Rebuild(".damaged-test", x.fed.Genesis); err != nil {
		t.Fatal(err)
	}
	h, _ := x.l.Head()
	if h.Size != 1 || before.Size != 5 {
		t.Fatalf("after the rebuild: size %d (was %d); want the genesis alone", h.Size, before.Size)
	}
	if r, _ := x.l.Search(ledger.SearchQuery{}); r.Total != 0 {
		t.Fatalf("the search index still finds %d listings", r.Total)
	}
	if err := x.l.Check(); err != nil {
		t.Fatal(err)
	}
	if err := x.l.CheckIntegrity(0); err != nil {
		t.Fatal(err)
	}
	x.publish(0, "rb-after")
	if h, _ := x.l.Head(); h.Size != 2 {
		t.Fatalf("a publish after the rebuild: size %d", h.Size)
	}
}

// TestRecordWhereANewHoldGoesIsDamage: a new hold is stored under keys
// named by its entry's sequence, so the apply path writes them without
// looking up an old value. A record planted at such a key, with the
// stored state sum made to include it, must not vanish silently when the
// hold overwrites it (as it would if its value were subtracted): the sum
// keeps it, no longer matches the state, and the check reports damage.
func TestRecordWhereANewHoldGoesIsDamage(t *testing.T) {
	x := newTL(t, 3)
	tok := x.publish(0, "planted")
	h, _ := x.l.Head()
	path := copyLedger(t, x.l)
	next := h.Size // the reserve below is entry h.Size, and its hold's id
	if err := ledger.PlantState(path, "reservations", seqKey(next), []byte("planted")); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(path, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	x.l = l
	x.index = 1 << 20
	if r := x.reserve(1, tok, "c1"); !r.Accepted || r.Seq != next {
		t.Fatalf("reserve: %+v, want accepted at %d", r, next)
	}
	if err := l.CheckIntegrity(0); !ledger.IsDamage(err) {
		t.Fatalf("after the hold overwrote the planted record: %v, want damage", err)
	}
}
