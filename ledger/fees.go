package ledger

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The interagency fee schedule is governed data: set at genesis (Genesis.Fees;
// absent means DefaultFeeSchedule) and replaced as a whole by a quorum
// (governance action set_fee_schedule). An obligation stores the amount it
// was computed with, so a later schedule never changes an existing fee.

// Fee tiers: the payee's kind decides the tier (a VAA is paid the VAA rate,
// an RAA or a council the LA/RAA rate).
const (
	TierVAA   = "vaa"
	TierLARAA = "la_raa"
)

// Intra-RAA rules: whether a council and its RAA (or two councils of one
// RAA) pay each other a fee.
const (
	IntraRAANoFee = "no_fee"
	IntraRAAFee   = "fee"
)

// VAT treatments. The ledger never adds VAT: both treatments mean the
// scheduled amount is the whole amount paid. A VAT-charging treatment would
// need VAT lines and is deliberately not offered (DOMAIN §1: working
// assumption "no VAT", to be confirmed with finance).
const (
	VATExempt       = "exempt"
	VATOutsideScope = "outside_scope"
)

// Instalment due rules.
const (
	DueAtPlacement          = "at_placement"
	DueMonthsAfterPlacement = "months_after_placement"
)

// Limits of the fee schedule and of money. They bound every product and
// sum the rules compute far below int64 overflow; the checked helpers
// still refuse (never wrap) if one is reached.
const (
	feeYearsMax         = 100           // fee years in one schedule
	feeAmountPenceMax   = 1_000_000_000 // £10m: one fee, invoice, payment or resolution
	basisPointsWhole    = 10_000        // 100%
	londonUpliftBPMax   = 10_000        // at most +100%
	instalmentsMax      = 12            // instalments in one plan
	instalmentMonthsMax = 60            // latest instalment: 5 years after placement
	feeYearMin          = 2000          // dates are 2000..2199 (parseDate)
	feeYearMax          = 2198
)

// FeeSchedule is the interagency fee schedule: one entry per fee year,
// in increasing year order. A move-in date whose fee year has no entry
// cannot be recorded as a placement between agencies that owe a fee.
type FeeSchedule struct {
	Years []FeeYear `json:"years"`
}

// FeeYear is the schedule for one fee year: 1 April of Year to 31 March of
// Year+1 (2025 is 2025/26). The move-in date decides the fee year.
type FeeYear struct {
	Year  int          `json:"year"`
	VAA   FeeTierRates `json:"vaa"`    // paid to a VAA
	LARAA FeeTierRates `json:"la_raa"` // paid to an RAA or a council
	// LondonUpliftBP is added when the payee is a London agency, in basis
	// points of the tier amount (1000 = +10%), rounded half up to a penny.
	LondonUpliftBP int64 `json:"london_uplift_bp"`
	// Instalments split the fee; percents sum to 100% (10,000 bp).
	Instalments []InstalmentTerm `json:"instalments"`
	IntraRAA    string           `json:"intra_raa"` // no_fee | fee
	VAT         string           `json:"vat"`       // exempt | outside_scope
}

// FeeTierRates are one tier's amounts in pence, for the whole group placed
// together: one child, and sibling groups of 2, 3 and 4 or more.
type FeeTierRates struct {
	OneChildPence      int64 `json:"one_child_pence"`
	Siblings2Pence     int64 `json:"siblings_2_pence"`
	Siblings3Pence     int64 `json:"siblings_3_pence"`
	Siblings4PlusPence int64 `json:"siblings_4_plus_pence"`
}

// InstalmentTerm is one part of the fee: a share in basis points, due at
// placement or a whole number of months after the move-in date.
type InstalmentTerm struct {
	PercentBP int64  `json:"percent_bp"`
	Due       string `json:"due"`              // at_placement | months_after_placement
	Months    int    `json:"months,omitempty"` // months_after_placement only, 1..60
}

// DefaultFeeSchedule is the schedule a genesis gets when it names none.
//
// 2025/26 single-child rates are the published ones: VAA £39,245 from
// 1 April 2025 (CVAA, CoramBAAF), LA/RAA £27,000, London +10%, charged in
// full at placement, no fee inside an RAA, no VAT.
//
// PLACEHOLDERS, to be confirmed against CVAA's published "Interagency fee
// rates & terms – England and Wales" before production use, and replaced
// by governance (set_fee_schedule):
//   - every sibling-group amount (here 1.5×, 2× and 2.5× the one-child
//     amount for 2, 3 and 4+ children): the real rates were not retrieved;
//   - the whole 2026/27 year, which carries the 2025/26 rates forward: the
//     VAA rate is uplifted each April by CPIH and the uplift is not known here.
func DefaultFeeSchedule() FeeSchedule {
	year := func(y int, vaa, laraa int64) FeeYear {
		return FeeYear{
			Year: y, VAA: placeholderSiblings(vaa), LARAA: placeholderSiblings(laraa), LondonUpliftBP: 1000,
			Instalments: []InstalmentTerm{{PercentBP: basisPointsWhole, Due: DueAtPlacement}},
			IntraRAA:    IntraRAANoFee, VAT: VATExempt,
		}
	}
	return FeeSchedule{Years: []FeeYear{year(2025, 39_245_00, 27_000_00), year(2026, 39_245_00, 27_000_00)}}
}

// placeholderSiblings derives PLACEHOLDER sibling-group amounts (1.5×, 2×,
// 2.5×) from a one-child amount; see DefaultFeeSchedule.
func placeholderSiblings(one int64) FeeTierRates {
	return FeeTierRates{OneChildPence: one, Siblings2Pence: one * 3 / 2, Siblings3Pence: one * 2, Siblings4PlusPence: one * 5 / 2}
}

// validate checks the schedule; messages name the field (field is its path, e.g. "genesis.fees").
func (s *FeeSchedule) validate(field string) *Rejection {
	if len(s.Years) < 1 || len(s.Years) > feeYearsMax {
		return reject(CodeInvalid, "%s.years: %d years; expected 1..%d", field, len(s.Years), feeYearsMax)
	}
	for i := range s.Years {
		f := fmt.Sprintf("%s.years[%d]", field, i)
		if i > 0 && s.Years[i].Year <= s.Years[i-1].Year {
			return reject(CodeInvalid, "%s.year: %d: years must increase (previous %d)", f, s.Years[i].Year, s.Years[i-1].Year)
		}
		if r := s.Years[i].validate(f); r != nil {
			return r
		}
	}
	return nil
}

func (y *FeeYear) validate(f string) *Rejection {
	switch {
	case y.Year < feeYearMin || y.Year > feeYearMax:
		return reject(CodeInvalid, "%s.year: %d: expected %d..%d (the start year: 2025 is 2025/26)", f, y.Year, feeYearMin, feeYearMax)
	case y.LondonUpliftBP < 0 || y.LondonUpliftBP > londonUpliftBPMax:
		return reject(CodeInvalid, "%s.london_uplift_bp: %d: expected 0..%d basis points (1000 = +10%%)", f, y.LondonUpliftBP, londonUpliftBPMax)
	case y.IntraRAA != IntraRAANoFee && y.IntraRAA != IntraRAAFee:
		return reject(CodeInvalid, "%s.intra_raa: %q: expected %s or %s", f, truncate(y.IntraRAA), IntraRAANoFee, IntraRAAFee)
	case y.VAT != VATExempt && y.VAT != VATOutsideScope:
		return reject(CodeInvalid, "%s.vat: %q: expected %s or %s (the ledger never adds VAT)", f, truncate(y.VAT), VATExempt, VATOutsideScope)
	}
	if r := y.VAA.validate(f + ".vaa"); r != nil {
		return r
	}
	if r := y.LARAA.validate(f + ".la_raa"); r != nil {
		return r
	}
	return validateInstalments(f+".instalments", y.Instalments)
}

func (t *FeeTierRates) validate(f string) *Rejection {
	names := []string{"one_child_pence", "siblings_2_pence", "siblings_3_pence", "siblings_4_plus_pence"}
	amounts := t.amounts()
	for i, v := range amounts {
		if v < 1 || v > feeAmountPenceMax {
			return reject(CodeInvalid, "%s.%s: %d: expected 1..%d pence", f, names[i], v, feeAmountPenceMax)
		}
		if i > 0 && v < amounts[i-1] {
			return reject(CodeInvalid, "%s.%s: %d: a larger group cannot cost less than a smaller one (%s %d)", f, names[i], v, names[i-1], amounts[i-1])
		}
	}
	return nil
}

func (t *FeeTierRates) amounts() [childrenMax]int64 {
	return [childrenMax]int64{t.OneChildPence, t.Siblings2Pence, t.Siblings3Pence, t.Siblings4PlusPence}
}

func validateInstalments(f string, terms []InstalmentTerm) *Rejection {
	if len(terms) < 1 || len(terms) > instalmentsMax {
		return reject(CodeInvalid, "%s: %d instalments; expected 1..%d", f, len(terms), instalmentsMax)
	}
	var sum int64
	prev := -1
	for i, t := range terms {
		months := 0
		switch t.Due {
		case DueAtPlacement:
			if t.Months != 0 {
				return reject(CodeInvalid, "%s[%d].months: %d: at_placement takes no months", f, i, t.Months)
			}
		case DueMonthsAfterPlacement:
			if t.Months < 1 || t.Months > instalmentMonthsMax {
				return reject(CodeInvalid, "%s[%d].months: %d: expected 1..%d", f, i, t.Months, instalmentMonthsMax)
			}
			months = t.Months
		default:
			return reject(CodeInvalid, "%s[%d].due: %q: expected %s or %s", f, i, truncate(t.Due), DueAtPlacement, DueMonthsAfterPlacement)
		}
		if t.PercentBP < 1 || t.PercentBP > basisPointsWhole {
			return reject(CodeInvalid, "%s[%d].percent_bp: %d: expected 1..%d", f, i, t.PercentBP, basisPointsWhole)
		}
		if months < prev {
			return reject(CodeInvalid, "%s[%d]: instalments must be in due order", f, i)
		}
		prev = months
		sum += t.PercentBP
	}
	if sum != basisPointsWhole {
		return reject(CodeInvalid, "%s: percent_bp sums to %d; expected %d (100%%)", f, sum, basisPointsWhole)
	}
	return nil
}

// year returns the schedule's entry for a fee year, or nil.
func (s *FeeSchedule) year(y int) *FeeYear {
	i := slices.IndexFunc(s.Years, func(fy FeeYear) bool { return fy.Year == y })
	if i < 0 {
		return nil
	}
	return &s.Years[i]
}

// yearsLabel lists the fee years a schedule covers, for messages.
func (s *FeeSchedule) yearsLabel() string {
	names := make([]string, len(s.Years))
	for i, fy := range s.Years {
		names[i] = FeeYearLabel(fy.Year)
	}
	return strings.Join(names, ", ")
}

// FeeYearOf returns the fee year (named by its start year) containing a
// date YYYY-MM-DD: 1 April starts a fee year, 31 March ends one.
func FeeYearOf(date string) (int, error) {
	d, err := parseDate(date)
	if err != nil {
		return 0, err
	}
	return feeYearOf(d), nil
}

func feeYearOf(d time.Time) int {
	if d.Month() >= time.April {
		return d.Year()
	}
	return d.Year() - 1
}

// FeeYearLabel names a fee year the way finance teams do: 2025 is "2025/26".
func FeeYearLabel(y int) string { return fmt.Sprintf("%d/%02d", y, (y+1)%100) }

// tierAmount is the fee for a tier, group size and payee location:
// the schedule amount, plus the London uplift (rounded half up to a penny).
// Arithmetic that would overflow is a rejection.
func (y *FeeYear) tierAmount(tier string, children int, london bool) (int64, *Rejection) {
	rates := &y.LARAA
	if tier == TierVAA {
		rates = &y.VAA
	}
	if children < 1 || children > childrenMax {
		return 0, reject(CodeInvalid, "%d children: the schedule has rates for 1..%d", children, childrenMax)
	}
	amount := rates.amounts()[children-1]
	if !london || y.LondonUpliftBP == 0 {
		return amount, nil
	}
	up, ok := mulPence(amount, y.LondonUpliftBP)
	if ok {
		up, ok = addPence(up, basisPointsWhole/2)
	}
	if ok {
		amount, ok = addPence(amount, up/basisPointsWhole)
	}
	if !ok {
		return 0, reject(CodeInvalid, "fee for fee year %s: amount with London uplift overflows", FeeYearLabel(y.Year))
	}
	return amount, nil
}

// ObligationInstalment is one part of an obligation: its share and due date.
type ObligationInstalment struct {
	PercentBP int64  `json:"percent_bp"`
	DueDate   string `json:"due_date"` // YYYY-MM-DD
}

// instalmentsFrom applies the year's plan to a move-in date.
func (y *FeeYear) instalmentsFrom(moveIn time.Time) []ObligationInstalment {
	out := make([]ObligationInstalment, len(y.Instalments))
	for i, t := range y.Instalments {
		out[i] = ObligationInstalment{PercentBP: t.PercentBP, DueDate: addMonths(moveIn, t.Months).Format(time.DateOnly)}
	}
	return out
}

// addMonths adds whole calendar months, clamping the day to the end of the
// target month (31 January + 1 month = 28 or 29 February).
func addMonths(d time.Time, months int) time.Time {
	first := time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, months, 0)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d.Day(), last)-1)
}

// splitInstalments divides amount by the instalments' shares, rounding
// each share down; the last instalment takes the remainder, so the parts
// always sum to amount exactly.
func splitInstalments(amount int64, ins []ObligationInstalment) ([]int64, bool) {
	out := make([]int64, len(ins))
	rest := amount
	for i, in := range ins {
		if i == len(ins)-1 {
			out[i] = rest
			break
		}
		v, ok := mulPence(amount, in.PercentBP)
		if !ok {
			return nil, false
		}
		out[i] = v / basisPointsWhole
		rest -= out[i]
	}
	return out, true
}

// Checked integer-pence arithmetic: ok is false instead of a wrapped result.

func addPence(a, b int64) (int64, bool) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, false
	}
	return a + b, true
}

func mulPence(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	if (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return 0, false
	}
	c := a * b
	if c/b != a {
		return 0, false
	}
	return c, true
}

// FormatPounds renders pence as pounds with two decimals ("-1234.50"),
// exactly, for any int64.
func FormatPounds(pence int64) string {
	sign := ""
	mag := uint64(pence)
	if pence < 0 {
		sign, mag = "-", uint64(-(pence+1))+1
	}
	return fmt.Sprintf("%s%d.%02d", sign, mag/100, mag%100)
}

// ParsePounds parses pounds with exactly two decimals ("1234.50",
// "-0.05") into pence, refusing anything else and anything that overflows.
func ParsePounds(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(s, "-")
	whole, frac, ok := strings.Cut(body, ".")
	if !ok || len(frac) != 2 || whole == "" || len(whole) > 16 || strings.TrimLeft(whole+frac, "0123456789") != "" {
		return 0, fmt.Errorf("amount %q: expected pounds with two decimals, e.g. 27000.00", truncate(s))
	}
	var v int64
	for _, c := range whole + frac {
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, nil
}
