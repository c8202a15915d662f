package node

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
)

// historyEntriesMax bounds the entries GET /v1/listings/{token}/history returns.
const historyEntriesMax = 500

// listingActions maps the listing action routes to their command types.
var listingActions = map[string]string{"pause": ledger.TypePause, "resume": ledger.TypeResume, "withdraw": ledger.TypeWithdraw}

func (s *Server) registerListingRoutes() {
	rw, rd := []string{RoleMatching}, []string{RoleMatching, RoleOperator}
	s.handle(Route{Method: "GET", Pattern: "/v1/listings", OperationID: "searchListings", Roles: rd,
		Params: append(append([]string{}, protocol.SearchParams...), protocol.ParamNeedPrefix+"*"), Audited: true}, s.search)
	s.handle(Route{Method: "POST", Pattern: "/v1/listings", OperationID: "publishListing", Roles: rw}, s.publish)
	s.handle(Route{Method: "GET", Pattern: "/v1/listings/{token}", OperationID: "getListing", Roles: rd, Audited: true}, s.getListing)
	s.handle(Route{Method: "PUT", Pattern: "/v1/listings/{token}", OperationID: "updateListing", Roles: rw}, s.updateListing)
	s.handle(Route{Method: "GET", Pattern: "/v1/listings/{token}/history", OperationID: "listingHistory",
		Roles: []string{RoleMatching, RoleOperator, RoleAuditor}, Audited: true}, s.history)
	for _, a := range []string{"pause", "resume", "withdraw"} {
		s.handle(Route{Method: "POST", Pattern: "/v1/listings/{token}/" + a, OperationID: a + "Listing", Roles: rw}, s.listingAction(listingActions[a]))
	}
}

func (s *Server) publish(r *http.Request, p Principal) (int, any, error) {
	var req protocol.ListingRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	return s.propose(r, p, ledger.TypePublish, req)
}

func (s *Server) updateListing(r *http.Request, p Principal) (int, any, error) {
	var req protocol.UpdateRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	return s.propose(r, p, ledger.TypeUpdate, ledger.ListingPayload{Token: r.PathValue("token"), Attrs: req.Attrs})
}

func (s *Server) listingAction(typ string) handlerFunc {
	return func(r *http.Request, p Principal) (int, any, error) {
		if err := emptyBody(r); err != nil {
			return 0, nil, err
		}
		return s.propose(r, p, typ, ledger.TokenPayload{Token: r.PathValue("token")})
	}
}

func (s *Server) search(r *http.Request, _ Principal) (int, any, error) {
	q, err := urlQuery(r)
	if err != nil {
		return 0, nil, err
	}
	sq, err := ParseSearchQuery(q)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.cfg.Ledger.Search(sq)
	if res.Listings == nil {
		res.Listings = []ledger.Listing{}
	}
	return http.StatusOK, res, err
}

func (s *Server) getListing(r *http.Request, _ Principal) (int, any, error) {
	v, err := s.cfg.Ledger.Listing(r.PathValue("token"))
	return http.StatusOK, v, err
}

func (s *Server) history(r *http.Request, _ Principal) (int, any, error) {
	h, err := s.cfg.Ledger.ListingHistory(r.PathValue("token"), historyEntriesMax)
	if err == nil && len(h) == 0 {
		if _, err := s.cfg.Ledger.Listing(r.PathValue("token")); err != nil {
			return 0, nil, err // no such listing: 404, not an empty history
		}
	}
	if h == nil {
		h = []ledger.HistoryEntry{}
	}
	return http.StatusOK, h, err
}

// ParseSearchQuery turns the query parameters of GET /v1/listings into a
// ledger search (the inverse of protocol.SearchValues). Every error is a
// 400 naming the parameter: an unknown one, a value of the wrong form, or
// one outside the ledger's closed enumerations. status and region may be
// repeated or comma-separated; needs are need.<category>=<level>.
func ParseSearchQuery(q url.Values) (ledger.SearchQuery, error) {
	var sq ledger.SearchQuery
	for _, k := range sortedKeys(q) {
		if k == protocol.ParamConsistency || isSearchParam(k) {
			continue
		}
		if c, ok := strings.CutPrefix(k, protocol.ParamNeedPrefix); ok {
			return sq, invalid(k, "%s: %q is not a need category; expected one of %s", k, c, strings.Join(ledger.NeedCategories, ", "))
		}
		return sq, invalid(k, "unknown search parameter %q", k)
	}
	sq.Status, sq.Regions = list(q, protocol.ParamStatus), list(q, protocol.ParamRegion)
	sq.LocalAuthority, sq.Agency, sq.TravelMin = q.Get(protocol.ParamLocalAuthority), q.Get(protocol.ParamAgency), q.Get(protocol.ParamTravelMin)
	if v := q.Get(protocol.ParamChildAgeYears); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return sq, invalid(protocol.ParamChildAgeYears, "%s=%q: expected whole years, 0..17", protocol.ParamChildAgeYears, v)
		}
		sq.ChildAgeYears = &n
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{protocol.ParamChildren, &sq.Children}, {protocol.ParamLimit, &sq.Limit}} {
		if v := q.Get(f.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return sq, invalid(f.name, "%s=%q: expected a whole number", f.name, v)
			}
			*f.dst = n
		}
	}
	after, err := queryUint(q, protocol.ParamAfter, 0)
	if err != nil || after > 1<<32-1 {
		return sq, invalid(protocol.ParamAfter, "%s=%q: expected the next cursor of the previous page", protocol.ParamAfter, q.Get(protocol.ParamAfter))
	}
	sq.After = uint32(after)
	if err := parseLevels(q, &sq); err != nil {
		return sq, err
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{protocol.ParamFosteringForAdopt, &sq.FosteringForAdopt}, {protocol.ParamConcurrentPlan, &sq.ConcurrentPlan}} {
		if v := q.Get(f.name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return sq, invalid(f.name, "%s=%q: expected true or false", f.name, v)
			}
			*f.dst = b
		}
	}
	return sq, validateSearch(sq)
}

func isSearchParam(k string) bool {
	for _, p := range protocol.SearchParams {
		if p == k {
			return true
		}
	}
	c, ok := strings.CutPrefix(k, protocol.ParamNeedPrefix)
	for _, n := range ledger.NeedCategories {
		if ok && n == c {
			return true
		}
	}
	return false
}

// list returns a repeatable, comma-separable parameter's values.
func list(q url.Values, k string) []string {
	var out []string
	for _, v := range q[k] {
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
	}
	return out
}

// parseLevels reads the openness minimums and need.<category> levels.
func parseLevels(q url.Values, sq *ledger.SearchQuery) error {
	for _, f := range []struct {
		name string
		dst  *ledger.Level
	}{{protocol.ParamEthnicityMin, &sq.EthnicityMin}, {protocol.ParamReligionMin, &sq.ReligionMin}, {protocol.ParamLanguageMin, &sq.LanguageMin}} {
		if q.Has(f.name) {
			if err := parseLevel(f.name, q.Get(f.name), f.dst); err != nil {
				return err
			}
		}
	}
	for _, c := range ledger.NeedCategories {
		if k := protocol.ParamNeedPrefix + c; q.Has(k) {
			var l ledger.Level
			if err := parseLevel(k, q.Get(k), &l); err != nil {
				return err
			}
			if sq.NeedsMin == nil {
				sq.NeedsMin = map[string]ledger.Level{}
			}
			sq.NeedsMin[c] = l
		}
	}
	return nil
}

func parseLevel(k, v string, dst *ledger.Level) error {
	if err := dst.UnmarshalText([]byte(v)); err != nil {
		return invalid(k, "%s=%q: expected none, low, medium or high", k, v)
	}
	return nil
}

// validateSearch runs the ledger's own check on each filter alone, so the
// error names the parameter that broke it.
func validateSearch(sq ledger.SearchQuery) error {
	one := []struct {
		param string
		q     ledger.SearchQuery
	}{
		{protocol.ParamStatus, ledger.SearchQuery{Status: sq.Status}},
		{protocol.ParamRegion, ledger.SearchQuery{Regions: sq.Regions}},
		{protocol.ParamLocalAuthority, ledger.SearchQuery{LocalAuthority: sq.LocalAuthority}},
		{protocol.ParamAgency, ledger.SearchQuery{Agency: sq.Agency}},
		{protocol.ParamChildAgeYears, ledger.SearchQuery{ChildAgeYears: sq.ChildAgeYears}},
		{protocol.ParamChildren, ledger.SearchQuery{Children: sq.Children}},
		{protocol.ParamTravelMin, ledger.SearchQuery{TravelMin: sq.TravelMin}},
		{protocol.ParamLimit, ledger.SearchQuery{Limit: sq.Limit}},
	}
	for _, o := range one {
		if err := o.q.Validate(); err != nil {
			return invalid(o.param, "%s", rejectionMessage(err))
		}
	}
	if err := sq.Validate(); err != nil {
		return invalid("", "%s", rejectionMessage(err))
	}
	return nil
}

// rejectionMessage is a ledger refusal's message without its code prefix.
func rejectionMessage(err error) string {
	var rj *ledger.Rejection
	if errors.As(err, &rj) {
		return rj.Message
	}
	return err.Error()
}
