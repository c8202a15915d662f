package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	bolt "go.etcd.io/bbolt"
)

func writeLedger(t *testing.T, dir string) {
	t.Helper()
	fed := ledgertest.NewFederation(2)
	l, err := ledger.Open(filepath.Join(dir, "ledger.db"), ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.InitGenesis(fed.Genesis); err != nil {
		t.Fatal(err)
	}
	var es []ledger.Entry
	for i := range 5 {
		es = append(es, ledgertest.Envelope(ledgertest.GenesisTimeMs+int64(i), fed.Agencies[0].Sign(ledger.TypePublish, "verify-cli-"+string(rune('a'+i)), ledger.ListingPayload{Token: ledgertest.Token(string(rune('a' + i))), Attrs: ledgertest.Attrs()})))
	}
	if _, err := l.ApplyBatch(es); err != nil {
		t.Fatal(err)
	}
}

func TestLedgerVerifyCLI(t *testing.T) {
	dir := t.TempDir()
	writeLedger(t, dir)
	var out, errb bytes.Buffer
	if code := run([]string{"ledger", "verify", "--data", dir}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "entries:       6") || !strings.Contains(out.String(), "OK") {
		t.Fatalf("output: %s", out.String())
	}
	// tamper with entry 3
	db, _ := bolt.Open(filepath.Join(dir, "ledger.db"), 0o600, nil)
	db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("entries"))
		k := []byte{0, 0, 0, 0, 0, 0, 0, 3}
		v := bytes.Clone(b.Get(k))
		v[len(v)-3] ^= 2
		return b.Put(k, v)
	})
	db.Close()
	out.Reset()
	errb.Reset()
	if code := run([]string{"ledger", "verify", "--data", dir}, &out, &errb); code != exitFailure {
		t.Fatalf("tampered ledger: exit %d", code)
	}
	if !strings.Contains(errb.String(), "sequence 3") {
		t.Fatalf("stderr should name sequence 3: %s", errb.String())
	}
	// a ledger left unsynced by an earlier boot of the machine
	if err := os.WriteFile(filepath.Join(dir, "ledger.db.sync"), []byte(`{"boot_id":"an-earlier-boot","clean":false}`), 0o600); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if code := run([]string{"ledger", "verify", "--data", dir}, &out, &errb); code != exitFailure || !strings.Contains(errb.String(), "start the node, which rebuilds it") {
		t.Fatalf("unsynced ledger: exit %d: %s", code, errb.String())
	}
	if code := run([]string{"ledger", "verify"}, &out, &errb); code != exitUsage {
		t.Fatalf("missing --data: exit %d", code)
	}
	if code := run([]string{"ledger", "verify", "--data", t.TempDir()}, &out, &errb); code != exitFailure {
		t.Fatalf("a data directory without ledger.db: exit %d", code)
	}
}
