package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	bolt "go.etcd.io/bbolt"
)

// bigLedgerCommands is more than one replay batch (512) and enough
// entries for branch pages and overflow pages in the entries bucket.
const bigLedgerCommands = 700

// writeBigLedger writes a ledger of a genesis and bigLedgerCommands
// publishes, alternating between two agencies, and returns its path.
func writeBigLedger(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	fed := ledgertest.NewFederation(2)
	l, err := ledger.Open(path, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.InitGenesis(fed.Genesis); err != nil {
		t.Fatal(err)
	}
	for start := 1; start <= bigLedgerCommands; start += ledger.BatchEntriesMax / 4 {
		var es []ledger.Entry
		for k := start; k < start+ledger.BatchEntriesMax/4 && k <= bigLedgerCommands; k++ {
			jws := fed.Agencies[k%2].Sign(ledger.TypePublish, fmt.Sprintf("big-%04d", k), ledger.ListingPayload{Token: ledgertest.Token(fmt.Sprint("big-", k)), Attrs: ledgertest.Attrs()})
			es = append(es, ledgertest.Envelope(ledgertest.GenesisTimeMs+int64(k), jws))
		}
		if _, err := l.ApplyBatch(es); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func sumFile(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestVerifyFileNamesTheDamagedEntry: on a ledger of several replay
// batches, a changed idempotency key in one entry is reported at that
// entry, not at the end, and VerifyFile leaves the file's bytes as they
// were; the clean ledger verifies with every signature checked twice.
func TestVerifyFileNamesTheDamagedEntry(t *testing.T) {
	path := writeBigLedger(t)
	before := sumFile(t, path)
	rep, err := ledger.VerifyFile(path, ledger.VerifyOptions{ScratchDir: t.TempDir()})
	if err != nil || !rep.OK() {
		t.Fatalf("clean ledger: %v %+v", err, rep)
	}
	if rep.Entries != bigLedgerCommands+1 || rep.SignaturesStdlib != bigLedgerCommands+2 || rep.PagesChecked < 10 {
		t.Fatalf("clean ledger: %+v", rep)
	}
	if sumFile(t, path) != before {
		t.Fatal("VerifyFile changed the file")
	}

	const bad = 600 // in the second replay batch
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("entries"))
		k := binary.BigEndian.AppendUint64(nil, bad)
		v := bytes.Clone(b.Get(k))
		v[1+32+32+1+32*int(v[65])+2+1] ^= 1 // a byte of the idempotency key's agency
		return b.Put(k, v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	before = sumFile(t, path)
	rep, err = ledger.VerifyFile(path, ledger.VerifyOptions{ScratchDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.FirstBadSeq == nil || *rep.FirstBadSeq != bad || !strings.Contains(rep.Problem, "idempotency key") || rep.Bucket != "entries" {
		t.Fatalf("damaged entry %d: %+v", bad, rep)
	}
	if sumFile(t, path) != before {
		t.Fatal("VerifyFile changed the damaged file")
	}
}

// TestOpenReadOnly: a read-only ledger answers queries, refuses writes,
// creates nothing and changes no byte; a file that is not a whole ledger
// is refused with ErrDamaged saying why.
func TestOpenReadOnly(t *testing.T) {
	path := writeBigLedger(t)
	before := sumFile(t, path)
	l, err := ledger.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := l.Head(); err != nil || h.Size != bigLedgerCommands+1 {
		t.Fatalf("head %+v %v", h, err)
	}
	if _, err := l.Listing(ledgertest.Token("big-7")); err != nil {
		t.Fatalf("listing: %v", err)
	}
	if _, err := l.ApplyBatch([]ledger.Entry{ledgertest.Envelope(ledgertest.GenesisTimeMs, []byte("x"))}); err == nil {
		t.Fatal("a read-only ledger applied a batch")
	}
	l.Close()
	if sumFile(t, path) != before {
		t.Fatal("OpenReadOnly changed the file")
	}

	// a bbolt file without the ledger's buckets: a plain bbolt database
	plain := filepath.Join(t.TempDir(), "plain.db")
	db, err := bolt.Open(plain, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	empty := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{plain, `bucket "meta" is missing`},
		{empty, "0 bytes"},
	} {
		l, err := ledger.OpenReadOnly(c.path)
		if !errors.Is(err, ledger.ErrDamaged) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: %v, want ErrDamaged: %s", c.path, err, c.want)
		}
		if l != nil {
			t.Fatal("a ledger returned with an error")
		}
	}
	if st, _ := os.Stat(empty); st.Size() != 0 {
		t.Fatal("OpenReadOnly wrote to an empty file")
	}
}
