package ledger_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// tl is a ledger under test with a federation of agencies and a test clock.
type tl struct {
	t     testing.TB
	l     *ledger.Ledger
	fed   *ledgertest.Federation
	now   int64
	n     int
	index uint64
}

func newTL(t testing.TB, agencies int) *tl {
	t.Helper()
	return newTLFed(t, ledgertest.NewFederation(agencies))
}

func newTLFed(t testing.TB, fed *ledgertest.Federation) *tl {
	t.Helper()
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{NoSync: true, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.InitGenesis(fed.Genesis); err != nil {
		t.Fatal(err)
	}
	return &tl{t: t, l: l, fed: fed, now: ledgertest.GenesisTimeMs + 1000}
}

func (x *tl) ag(i int) *ledgertest.Agency { return x.fed.Agencies[i] }

// do signs and applies one command from agency i with a fresh idempotency id.
func (x *tl) do(i int, typ string, payload any) ledger.Result {
	x.t.Helper()
	x.n++
	return x.raw(x.ag(i).Sign(typ, fmt.Sprintf("cmd-%06d", x.n), payload))
}

// raw applies signed bytes as the next log entry.
func (x *tl) raw(jws []byte) ledger.Result {
	x.t.Helper()
	x.index++
	e := ledgertest.Envelope(x.now, jws)
	e.Index = x.index
	res, err := x.l.ApplyBatch([]ledger.Entry{e})
	if err != nil {
		x.t.Fatalf("ApplyBatch: %v", err)
	}
	return res[0]
}

func (x *tl) ok(i int, typ string, payload any) ledger.Result {
	x.t.Helper()
	r := x.do(i, typ, payload)
	if !r.Accepted {
		x.t.Fatalf("%s by %s: rejected: %v", typ, x.ag(i).Record.ID, r.Rejection)
	}
	return r
}

func (x *tl) rejected(code ledger.Code, i int, typ string, payload any) *ledger.Rejection {
	x.t.Helper()
	r := x.do(i, typ, payload)
	if r.Accepted {
		x.t.Fatalf("%s by %s: accepted, want rejection %s", typ, x.ag(i).Record.ID, code)
	}
	if r.Rejection.Code != code {
		x.t.Fatalf("%s by %s: rejection %v, want code %s", typ, x.ag(i).Record.ID, r.Rejection, code)
	}
	return r.Rejection
}

// publish publishes a listing for agency i with default attributes.
func (x *tl) publish(i int, label string) string {
	x.t.Helper()
	tok := ledgertest.Token(label)
	x.ok(i, ledger.TypePublish, ledger.ListingPayload{Token: tok, Attrs: ledgertest.Attrs()})
	return tok
}

func (x *tl) reserve(i int, listing string, children ...string) ledger.Result {
	x.t.Helper()
	var toks []string
	for _, c := range children {
		toks = append(toks, ledgertest.Token("child-"+c))
	}
	return x.do(i, ledger.TypeReserve, ledger.ReservePayload{Listing: listing, ChildTokens: toks})
}

func (x *tl) listing(tok string) ledger.ListingView {
	x.t.Helper()
	v, err := x.l.Listing(tok)
	if err != nil {
		x.t.Fatal(err)
	}
	return v
}
