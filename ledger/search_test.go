package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

// randomAttrs draws listing attributes from every closed enumeration.
func randomAttrs(r *rand.Rand) ledger.ListingAttrs {
	lv := func() ledger.Level { return ledger.Level(r.IntN(4)) }
	a := ledger.ListingAttrs{
		ApprovalDate: "2025-11-20", ChildrenMax: 1 + r.IntN(4), AgeMinYears: r.IntN(8),
		Needs:  ledger.Needs{PhysicalDisability: lv(), LearningDisability: lv(), DevelopmentalUncertainty: lv(), FoetalAlcohol: lv(), MedicalNeeds: lv(), TraumaAttachment: lv()},
		Region: ledger.Regions[r.IntN(len(ledger.Regions))], LocalAuthority: fmt.Sprintf("E0800000%d", r.IntN(5)),
		TravelBand: ledger.TravelBands[r.IntN(3)], FosteringForAdopt: r.IntN(2) == 0, ConcurrentPlanning: r.IntN(3) == 0,
		EthnicityOpenness: lv(), ReligionOpenness: lv(), LanguageOpenness: lv(),
	}
	a.AgeMaxYears = a.AgeMinYears + r.IntN(10)
	a.SiblingGroupOK = a.ChildrenMax > 1
	return a
}

func randomQuery(r *rand.Rand) ledger.SearchQuery {
	var q ledger.SearchQuery
	if r.IntN(2) == 0 {
		q.Regions = []string{ledger.Regions[r.IntN(12)], ledger.Regions[r.IntN(12)]}
	}
	if r.IntN(3) == 0 {
		q.LocalAuthority = fmt.Sprintf("E0800000%d", r.IntN(5))
	}
	if r.IntN(2) == 0 {
		age := r.IntN(18)
		q.ChildAgeYears = &age
	}
	if r.IntN(2) == 0 {
		q.Children = 1 + r.IntN(4)
	}
	if r.IntN(2) == 0 {
		q.NeedsMin = map[string]ledger.Level{ledger.NeedCategories[r.IntN(6)]: ledger.Level(r.IntN(4)), ledger.NeedCategories[r.IntN(6)]: ledger.Level(r.IntN(4))}
	}
	q.EthnicityMin = ledger.Level(r.IntN(4))
	q.FosteringForAdopt = r.IntN(4) == 0
	q.ConcurrentPlan = r.IntN(5) == 0
	if r.IntN(2) == 0 {
		q.TravelMin = ledger.TravelBands[r.IntN(3)]
	}
	if r.IntN(3) == 0 {
		q.Status = []string{ledger.StatusAvailable, ledger.StatusReserved}
	}
	if r.IntN(4) == 0 {
		q.Agency = "a2"
	}
	q.Limit = ledger.SearchLimitMax
	return q
}

// matches is the obvious definition of a search, written without indexes.
func matches(q ledger.SearchQuery, li ledger.Listing) bool {
	a := li.Attrs
	st := q.Status
	if len(st) == 0 {
		st = []string{ledger.StatusAvailable}
	}
	ok := slices.Contains(st, li.Status) &&
		(len(q.Regions) == 0 || slices.Contains(q.Regions, a.Region)) &&
		(q.LocalAuthority == "" || q.LocalAuthority == a.LocalAuthority) &&
		(q.Agency == "" || q.Agency == li.Agency) &&
		(q.ChildAgeYears == nil || (*q.ChildAgeYears >= a.AgeMinYears && *q.ChildAgeYears <= a.AgeMaxYears)) &&
		(q.Children == 0 || (a.ChildrenMax >= q.Children && (q.Children == 1 || a.SiblingGroupOK))) &&
		a.EthnicityOpenness >= q.EthnicityMin && a.ReligionOpenness >= q.ReligionMin && a.LanguageOpenness >= q.LanguageMin &&
		(!q.FosteringForAdopt || a.FosteringForAdopt) && (!q.ConcurrentPlan || a.ConcurrentPlanning) &&
		(q.TravelMin == "" || slices.Index(ledger.TravelBands, a.TravelBand) >= slices.Index(ledger.TravelBands, q.TravelMin))
	lv := a.Needs.Levels()
	for i, c := range ledger.NeedCategories {
		if min, has := q.NeedsMin[c]; has && lv[i] < min {
			ok = false
		}
	}
	return ok
}

func TestSearchAgreesWithDefinition(t *testing.T) {
	x := newTL(t, 3)
	r := rand.New(rand.NewPCG(1, 2))
	var all []string
	for i := range 600 {
		tok := ledgertest.Token(fmt.Sprint("s", i))
		x.ok(i%3, ledger.TypePublish, ledger.ListingPayload{Token: tok, Attrs: randomAttrs(r)})
		all = append(all, tok)
	}
	for i := 0; i < 100; i++ { // some reserved, some paused, some updated
		tok := all[r.IntN(len(all))]
		v := x.listing(tok)
		owner := int(v.Agency[1] - '1')
		switch i % 3 {
		case 0:
			x.do((owner+1)%3, ledger.TypeReserve, ledger.ReservePayload{Listing: tok, ChildTokens: []string{ledgertest.Token(fmt.Sprint("c", i))}})
		case 1:
			x.do(owner, ledger.TypePause, ledger.TokenPayload{Token: tok})
		case 2:
			x.do(owner, ledger.TypeUpdate, ledger.ListingPayload{Token: tok, Attrs: randomAttrs(r)})
		}
	}
	var views []ledger.Listing
	for _, tok := range all {
		views = append(views, x.listing(tok).Listing)
	}
	for i := range 300 {
		q := randomQuery(r)
		var want []string
		for _, li := range views {
			if matches(q, li) {
				want = append(want, li.Token)
			}
		}
		var got []string
		total := -1
		for page := 0; ; page++ {
			res, err := x.l.Search(q)
			if err != nil {
				t.Fatal(err)
			}
			if total >= 0 && res.Total != total {
				t.Fatal("total changed between pages")
			}
			total = res.Total
			for _, li := range res.Listings {
				got = append(got, li.Token)
			}
			if res.Next == 0 {
				break
			}
			q.After = res.Next
		}
		if total != len(want) || !slices.Equal(got, want) {
			t.Fatalf("query %d %+v: index gave %d (total %d), definition %d", i, q, len(got), total, len(want))
		}
	}
}

func TestSearchValidation(t *testing.T) {
	x := newTL(t, 1)
	age := 18
	for _, q := range []ledger.SearchQuery{
		{Status: []string{"lost"}}, {Regions: []string{"mars"}}, {ChildAgeYears: &age}, {Children: 5},
		{TravelMin: "far"}, {Limit: 1000}, {NeedsMin: map[string]ledger.Level{"hair_colour": 1}}, {LocalAuthority: "x"},
	} {
		if _, err := x.l.Search(q); err == nil {
			t.Errorf("query %+v accepted", q)
		}
	}
}
