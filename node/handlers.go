package node

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
)

const (
	historyEntriesMax      = 500
	reservationsListMax    = 500
	searchQueryParamsLenMx = 2048
)

func (s *Server) publish(r *http.Request, p Principal) (int, any, error) {
	var req protocol.ListingRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	return s.propose(r, p, ledger.TypePublish, req)
}

func (s *Server) updateListing(r *http.Request, p Principal) (int, any, error) {
	var attrs struct {
		Attrs ledger.ListingAttrs `json:"attrs"`
	}
	if err := decodeBody(r, &attrs); err != nil {
		return 0, nil, err
	}
	return s.propose(r, p, ledger.TypeUpdate, ledger.ListingPayload{Token: r.PathValue("token"), Attrs: attrs.Attrs})
}

func (s *Server) listingAction(action string) handlerFunc {
	typ := map[string]string{"pause": ledger.TypePause, "resume": ledger.TypeResume, "withdraw": ledger.TypeWithdraw}[action]
	return func(r *http.Request, p Principal) (int, any, error) {
		if err := emptyBody(r); err != nil {
			return 0, nil, err
		}
		return s.propose(r, p, typ, ledger.TokenPayload{Token: r.PathValue("token")})
	}
}

// emptyBody accepts no body, "{}" or whitespace.
func emptyBody(r *http.Request) error {
	var v struct{}
	if r.ContentLength == 0 {
		return nil
	}
	return decodeBody(r, &v)
}

func (s *Server) reserve(r *http.Request, p Principal) (int, any, error) {
	var req protocol.ReserveRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	return s.propose(r, p, ledger.TypeReserve, req)
}

func (s *Server) reservationAction(action string) handlerFunc {
	return func(r *http.Request, p Principal) (int, any, error) {
		id, err := pathUint(r, "id")
		if err != nil {
			return 0, nil, err
		}
		switch action {
		case "release":
			var req protocol.ReleaseRequest
			if r.ContentLength != 0 {
				if err := decodeBody(r, &req); err != nil {
					return 0, nil, err
				}
			}
			return s.propose(r, p, ledger.TypeRelease, ledger.ReleasePayload{ReservationID: id, Reason: req.Reason})
		case "place":
			var req protocol.PlaceRequest
			if err := decodeBody(r, &req); err != nil {
				return 0, nil, err
			}
			return s.propose(r, p, ledger.TypePlace, ledger.PlacePayload{ReservationID: id, MoveInDate: req.MoveInDate})
		}
		if err := emptyBody(r); err != nil {
			return 0, nil, err
		}
		typ := map[string]string{"extend": ledger.TypeExtend, "confirm": ledger.TypeConfirm, "expire": ledger.TypeExpire}[action]
		return s.propose(r, p, typ, ledger.ReservationPayload{ReservationID: id})
	}
}

func pathUint(r *http.Request, name string) (uint64, error) {
	v, err := strconv.ParseUint(r.PathValue(name), 10, 64)
	if err != nil || v == 0 {
		return 0, invalid(name, "%s %q: expected a positive integer", name, r.PathValue(name))
	}
	return v, nil
}

func queryUint(q url.Values, name string, def uint64) (uint64, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, invalid(name, "%s=%q: expected a non-negative integer", name, s)
	}
	return v, nil
}

// searchParams are the query parameters GET /v1/listings accepts.
var searchParams = []string{"status", "region", "local_authority", "agency", "child_age_years", "children",
	"ethnicity_min", "religion_min", "language_min", "fostering_for_adoption", "concurrent_planning",
	"travel_min", "limit", "after", "consistency"}

// ParseSearchQuery turns query parameters into a ledger search, naming
// the parameter in every error. Needs: need.<category>=<level>.
func ParseSearchQuery(q url.Values) (ledger.SearchQuery, error) {
	var sq ledger.SearchQuery
	for k := range q { //det:ok validation only
		if !slices.Contains(searchParams, k) && !strings.HasPrefix(k, "need.") {
			return sq, invalid(k, "unknown query parameter %q", k)
		}
	}
	list := func(k string) []string {
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
	sq.Status, sq.Regions = list("status"), list("region")
	sq.LocalAuthority, sq.Agency, sq.TravelMin = q.Get("local_authority"), q.Get("agency"), q.Get("travel_min")
	if v := q.Get("child_age_years"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return sq, invalid("child_age_years", "child_age_years=%q: expected 0..17", v)
		}
		sq.ChildAgeYears = &n
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"children", &sq.Children}, {"limit", &sq.Limit}} {
		if v := q.Get(f.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return sq, invalid(f.name, "%s=%q: expected a number", f.name, v)
			}
			*f.dst = n
		}
	}
	after, err := queryUint(q, "after", 0)
	if err != nil || after > 1<<32-1 {
		return sq, invalid("after", "after: expected the cursor of the previous page")
	}
	sq.After = uint32(after)
	for _, f := range []struct {
		name string
		dst  *ledger.Level
	}{{"ethnicity_min", &sq.EthnicityMin}, {"religion_min", &sq.ReligionMin}, {"language_min", &sq.LanguageMin}} {
		if v := q.Get(f.name); v != "" {
			if err := f.dst.UnmarshalText([]byte(v)); err != nil {
				return sq, invalid(f.name, "%s=%q: expected none, low, medium or high", f.name, v)
			}
		}
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"fostering_for_adoption", &sq.FosteringForAdopt}, {"concurrent_planning", &sq.ConcurrentPlan}} {
		if v := q.Get(f.name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return sq, invalid(f.name, "%s=%q: expected true or false", f.name, v)
			}
			*f.dst = b
		}
	}
	for _, c := range ledger.NeedCategories {
		if v := q.Get("need." + c); v != "" {
			var l ledger.Level
			if err := l.UnmarshalText([]byte(v)); err != nil {
				return sq, invalid("need."+c, "need.%s=%q: expected none, low, medium or high", c, v)
			}
			if sq.NeedsMin == nil {
				sq.NeedsMin = map[string]ledger.Level{}
			}
			sq.NeedsMin[c] = l
		}
	}
	for k := range q { //det:ok validation only
		if c, ok := strings.CutPrefix(k, "need."); ok && !slices.Contains(ledger.NeedCategories, c) {
			return sq, invalid(k, "%s: not a need category; expected one of %v", k, ledger.NeedCategories)
		}
	}
	if err := sq.Validate(); err != nil {
		return sq, err
	}
	return sq, nil
}

func (s *Server) search(r *http.Request, p Principal) (int, any, error) {
	if len(r.URL.RawQuery) > searchQueryParamsLenMx {
		return 0, nil, invalid("", "query string longer than %d bytes", searchQueryParamsLenMx)
	}
	sq, err := ParseSearchQuery(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	if err := s.readConsistency(r); err != nil {
		return 0, nil, err
	}
	s.accessLog(p, "searchListings", r.URL.Query())
	res, err := s.cfg.Ledger.Search(sq)
	return http.StatusOK, res, err
}

func (s *Server) getListing(r *http.Request, p Principal) (int, any, error) {
	if err := s.readConsistency(r); err != nil {
		return 0, nil, err
	}
	s.accessLog(p, "getListing", map[string]string{"token": r.PathValue("token")})
	v, err := s.cfg.Ledger.Listing(r.PathValue("token"))
	return http.StatusOK, v, err
}

func (s *Server) history(r *http.Request, p Principal) (int, any, error) {
	s.accessLog(p, "listingHistory", map[string]string{"token": r.PathValue("token")})
	h, err := s.cfg.Ledger.ListingHistory(r.PathValue("token"), historyEntriesMax)
	return http.StatusOK, h, err
}

func (s *Server) getReservation(r *http.Request, _ Principal) (int, any, error) {
	id, err := pathUint(r, "id")
	if err != nil {
		return 0, nil, err
	}
	if err := s.readConsistency(r); err != nil {
		return 0, nil, err
	}
	res, err := s.cfg.Ledger.Reservation(id)
	return http.StatusOK, res, err
}

func (s *Server) reservations(r *http.Request, _ Principal) (int, any, error) {
	q := r.URL.Query()
	agency := q.Get("agency")
	if agency == "" {
		agency = s.cfg.Signer.Agency()
	}
	status := q.Get("status")
	if status != "" && !slices.Contains([]string{ledger.ResActive, ledger.ResReleased, ledger.ResExpired, ledger.ResConfirmed, ledger.ResPlaced}, status) {
		return 0, nil, invalid("status", "status=%q: expected active, released, expired, confirmed or placed", status)
	}
	out, err := s.cfg.Ledger.ReservationsByAgency(agency, status, reservationsListMax)
	if out == nil {
		out = []ledger.Reservation{}
	}
	return http.StatusOK, out, err
}

func (s *Server) head(r *http.Request, _ Principal) (int, any, error) {
	if err := s.readConsistency(r); err != nil {
		return 0, nil, err
	}
	h, err := s.cfg.Ledger.Head()
	return http.StatusOK, h, err
}

func (s *Server) entry(r *http.Request, _ Principal) (int, any, error) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		return 0, nil, invalid("seq", "seq %q: expected a non-negative integer", r.PathValue("seq"))
	}
	e, err := s.cfg.Ledger.Entry(seq)
	return http.StatusOK, e, err
}

func (s *Server) inclusion(r *http.Request, _ Principal) (int, any, error) {
	q := r.URL.Query()
	if q.Get("seq") == "" {
		return 0, nil, invalid("seq", "seq is required")
	}
	seq, err := queryUint(q, "seq", 0)
	if err != nil {
		return 0, nil, err
	}
	size, err := queryUint(q, "size", 0)
	if err != nil {
		return 0, nil, err
	}
	pr, err := s.cfg.Ledger.Inclusion(seq, size)
	return http.StatusOK, pr, err
}

func (s *Server) consistency(r *http.Request, _ Principal) (int, any, error) {
	q := r.URL.Query()
	s1, err := queryUint(q, "size1", 0)
	if err != nil {
		return 0, nil, err
	}
	s2, err := queryUint(q, "size2", 0)
	if err != nil {
		return 0, nil, err
	}
	pr, err := s.cfg.Ledger.Consistency(s1, s2)
	return http.StatusOK, pr, err
}

func (s *Server) cluster(*http.Request, Principal) (int, any, error) {
	return http.StatusOK, s.cfg.Replicator.Status(), nil
}

func (s *Server) agencies(*http.Request, Principal) (int, any, error) {
	ags, err := s.cfg.Ledger.Agencies()
	return http.StatusOK, ags, err
}

func (s *Server) readyz(*http.Request, Principal) (int, any, error) {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			return 0, nil, &badRequest{msg: err.Error(), kind: kindNotReady}
		}
	}
	return http.StatusOK, map[string]string{"status": "ready"}, nil
}
