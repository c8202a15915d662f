package ledger

import (
	"math/bits"
	"slices"
	"sync"
)

// searchIndex answers listing searches with bitmaps, one bit per listing
// ordinal, one bitmap per (attribute, value) — for ordered attributes, per
// "at least this level", and for approval ranges, per child age "this age
// is covered". A search ANDs a handful of bitmaps: for 100,000 listings
// each bitmap is 1,563 words, so a search costs microseconds and no
// database read until the page of results is fetched.
//
// The index is derived state: built from the listings bucket on open and
// restore, updated after each committed batch. It is never hashed or
// stored, so its map iteration order cannot reach the ledger.
type searchIndex struct {
	mu       sync.RWMutex
	tokens   []string          // ordinal -> token ("" if none)
	ordinals map[string]uint32 // token -> ordinal: the listings bucket is keyed by ordinal
	all      bitmap
	status   [6]bitmap
	region   [12]bitmap
	ageOK    [childAgeYearsMax + 1]bitmap
	kids     [childrenMax + 1]bitmap // kids[n]: approved for n children together
	needs    [6][levelCount]bitmap   // needs[c][l]: openness to need c at least l
	ethn     [levelCount]bitmap
	relig    [levelCount]bitmap
	lang     [levelCount]bitmap
	ffa      bitmap
	conc     bitmap
	travel   [3]bitmap // travel[b]: willing to travel at least band b
	agency   map[string]*bitmap
	la       map[string]*bitmap
	// what each ordinal is currently filed under in the keyed maps, to clear it
	agencyOf []string
	laOf     []string
}

type bitmap []uint64

func (b *bitmap) set(i uint32) {
	w := int(i / 64)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w-len(*b)+1)...)
	}
	(*b)[w] |= 1 << (i % 64)
}

func (b *bitmap) clear(i uint32) {
	if w := int(i / 64); w < len(*b) {
		(*b)[w] &^= 1 << (i % 64)
	}
}

func newSearchIndex() *searchIndex {
	return &searchIndex{agency: map[string]*bitmap{}, la: map[string]*bitmap{}, ordinals: map[string]uint32{}}
}

func keyed(m map[string]*bitmap, k string) *bitmap {
	b := m[k]
	if b == nil {
		b = &bitmap{}
		m[k] = b
	}
	return b
}

// put files a listing under its current attributes, replacing any earlier filing.
func (x *searchIndex) put(li *Listing) {
	x.mu.Lock()
	defer x.mu.Unlock()
	o := li.Ordinal
	x.clearAll(o)
	for int(o) >= len(x.tokens) {
		x.tokens = append(x.tokens, "")
		x.agencyOf = append(x.agencyOf, "")
		x.laOf = append(x.laOf, "")
	}
	x.tokens[o], x.agencyOf[o], x.laOf[o] = li.Token, li.Agency, li.Attrs.LocalAuthority
	x.ordinals[li.Token] = o
	a := &li.Attrs
	x.all.set(o)
	x.status[slices.Index(ListingStatuses, li.Status)].set(o)
	x.region[slices.Index(Regions, a.Region)].set(o)
	for age := a.AgeMinYears; age <= a.AgeMaxYears; age++ {
		x.ageOK[age].set(o)
	}
	for n := 1; n <= a.ChildrenMax && (n == 1 || a.SiblingGroupOK); n++ {
		x.kids[n].set(o)
	}
	for c, lv := range a.Needs.Levels() {
		for l := Level(0); l <= lv; l++ {
			x.needs[c][l].set(o)
		}
	}
	for l := Level(0); l < levelCount; l++ {
		if l <= a.EthnicityOpenness {
			x.ethn[l].set(o)
		}
		if l <= a.ReligionOpenness {
			x.relig[l].set(o)
		}
		if l <= a.LanguageOpenness {
			x.lang[l].set(o)
		}
	}
	if a.FosteringForAdopt {
		x.ffa.set(o)
	}
	if a.ConcurrentPlanning {
		x.conc.set(o)
	}
	for b := 0; b <= slices.Index(TravelBands, a.TravelBand); b++ {
		x.travel[b].set(o)
	}
	keyed(x.agency, li.Agency).set(o)
	keyed(x.la, a.LocalAuthority).set(o)
}

func (x *searchIndex) clearAll(o uint32) {
	if int(o) >= len(x.tokens) || x.tokens[o] == "" {
		return
	}
	groups := [][]bitmap{x.status[:], x.region[:], x.ageOK[:], x.kids[:], x.ethn[:], x.relig[:], x.lang[:], x.travel[:], {}}
	for c := range x.needs {
		groups = append(groups, x.needs[c][:])
	}
	for _, g := range groups {
		for i := range g {
			g[i].clear(o)
		}
	}
	x.all.clear(o)
	x.ffa.clear(o)
	x.conc.clear(o)
	keyed(x.agency, x.agencyOf[o]).clear(o)
	keyed(x.la, x.laOf[o]).clear(o)
}

// SearchQuery filters listings. Zero fields do not filter, except Status,
// which defaults to available. All filters combine with AND; a list of
// values for one attribute combines with OR.
type SearchQuery struct {
	Status         []string `json:"status,omitempty"`
	Regions        []string `json:"region,omitempty"`
	LocalAuthority string   `json:"local_authority,omitempty"`
	Agency         string   `json:"agency,omitempty"`
	// ChildAgeYears, if set, keeps approvals whose age range covers this age.
	ChildAgeYears *int `json:"child_age_years,omitempty"`
	// Children, if set, keeps approvals for at least this many children together.
	Children int `json:"children,omitempty"`
	// NeedsMin keeps approvals open to each named need at or above the level.
	NeedsMin          map[string]Level `json:"needs_min,omitempty"`
	EthnicityMin      Level            `json:"ethnicity_min,omitempty"`
	ReligionMin       Level            `json:"religion_min,omitempty"`
	LanguageMin       Level            `json:"language_min,omitempty"`
	FosteringForAdopt bool             `json:"fostering_for_adoption,omitempty"`
	ConcurrentPlan    bool             `json:"concurrent_planning,omitempty"`
	TravelMin         string           `json:"travel_min,omitempty"`
	// Limit is the page size (default 50, at most SearchLimitMax); After is the cursor from the previous page.
	Limit int    `json:"limit,omitempty"`
	After uint32 `json:"after,omitempty"`
}

// SearchLimitMax bounds one page of search results.
const SearchLimitMax = 200

// Validate checks the query against the closed enumerations.
func (q *SearchQuery) Validate() error {
	for _, s := range q.Status {
		if !slices.Contains(ListingStatuses, s) {
			return reject(CodeInvalid, "status: %q: expected one of %v", truncate(s), ListingStatuses)
		}
	}
	for _, r := range q.Regions {
		if !slices.Contains(Regions, r) {
			return reject(CodeInvalid, "region: %q: expected one of %v", truncate(r), Regions)
		}
	}
	switch {
	case q.LocalAuthority != "" && !gssRe.MatchString(q.LocalAuthority):
		return reject(CodeInvalid, "local_authority: %q: expected a GSS code", truncate(q.LocalAuthority))
	case q.Agency != "" && !slugRe.MatchString(q.Agency):
		return reject(CodeInvalid, "agency: %q: not an agency id", truncate(q.Agency))
	case q.ChildAgeYears != nil && (*q.ChildAgeYears < 0 || *q.ChildAgeYears > childAgeYearsMax):
		return reject(CodeInvalid, "child_age_years: %d: expected 0..%d", *q.ChildAgeYears, childAgeYearsMax)
	case q.Children < 0 || q.Children > childrenMax:
		return reject(CodeInvalid, "children: %d: expected 1..%d", q.Children, childrenMax)
	case q.TravelMin != "" && !slices.Contains(TravelBands, q.TravelMin):
		return reject(CodeInvalid, "travel_min: %q: expected one of %v", truncate(q.TravelMin), TravelBands)
	case q.Limit < 0 || q.Limit > SearchLimitMax:
		return reject(CodeInvalid, "limit: %d: expected 1..%d", q.Limit, SearchLimitMax)
	case q.EthnicityMin >= levelCount || q.ReligionMin >= levelCount || q.LanguageMin >= levelCount:
		return reject(CodeInvalid, "openness minimum: invalid level")
	}
	for c, l := range q.NeedsMin { //det:ok validation only, order does not matter
		if !slices.Contains(NeedCategories, c) || l >= levelCount {
			return reject(CodeInvalid, "needs_min: %q: expected a need category of %v with a level", truncate(c), NeedCategories)
		}
	}
	return nil
}

// match returns the matching ordinals after q.After (up to limit) and the total count.
func (x *searchIndex) match(q *SearchQuery, limit int) (ords []uint32, total int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	acc := slices.Clone(x.all)
	and := func(b bitmap) {
		for i := range acc {
			if i < len(b) {
				acc[i] &= b[i]
			} else {
				acc[i] = 0
			}
		}
	}
	or := func(bs []bitmap) {
		u := make(bitmap, len(acc))
		for _, b := range bs {
			for i := range u {
				if i < len(b) {
					u[i] |= b[i]
				}
			}
		}
		and(u)
	}
	statuses := q.Status
	if len(statuses) == 0 {
		statuses = []string{StatusAvailable}
	}
	var sel []bitmap
	for _, s := range statuses {
		sel = append(sel, x.status[slices.Index(ListingStatuses, s)])
	}
	or(sel)
	if len(q.Regions) > 0 {
		sel = sel[:0]
		for _, r := range q.Regions {
			sel = append(sel, x.region[slices.Index(Regions, r)])
		}
		or(sel)
	}
	if q.LocalAuthority != "" {
		and(*keyed2(x.la, q.LocalAuthority))
	}
	if q.Agency != "" {
		and(*keyed2(x.agency, q.Agency))
	}
	if q.ChildAgeYears != nil {
		and(x.ageOK[*q.ChildAgeYears])
	}
	if q.Children > 0 {
		and(x.kids[q.Children])
	}
	for i, c := range NeedCategories {
		if l, ok := q.NeedsMin[c]; ok && l > 0 {
			and(x.needs[i][l])
		}
	}
	for _, f := range []struct {
		min Level
		bm  []bitmap
	}{{q.EthnicityMin, x.ethn[:]}, {q.ReligionMin, x.relig[:]}, {q.LanguageMin, x.lang[:]}} {
		if f.min > 0 {
			and(f.bm[f.min])
		}
	}
	if q.FosteringForAdopt {
		and(x.ffa)
	}
	if q.ConcurrentPlan {
		and(x.conc)
	}
	if q.TravelMin != "" {
		and(x.travel[slices.Index(TravelBands, q.TravelMin)])
	}
	for w, word := range acc {
		total += bits.OnesCount64(word)
		for word != 0 && len(ords) < limit {
			o := uint32(w*64 + bits.TrailingZeros64(word))
			word &= word - 1
			if o >= q.After {
				ords = append(ords, o)
			}
		}
	}
	return ords, total
}

// keyed2 looks up a keyed bitmap without creating one (read path).
func keyed2(m map[string]*bitmap, k string) *bitmap {
	if b := m[k]; b != nil {
		return b
	}
	return &bitmap{}
}

// ordinal returns the ordinal of the committed listing token.
func (x *searchIndex) ordinal(token string) (uint32, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	o, ok := x.ordinals[token]
	return o, ok
}
