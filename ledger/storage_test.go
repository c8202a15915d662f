package ledger_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	bolt "go.etcd.io/bbolt"
)

func TestRestartSkipsAppliedEntries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	fed := ledgertest.NewFederation(2)
	l, _ := ledger.Open(path, ledger.Options{NoSync: true})
	if err := l.InitGenesis(fed.Genesis); err != nil {
		t.Fatal(err)
	}
	tok := ledgertest.Token("l1")
	e1 := ledgertest.Envelope(ledgertest.GenesisTimeMs+1, fed.Agencies[0].Sign(ledger.TypePublish, "publish-1", ledger.ListingPayload{Token: tok, Attrs: ledgertest.Attrs()}))
	e1.Index = 5
	e2 := ledgertest.Envelope(ledgertest.GenesisTimeMs+2, fed.Agencies[1].Sign(ledger.TypeReserve, "reserve-1", ledger.ReservePayload{Listing: tok, ChildTokens: []string{ledgertest.Token("c")}}))
	e2.Index = 6
	if _, err := l.ApplyBatch([]ledger.Entry{e1, e2}); err != nil {
		t.Fatal(err)
	}
	head, _ := l.Head()
	l.Close()

	l, err := ledger.Open(path, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if idx, _ := l.LastApplied(); idx != 6 {
		t.Fatalf("last applied %d, want 6", idx)
	}
	// Raft replays from its snapshot: entries 5 and 6 again, then 7
	e3 := ledgertest.Envelope(ledgertest.GenesisTimeMs+3, fed.Agencies[0].Sign(ledger.TypePublish, "publish-2", ledger.ListingPayload{Token: ledgertest.Token("l2"), Attrs: ledgertest.Attrs()}))
	e3.Index = 7
	res, err := l.ApplyBatch([]ledger.Entry{e1, e2, e3})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Skipped || !res[1].Skipped || !res[2].Accepted || res[2].Seq != head.Size {
		t.Fatalf("replay results %+v", res)
	}
	// the search index was rebuilt on open
	if r, _ := l.Search(ledger.SearchQuery{Status: []string{ledger.StatusReserved}}); r.Total != 1 {
		t.Fatalf("index after reopen: %d reserved", r.Total)
	}
}

func TestSnapshotRestore(t *testing.T) {
	x := newTL(t, 3)
	for i := range 20 {
		x.publish(i%3, "snap"+string(rune('a'+i)))
	}
	x.reserve(1, ledgertest.Token("snapa"), "c1")
	var snap bytes.Buffer
	if err := x.l.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	want, _ := x.l.StateHash()
	wantHead, _ := x.l.Head()

	other := newTL(t, 3) // same federation keys, diverging state
	other.publish(0, "other")
	if err := other.l.Restore(bytes.NewReader(snap.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	got, _ := other.l.StateHash()
	gotHead, _ := other.l.Head()
	if got != want || gotHead != wantHead {
		t.Fatal("restored ledger differs from the snapshot")
	}
	if r, _ := other.l.Search(ledger.SearchQuery{}); r.Total != 19 {
		t.Fatalf("search after restore: %d available, want 19", r.Total)
	}
	if _, err := other.l.Listing(ledgertest.Token("other")); err == nil {
		t.Fatal("restore kept old state")
	}
	if err := other.l.Restore(bytes.NewReader([]byte("not a database")), nil); err == nil {
		t.Fatal("garbage snapshot accepted")
	}
	if got2, _ := other.l.StateHash(); got2 != want {
		t.Fatal("a failed restore changed the ledger")
	}
}

func TestProofs(t *testing.T) {
	x := newTL(t, 2)
	var results []ledger.Result
	for i := range 37 {
		results = append(results, x.ok(0, ledger.TypePublish, ledger.ListingPayload{Token: ledgertest.Token("p" + string(rune('a'+i))), Attrs: ledgertest.Attrs()}))
	}
	head, _ := x.l.Head()
	if head.Size != 38 || head.Root != *results[36].Root {
		t.Fatalf("head %+v, last result root %s", head, results[36].Root)
	}
	for _, seq := range []uint64{0, 1, 17, 36, 37} {
		for _, size := range []uint64{seq + 1, 20, 38} {
			if size <= seq {
				continue
			}
			p, err := x.l.Inclusion(seq, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Verify(); err != nil {
				t.Fatalf("inclusion %d in %d: %v", seq, size, err)
			}
			if seq > 0 && size == seq+1 && p.Root != *results[seq-1].Root {
				t.Fatalf("root of size %d differs from the result's root", size)
			}
		}
	}
	for _, s := range [][2]uint64{{1, 38}, {5, 17}, {16, 32}, {37, 38}, {38, 38}} {
		p, err := x.l.Consistency(s[0], s[1])
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(); err != nil {
			t.Fatalf("consistency %v: %v", s, err)
		}
	}
	p, _ := x.l.Inclusion(3, 38)
	p.Seq = 4
	if p.Verify() == nil {
		t.Fatal("a proof for the wrong leaf verified")
	}
	if _, err := x.l.Inclusion(38, 38); err == nil {
		t.Fatal("proof for a missing entry")
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	fed := ledgertest.NewFederation(2)
	l, _ := ledger.Open(path, ledger.Options{NoSync: true})
	l.InitGenesis(fed.Genesis)
	var es []ledger.Entry
	for i := range 10 {
		es = append(es, ledgertest.Envelope(ledgertest.GenesisTimeMs+int64(i), fed.Agencies[i%2].Sign(ledger.TypePublish, "pub-"+string(rune('a'+i))+"-0001", ledger.ListingPayload{Token: ledgertest.Token(string(rune('a' + i))), Attrs: ledgertest.Attrs()})))
	}
	l.ApplyBatch(es)
	rep, err := l.Verify(dir)
	if err != nil || rep.FirstBadSeq != nil || rep.Entries != 11 {
		t.Fatalf("clean ledger: %v %+v", err, rep)
	}
	l.Close()

	// flip one byte inside the stored command of entry 4
	db, _ := bolt.Open(path, 0o600, nil)
	db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("entries"))
		k := []byte{0, 0, 0, 0, 0, 0, 0, 4}
		v := bytes.Clone(b.Get(k))
		v[len(v)-5] ^= 1
		return b.Put(k, v)
	})
	db.Close()
	l, _ = ledger.Open(path, ledger.Options{NoSync: true})
	defer func() { l.Close() }()
	rep, err = l.Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.FirstBadSeq == nil || *rep.FirstBadSeq != 4 {
		t.Fatalf("tampered ledger: %+v; want first bad seq 4", rep)
	}
	l.Close()

	// restore the record, then flip a byte of a tree node stored with entry 6
	// (the first node hash starts after the version, the entry hash and the count)
	db, _ = bolt.Open(path, 0o600, nil)
	db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("entries"))
		k4 := []byte{0, 0, 0, 0, 0, 0, 0, 4}
		v := bytes.Clone(b.Get(k4))
		v[len(v)-5] ^= 1
		if err := b.Put(k4, v); err != nil {
			return err
		}
		k6 := []byte{0, 0, 0, 0, 0, 0, 0, 6}
		v = bytes.Clone(b.Get(k6))
		v[1+32+32+1+3] ^= 1
		return b.Put(k6, v)
	})
	db.Close()
	l, _ = ledger.Open(path, ledger.Options{NoSync: true})
	rep, err = l.Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.FirstBadSeq == nil || *rep.FirstBadSeq != 6 || !strings.Contains(rep.Problem, "tree node") {
		t.Fatalf("ledger with a tampered tree node: %+v; want first bad seq 6, a tree node", rep)
	}
}

// TestBatchSizesSameState: the results, the state hash and the tree head
// do not depend on how the log is cut into batches (the verification
// pipeline and the per-batch caches must not change what is applied).
func TestBatchSizesSameState(t *testing.T) {
	fed := ledgertest.NewFederation(3)
	var es []ledger.Entry
	add := func(i int, jws []byte) {
		e := ledgertest.Envelope(ledgertest.GenesisTimeMs+int64(1000+len(es)), jws)
		e.Index = uint64(len(es) + 1)
		es = append(es, e)
	}
	for i := range 700 {
		ag := fed.Agencies[i%3]
		tok := ledgertest.Token(fmt.Sprint("seg", i%400)) // later ones conflict
		switch {
		case i%50 == 7: // a retry of an earlier command: its first result again
			add(i, es[i-5].Data[10:])
		case i%50 == 11: // a bad signature: refused
			j := ag.Sign(ledger.TypePublish, fmt.Sprintf("seg-bad-%04d", i), ledger.ListingPayload{Token: tok, Attrs: ledgertest.Attrs()})
			j[len(j)-2] ^= 1
			add(i, j)
		case i%50 == 13: // another agency reserves a listing published earlier
			add(i, fed.Agencies[(i+1)%3].Sign(ledger.TypeReserve, fmt.Sprintf("seg-res-%04d", i), ledger.ReservePayload{Listing: ledgertest.Token(fmt.Sprint("seg", i-12)), ChildTokens: []string{ledgertest.Token(fmt.Sprint("child", i))}}))
		case i%50 == 17:
			add(i, ag.Sign(ledger.TypePause, fmt.Sprintf("seg-pau-%04d", i), ledger.TokenPayload{Token: ledgertest.Token(fmt.Sprint("seg", i-15))}))
		default:
			add(i, ag.Sign(ledger.TypePublish, fmt.Sprintf("seg-pub-%04d", i), ledger.ListingPayload{Token: tok, Attrs: ledgertest.Attrs()}))
		}
	}
	type outcome struct {
		results  string
		state    ledger.Hash
		head     ledger.Head
		accepted int
	}
	run := func(batch int) outcome {
		x := newTLFed(t, fed)
		var all []ledger.Result
		for i := 0; i < len(es); i += batch {
			res, err := x.l.ApplyBatch(es[i:min(len(es), i+batch)])
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, res...)
		}
		if err := x.l.Check(); err != nil {
			t.Fatal(err)
		}
		var o outcome
		for _, r := range all {
			if r.Accepted && !r.Duplicate {
				o.accepted++
			}
		}
		b, _ := json.Marshal(all)
		o.results = string(b)
		o.state, _ = x.l.StateHash()
		o.head, _ = x.l.Head()
		return o
	}
	want := run(1)
	if want.accepted < 300 {
		t.Fatalf("only %d accepted: the test exercises too little", want.accepted)
	}
	for _, batch := range []int{700, 513, 300, 64} {
		if got := run(batch); got != want {
			t.Errorf("batch size %d: outcome differs from one entry at a time (accepted %d, want %d)", batch, got.accepted, want.accepted)
		}
	}
}

// TestOpenRefusesAnotherFormat: a ledger.db of another storage layout is
// refused with ErrFormat and left as it is; the state cache is rebuilt
// from a file of this format on open (Check compares it with the file).
func TestOpenRefusesAnotherFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	fed := ledgertest.NewFederation(2)
	l, err := ledger.Open(path, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.InitGenesis(fed.Genesis); err != nil {
		t.Fatal(err)
	}
	tok := ledgertest.Token("fmt")
	e := ledgertest.Envelope(ledgertest.GenesisTimeMs+1, fed.Agencies[0].Sign(ledger.TypePublish, "publish-1", ledger.ListingPayload{Token: tok, Attrs: ledgertest.Attrs()}))
	e2 := ledgertest.Envelope(ledgertest.GenesisTimeMs+2, fed.Agencies[1].Sign(ledger.TypeReserve, "reserve-1", ledger.ReservePayload{Listing: tok, ChildTokens: []string{ledgertest.Token("c")}}))
	if _, err := l.ApplyBatch([]ledger.Entry{e, e2}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if l, err = ledger.Open(path, ledger.Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	if err := l.Check(); err != nil {
		t.Fatalf("after reopening: %v", err)
	}
	l.Close()

	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Delete([]byte("format")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := ledger.Open(path, ledger.Options{NoSync: true}); !errors.Is(err, ledger.ErrFormat) || !strings.Contains(err.Error(), "format 0") {
		t.Fatalf("opening a format-0 file: %v, want ErrFormat naming format 0", err)
	}
}
