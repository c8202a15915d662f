package ledger_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	bolt "go.etcd.io/bbolt"
)

// TestCheckCatchesFeeCorruption: Check finds each fee invariant broken in
// the stored state (written behind the ledger's back).
func TestCheckCatchesFeeCorruption(t *testing.T) {
	cases := []struct {
		name, want string
		corrupt    func(tx *bolt.Tx, o ledger.Obligation) error
	}{
		{"account total", "balances do not sum to zero", func(tx *bolt.Tx, o ledger.Obligation) error {
			return editJSON(tx, "fee_accounts", []byte("a1\x00receivable"), func(m map[string]any) { m["debits_posted_pence"] = 1 })
		}},
		{"account differs from its transfers", "its transfers give", func(tx *bolt.Tx, o ledger.Obligation) error {
			if err := editJSON(tx, "fee_accounts", []byte("a1\x00receivable"), func(m map[string]any) { m["debits_posted_pence"] = 1 }); err != nil {
				return err
			}
			return editJSON(tx, "fee_accounts", []byte("a2\x00payable"), func(m map[string]any) { m["credits_posted_pence"] = 1 })
		}},
		{"obligation without a placement", "has no placement", func(tx *bolt.Tx, o ledger.Obligation) error {
			return editRes(tx, o.Reservation, func(r *ledger.Reservation) { r.Status = ledger.ResConfirmed })
		}},
		{"placement by another agency than the debtor", "does not match", func(tx *bolt.Tx, o ledger.Obligation) error {
			return editRes(tx, o.Reservation, func(r *ledger.Reservation) { r.Holder = "a3" })
		}},
		{"placement without a confirmed reservation", "without being confirmed", func(tx *bolt.Tx, o ledger.Obligation) error {
			return editRes(tx, o.Reservation, func(r *ledger.Reservation) { r.EndReason = "released" })
		}},
		{"placement without a fee decision", "does not link", func(tx *bolt.Tx, o ledger.Obligation) error {
			return tx.Bucket([]byte("fee_by_res")).Delete(u64key(o.Reservation))
		}},
		{"amounts disagree with transfers", "its transfers leave", func(tx *bolt.Tx, o ledger.Obligation) error {
			return editJSON(tx, "fee_obligations", u64key(o.ID), func(m map[string]any) { m["agreed_pence"] = 2_600_000; m["paid_pence"] = 0 })
		}},
		{"settled but unpaid", "settled", func(tx *bolt.Tx, o ledger.Obligation) error {
			return editJSON(tx, "fee_obligations", u64key(o.ID), func(m map[string]any) { m["status"] = ledger.FeeSettled })
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledger.db")
			l, err := ledger.Open(path, ledger.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			x := &tl{t: t, l: l, fed: ledgertest.NewFederation(3), now: ledgertest.GenesisTimeMs + 1000}
			if err := l.InitGenesis(x.fed.Genesis); err != nil {
				t.Fatal(err)
			}
			o := x.placed(debt, cred, 1, "2026-04-02")
			x.acknowledged(o.ID)
			x.pay(o.ID, 1_000_000, "c1")
			if err := l.Check(); err != nil {
				t.Fatalf("before: %v", err)
			}
			l.Close()
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error { return c.corrupt(tx, o) }); err != nil {
				t.Fatal(err)
			}
			db.Close()
			l, err = ledger.Open(path, ledger.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if err := l.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Check: %v; want an error saying %q", err, c.want)
			}
		})
	}
}

func u64key(v uint64) []byte {
	b := make([]byte, 8)
	for i := range 8 {
		b[7-i] = byte(v >> (8 * i))
	}
	return b
}

// editRes changes a stored reservation (binary records, record_codec.go).
func editRes(tx *bolt.Tx, id uint64, f func(r *ledger.Reservation)) error {
	b := tx.Bucket([]byte("reservations"))
	v, err := ledger.EditStoredReservation(b.Get(u64key(id)), f)
	if err != nil {
		return err
	}
	return b.Put(u64key(id), v)
}

func editJSON(tx *bolt.Tx, bucket string, k []byte, f func(m map[string]any)) error {
	b := tx.Bucket([]byte(bucket))
	m := map[string]any{}
	if err := json.Unmarshal(b.Get(k), &m); err != nil {
		return err
	}
	f(m)
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return b.Put(k, v)
}
