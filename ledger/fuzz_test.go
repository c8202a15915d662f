package ledger_test

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// FuzzDecodeCommand: the command decoder never panics, and whatever it
// accepts satisfies the schema (every token passes the personal-data checks).
func FuzzDecodeCommand(f *testing.F) {
	tok := ledgertest.Token("f")
	f.Add([]byte(`{"v":1,"type":"listing.pause","id":"abcdefgh1","agency":"a1","user":"u1","payload":{"token":"` + tok + `"}}`))
	f.Add([]byte(`{"v":1,"type":"reservation.reserve","id":"abcdefgh2","agency":"a1","user":"u1","payload":{"listing":"` + tok + `","child_tokens":["` + tok + `"],"hold_days":3}}`))
	f.Add([]byte(`{"v":1,"type":"governance.propose","id":"abcdefgh3","agency":"a1","user":"u1","payload":{"action":"change_policy","policy":{"hold_days_default":28,"hold_days_max":28,"extension_days":28,"extensions_max":1,"holds_per_child_max":3,"proposal_days":30}}}`))
	f.Add([]byte(`{"v":1,"type":"fee.invoice","id":"abcdefgh4","agency":"a1","user":"u1","payload":{"obligation_id":12,"amount_pence":2700000,"adjustment":"partial_waiver"}}`))
	f.Add([]byte(`{"v":1,"type":"fee.record_payment","id":"abcdefgh5","agency":"a2","user":"u1","payload":{"obligation_id":12,"amount_pence":100,"reference":"` + tok + `"}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, p, rj := ledger.DecodeCommand(b)
		if rj != nil {
			if c != nil || p != nil || rj.Code == "" || rj.Message == "" {
				t.Fatalf("rejection with partial result: %v", rj)
			}
			return
		}
		if c.V != ledger.CommandVersion || p == nil {
			t.Fatalf("accepted malformed command: %+v", c)
		}
		if rp, ok := p.(*ledger.ReservePayload); ok && (len(rp.ChildTokens) == 0 || strings.Contains(rp.Listing, " ")) {
			t.Fatalf("accepted bad reserve: %+v", rp)
		}
		if ip, ok := p.(*ledger.InvoicePayload); ok && (ip.AmountPence < 1 || ip.ObligationID == 0) {
			t.Fatalf("accepted bad invoice: %+v", ip)
		}
	})
}

// FuzzJWS: arbitrary bytes as a signed command never panic the verifier and
// are never accepted unless they carry a valid signature by a member.
func FuzzJWS(f *testing.F) {
	fed := ledgertest.NewFederation(2)
	good := fed.Agencies[0].Sign(ledger.TypePublish, "fuzz-seed-1", ledger.ListingPayload{Token: ledgertest.Token("x"), Attrs: ledgertest.Attrs()})
	f.Add(good)
	f.Add([]byte("a.b.c"))
	f.Add([]byte("eyJhbGciOiJub25lIn0.e30."))
	f.Add([]byte(strings.Replace(string(good), ".", "..", 1)))
	x := newTLFed(f, fed)
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ledger.VerifyCompact(b, fed.Agencies[1].Key.Public().(ed25519.PublicKey)); err == nil {
			t.Fatal("verified with a key that never signed")
		}
		x.t = t
		r := x.raw(b)
		if r.Accepted && !r.Duplicate && string(b) != string(good) {
			// only a genuine signature can be accepted; a mutation of good cannot
			if _, err := ledger.VerifyCompact(b, fed.Agencies[0].Key.Public().(ed25519.PublicKey)); err != nil {
				t.Fatalf("accepted an entry whose signature does not verify: %q", b)
			}
		}
	})
}

// FuzzGenesis: the genesis verifier never panics and never accepts a
// document that is not signed by every founder.
func FuzzGenesis(f *testing.F) {
	fed := ledgertest.NewFederation(3)
	f.Add(fed.Genesis)
	f.Add([]byte(`{"payload":"e30","signatures":[]}`))
	f.Add([]byte(`{"payload":"","signatures":[{"protected":"","signature":""}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ledger.VerifyGenesis(b)
		if err != nil {
			return
		}
		if len(g.Agencies) == 0 {
			t.Fatal("accepted a genesis without founders")
		}
	})
}
