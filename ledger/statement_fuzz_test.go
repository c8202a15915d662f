package ledger_test

import (
	"bytes"
	"testing"

	"github.com/raaft/raaft/ledger"
)

// FuzzReconcile: a finance system's export is untrusted input. Reconcile
// never panics on it, and whatever it accepts it accounts for: every
// ledger movement is matched or reported, and nothing is reported twice
// as both matched and missing.
func FuzzReconcile(f *testing.F) {
	x := newTL(f, 3)
	o := x.placed(debt, cred, 1, "2026-04-02").ID
	x.acknowledged(o)
	p := x.pay(o, 1_000_000, "fz1")
	x.ok(cred, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: p})
	head, _ := x.l.Head()
	fy := ledger.FeeYearPeriod(2026)
	st, err := x.l.Statement("a1", fy, head.Size-1)
	if err != nil {
		f.Fatal(err)
	}
	var export bytes.Buffer
	if err := st.WriteCSV(&export); err != nil {
		f.Fatal(err)
	}
	f.Add(export.Bytes())
	f.Add([]byte("seq,entry_hash,date,transfer,type,obligation,netting_run,counterparty,account,amount_gbp,balance_gbp\r\n"))
	f.Add([]byte("\"unterminated"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := x.l.Reconcile(bytes.NewReader(b), "a1", fy)
		if err != nil {
			return
		}
		missing := 0
		for _, m := range rec.Mismatches {
			if m.Kind == "missing" {
				missing++
			}
		}
		if missing > len(st.Lines) {
			t.Fatalf("%d missing of %d lines: %+v", missing, len(st.Lines), rec)
		}
	})
}
