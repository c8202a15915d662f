package console

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
)

// home sends each user to the page for their work.
func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	if s, _, ok := c.session(w, r); ok {
		http.Redirect(w, r, landing(s), http.StatusSeeOther)
	}
}

// searchForm is the search page's filter form, as submitted.
type searchForm struct {
	Q        url.Values
	Regions  []string
	Statuses []string
	Needs    []string
	Levels   []string
	Travel   []string
	Agencies []ledger.Agency
}

func (f searchForm) Has(k, v string) bool { return slices.Contains(f.Q[k], v) }

// searchData is the search page's model.
type searchData struct {
	Form    searchForm
	Result  *ledger.SearchResult
	NextURL string
}

// search is the matching officer's main page: every listing filter, a
// result count and one page of results.
func (c *Console) search(r *http.Request, s Session, v *view) (string, int) {
	v.Title, v.Nav = "Find adopters", "search"
	q := url.Values{}
	for k, vals := range r.URL.Query() { // empty fields ("any") do not filter
		for _, x := range vals {
			if x != "" {
				q.Add(k, x)
			}
		}
	}
	d := searchData{Form: searchForm{Q: r.URL.Query(), Regions: ledger.Regions, Statuses: ledger.ListingStatuses,
		Needs: ledger.NeedCategories, Levels: []string{"low", "medium", "high"}, Travel: ledger.TravelBands}}
	v.Data = &d
	if ags, err := c.client(r).Agencies(r.Context()); err == nil {
		d.Form.Agencies = ags
	}
	if len(r.URL.Query()) == 0 { // first visit: show the form and what is available now
		q.Set(protocol.ParamStatus, ledger.StatusAvailable)
		d.Form.Q = url.Values{protocol.ParamStatus: {ledger.StatusAvailable}}
	}
	if !q.Has(protocol.ParamLimit) {
		q.Set(protocol.ParamLimit, "50")
	}
	res, err := c.client(r).Search(r.Context(), q)
	if err != nil {
		v.Error = &notice{Kind: "error", Text: problemText(err)}
		return "search", statusOf(err)
	}
	d.Result = &res
	if res.Next != 0 {
		next := maps.Clone(q) // Set below replaces one key's slice; the others are shared, unchanged
		next.Set(protocol.ParamAfter, strconv.FormatUint(uint64(res.Next), 10))
		d.NextURL = "/search?" + next.Encode()
	}
	return "search", http.StatusOK
}

// listingData is the listing page's model.
type listingData struct {
	Policy     *ledger.Policy // nil if it could not be read
	Listing    ledger.ListingView
	History    []ledger.HistoryEntry
	Own        bool // the listing is this node's agency's
	HeldByUs   bool
	Flags      []string
	CanReserve bool
}

// listing shows one adopter listing, who holds it and until when, its
// history, and the reserve form.
func (c *Console) listing(r *http.Request, s Session, v *view) (string, int) {
	token := r.PathValue("token")
	v.Title, v.Nav = "Adopter "+token, "search"
	cl := c.client(r)
	lv, err := cl.Listing(r.Context(), token, false)
	if err != nil {
		v.Error = &notice{Kind: "error", Text: problemText(err)}
		return "error", statusOf(err)
	}
	hist, err := cl.History(r.Context(), token)
	if err != nil {
		v.Error = &notice{Kind: "error", Text: "History unavailable: " + problemText(err)}
	}
	d := &listingData{Listing: lv, History: hist, Own: lv.Agency == c.cfg.Agency, Flags: ledger.HarderToPlaceFlags}
	d.HeldByUs = lv.Hold != nil && lv.Hold.Holder == c.cfg.Agency
	d.CanReserve = s.has(protocol.RoleMatching) && lv.Status == ledger.StatusAvailable
	if d.CanReserve {
		if pol, err := cl.Policy(r.Context()); err == nil {
			d.Policy = &pol
		}
	}
	v.Data = d
	return "listing", http.StatusOK
}

// reserve holds an adopter for a child of this agency.
func (c *Console) reserve(r *http.Request, s Session) (string, notice) {
	token := r.PathValue("token")
	back := "/listings/" + url.PathEscape(token)
	f := r.PostForm
	kids := strings.FieldsFunc(f.Get("child_tokens"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	if len(kids) == 0 {
		return back, notice{"error", "Enter the child's reference (the opaque token from your case system), one per child."}
	}
	if n := f.Get("children"); n != "" {
		want, err := strconv.Atoi(n)
		if err != nil || want < 1 {
			return back, notice{"error", "Number of children: enter a whole number, 1 or more."}
		}
		if want != len(kids) {
			return back, notice{"error", "Number of children is " + n + " but " + strconv.Itoa(len(kids)) + " child reference(s) were given: give one reference per child."}
		}
	}
	req := protocol.ReserveRequest{Listing: token, ChildTokens: kids, Flags: f["harder_to_place"]}
	if d := f.Get("hold_days"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 {
			return back, notice{"error", "Hold length: enter a whole number of days, 1 or more (or leave it empty for the policy default)."}
		}
		req.HoldDays = n
	}
	res, err := c.client(r).Reserve(r.Context(), req, f.Get("idem"))
	if err != nil {
		return back, c.writeFailure(err, "reserve")
	}
	return "/holds", notice{"ok", "Reserved: hold " + strconv.FormatUint(res.ID, 10) + " on adopter " + token + " (ledger entry " + strconv.FormatUint(res.Seq, 10) + "). No other region can reserve this adopter while you hold them."}
}

// listingAction pauses, resumes or withdraws this agency's own listing.
func (c *Console) listingAction(r *http.Request, s Session) (string, notice) {
	token, op := r.PathValue("token"), r.PathValue("op")
	back := "/listings/" + url.PathEscape(token)
	if !slices.Contains([]string{"pause", "resume", "withdraw"}, op) {
		return back, notice{"error", "Unknown action " + op + "."}
	}
	res, err := c.client(r).ListingAction(r.Context(), token, op, r.PostForm.Get("idem"))
	if err != nil {
		return back, c.writeFailure(err, op)
	}
	return back, notice{"ok", "Done: " + op + " (ledger entry " + strconv.FormatUint(res.Seq, 10) + ")."}
}

// holdsData is the holds page's model.
type holdsData struct {
	Active, Done  []ledger.Reservation
	HolderReasons []string
	DefaultMoveIn string
}

// holds lists this agency's holds with the time left and the actions on each.
func (c *Console) holds(r *http.Request, s Session, v *view) (string, int) {
	v.Title, v.Nav = "Our holds", "holds"
	all, err := c.client(r).Reservations(r.Context(), c.cfg.Agency, "")
	if err != nil {
		v.Error = &notice{Kind: "error", Text: problemText(err)}
		return "holds", statusOf(err)
	}
	d := &holdsData{HolderReasons: ledger.HolderReleaseReasons,
		DefaultMoveIn: c.cfg.Now().UTC().Format(time.DateOnly)}
	for _, h := range all {
		if h.Holder != c.cfg.Agency {
			continue
		}
		if h.Status == "active" || h.Status == "confirmed" {
			d.Active = append(d.Active, h)
		} else {
			d.Done = append(d.Done, h)
		}
	}
	v.Data = d
	return "holds", http.StatusOK
}

// holdAction extends, releases, confirms or places a hold.
func (c *Console) holdAction(r *http.Request, s Session) (string, notice) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		return "/holds", notice{"error", "Hold " + r.PathValue("id") + ": not a hold number."}
	}
	cl, key, f := c.client(r), r.PostForm.Get("idem"), r.PostForm
	var res protocol.WriteResult
	op := r.PathValue("op")
	switch op {
	case "extend":
		res, err = cl.Extend(r.Context(), id, key)
	case "confirm":
		res, err = cl.Confirm(r.Context(), id, key)
	case "release":
		res, err = cl.Release(r.Context(), id, f.Get("reason"), key)
	case "place":
		if f.Get("move_in_date") == "" {
			return "/holds", notice{"error", "Move-in date: enter the date the child moved in."}
		}
		res, err = cl.Place(r.Context(), id, f.Get("move_in_date"), key)
	default:
		return "/holds", notice{"error", "Unknown action " + op + "."}
	}
	if err != nil {
		return "/holds", c.writeFailure(err, op)
	}
	done := map[string]string{"extend": "Extended", "confirm": "Match confirmed for", "release": "Released", "place": "Placement recorded for"}[op]
	return "/holds", notice{"ok", done + " hold " + strconv.FormatUint(id, 10) + " (ledger entry " + strconv.FormatUint(res.Seq, 10) + ")."}
}

// writeFailure explains a refused or failed write, naming the hold's end
// when someone else holds the adopter.
func (c *Console) writeFailure(err error, op string) notice {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Code == protocol.ProblemConflict && pe.HoldExpiresMs > 0 {
		until := time.UnixMilli(pe.HoldExpiresMs).UTC()
		return notice{"error", "Someone else holds this adopter until " + until.Format("Mon 2 Jan 2006 15:04 MST") +
			" (" + timeLeft(until, c.cfg.Now()) + " from now). You can reserve them if that hold ends or is released. (" + problemText(err) + ")"}
	}
	if errors.As(err, &pe) && pe.Code == protocol.ProblemOutcomeUnknown {
		return notice{"error", "The federation did not answer in time, so it is not yet known whether the " + op + " was recorded. Reload this page in a moment to see, before trying again."}
	}
	return notice{"error", "Not done (" + op + "): " + problemText(err)}
}
