package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// propertyCommands is how many random commands TestPropertyRandomCommands
// applies; RAAFT_PROPERTY_COMMANDS raises it for long runs (make chaos).
func propertyCommands() int {
	if n, err := strconv.Atoi(os.Getenv("RAAFT_PROPERTY_COMMANDS")); err == nil && n > 0 {
		return n
	}
	return 10_000
}

type sent struct {
	jws    []byte
	result ledger.Result
}

// TestPropertyRandomCommands applies random commands from several agencies
// — valid, invalid, forged, replayed, racing reservations for the same
// adopters, expiries — in random batches, and checks after every batch:
// the invariants (strict mode runs Check: one active hold per listing,
// statuses agree, due index exact, tree consistent); a hold ends at most
// once; a forged command is never accepted; a replayed command returns its
// first result. At the end a replay of the accepted log into a fresh store
// must give the same state hash and root.
func TestPropertyRandomCommands(t *testing.T) {
	x := newTL(t, 4)
	r := rand.New(rand.NewPCG(7, 11))
	var listings []string
	var resIDs []uint64
	var history []sent
	ended := map[uint64]ledger.Reservation{}
	stranger, _ := ledger.NewSigner("a1", ledgertest.Key("stranger"))
	total := propertyCommands()
	accepted := 0
	for n := 0; n < total; {
		batch := 1 + r.IntN(16)
		var jwss [][]byte
		var forged []bool
		for i := 0; i < batch && n < total; i, n = i+1, n+1 {
			j, f := randomCommand(r, x, stranger, listings, resIDs, history, n)
			jwss, forged = append(jwss, j), append(forged, f)
		}
		x.now += int64(r.IntN(4)) * ledgertest.DayMs / 2
		res := x.batch(jwss)
		for i, rs := range res {
			if forged[i] && rs.Accepted && !rs.Duplicate {
				t.Fatalf("forged command accepted: %s", jwss[i])
			}
			if rs.Accepted && !rs.Duplicate {
				accepted++
				e, err := x.l.Entry(rs.Seq)
				if err != nil || e.Command == nil {
					t.Fatalf("accepted entry %d not readable: %v", rs.Seq, err)
				}
				switch e.Command.Type {
				case ledger.TypePublish:
					listings = append(listings, tokenOf(e.Command))
				case ledger.TypeReserve:
					resIDs = append(resIDs, rs.Seq)
				}
			}
			history = append(history, sent{jwss[i], rs})
		}
		// strict mode checked the touched listings; every ~200 commands check everything
		if len(history)%200 < batch || n >= total {
			checkEndsOnce(t, x, resIDs, ended)
			if err := x.l.Check(); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d commands, %d accepted, %d listings, %d reservations, %d ended", total, accepted, len(listings), len(resIDs), len(ended))
	if accepted < total/5 {
		t.Fatalf("only %d of %d commands accepted: the generator is not exercising the rules", accepted, total)
	}
	rep, err := x.l.Verify(t.TempDir())
	if err != nil || rep.FirstBadSeq != nil {
		t.Fatalf("replay of the accepted log: %v %+v", err, rep)
	}
}

func (x *tl) batch(jwss [][]byte) []ledger.Result {
	x.t.Helper()
	es := make([]ledger.Entry, len(jwss))
	for i, j := range jwss {
		x.index++
		es[i] = ledgertest.Envelope(x.now, j)
		es[i].Index = x.index
	}
	res, err := x.l.ApplyBatch(es)
	if err != nil {
		x.t.Fatal(err)
	}
	return res
}

func tokenOf(c *ledger.Command) string {
	var p ledger.ListingPayload
	if err := jsonUnmarshalStrict(c.Payload, &p); err != nil {
		panic(err)
	}
	return p.Token
}

// checkEndsOnce asserts that once a hold has ended it never ends again:
// its end sequence and reason stay fixed; only confirmed may become placed.
func checkEndsOnce(t *testing.T, x *tl, ids []uint64, ended map[uint64]ledger.Reservation) {
	t.Helper()
	for _, id := range ids {
		r, err := x.l.Reservation(id)
		if err != nil {
			t.Fatal(err)
		}
		prev, was := ended[id]
		if was && (r.EndedSeq != prev.EndedSeq || r.EndReason != prev.EndReason ||
			(r.Status != prev.Status && !(prev.Status == ledger.ResConfirmed && r.Status == ledger.ResPlaced))) {
			t.Fatalf("reservation %d ended twice: %+v then %+v", id, prev, r)
		}
		if r.Status != ledger.ResActive {
			ended[id] = r
		}
	}
}

func randomCommand(r *rand.Rand, x *tl, stranger *ledger.Signer, listings []string, res []uint64, history []sent, n int) ([]byte, bool) {
	ag := x.ag(r.IntN(len(x.fed.Agencies)))
	id := fmt.Sprintf("prop-%07d", n)
	pickL := func() string {
		if len(listings) == 0 || r.IntN(20) == 0 {
			return ledgertest.Token(fmt.Sprint("missing", r.IntN(5)))
		}
		return listings[r.IntN(len(listings))]
	}
	pickR := func() uint64 {
		if len(res) == 0 || r.IntN(20) == 0 {
			return uint64(1 + r.IntN(100000))
		}
		return res[len(res)-1-r.IntN(min(len(res), 40))] // recent holds mostly
	}
	child := func() string { return ledgertest.Token(fmt.Sprint("child", r.IntN(60))) }
	switch k := r.IntN(100); {
	case k < 3 && len(history) > 0: // replay an earlier command verbatim
		return history[r.IntN(len(history))].jws, false
	case k < 6: // forged: a stranger's key claiming a1
		c, _ := ledger.NewCommand(ledger.TypeReserve, id, "u", ledger.ReservePayload{Listing: pickL(), ChildTokens: []string{child()}})
		b, _ := stranger.SignCommand(c)
		return b, true
	case k < 9: // invalid payload
		return ag.Sign(ledger.TypeReserve, id, ledger.ReservePayload{Listing: "Jane Smith", ChildTokens: nil}), false
	case k < 22 || len(listings) < 10:
		a := randomAttrs(r)
		return ag.Sign(ledger.TypePublish, id, ledger.ListingPayload{Token: ledgertest.Token(fmt.Sprint("L", n)), Attrs: a}), false
	case k < 50: // racing reservations on a small set of adopters
		kids := []string{child()}
		if r.IntN(5) == 0 {
			kids = append(kids, child())
		}
		return ag.Sign(ledger.TypeReserve, id, ledger.ReservePayload{Listing: pickL(), ChildTokens: kids, HoldDays: r.IntN(30)}), false
	case k < 58:
		return ag.Sign(ledger.TypeExtend, id, ledger.ReservationPayload{ReservationID: pickR()}), false
	case k < 68:
		reason := []string{"", "not_a_match", "adopter_withdrew"}[r.IntN(3)]
		return ag.Sign(ledger.TypeRelease, id, ledger.ReleasePayload{ReservationID: pickR(), Reason: reason}), false
	case k < 80:
		return ag.Sign(ledger.TypeExpire, id, ledger.ReservationPayload{ReservationID: pickR()}), false
	case k < 88:
		return ag.Sign(ledger.TypeConfirm, id, ledger.ReservationPayload{ReservationID: pickR()}), false
	case k < 92:
		return ag.Sign(ledger.TypePlace, id, ledger.PlacePayload{ReservationID: pickR(), MoveInDate: "2026-04-02"}), false
	default:
		typ := []string{ledger.TypePause, ledger.TypeResume, ledger.TypeWithdraw}[r.IntN(3)]
		return ag.Sign(typ, id, ledger.TokenPayload{Token: pickL()}), false
	}
}
