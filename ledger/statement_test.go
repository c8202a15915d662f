package ledger_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

func statementBytes(t *testing.T, x *tl, agency string, p ledger.Period, asOf uint64) (csv, js []byte) {
	t.Helper()
	st, err := x.l.Statement(agency, p, asOf)
	if err != nil {
		t.Fatal(err)
	}
	var c, j bytes.Buffer
	if err := st.WriteCSV(&c); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	return c.Bytes(), j.Bytes()
}

func TestStatementReproducible(t *testing.T) {
	x := newTL(t, 3)
	o1 := x.placed(debt, cred, 1, "2026-04-02").ID // a2 owes a1
	x.acknowledged(o1)
	p1 := x.pay(o1, 1_000_000, "s1")
	x.ok(cred, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: p1})
	o2 := x.placed(cred, other, 1, "2026-04-02").ID // a1 owes a3
	x.ok(other, ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: o2, AmountPence: fee27k})
	x.ok(cred, ledger.TypeAcknowledge, ledger.ObligationPayload{ObligationID: o2})
	x.pay(o1, 500_000, "s2") // recorded, not received: not on the statement

	head, _ := x.l.Head()
	asOf := head.Size - 1
	fy := ledger.FeeYearPeriod(2026)
	csv1, json1 := statementBytes(t, x, "a1", fy, asOf)
	csv2, json2 := statementBytes(t, x, "a1", fy, asOf)
	if !bytes.Equal(csv1, csv2) || !bytes.Equal(json1, json2) {
		t.Fatal("the same statement twice differs")
	}
	st, _ := x.l.Statement("a1", fy, asOf)
	// +27,000 agreed, -10,000 received, -27,000 owed to a3
	if st.OpeningPence != 0 || len(st.Lines) != 3 || st.ClosingPence != -1_000_000 ||
		st.Lines[0].AmountPence != fee27k || st.Lines[0].Counterparty != "a2" || st.Lines[0].Account != ledger.AccountReceivable ||
		st.Lines[1].AmountPence != -1_000_000 || st.Lines[1].Type != ledger.TransferPayment ||
		st.Lines[2].AmountPence != -fee27k || st.Lines[2].Account != ledger.AccountPayable || st.Lines[2].BalancePence != -1_000_000 {
		t.Fatalf("statement %+v", st)
	}
	for _, ln := range st.Lines {
		e, err := x.l.Entry(ln.Seq)
		if err != nil || e.EntryHash != ln.EntryHash {
			t.Fatalf("line %+v: entry hash %v %v", ln, e.EntryHash, err)
		}
	}
	lines := strings.Split(string(csv1), "\r\n")
	if lines[0] != strings.Join(ledger.StatementColumns, ",") || !strings.HasSuffix(lines[1], ",opening_balance,,,,,,0.00") ||
		!strings.Contains(lines[2], ",fee_agreed,"+itoa(o1)+",,a2,receivable,27000.00,27000.00") ||
		!strings.HasSuffix(lines[4], ",a3,payable,-27000.00,-10000.00") || !strings.HasSuffix(lines[5], ",closing_balance,,,,,,-10000.00") || lines[6] != "" {
		t.Fatalf("CSV:\n%s", csv1)
	}
	if !bytes.Contains(json1, []byte(`"amount_pence":2700000`)) || !bytes.Contains(json1, []byte(`"closing_balance_pence":-1000000`)) {
		t.Fatalf("JSON: %s", json1)
	}

	// more entries later: the statement as of asOf does not change
	x.now += 3 * ledgertest.DayMs
	x.ok(cred, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: x.obl(o1).Payments[1]})
	x.ok(cred, ledger.TypeRecordPayment, ledger.PaymentPayload{ObligationID: o2, AmountPence: 700_000, Reference: ledgertest.Token("s3")})
	csv3, json3 := statementBytes(t, x, "a1", fy, asOf)
	if !bytes.Equal(csv1, csv3) || !bytes.Equal(json1, json3) {
		t.Fatalf("statement as of %d changed after later entries:\n%s\n%s", asOf, csv1, csv3)
	}
	head, _ = x.l.Head()
	if csv4, _ := statementBytes(t, x, "a1", fy, head.Size-1); bytes.Equal(csv1, csv4) {
		t.Fatal("the statement at the new head shows nothing new")
	}
	// a period starting after the first movements opens with their balance
	later, _ := x.l.Statement("a1", ledger.Period{From: "2026-04-03", To: "2026-04-30"}, head.Size-1)
	if later.OpeningPence != -1_000_000 || len(later.Lines) != 1 || later.ClosingPence != -1_500_000 {
		t.Fatalf("later period: %+v", later)
	}
	if _, err := x.l.Statement("a1", fy, head.Size); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("statement beyond the head: %v", err)
	}
	if _, err := x.l.Statement("nobody", fy, asOf); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("statement of an unknown agency: %v", err)
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func TestReconcile(t *testing.T) {
	x := newTL(t, 3)
	o1 := x.placed(debt, cred, 1, "2026-04-02").ID
	x.acknowledged(o1)
	p1 := x.pay(o1, 1_000_000, "r1")
	x.ok(cred, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: p1})
	head, _ := x.l.Head()
	fy := ledger.FeeYearPeriod(2026)
	export, _ := statementBytes(t, x, "a1", fy, head.Size-1)

	rec, err := x.l.Reconcile(bytes.NewReader(export), "a1", fy)
	if err != nil || len(rec.Mismatches) != 0 || rec.Matched != 4 {
		t.Fatalf("own export: %+v %v", rec, err)
	}
	// a spreadsheet's byte order mark is not a difference
	if rec, err := x.l.Reconcile(strings.NewReader("\ufeff"+string(export)), "a1", fy); err != nil || len(rec.Mismatches) != 0 {
		t.Fatalf("export with a BOM: %+v %v", rec, err)
	}
	rows := strings.Split(strings.TrimSuffix(string(export), "\r\n"), "\r\n")
	join := func(rs []string) *strings.Reader { return strings.NewReader(strings.Join(rs, "\r\n") + "\r\n") }
	// a deliberately altered line
	altered := append([]string{}, rows...)
	altered[3] = strings.Replace(altered[3], "-10000.00,", "-10000.01,", 1)
	rec, err = x.l.Reconcile(join(altered), "a1", fy)
	if err != nil || len(rec.Mismatches) != 1 || rec.Mismatches[0].Kind != "amount_differs" || rec.Mismatches[0].LedgerPence != -1_000_000 ||
		rec.Mismatches[0].ExportPence != -1_000_001 || rec.Mismatches[0].Line != 4 {
		t.Fatalf("altered line: %+v %v", rec, err)
	}
	// a line missing from the export, and one repeated
	missing := append(append([]string{}, rows[:2]...), rows[3:]...)
	rec, _ = x.l.Reconcile(join(missing), "a1", fy)
	if len(rec.Mismatches) != 1 || rec.Mismatches[0].Kind != "missing" || rec.Mismatches[0].LedgerPence != fee27k {
		t.Fatalf("missing line: %+v", rec)
	}
	extra := append(append([]string{}, rows[:3]...), rows[2:]...)
	rec, _ = x.l.Reconcile(join(extra), "a1", fy)
	if len(rec.Mismatches) != 1 || rec.Mismatches[0].Kind != "extra" || rec.Mismatches[0].Line != 4 {
		t.Fatalf("repeated line: %+v", rec)
	}
	// a later ledger movement the export does not have, and a closing balance that differs
	x.pay(o1, 1_700_000, "r2")
	x.ok(cred, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: x.obl(o1).Payments[1]})
	rec, _ = x.l.Reconcile(bytes.NewReader(export), "a1", fy)
	if len(rec.Mismatches) != 2 || rec.Mismatches[0].Row != "closing_balance" || rec.Mismatches[1].Kind != "missing" {
		t.Fatalf("ledger ahead of the export: %+v", rec)
	}
	for name, bad := range map[string]string{
		"header":   strings.Replace(string(export), "amount_gbp", "amount", 1),
		"pounds":   strings.Replace(string(export), "27000.00", "27000", 1),
		"transfer": strings.Replace(string(export), ","+itoa(o1+2)+"-1,", ",x-1,", 1),
		"columns":  strings.Replace(string(export), "receivable,", "", 1),
	} {
		if _, err := x.l.Reconcile(strings.NewReader(bad), "a1", fy); err == nil {
			t.Errorf("%s: malformed export accepted", name)
		}
	}
}
