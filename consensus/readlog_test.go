package consensus_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/raaft/raaft/consensus"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// TestRaftLogReader: the read-only reader reports the log's bounds, the
// command entries above an index, and as the last index the highest of
// the log, the newest snapshot and the ledger inside that snapshot (which
// a follower that installed it holds before any more log arrives).
func TestRaftLogReader(t *testing.T) {
	dir := t.TempDir()
	st, err := consensus.OpenBoltStore(filepath.Join(dir, "raft.db"), consensus.BoltStoreOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var logs []*raft.Log
	for i := uint64(5); i <= 9; i++ {
		typ := raft.LogCommand
		if i == 8 {
			typ = raft.LogNoop
		}
		logs = append(logs, &raft.Log{Index: i, Term: 1, Type: typ, Data: []byte{byte(i)}})
	}
	if err := st.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	st.Close()

	first, last, err := consensus.ReadLogBounds(filepath.Join(dir, "raft.db"))
	if err != nil || first != 5 || last != 9 {
		t.Fatalf("bounds %d..%d, %v", first, last, err)
	}
	r, err := consensus.OpenRaftLogReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var seen []uint64
	if err := r.Commands(6, func(idx uint64, data []byte) error {
		if data[0] != byte(idx) {
			t.Fatalf("index %d: data %v", idx, data)
		}
		seen = append(seen, idx)
		return nil
	}); err != nil || len(seen) != 2 || seen[0] != 7 || seen[1] != 9 {
		t.Fatalf("commands above 6: %v %v", seen, err)
	}
	if idx, err := r.LastIndex(); err != nil || idx != 9 {
		t.Fatalf("last index without snapshots: %d %v", idx, err)
	}

	// a snapshot at index 20 whose ledger has applied up to index 25
	snap := filepath.Join(dir, "snapshots", "1-20-1")
	if err := os.MkdirAll(snap, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(snap, "meta.json"), []byte(`{"ID":"1-20-1","Index":20,"Term":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	fed := ledgertest.NewFederation(1)
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.InitGenesis(fed.Genesis); err != nil {
		t.Fatal(err)
	}
	e := ledgertest.Envelope(ledgertest.GenesisTimeMs+1, fed.Agencies[0].Sign(ledger.TypePublish, "snap-0001", ledger.ListingPayload{Token: ledgertest.Token("s"), Attrs: ledgertest.Attrs()}))
	e.Index = 25
	if _, err := l.ApplyBatch([]ledger.Entry{e}); err != nil {
		t.Fatal(err)
	}
	// state.bin as a node writes it: the checkpoint it carries (here an
	// empty one), then the ledger snapshot with its header
	var buf bytes.Buffer
	buf.WriteString("raaft-snapshot-checkpoint/1\n\x00\x00\x00\x02{}")
	if err := l.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := os.WriteFile(filepath.Join(snap, "state.bin"), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if idx, err := r.LastIndex(); err != nil || idx != 25 {
		t.Fatalf("last index with a snapshot whose ledger applied 25: %d %v", idx, err)
	}
	if _, err := consensus.OpenRaftLogReadOnly(t.TempDir()); !os.IsNotExist(err) {
		t.Fatalf("no raft.db: %v", err)
	}
}
