package protocol

import (
	"net/url"
	"strconv"

	"github.com/raaft/raaft/ledger"
)

// Query parameters of GET /v1/listings, one per ledger.SearchQuery filter.
// The node parses exactly these (node.ParseSearchQuery) and refuses any
// other, naming it.
const (
	ParamStatus            = "status" // repeatable or comma-separated; default available
	ParamRegion            = "region" // repeatable or comma-separated
	ParamLocalAuthority    = "local_authority"
	ParamAgency            = "agency"
	ParamChildAgeYears     = "child_age_years"
	ParamChildren          = "children"
	ParamNeedPrefix        = "need." // need.<category>=<level>, one per ledger.NeedCategories
	ParamEthnicityMin      = "ethnicity_min"
	ParamReligionMin       = "religion_min"
	ParamLanguageMin       = "language_min"
	ParamFosteringForAdopt = "fostering_for_adoption"
	ParamConcurrentPlan    = "concurrent_planning"
	ParamTravelMin         = "travel_min"
	ParamLimit             = "limit" // page size, 1..ledger.SearchLimitMax
	ParamAfter             = "after" // the Next cursor of the previous page
	// ParamConsistency is accepted by every read: local (default) or linearizable.
	ParamConsistency = "consistency"
)

// Read consistency levels (rqlite's names): ConsistencyLocal reads this
// node's ledger as it is (stale by at most the replication lag);
// ConsistencyLinearizable first waits until this node has applied
// everything committed before the request.
const (
	ConsistencyLocal        = "local"
	ConsistencyLinearizable = "linearizable"
)

// SearchParams lists the fixed search parameters (the need.<category>
// parameters come from ledger.NeedCategories).
var SearchParams = []string{
	ParamStatus, ParamRegion, ParamLocalAuthority, ParamAgency, ParamChildAgeYears, ParamChildren,
	ParamEthnicityMin, ParamReligionMin, ParamLanguageMin, ParamFosteringForAdopt, ParamConcurrentPlan,
	ParamTravelMin, ParamLimit, ParamAfter,
}

// SearchValues encodes a search as the query parameters of GET /v1/listings:
// the inverse of node.ParseSearchQuery. Zero fields are left out, so they do
// not filter. Nothing is dropped: a need category the ledger does not know
// is encoded too, and the node refuses it by name.
func SearchValues(q ledger.SearchQuery) url.Values {
	v := url.Values{}
	for _, s := range q.Status {
		v.Add(ParamStatus, s)
	}
	for _, r := range q.Regions {
		v.Add(ParamRegion, r)
	}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set(ParamLocalAuthority, q.LocalAuthority)
	set(ParamAgency, q.Agency)
	set(ParamTravelMin, q.TravelMin)
	if q.ChildAgeYears != nil {
		v.Set(ParamChildAgeYears, strconv.Itoa(*q.ChildAgeYears))
	}
	if q.Children != 0 {
		v.Set(ParamChildren, strconv.Itoa(q.Children))
	}
	for c, l := range q.NeedsMin { //det:ok url.Values encodes keys sorted
		v.Set(ParamNeedPrefix+c, l.String())
	}
	level := func(k string, l ledger.Level) {
		if l != ledger.LevelNone {
			v.Set(k, l.String())
		}
	}
	level(ParamEthnicityMin, q.EthnicityMin)
	level(ParamReligionMin, q.ReligionMin)
	level(ParamLanguageMin, q.LanguageMin)
	if q.FosteringForAdopt {
		v.Set(ParamFosteringForAdopt, "true")
	}
	if q.ConcurrentPlan {
		v.Set(ParamConcurrentPlan, "true")
	}
	if q.Limit != 0 {
		v.Set(ParamLimit, strconv.Itoa(q.Limit))
	}
	if q.After != 0 {
		v.Set(ParamAfter, strconv.FormatUint(uint64(q.After), 10))
	}
	return v
}
