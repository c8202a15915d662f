package ledger_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// feeAgencies is a federation with every kind of payee: RAAs and VAAs in
// and out of London, two councils inside raa-n and one outside any RAA.
func feeAgencies() []*ledgertest.Agency {
	mk := func(id string, kind ledger.AgencyKind, london bool, raa string) *ledgertest.Agency {
		a := ledgertest.NewAgency(id, kind, london, "")
		a.Record.RAA = raa
		return a
	}
	return []*ledgertest.Agency{
		mk("raa-n", ledger.KindRAA, false, ""),    // 0
		mk("raa-l", ledger.KindRAA, true, ""),     // 1
		mk("vaa-a", ledger.KindVAA, false, ""),    // 2
		mk("vaa-l", ledger.KindVAA, true, ""),     // 3
		mk("la-1", ledger.KindLA, false, "raa-n"), // 4
		mk("la-2", ledger.KindLA, false, "raa-n"), // 5
		mk("la-solo", ledger.KindLA, false, ""),   // 6
	}
}

// testFees is a two-year schedule with distinct amounts everywhere, so a
// test can tell which year, tier and group size was used.
func testFees() *ledger.FeeSchedule {
	all := []ledger.InstalmentTerm{{PercentBP: 10_000, Due: ledger.DueAtPlacement}}
	return &ledger.FeeSchedule{Years: []ledger.FeeYear{
		{
			Year:           2025,
			VAA:            ledger.FeeTierRates{OneChildPence: 3_924_500, Siblings2Pence: 5_000_000, Siblings3Pence: 6_000_000, Siblings4PlusPence: 7_000_000},
			LARAA:          ledger.FeeTierRates{OneChildPence: 2_700_000, Siblings2Pence: 3_500_000, Siblings3Pence: 4_200_000, Siblings4PlusPence: 4_900_000},
			LondonUpliftBP: 1000, Instalments: all, IntraRAA: ledger.IntraRAANoFee, VAT: ledger.VATExempt,
		},
		{
			Year:           2026,
			VAA:            ledger.FeeTierRates{OneChildPence: 4_000_000, Siblings2Pence: 5_100_000, Siblings3Pence: 6_100_000, Siblings4PlusPence: 7_100_000},
			LARAA:          ledger.FeeTierRates{OneChildPence: 2_700_005, Siblings2Pence: 3_600_000, Siblings3Pence: 4_300_000, Siblings4PlusPence: 5_000_000},
			LondonUpliftBP: 1000, IntraRAA: ledger.IntraRAANoFee, VAT: ledger.VATExempt,
			Instalments: []ledger.InstalmentTerm{{PercentBP: 6000, Due: ledger.DueAtPlacement}, {PercentBP: 4000, Due: ledger.DueMonthsAfterPlacement, Months: 12}},
		},
	}}
}

// march20 is 2026-03-20T00:00Z: late enough in fee year 2025 that a
// placement can move in on 31 March or 1 April.
var march20 = time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC).UnixMilli()

func dayMs(date string) int64 {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		panic(err)
	}
	return d.UnixMilli()
}

// newFeeTL opens a strict ledger founded at timeMs with a fee schedule (nil: the default).
func newFeeTL(t testing.TB, ags []*ledgertest.Agency, timeMs int64, fees *ledger.FeeSchedule) *tl {
	t.Helper()
	x := newTLFed(t, ledgertest.FoundGenesis(ags, ledger.Genesis{TimeMs: timeMs, Fees: fees}))
	x.now = timeMs + 1000
	return x
}

// placement runs publish (payee), reserve and confirm (payer) now, then
// place with moveIn, at noon of the move-in date if that is later. It
// returns the place result and the reservation id.
func (x *tl) placement(payer, payee, children int, moveIn string) (ledger.Result, uint64) {
	x.t.Helper()
	x.n++
	attrs := ledgertest.Attrs()
	attrs.ChildrenMax = 4
	tok := ledgertest.Token(fmt.Sprintf("fee-listing-%d", x.n))
	x.ok(payee, ledger.TypePublish, ledger.ListingPayload{Token: tok, Attrs: attrs})
	var kids []string
	for i := range children {
		kids = append(kids, ledgertest.Token(fmt.Sprintf("fee-child-%d-%d", x.n, i)))
	}
	res := x.ok(payer, ledger.TypeReserve, ledger.ReservePayload{Listing: tok, ChildTokens: kids}).Seq
	x.ok(payer, ledger.TypeConfirm, ledger.ReservationPayload{ReservationID: res})
	x.now = max(x.now, dayMs(moveIn)+12*3600*1000)
	return x.do(payer, ledger.TypePlace, ledger.PlacePayload{ReservationID: res, MoveInDate: moveIn}), res
}

// placed is placement that must be accepted and must create an obligation; it returns the obligation.
func (x *tl) placed(payer, payee, children int, moveIn string) ledger.Obligation {
	x.t.Helper()
	r, res := x.placement(payer, payee, children, moveIn)
	if !r.Accepted {
		x.t.Fatalf("place: %v", r.Rejection)
	}
	pf, err := x.l.PlacementFee(res)
	if err != nil || pf.Obligation != r.Seq {
		x.t.Fatalf("placement fee of %d: %+v %v; want obligation %d", res, pf, err, r.Seq)
	}
	o, err := x.l.Obligation(pf.Obligation)
	if err != nil {
		x.t.Fatal(err)
	}
	return o
}

func TestFeeRules(t *testing.T) {
	ags := feeAgencies()
	intraFee := testFees()
	intraFee.Years[0].IntraRAA = ledger.IntraRAAFee
	only2025 := testFees()
	only2025.Years = only2025.Years[:1]
	cases := []struct {
		name                   string
		payer, payee, children int
		moveIn                 string
		fees                   *ledger.FeeSchedule
		wantPence              int64
		wantTier               string
		wantYear               int
		noFee                  string
		rejected               string
	}{
		{name: "VAA tier", payer: 0, payee: 2, children: 1, moveIn: "2026-03-25", wantPence: 3_924_500, wantTier: ledger.TierVAA, wantYear: 2025},
		{name: "LA/RAA tier, RAA payee", payer: 6, payee: 0, children: 1, moveIn: "2026-03-25", wantPence: 2_700_000, wantTier: ledger.TierLARAA, wantYear: 2025},
		{name: "LA/RAA tier, council payee", payer: 0, payee: 6, children: 1, moveIn: "2026-03-25", wantPence: 2_700_000, wantTier: ledger.TierLARAA, wantYear: 2025},
		{name: "London VAA +10%", payer: 0, payee: 3, children: 1, moveIn: "2026-03-25", wantPence: 4_316_950, wantTier: ledger.TierVAA, wantYear: 2025},
		{name: "London RAA +10%", payer: 0, payee: 1, children: 1, moveIn: "2026-03-25", wantPence: 2_970_000, wantTier: ledger.TierLARAA, wantYear: 2025},
		{name: "London uplift rounds half up", payer: 0, payee: 1, children: 1, moveIn: "2026-04-01", wantPence: 2_970_006, wantTier: ledger.TierLARAA, wantYear: 2026},
		{name: "London not applied to the payer", payer: 3, payee: 0, children: 1, moveIn: "2026-03-25", wantPence: 2_700_000, wantTier: ledger.TierLARAA, wantYear: 2025},
		{name: "siblings 2", payer: 0, payee: 2, children: 2, moveIn: "2026-03-25", wantPence: 5_000_000, wantTier: ledger.TierVAA, wantYear: 2025},
		{name: "siblings 3", payer: 0, payee: 2, children: 3, moveIn: "2026-03-25", wantPence: 6_000_000, wantTier: ledger.TierVAA, wantYear: 2025},
		{name: "siblings 4+", payer: 0, payee: 2, children: 4, moveIn: "2026-03-25", wantPence: 7_000_000, wantTier: ledger.TierVAA, wantYear: 2025},
		{name: "siblings 3 LA/RAA", payer: 2, payee: 6, children: 3, moveIn: "2026-03-25", wantPence: 4_200_000, wantTier: ledger.TierLARAA, wantYear: 2025},
		{name: "move-in 31 March: old fee year", payer: 0, payee: 2, children: 1, moveIn: "2026-03-31", wantPence: 3_924_500, wantTier: ledger.TierVAA, wantYear: 2025},
		{name: "move-in 1 April: new fee year", payer: 0, payee: 2, children: 1, moveIn: "2026-04-01", wantPence: 4_000_000, wantTier: ledger.TierVAA, wantYear: 2026},
		{name: "intra-RAA: council pays its RAA nothing", payer: 4, payee: 0, children: 1, moveIn: "2026-03-25", noFee: ledger.NoFeeIntraRAA},
		{name: "intra-RAA: RAA pays its council nothing", payer: 0, payee: 4, children: 1, moveIn: "2026-03-25", noFee: ledger.NoFeeIntraRAA},
		{name: "intra-RAA: two councils of one RAA", payer: 4, payee: 5, children: 1, moveIn: "2026-03-25", noFee: ledger.NoFeeIntraRAA},
		{name: "intra-RAA charged when the schedule says so", payer: 4, payee: 0, children: 1, moveIn: "2026-03-25", fees: intraFee, wantPence: 2_700_000, wantTier: ledger.TierLARAA, wantYear: 2025},
		{name: "council outside the RAA pays", payer: 6, payee: 4, children: 1, moveIn: "2026-03-25", wantPence: 2_700_000, wantTier: ledger.TierLARAA, wantYear: 2025},
		{name: "same agency: no fee", payer: 2, payee: 2, children: 1, moveIn: "2026-03-25", noFee: ledger.NoFeeSameAgency},
		{name: "fee year missing from the schedule", payer: 0, payee: 2, children: 1, moveIn: "2026-04-01", fees: only2025, rejected: "2026/27"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fees := c.fees
			if fees == nil {
				fees = testFees()
			}
			x := newFeeTL(t, ags, march20, fees)
			r, res := x.placement(c.payer, c.payee, c.children, c.moveIn)
			if c.rejected != "" {
				if r.Accepted || r.Rejection.Code != ledger.CodeInvalid || !strings.Contains(r.Rejection.Message, c.rejected) {
					t.Fatalf("place: %+v; want invalid naming %q", r.Rejection, c.rejected)
				}
				if rv, _ := x.l.Reservation(res); rv.Status != ledger.ResConfirmed {
					t.Fatalf("a rejected place changed the reservation: %s", rv.Status)
				}
				return
			}
			if !r.Accepted {
				t.Fatalf("place: %v", r.Rejection)
			}
			pf, err := x.l.PlacementFee(res)
			if err != nil {
				t.Fatal(err)
			}
			if c.noFee != "" {
				if pf.NoFee != c.noFee || pf.Obligation != 0 {
					t.Fatalf("fee decision %+v; want no fee (%s)", pf, c.noFee)
				}
				if obls, _ := x.l.Obligations(ledger.ObligationQuery{Limit: 10}); len(obls) != 0 {
					t.Fatalf("obligations %+v; want none", obls)
				}
				return
			}
			o, err := x.l.Obligation(pf.Obligation)
			if err != nil {
				t.Fatal(err)
			}
			want := ledger.Obligation{ID: r.Seq, Reservation: res, Debtor: ags[c.payer].Record.ID, Creditor: ags[c.payee].Record.ID,
				Children: c.children, MoveInDate: c.moveIn, FeeYear: c.wantYear, Tier: c.wantTier, AmountPence: c.wantPence, Status: ledger.FeeOpen}
			if o.ID != want.ID || o.Reservation != want.Reservation || o.Debtor != want.Debtor || o.Creditor != want.Creditor || o.Children != want.Children ||
				o.MoveInDate != want.MoveInDate || o.FeeYear != want.FeeYear || o.Tier != want.Tier || o.AmountPence != want.AmountPence || o.Status != want.Status {
				t.Fatalf("obligation\n got %+v\nwant %+v", o, want)
			}
			// the fee is raised as a pending transfer, receivable of the payee
			accts, _ := x.l.FeeAccounts(o.Creditor)
			if len(accts) != 1 || accts[0].Kind != ledger.AccountReceivable || accts[0].DebitsPendingPence != c.wantPence || accts[0].BalancePence() != 0 {
				t.Fatalf("creditor accounts: %+v", accts)
			}
			if err := x.l.Check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFeeInstalments(t *testing.T) {
	x := newFeeTL(t, feeAgencies(), march20, testFees())
	o := x.placed(0, 2, 1, "2026-04-01") // 2026: 60% at placement, 40% after 12 months
	want := []ledger.ObligationInstalment{{PercentBP: 6000, DueDate: "2026-04-01"}, {PercentBP: 4000, DueDate: "2027-04-01"}}
	if fmt.Sprint(o.Instalments) != fmt.Sprint(want) {
		t.Fatalf("instalments %+v; want %+v", o.Instalments, want)
	}
	if d := o.DuePence("2026-04-01"); d != 2_400_000 {
		t.Fatalf("due at placement: %d; want 60%% of 4,000,000", d)
	}
	if d := o.DuePence("2027-04-01"); d != 4_000_000 {
		t.Fatalf("due after a year: %d", d)
	}
	fp, err := x.l.FeePosition("raa-n", "2026-06-01")
	if err != nil || fp.OwesPence != 4_000_000 || fp.DuePence != 2_400_000 || fp.Open != 1 {
		t.Fatalf("payer position %+v %v", fp, err)
	}
	fp, _ = x.l.FeePosition("vaa-a", "2027-06-01")
	if fp.OwedPence != 4_000_000 || fp.OwedDuePence != 4_000_000 {
		t.Fatalf("payee position %+v", fp)
	}
}

func TestDefaultFeeSchedule(t *testing.T) {
	x := newTL(t, 2)
	s, err := x.l.FeeSchedule()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Years) < 1 || s.Years[0].Year != 2025 || s.Years[0].VAA.OneChildPence != 3_924_500 ||
		s.Years[0].LARAA.OneChildPence != 2_700_000 || s.Years[0].LondonUpliftBP != 1000 ||
		s.Years[0].IntraRAA != ledger.IntraRAANoFee || s.Years[0].VAT != ledger.VATExempt ||
		len(s.Years[0].Instalments) != 1 || s.Years[0].Instalments[0].Due != ledger.DueAtPlacement {
		t.Fatalf("default schedule: %+v", s)
	}
	// genesis time is in fee year 2026: the default must cover it or no placement could be recorded
	o := x.placed(1, 0, 1, "2026-04-02")
	if o.AmountPence != 2_700_000 || o.FeeYear != 2026 {
		t.Fatalf("obligation under the default schedule: %+v", o)
	}
}

func TestFeeScheduleValidation(t *testing.T) {
	cases := []struct {
		field string
		f     func(s *ledger.FeeSchedule)
	}{
		{"fees.years", func(s *ledger.FeeSchedule) { s.Years = nil }},
		{"fees.years[1].year", func(s *ledger.FeeSchedule) { s.Years[1].Year = 2025 }},
		{"fees.years[0].year", func(s *ledger.FeeSchedule) { s.Years[0].Year = 1999 }},
		{"fees.years[0].vaa.one_child_pence", func(s *ledger.FeeSchedule) { s.Years[0].VAA.OneChildPence = 0 }},
		{"fees.years[0].la_raa.siblings_2_pence", func(s *ledger.FeeSchedule) { s.Years[0].LARAA.Siblings2Pence = 1 }},
		{"fees.years[1].vaa.siblings_4_plus_pence", func(s *ledger.FeeSchedule) { s.Years[1].VAA.Siblings4PlusPence = 1 << 40 }},
		{"fees.years[0].london_uplift_bp", func(s *ledger.FeeSchedule) { s.Years[0].LondonUpliftBP = -1 }},
		{"fees.years[0].london_uplift_bp", func(s *ledger.FeeSchedule) { s.Years[0].LondonUpliftBP = 10_001 }},
		{"fees.years[0].intra_raa", func(s *ledger.FeeSchedule) { s.Years[0].IntraRAA = "sometimes" }},
		{"fees.years[0].vat", func(s *ledger.FeeSchedule) { s.Years[0].VAT = "standard" }},
		{"fees.years[0].instalments", func(s *ledger.FeeSchedule) { s.Years[0].Instalments = nil }},
		{"fees.years[1].instalments: percent_bp sums", func(s *ledger.FeeSchedule) { s.Years[1].Instalments[1].PercentBP = 3000 }},
		{"fees.years[1].instalments[1].months", func(s *ledger.FeeSchedule) { s.Years[1].Instalments[1].Months = 0 }},
		{"fees.years[1].instalments[1].months", func(s *ledger.FeeSchedule) { s.Years[1].Instalments[1].Months = 61 }},
		{"fees.years[0].instalments[0].months", func(s *ledger.FeeSchedule) { s.Years[0].Instalments[0].Months = 3 }},
		{"fees.years[0].instalments[0].due", func(s *ledger.FeeSchedule) { s.Years[0].Instalments[0].Due = "on_order" }},
		{"fees.years[1].instalments[1]: instalments must be in due order", func(s *ledger.FeeSchedule) {
			s.Years[1].Instalments = []ledger.InstalmentTerm{{PercentBP: 5000, Due: ledger.DueMonthsAfterPlacement, Months: 6}, {PercentBP: 5000, Due: ledger.DueAtPlacement}}
		}},
	}
	x := newTL(t, 3)
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			s := testFees()
			c.f(s)
			rj := x.rejected(ledger.CodeInvalid, 0, ledger.TypePropose, ledger.ProposePayload{Action: ledger.ActionSetFeeSchedule, Fees: s})
			if !strings.Contains(rj.Message, c.field) {
				t.Fatalf("message %q does not name %q", rj.Message, c.field)
			}
			// the same check guards the genesis
			g := ledger.Genesis{V: 1, Federation: "test", TimeMs: ledgertest.GenesisTimeMs, Policy: ledger.DefaultPolicy(), Fees: s,
				Agencies: []ledger.AgencyRecord{x.ag(0).Record}}
			if _, err := ledger.NewGenesisDocument(g); err == nil || !strings.Contains(err.Error(), "genesis."+c.field) {
				t.Fatalf("genesis: %v; want it to name genesis.%s", err, c.field)
			}
		})
	}
	if err := (func() error {
		s := ledger.DefaultFeeSchedule()
		_, err := ledger.NewGenesisDocument(ledger.Genesis{V: 1, Federation: "test", TimeMs: 1, Policy: ledger.DefaultPolicy(), Fees: &s, Agencies: []ledger.AgencyRecord{x.ag(0).Record}})
		return err
	})(); err != nil {
		t.Fatalf("the default schedule does not validate: %v", err)
	}
}

func TestSetFeeScheduleByQuorum(t *testing.T) {
	x := newTL(t, 3) // quorum 2 of 3; genesis 2026-04-01 in fee year 2026
	only2025 := testFees()
	only2025.Years = only2025.Years[:1]
	// fees belong to set_fee_schedule only, and set_fee_schedule takes only fees
	pol := ledger.DefaultPolicy()
	x.rejected(ledger.CodeInvalid, 0, ledger.TypePropose, ledger.ProposePayload{Action: ledger.ActionChangePolicy, Policy: &pol, Fees: only2025})
	x.rejected(ledger.CodeInvalid, 0, ledger.TypePropose, ledger.ProposePayload{Action: ledger.ActionSetFeeSchedule, Fees: only2025, Policy: &pol})
	x.rejected(ledger.CodeInvalid, 0, ledger.TypePropose, ledger.ProposePayload{Action: ledger.ActionSetFeeSchedule})

	p := x.ok(0, ledger.TypePropose, ledger.ProposePayload{Action: ledger.ActionSetFeeSchedule, Fees: only2025})
	if s, _ := x.l.FeeSchedule(); len(s.Years) != 2 {
		t.Fatal("effective before quorum")
	}
	x.ok(1, ledger.TypeApprove, ledger.ApprovePayload{ProposalID: p.Seq})
	if s, _ := x.l.FeeSchedule(); len(s.Years) != 1 || s.Years[0].Year != 2025 {
		t.Fatalf("after quorum: %+v", s)
	}
	r, res := x.placement(1, 0, 1, "2026-04-02")
	if r.Accepted || !strings.Contains(r.Rejection.Message, "2026/27") {
		t.Fatalf("place in an uncovered fee year: %+v", r)
	}
	p2 := x.ok(2, ledger.TypePropose, ledger.ProposePayload{Action: ledger.ActionSetFeeSchedule, Fees: testFees()})
	x.ok(0, ledger.TypeApprove, ledger.ApprovePayload{ProposalID: p2.Seq})
	x.ok(1, ledger.TypePlace, ledger.PlacePayload{ReservationID: res, MoveInDate: "2026-04-02"})
	pf, _ := x.l.PlacementFee(res)
	if o, _ := x.l.Obligation(pf.Obligation); o.AmountPence != 2_700_005 || o.FeeYear != 2026 {
		t.Fatalf("obligation after the new schedule: %+v", o)
	}
}

func TestOnePlacementOneObligation(t *testing.T) {
	x := newTL(t, 2)
	o := x.placed(1, 0, 1, "2026-04-02")
	// placing again is refused: the reservation is placed already
	x.rejected(ledger.CodeConflict, 1, ledger.TypePlace, ledger.PlacePayload{ReservationID: o.Reservation, MoveInDate: "2026-04-02"})
	obls, err := x.l.Obligations(ledger.ObligationQuery{Limit: 10})
	if err != nil || len(obls) != 1 {
		t.Fatalf("obligations: %d %v; want exactly one", len(obls), err)
	}
}
