package node

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
)

// feeAction is one finance write on an obligation: its command type and payload.
type feeAction struct {
	typ  string
	body func(r *http.Request, id uint64) (any, error)
}

// idOnly is the payload of an action that takes no body (none, or {}).
func idOnly(r *http.Request, id uint64) (any, error) {
	return ledger.ObligationPayload{ObligationID: id}, emptyBody(r)
}

// amountReq is the body of the fee actions that take one (documented as
// protocol.FeeRequest): each action uses some of its fields.
type amountReq struct {
	AmountPence int64  `json:"amount_pence,omitempty"`
	Adjustment  string `json:"adjustment,omitempty"`
	Reference   string `json:"reference,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// decodeAmount decodes an amountReq for action and refuses any field the
// action does not use, so an amount sent with a dispute (say) is a 400
// naming it instead of being dropped without a word.
func decodeAmount(r *http.Request, action string, used ...string) (amountReq, error) {
	var b amountReq
	if err := decodeBody(r, &b); err != nil {
		return b, err
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"amount_pence", b.AmountPence != 0}, {"adjustment", b.Adjustment != ""}, {"reference", b.Reference != ""}, {"reason", b.Reason != ""}} {
		if f.set && !slices.Contains(used, f.name) {
			return b, invalid(f.name, "body: %s takes only %s; field %q is not used by it", action, strings.Join(used, " and "), f.name)
		}
	}
	return b, nil
}

var feeActions = map[string]feeAction{
	"invoice": {ledger.TypeInvoice, func(r *http.Request, id uint64) (any, error) {
		b, err := decodeAmount(r, "invoice", "amount_pence", "adjustment")
		return ledger.InvoicePayload{ObligationID: id, AmountPence: b.AmountPence, Adjustment: b.Adjustment}, err
	}},
	"acknowledge": {ledger.TypeAcknowledge, idOnly},
	"dispute": {ledger.TypeDispute, func(r *http.Request, id uint64) (any, error) {
		b, err := decodeAmount(r, "dispute", "reason")
		return ledger.DisputePayload{ObligationID: id, Reason: b.Reason}, err
	}},
	"propose-resolution": {ledger.TypeProposeResolution, resolution("propose-resolution")},
	"accept-resolution":  {ledger.TypeAcceptResolution, resolution("accept-resolution")},
	"pay": {ledger.TypeRecordPayment, func(r *http.Request, id uint64) (any, error) {
		b, err := decodeAmount(r, "pay", "amount_pence", "reference")
		return ledger.PaymentPayload{ObligationID: id, AmountPence: b.AmountPence, Reference: b.Reference}, err
	}},
	"request-write-off": {ledger.TypeRequestWriteOff, func(r *http.Request, id uint64) (any, error) {
		b, err := decodeAmount(r, "request-write-off", "reason")
		return ledger.WriteOffPayload{ObligationID: id, Reason: b.Reason}, err
	}},
	"agree-write-off": {ledger.TypeAgreeWriteOff, idOnly},
}

func resolution(action string) func(r *http.Request, id uint64) (any, error) {
	return func(r *http.Request, id uint64) (any, error) {
		b, err := decodeAmount(r, action, "amount_pence")
		return ledger.ResolutionPayload{ObligationID: id, AmountPence: b.AmountPence}, err
	}
}

// FeeActions lists the obligation actions in a fixed order (routes, docs, CLI).
var FeeActions = []string{"invoice", "acknowledge", "dispute", "propose-resolution", "accept-resolution", "pay", "request-write-off", "agree-write-off"}

func (s *Server) registerFeeRoutes() {
	fin := []string{RoleFinance}
	finRead := []string{RoleFinance, RoleAuditor, RoleOperator}
	period := []string{"year", "from", "to"}
	s.handle(Route{Method: "GET", Pattern: "/v1/fees/obligations", OperationID: "listObligations", Roles: finRead,
		Params: append([]string{"role", "counterparty", "status", "after", "limit"}, period...)}, s.obligations)
	s.handle(Route{Method: "GET", Pattern: "/v1/fees/obligations/{id}", OperationID: "getObligation", Roles: finRead}, s.obligation)
	for _, a := range FeeActions {
		s.handle(Route{Method: "POST", Pattern: "/v1/fees/obligations/{id}/" + a, OperationID: "fee_" + a, Roles: fin}, s.feeWrite(feeActions[a]))
	}
	s.handle(Route{Method: "POST", Pattern: "/v1/fees/payments/{id}/confirm", OperationID: "confirmReceipt", Roles: fin}, s.confirmReceipt)
	s.handle(Route{Method: "GET", Pattern: "/v1/fees/position", OperationID: "feePosition", Roles: finRead, Params: []string{"as_of"}}, s.position)
	s.handle(Route{Method: "GET", Pattern: "/v1/fees/netting", OperationID: "nettingPlan", Roles: finRead, Params: period}, s.nettingPlan)
	s.handle(Route{Method: "POST", Pattern: "/v1/fees/netting", OperationID: "openNetting", Roles: fin}, s.openNetting)
	s.handle(Route{Method: "GET", Pattern: "/v1/fees/netting/{id}", OperationID: "getNettingRun", Roles: finRead}, s.nettingRun)
	s.handle(Route{Method: "POST", Pattern: "/v1/fees/netting/{id}/legs/{leg}/pay", OperationID: "payNettingLeg", Roles: fin}, s.nettingLeg(true))
	s.handle(Route{Method: "POST", Pattern: "/v1/fees/netting/{id}/legs/{leg}/confirm", OperationID: "confirmNettingLeg", Roles: fin}, s.nettingLeg(false))
	s.handle(Route{Method: "GET", Pattern: "/v1/fees/statement", OperationID: "statement", Roles: finRead,
		Params: append([]string{"as_of_seq", "format"}, period...)}, s.statement)
	s.handle(Route{Method: "POST", Pattern: "/v1/fees/reconcile", OperationID: "reconcile", Roles: finRead,
		Params: append([]string{protocol.ParamConsistency}, period...)}, s.reconcile)
}

func (s *Server) confirmReceipt(r *http.Request, p Principal) (int, any, error) {
	id, err := pathUint(r, "id")
	if err != nil {
		return 0, nil, err
	}
	if err := emptyBody(r); err != nil {
		return 0, nil, err
	}
	return s.propose(r, p, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: id})
}

func (s *Server) openNetting(r *http.Request, p Principal) (int, any, error) {
	var b ledger.NettingOpenPayload
	if err := decodeBody(r, &b); err != nil {
		return 0, nil, err
	}
	return s.propose(r, p, ledger.TypeNettingOpen, b)
}

func (s *Server) nettingRun(r *http.Request, _ Principal) (int, any, error) {
	id, err := pathUint(r, "id")
	if err != nil {
		return 0, nil, err
	}
	run, err := s.cfg.Ledger.NettingRun(id)
	return http.StatusOK, run, err
}

func (s *Server) feeWrite(a feeAction) handlerFunc {
	return func(r *http.Request, p Principal) (int, any, error) {
		id, err := pathUint(r, "id")
		if err != nil {
			return 0, nil, err
		}
		payload, err := a.body(r, id)
		if err != nil {
			return 0, nil, err
		}
		return s.propose(r, p, a.typ, payload)
	}
}

func (s *Server) nettingLeg(pay bool) handlerFunc {
	return func(r *http.Request, p Principal) (int, any, error) {
		id, err := pathUint(r, "id")
		if err != nil {
			return 0, nil, err
		}
		leg, err := strconv.Atoi(r.PathValue("leg"))
		if err != nil || leg < 0 {
			return 0, nil, invalid("leg", "leg %q: expected a leg number", r.PathValue("leg"))
		}
		if !pay {
			if err := emptyBody(r); err != nil {
				return 0, nil, err
			}
			return s.propose(r, p, ledger.TypeNettingConfirm, ledger.NettingLegPayload{RunID: id, Leg: leg})
		}
		b, err := decodeAmount(r, "a netting leg payment", "reference")
		if err != nil {
			return 0, nil, err
		}
		return s.propose(r, p, ledger.TypeNettingPay, ledger.NettingPayPayload{RunID: id, Leg: leg, Reference: b.Reference})
	}
}

// period reads from/to (dates) or year (a fee year, e.g. 2026 = 2026/27).
func period(r *http.Request) (*ledger.Period, error) {
	q := r.URL.Query()
	if y := q.Get("year"); y != "" {
		n, err := strconv.Atoi(y)
		if err != nil || n < 2000 || n > 2199 {
			return nil, invalid("year", "year=%q: expected a fee year such as 2026 (for 2026/27)", y)
		}
		p := ledger.FeeYearPeriod(n)
		return &p, nil
	}
	from, to := q.Get("from"), q.Get("to")
	if from == "" && to == "" {
		return nil, nil
	}
	for _, f := range [][2]string{{"from", from}, {"to", to}} {
		if _, err := time.Parse(time.DateOnly, f[1]); err != nil {
			return nil, invalid(f[0], "%s=%q: expected a date YYYY-MM-DD", f[0], f[1])
		}
	}
	return &ledger.Period{From: from, To: to}, nil
}

func (s *Server) obligations(r *http.Request, _ Principal) (int, any, error) {
	q := r.URL.Query()
	p, err := period(r)
	if err != nil {
		return 0, nil, err
	}
	after, err := queryUint(q, "after", 0)
	if err != nil {
		return 0, nil, err
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil {
			return 0, nil, invalid("limit", "limit=%q: expected 1..1000", v)
		}
	}
	oq := ledger.ObligationQuery{Agency: s.cfg.Agency, Role: q.Get("role"), Counterparty: q.Get("counterparty"),
		Status: q.Get("status"), Period: p, After: after, Limit: limit}
	if err := oq.Validate(); err != nil {
		return 0, nil, err
	}
	out, err := s.cfg.Ledger.Obligations(oq)
	if out == nil {
		out = []ledger.Obligation{}
	}
	return http.StatusOK, out, err
}

func (s *Server) obligation(r *http.Request, _ Principal) (int, any, error) {
	id, err := pathUint(r, "id")
	if err != nil {
		return 0, nil, err
	}
	o, err := s.cfg.Ledger.Obligation(id)
	return http.StatusOK, o, err
}

func (s *Server) position(r *http.Request, _ Principal) (int, any, error) {
	asOf := r.URL.Query().Get("as_of")
	if asOf == "" {
		asOf = s.cfg.Now().UTC().Format(time.DateOnly)
	}
	fp, err := s.cfg.Ledger.FeePosition(s.cfg.Agency, asOf)
	return http.StatusOK, fp, err
}

func (s *Server) nettingPlan(r *http.Request, _ Principal) (int, any, error) {
	p, err := period(r)
	if err != nil {
		return 0, nil, err
	}
	if p == nil {
		return 0, nil, invalid("year", "a period is required: year=YYYY or from=YYYY-MM-DD&to=YYYY-MM-DD")
	}
	plan, err := s.cfg.Ledger.NettingPlan(*p)
	return http.StatusOK, plan, err
}

// statement writes CSV (format=csv) or JSON directly: it is a document, not an envelope.
func (s *Server) statement(r *http.Request, _ Principal) (int, any, error) {
	p, err := period(r)
	if err != nil {
		return 0, nil, err
	}
	if p == nil {
		return 0, nil, invalid("year", "a period is required: year=YYYY or from=YYYY-MM-DD&to=YYYY-MM-DD")
	}
	asOf, err := queryUint(r.URL.Query(), "as_of_seq", 0)
	if err != nil {
		return 0, nil, err
	}
	if asOf == 0 { // default: the ledger as it is now (the response names the sequence, for reproduction)
		h, err := s.cfg.Ledger.Head()
		if err != nil {
			return 0, nil, err
		}
		asOf = h.Size - 1
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "csv" && format != "json" {
		return 0, nil, invalid("format", "format=%q: expected csv or json", format)
	}
	st, err := s.cfg.Ledger.Statement(s.cfg.Agency, *p, asOf)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, rawDoc{st: st, csv: format == "csv"}, nil
}

// rawDoc is a response body written by the document itself.
type rawDoc struct {
	st  *ledger.Statement
	csv bool
}

func (s *Server) reconcile(r *http.Request, _ Principal) (int, any, error) {
	p, err := period(r)
	if err != nil {
		return 0, nil, err
	}
	if p == nil {
		return 0, nil, invalid("year", "a period is required: year=YYYY or from=YYYY-MM-DD&to=YYYY-MM-DD")
	}
	body, err := io.ReadAll(r.Body) // bounded by BodyBytesMax: over it is a 413
	if err != nil {
		return 0, nil, err
	}
	rec, err := s.cfg.Ledger.Reconcile(bytes.NewReader(body), s.cfg.Agency, *p)
	var rj *ledger.Rejection
	if err != nil && !errors.As(err, &rj) && !errors.Is(err, ledger.ErrNotFound) && !errors.Is(err, ledger.ErrCorrupt) && !errors.Is(err, ledger.ErrClosed) {
		// the ledger has no sentinel for a malformed export: with the body
		// already read, what is left is the export's fault (its message names the line)
		return 0, nil, invalid("body", "%v", err)
	}
	return http.StatusOK, rec, err
}

// writeDoc writes a statement as CSV or JSON, byte for byte as the ledger
// renders it (the same bytes from any node, for reproduction).
func (s *Server) writeDoc(w http.ResponseWriter, r *http.Request, d rawDoc) int {
	var buf bytes.Buffer
	var err error
	ct := "application/json"
	if d.csv {
		ct = "text/csv; charset=utf-8"
		err = d.st.WriteCSV(&buf)
	} else {
		err = d.st.WriteJSON(&buf)
	}
	if err != nil {
		return s.writeProblem(w, r, err)
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return http.StatusOK
}
