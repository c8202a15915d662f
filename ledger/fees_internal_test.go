package ledger

import (
	"math"
	"testing"
	"time"
)

func TestCheckedPence(t *testing.T) {
	cases := []struct {
		name string
		f    func(a, b int64) (int64, bool)
		a, b int64
		ok   bool
	}{
		{"add", addPence, 1, 2, true},
		{"add max", addPence, math.MaxInt64, 1, false},
		{"add min", addPence, math.MinInt64, -1, false},
		{"add to max", addPence, math.MaxInt64 - 1, 1, true},
		{"mul", mulPence, 3_924_500, 10_000, true},
		{"mul overflow", mulPence, math.MaxInt64 / 2, 3, false},
		{"mul min by -1", mulPence, math.MinInt64, -1, false},
		{"mul negative", mulPence, -4, 5, true},
		{"mul zero", mulPence, math.MaxInt64, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, ok := c.f(c.a, c.b); ok != c.ok {
				t.Fatalf("%d, %d: ok %v; want %v", c.a, c.b, ok, c.ok)
			}
		})
	}
}

// TestFeeOverflowRejected: a fee whose London uplift overflows is a
// rejection, not a wrapped (negative) amount; so is an account total.
func TestFeeOverflowRejected(t *testing.T) {
	y := DefaultFeeSchedule().Years[0]
	y.VAA.OneChildPence = math.MaxInt64 / 1000 // beyond validation; only the checked arithmetic stands in the way
	if v, rj := y.tierAmount(TierVAA, 1, true); rj == nil || rj.Code != CodeInvalid {
		t.Fatalf("uplift of %d: got %d, %v; want an invalid rejection", y.VAA.OneChildPence, v, rj)
	}
	y.VAA.OneChildPence = math.MaxInt64 - 10
	y.LondonUpliftBP = 1
	if v, rj := y.tierAmount(TierVAA, 1, true); rj == nil {
		t.Fatalf("amount plus uplift overflowed to %d", v)
	}
	if v, rj := y.tierAmount(TierVAA, 1, false); rj != nil || v != math.MaxInt64-10 {
		t.Fatalf("no uplift: %d %v", v, rj)
	}
	d := &Account{DebitsPostedPence: math.MaxInt64 - 5}
	c := &Account{}
	if moveTotals(&Transfer{Phase: PhasePosted, AmountPence: 6}, d, c) {
		t.Fatal("account total overflowed")
	}
	if _, err := PlanSettlement([]NetPosition{{"a", math.MaxInt64}, {"b", 1}, {"c", math.MinInt64 + 1}}); err == nil {
		t.Fatal("positions that overflow accepted")
	}
}

func TestLondonUpliftRounding(t *testing.T) {
	y := DefaultFeeSchedule().Years[0]
	for _, c := range []struct{ base, want int64 }{{2_700_000, 2_970_000}, {2_700_005, 2_970_006}, {2_700_004, 2_970_004}, {3_924_500, 4_316_950}, {1, 1}, {5, 6}} {
		y.LARAA.OneChildPence = c.base
		if got, rj := y.tierAmount(TierLARAA, 1, true); rj != nil || got != c.want {
			t.Errorf("%d + 10%%: %d %v; want %d", c.base, got, rj, c.want)
		}
	}
}

func TestInstalmentsAndDates(t *testing.T) {
	ins := []ObligationInstalment{{PercentBP: 3333}, {PercentBP: 3333}, {PercentBP: 3334}}
	parts, ok := splitInstalments(100, ins)
	if !ok || parts[0]+parts[1]+parts[2] != 100 || parts[0] != 33 || parts[2] != 34 {
		t.Fatalf("split: %v", parts)
	}
	for _, c := range []struct {
		from   string
		months int
		want   string
	}{{"2026-01-31", 1, "2026-02-28"}, {"2028-01-31", 1, "2028-02-29"}, {"2026-04-02", 12, "2027-04-02"}, {"2026-11-30", 3, "2027-02-28"}, {"2026-05-15", 0, "2026-05-15"}} {
		d, _ := time.Parse(time.DateOnly, c.from)
		if got := addMonths(d, c.months).Format(time.DateOnly); got != c.want {
			t.Errorf("%s + %d months: %s; want %s", c.from, c.months, got, c.want)
		}
	}
	for date, want := range map[string]int{"2026-03-31": 2025, "2026-04-01": 2026, "2027-01-01": 2026, "2025-04-01": 2025} {
		if got, err := FeeYearOf(date); err != nil || got != want {
			t.Errorf("fee year of %s: %d %v; want %d", date, got, err, want)
		}
	}
	if FeeYearLabel(2025) != "2025/26" || FeeYearLabel(2099) != "2099/00" {
		t.Fatal(FeeYearLabel(2025), FeeYearLabel(2099))
	}
}

func TestPounds(t *testing.T) {
	for _, c := range []struct {
		pence int64
		s     string
	}{{0, "0.00"}, {5, "0.05"}, {-5, "-0.05"}, {2_700_000, "27000.00"}, {-123_456, "-1234.56"}, {math.MinInt64, "-92233720368547758.08"}, {math.MaxInt64, "92233720368547758.07"}} {
		if got := FormatPounds(c.pence); got != c.s {
			t.Errorf("FormatPounds(%d) = %s; want %s", c.pence, got, c.s)
		}
		if len(c.s) < 20 {
			if got, err := ParsePounds(c.s); err != nil || got != c.pence {
				t.Errorf("ParsePounds(%s) = %d %v", c.s, got, err)
			}
		}
	}
	for _, bad := range []string{"", "27000", "27000.0", "27000.000", "2,700.00", "+1.00", "1e3.00", ".50", "--1.00", "99999999999999999.00"} {
		if _, err := ParsePounds(bad); err == nil {
			t.Errorf("ParsePounds(%q) accepted", bad)
		}
	}
}
