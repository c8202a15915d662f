package ledger

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Limits of statements and reconciliation.
const (
	statementLinesMax  = 100_000  // movements in one statement; narrow the period beyond it
	reconcileBytesMax  = 64 << 20 // a finance system's export
	reconcileRowsMax   = statementLinesMax + 3
	statementOpening   = "opening_balance"
	statementClosing   = "closing_balance"
	reconcileMissing   = "missing"
	reconcileExtra     = "extra"
	reconcileDiffering = "amount_differs"
)

// StatementColumns are the CSV columns of a statement, in order. Amounts
// are pounds with two decimals; amount is signed in the agency's favour
// (+ raises what it is owed or lowers what it owes).
var StatementColumns = []string{"seq", "entry_hash", "date", "transfer", "type", "obligation", "netting_run", "counterparty", "account", "amount_gbp", "balance_gbp"}

// StatementLine is one posted movement on the agency's fee accounts.
type StatementLine struct {
	Seq          uint64     `json:"seq"`
	EntryHash    Hash       `json:"entry_hash"`
	Date         string     `json:"date"` // ledger date of the entry (UTC)
	Transfer     TransferID `json:"transfer"`
	Type         string     `json:"type"` // the transfer code
	Obligation   uint64     `json:"obligation,omitempty"`
	NettingRun   uint64     `json:"netting_run,omitempty"`
	Counterparty string     `json:"counterparty"`
	Account      string     `json:"account"`
	AmountPence  int64      `json:"amount_pence"`
	BalancePence int64      `json:"balance_pence"`
}

// Statement is an agency's fee statement for a period of ledger dates, as
// the ledger stood at entry AsOfSeq: the posted balance (receivable less
// payable) before the period, each posted movement in it, and the balance
// after. Pending amounts (fees not yet agreed, payments not yet confirmed)
// are not movements. The same (agency, period, AsOfSeq) gives the same
// bytes from any node at any later time.
type Statement struct {
	Agency       string          `json:"agency"`
	Period       Period          `json:"period"`
	AsOfSeq      uint64          `json:"as_of_seq"`
	OpeningPence int64           `json:"opening_balance_pence"`
	Lines        []StatementLine `json:"lines"`
	ClosingPence int64           `json:"closing_balance_pence"`
}

// Statement builds the statement of agency for period p from the entries
// with sequence at most asOfSeq, which must already be in the ledger.
func (l *Ledger) Statement(agency string, p Period, asOfSeq uint64) (*Statement, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var st *Statement
	err := l.view(func(tx *bolt.Tx) error {
		var err error
		st, err = statementTx(tx, agency, p, asOfSeq)
		return err
	})
	return st, err
}

func statementTx(tx *bolt.Tx, agency string, p Period, asOfSeq uint64) (*Statement, error) {
	if tx.Bucket(bAgencies).Get([]byte(agency)) == nil {
		return nil, fmt.Errorf("%w: agency %q", ErrNotFound, agency)
	}
	if size := getU64(tx.Bucket(bHead), kSize); asOfSeq >= size {
		return nil, fmt.Errorf("%w: entry %d (the ledger has %d entries)", ErrNotFound, asOfSeq, size)
	}
	st := &Statement{Agency: agency, Period: p, AsOfSeq: asOfSeq, Lines: []StatementLine{}}
	prefix := []byte(agency + "\x00")
	c := tx.Bucket(bFeeAgencyXfers).Cursor()
	bal := int64(0)
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		id := transferIDFromKey(k[len(prefix):])
		if id.Seq > asOfSeq {
			break // keys are in sequence order
		}
		var t Transfer
		if ok, err := getJSON(tx.Bucket(bFeeTransfers), id.key(), &t); err != nil || !ok {
			return nil, errCorruptf("agency index names transfer %s that is not stored (%v)", id, err)
		}
		// ledger time never goes back, so dates never decrease along the sequence
		date := ledgerDate(t.TimeMs).Format(time.DateOnly)
		if !t.posts() || date > p.To {
			continue
		}
		ln := lineFor(agency, &t, date)
		var ok bool
		if bal, ok = addPence(bal, ln.AmountPence); !ok {
			return nil, fmt.Errorf("%w: statement balance of %s overflows", ErrCorrupt, agency)
		}
		if date < p.From {
			st.OpeningPence = bal
			continue
		}
		if len(st.Lines) == statementLinesMax {
			return nil, fmt.Errorf("ledger: statement of %s has more than %d movements; ask for a shorter period", agency, statementLinesMax)
		}
		f, err := entryValue(tx.Bucket(bEntries), t.ID.Seq)
		if err != nil {
			return nil, err
		}
		ln.EntryHash = f.hash
		ln.BalancePence = bal
		st.Lines = append(st.Lines, ln)
	}
	st.ClosingPence = bal
	return st, nil
}

// lineFor describes transfer t from agency's side: debits of its accounts
// count in its favour, credits against.
func lineFor(agency string, t *Transfer, date string) StatementLine {
	ln := StatementLine{Seq: t.ID.Seq, Date: date, Transfer: t.ID, Type: t.Code, Obligation: t.Obligation, NettingRun: t.Run}
	if t.Debit.Agency == agency {
		ln.Account, ln.Counterparty, ln.AmountPence = t.Debit.Kind, t.Credit.Agency, t.AmountPence
	} else {
		ln.Account, ln.Counterparty, ln.AmountPence = t.Credit.Kind, t.Debit.Agency, -t.AmountPence
	}
	return ln
}

// WriteCSV writes the statement as RFC 4180 CSV (UTF-8, CRLF line ends,
// header row): an opening_balance row, one row per movement, a
// closing_balance row. Money is pounds with two decimals.
func (st *Statement) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Comma, cw.UseCRLF = ',', true
	rows := make([][]string, 0, len(st.Lines)+3)
	rows = append(rows, StatementColumns)
	rows = append(rows, []string{"", "", st.Period.From, "", statementOpening, "", "", "", "", "", FormatPounds(st.OpeningPence)})
	for _, ln := range st.Lines {
		rows = append(rows, []string{
			strconv.FormatUint(ln.Seq, 10), ln.EntryHash.String(), ln.Date, ln.Transfer.String(), ln.Type,
			idOrEmpty(ln.Obligation), idOrEmpty(ln.NettingRun), ln.Counterparty, ln.Account,
			FormatPounds(ln.AmountPence), FormatPounds(ln.BalancePence),
		})
	}
	rows = append(rows, []string{"", "", st.Period.To, "", statementClosing, "", "", "", "", "", FormatPounds(st.ClosingPence)})
	return cw.WriteAll(rows) // WriteAll flushes and returns the writer's error
}

// WriteJSON writes the statement as one JSON document (amounts in pence) and a newline.
func (st *Statement) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func idOrEmpty(v uint64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatUint(v, 10)
}

// Mismatch is one difference between a finance system's export and the ledger.
type Mismatch struct {
	Kind        string `json:"kind"` // missing | extra | amount_differs
	Row         string `json:"row"`  // transfer id, or opening_balance / closing_balance
	Line        int    `json:"line,omitempty"`
	LedgerPence int64  `json:"ledger_pence"`
	ExportPence int64  `json:"export_pence"`
}

// Reconciliation is the result of Reconcile.
type Reconciliation struct {
	Agency     string     `json:"agency"`
	Period     Period     `json:"period"`
	AsOfSeq    uint64     `json:"as_of_seq"`
	Matched    int        `json:"matched"`
	Mismatches []Mismatch `json:"mismatches"`
}

// Reconcile compares a finance system's export of an agency's statement
// (the StatementColumns CSV) with the ledger's statement for the same
// agency and period at the current head. Rows are matched by transfer id;
// it lists ledger movements the export lacks (missing), export rows the
// ledger does not have (extra, including repeats) and movements or
// balances whose amounts differ. A malformed export is an error naming
// the line.
func (l *Ledger) Reconcile(statementCSV io.Reader, agency string, p Period) (*Reconciliation, error) {
	head, err := l.Head()
	if err != nil {
		return nil, err
	}
	if head.Size == 0 {
		return nil, ErrNoGenesis
	}
	st, err := l.Statement(agency, p, head.Size-1)
	if err != nil {
		return nil, err
	}
	rec := &Reconciliation{Agency: agency, Period: p, AsOfSeq: st.AsOfSeq, Mismatches: []Mismatch{}}
	ledger := make(map[TransferID]int64, len(st.Lines)) // looked up, never ranged
	for _, ln := range st.Lines {
		ledger[ln.Transfer] = ln.AmountPence
	}
	seen := make(map[TransferID]bool, len(st.Lines))
	compare := func(kind, row string, line int, want, got int64) {
		if want != got {
			rec.Mismatches = append(rec.Mismatches, Mismatch{Kind: kind, Row: row, Line: line, LedgerPence: want, ExportPence: got})
			return
		}
		rec.Matched++
	}
	err = readStatementCSV(statementCSV, func(line int, row []string) error {
		switch row[4] {
		case statementOpening, statementClosing:
			bal, err := ParsePounds(row[10])
			if err != nil {
				return fmt.Errorf("line %d: balance_gbp: %w", line, err)
			}
			want := st.OpeningPence
			if row[4] == statementClosing {
				want = st.ClosingPence
			}
			compare(reconcileDiffering, row[4], line, want, bal)
			return nil
		}
		var id TransferID
		if err := id.UnmarshalText([]byte(row[3])); err != nil {
			return fmt.Errorf("line %d: transfer: %w", line, err)
		}
		amt, err := ParsePounds(row[9])
		if err != nil {
			return fmt.Errorf("line %d: amount_gbp: %w", line, err)
		}
		want, ok := ledger[id]
		if !ok || seen[id] {
			rec.Mismatches = append(rec.Mismatches, Mismatch{Kind: reconcileExtra, Row: id.String(), Line: line, ExportPence: amt})
			return nil
		}
		seen[id] = true
		compare(reconcileDiffering, id.String(), line, want, amt)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, ln := range st.Lines {
		if !seen[ln.Transfer] {
			rec.Mismatches = append(rec.Mismatches, Mismatch{Kind: reconcileMissing, Row: ln.Transfer.String(), LedgerPence: ln.AmountPence})
		}
	}
	return rec, nil
}

// readStatementCSV checks the header and calls fn for each row with its
// line number (the header is line 1), within the export limits.
func readStatementCSV(r io.Reader, fn func(line int, row []string) error) error {
	cr := csv.NewReader(&limitedReader{r: r, left: reconcileBytesMax})
	cr.FieldsPerRecord = len(StatementColumns)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("statement CSV: header: %w", err)
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff") // spreadsheets often save CSV with a UTF-8 byte order mark
	for i, col := range StatementColumns {
		if header[i] != col {
			return fmt.Errorf("statement CSV: column %d is %q; expected %q", i+1, truncate(header[i]), col)
		}
	}
	for line := 2; ; line++ {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("statement CSV: %w", err)
		}
		if line > reconcileRowsMax {
			return fmt.Errorf("statement CSV: more than %d rows", reconcileRowsMax)
		}
		if err := fn(line, row); err != nil {
			return fmt.Errorf("statement CSV: %w", err)
		}
	}
}

// limitedReader fails, rather than truncating, past its limit.
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("export is larger than %d bytes", int64(reconcileBytesMax))
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
