package console

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
)

// feesData is the finance page's model.
type feesData struct {
	Year           int
	Position       ledger.FeePosition
	Owed, Owing    []ledger.Obligation // we are creditor / debtor
	Plan           *ledger.NettingPlan
	DisputeReasons []string
	Adjustments    []string
}

// fees is the finance officer's page: what the agency owes and is owed,
// with the totals, the actions each obligation allows now, the netting
// plan and the statement download.
func (c *Console) fees(r *http.Request, s Session, v *view) (string, int) {
	v.Title, v.Nav = "Fees", "fees"
	now := c.cfg.Now().UTC()
	year := now.Year()
	if y := r.URL.Query().Get("year"); y != "" {
		n, err := strconv.Atoi(y)
		if err != nil || n < 2000 || n > 2100 {
			v.Error = &notice{Kind: "error", Text: "year " + strconv.Quote(y) + ": expected a year such as " + strconv.Itoa(year)}
			return "error", http.StatusBadRequest
		}
		year = n
	}
	d := &feesData{Year: year, DisputeReasons: ledger.DisputeReasons, Adjustments: ledger.InvoiceAdjustments}
	v.Data = d
	cl := c.client(r)
	pos, err := cl.Position(r.Context(), now.Format(time.DateOnly), false) // after an action the page already read linearizably (Head)
	if err != nil {
		v.Error = &notice{Kind: "error", Text: problemText(err)}
		return "fees", statusOf(err)
	}
	d.Position = pos
	for _, role := range []string{"creditor", "debtor"} {
		obs, err := cl.Obligations(r.Context(), url.Values{"role": {role}, "year": {strconv.Itoa(year)}})
		if err != nil {
			v.Error = &notice{Kind: "error", Text: problemText(err)}
			return "fees", statusOf(err)
		}
		if role == "creditor" {
			d.Owed = obs
		} else {
			d.Owing = obs
		}
	}
	if plan, err := cl.NettingPlan(r.Context(), url.Values{"year": {strconv.Itoa(year)}}); err == nil {
		d.Plan = &plan
	} else {
		v.Error = &notice{Kind: "error", Text: "Netting plan unavailable: " + problemText(err)}
	}
	return "fees", http.StatusOK
}

// feeActions are the obligation actions the console offers.
var feeActions = []string{"invoice", "acknowledge", "dispute", "pay"}

// feeAction invoices (creditor), acknowledges, disputes or pays (debtor)
// an obligation.
func (c *Console) feeAction(r *http.Request, s Session) (string, notice) {
	back := "/fees"
	if y := r.PostForm.Get("year"); y != "" {
		back += "?year=" + url.QueryEscape(y)
	}
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	op := r.PathValue("op")
	if err != nil || !slices.Contains(feeActions, op) {
		return back, notice{"error", "Unknown fee action " + op + " on " + r.PathValue("id") + "."}
	}
	var req protocol.FeeRequest
	if op == "invoice" || op == "pay" {
		if req.AmountPence, err = parsePounds(r.PostForm.Get("amount")); err != nil {
			return back, notice{"error", "Amount: " + err.Error()}
		}
	}
	req.Adjustment, req.Reference, req.Reason = r.PostForm.Get("adjustment"), r.PostForm.Get("reference"), r.PostForm.Get("reason")
	res, err := c.client(r).FeeAction(r.Context(), id, op, req, r.PostForm.Get("idem"))
	if err != nil {
		return back, c.writeFailure(err, op)
	}
	return back, notice{"ok", fmt.Sprintf("Obligation %d: %s recorded (ledger entry %d).", id, op, res.Seq)}
}

// confirmReceipt confirms a payment arrived (creditor).
func (c *Console) confirmReceipt(r *http.Request, s Session) (string, notice) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		return "/fees", notice{"error", "Payment " + r.PathValue("id") + ": not a payment number."}
	}
	res, err := c.client(r).ConfirmReceipt(r.Context(), id, r.PostForm.Get("idem"))
	if err != nil {
		return "/fees", c.writeFailure(err, "confirm receipt")
	}
	return "/fees", notice{"ok", fmt.Sprintf("Payment %d: receipt confirmed (ledger entry %d).", id, res.Seq)}
}

// statement downloads the agency's statement for a year as CSV.
func (c *Console) statement(w http.ResponseWriter, r *http.Request) {
	s, tok, ok := c.session(w, r)
	if !ok {
		return
	}
	year := r.URL.Query().Get("year")
	if _, err := strconv.Atoi(year); err != nil {
		c.render(w, r, http.StatusBadRequest, "error", view{Title: "Statement", Session: &s, Error: &notice{Text: "year " + strconv.Quote(year) + ": expected a year such as 2026"}})
		return
	}
	b, err := c.client(r.WithContext(withToken(r.Context(), tok))).Statement(r.Context(), url.Values{"year": {year}, "format": {"csv"}})
	if err != nil {
		c.render(w, r, statusOf(err), "error", view{Title: "Statement", Session: &s, Error: &notice{Text: problemText(err)}})
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "raaft-statement-"+c.cfg.Agency+"-"+year+".csv"))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// federationData is the operator page's model.
type federationData struct {
	Status protocol.ClusterStatus
}

// federation shows the cluster as this node sees it.
func (c *Console) federation(r *http.Request, s Session, v *view) (string, int) {
	v.Title, v.Nav = "Federation", "federation"
	st, err := c.client(r).Cluster(r.Context())
	if err != nil {
		v.Error = &notice{Kind: "error", Text: problemText(err)}
		return "error", statusOf(err)
	}
	v.Data = &federationData{Status: st}
	return "federation", http.StatusOK
}

// parsePounds reads an amount typed as pounds ("1,234.50", "£27000")
// into pence, refusing fractions of a penny and non-positive amounts.
func parsePounds(s string) (int64, error) {
	s = strings.TrimSpace(strings.NewReplacer("£", "", ",", "", " ", "").Replace(s))
	if s == "" {
		return 0, errors.New("enter an amount in pounds, such as 27000 or 27,000.00")
	}
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 {
		return 0, fmt.Errorf("%q: at most two decimal places (pence)", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err1 := strconv.ParseInt(whole, 10, 64)
	p, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || w < 0 || p < 0 || w > math.MaxInt64/100-1 {
		return 0, fmt.Errorf("%q: expected pounds and pence, such as 27000 or 27,000.00", s)
	}
	if w*100+p <= 0 {
		return 0, fmt.Errorf("%q: the amount must be more than £0", s)
	}
	return w*100 + p, nil
}

// statusOf is the HTTP status to show for an API error.
func statusOf(err error) int {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Status >= 400 {
		return pe.Status
	}
	return http.StatusBadGateway
}
