package consensus_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/raaft/raaft/consensus"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// TestFeesAcrossNodes: a placement recorded at one node creates the fee;
// the creditor invoices at its own node; the debtor's payment is submitted
// through a third node; every node then renders byte-identical statements.
func TestFeesAcrossNodes(t *testing.T) {
	c := newCluster(t, 3, 0, consensus.FastTimings())
	debtor, creditor, third := c.nodes[0], c.nodes[1], c.nodes[2]
	c.leader()
	tok := c.publish(creditor, "fee-adopter")
	hold := c.mustAccept(debtor, ledger.TypeReserve, ledger.ReservePayload{Listing: tok, ChildTokens: []string{ledgertest.Token("fee-child")}})
	c.mustAccept(debtor, ledger.TypeConfirm, ledger.ReservationPayload{ReservationID: hold.Seq})
	today := time.Now().UTC().Format(time.DateOnly)
	placed := c.mustAccept(debtor, ledger.TypePlace, ledger.PlacePayload{ReservationID: hold.Seq, MoveInDate: today})
	c.converge()
	ob, err := creditor.l.Obligation(placed.Seq)
	if err != nil {
		t.Fatalf("no obligation for the placement: %v", err)
	}
	if ob.Debtor != debtor.ag.Record.ID || ob.Creditor != creditor.ag.Record.ID || ob.AmountPence <= 0 {
		t.Fatalf("obligation %+v", ob)
	}
	c.mustAccept(creditor, ledger.TypeInvoice, ledger.InvoicePayload{ObligationID: ob.ID, AmountPence: ob.AmountPence})
	c.mustAccept(debtor, ledger.TypeAcknowledge, ledger.ObligationPayload{ObligationID: ob.ID})
	// the debtor's signed payment, submitted through the third agency's node
	pay, err := c.propose(third, debtor.ag.Sign(ledger.TypeRecordPayment, "fee-pay-00001", ledger.PaymentPayload{ObligationID: ob.ID, AmountPence: ob.AmountPence, Reference: ledgertest.Token("remittance")}))
	if err != nil || !pay.Accepted {
		t.Fatalf("payment via a third node: %v %+v", err, pay.Rejection)
	}
	c.mustAccept(creditor, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: pay.Seq})
	head := c.converge()
	year, _ := ledger.FeeYearOf(today)
	for _, ag := range []string{debtor.ag.Record.ID, creditor.ag.Record.ID} {
		var first []byte
		for i, nd := range c.running() {
			if o, _ := nd.l.Obligation(ob.ID); o.Status != "settled" {
				t.Fatalf("%s: obligation %s, want settled", nd.id, o.Status)
			}
			st, err := nd.l.Statement(ag, ledger.FeeYearPeriod(year), head.Size-1)
			if err != nil {
				t.Fatal(err)
			}
			var csv bytes.Buffer
			if err := st.WriteCSV(&csv); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = csv.Bytes()
			} else if !bytes.Equal(first, csv.Bytes()) {
				t.Fatalf("statement of %s differs between nodes:\n%s\n---\n%s", ag, first, csv.Bytes())
			}
		}
		if !bytes.Contains(first, []byte(ledger.FormatPounds(ob.AmountPence))) {
			t.Fatalf("statement of %s lacks the fee:\n%s", ag, first)
		}
	}
}
