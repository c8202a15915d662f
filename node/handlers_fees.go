package node

import (
	"net/http"
	"strconv"
	"time"

	"github.com/raaft/raaft/ledger"
)

// feeAction is one finance write on an obligation: its command type and payload.
type feeAction struct {
	typ  string
	body func(r *http.Request, id uint64) (any, error)
}

func idOnly(_ *http.Request, id uint64) (any, error) {
	return ledger.ObligationPayload{ObligationID: id}, nil
}

// amountReq is the body of invoice, resolution and payment actions.
type amountReq struct {
	AmountPence int64  `json:"amount_pence"`
	Adjustment  string `json:"adjustment,omitempty"`
	Reference   string `json:"reference,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

var feeActions = map[string]feeAction{
	"invoice": {ledger.TypeInvoice, func(r *http.Request, id uint64) (any, error) {
		var b amountReq
		err := decodeBody(r, &b)
		return ledger.InvoicePayload{ObligationID: id, AmountPence: b.AmountPence, Adjustment: b.Adjustment}, err
	}},
	"acknowledge": {ledger.TypeAcknowledge, idOnly},
	"dispute": {ledger.TypeDispute, func(r *http.Request, id uint64) (any, error) {
		var b amountReq
		err := decodeBody(r, &b)
		return ledger.DisputePayload{ObligationID: id, Reason: b.Reason}, err
	}},
	"propose-resolution": {ledger.TypeProposeResolution, resolution},
	"accept-resolution":  {ledger.TypeAcceptResolution, resolution},
	"pay": {ledger.TypeRecordPayment, func(r *http.Request, id uint64) (any, error) {
		var b amountReq
		err := decodeBody(r, &b)
		return ledger.PaymentPayload{ObligationID: id, AmountPence: b.AmountPence, Reference: b.Reference}, err
	}},
	"request-write-off": {ledger.TypeRequestWriteOff, func(r *http.Request, id uint64) (any, error) {
		var b amountReq
		err := decodeBody(r, &b)
		return ledger.WriteOffPayload{ObligationID: id, Reason: b.Reason}, err
	}},
	"agree-write-off": {ledger.TypeAgreeWriteOff, idOnly},
}

func resolution(r *http.Request, id uint64) (any, error) {
	var b amountReq
	err := decodeBody(r, &b)
	return ledger.ResolutionPayload{ObligationID: id, AmountPence: b.AmountPence}, err
}

// FeeActions lists the obligation actions in a fixed order (routes, docs, CLI).
var FeeActions = []string{"invoice", "acknowledge", "dispute", "propose-resolution", "accept-resolution", "pay", "request-write-off", "agree-write-off"}

func (s *Server) registerFeeRoutes() {
	fin := []string{RoleFinance}
	finRead := []string{RoleFinance, RoleAuditor, RoleOperator}
	s.handle("GET", "/v1/fees/obligations", "listObligations", finRead, s.obligations)
	s.handle("GET", "/v1/fees/obligations/{id}", "getObligation", finRead, s.obligation)
	for _, a := range FeeActions {
		s.handle("POST", "/v1/fees/obligations/{id}/"+a, "fee_"+a, fin, s.feeWrite(feeActions[a]))
	}
	s.handle("POST", "/v1/fees/payments/{id}/confirm", "confirmReceipt", fin, func(r *http.Request, p Principal) (int, any, error) {
		id, err := pathUint(r, "id")
		if err != nil {
			return 0, nil, err
		}
		if err := emptyBody(r); err != nil {
			return 0, nil, err
		}
		return s.propose(r, p, ledger.TypeConfirmReceipt, ledger.ReceiptPayload{PaymentID: id})
	})
	s.handle("GET", "/v1/fees/position", "feePosition", finRead, s.position)
	s.handle("GET", "/v1/fees/netting", "nettingPlan", finRead, s.nettingPlan)
	s.handle("POST", "/v1/fees/netting", "openNetting", fin, func(r *http.Request, p Principal) (int, any, error) {
		var b ledger.NettingOpenPayload
		if err := decodeBody(r, &b); err != nil {
			return 0, nil, err
		}
		return s.propose(r, p, ledger.TypeNettingOpen, b)
	})
	s.handle("GET", "/v1/fees/netting/{id}", "getNettingRun", finRead, func(r *http.Request, _ Principal) (int, any, error) {
		id, err := pathUint(r, "id")
		if err != nil {
			return 0, nil, err
		}
		run, err := s.cfg.Ledger.NettingRun(id)
		return http.StatusOK, run, err
	})
	s.handle("POST", "/v1/fees/netting/{id}/legs/{leg}/pay", "payNettingLeg", fin, s.nettingLeg(true))
	s.handle("POST", "/v1/fees/netting/{id}/legs/{leg}/confirm", "confirmNettingLeg", fin, s.nettingLeg(false))
	s.handle("GET", "/v1/fees/statement", "statement", finRead, s.statement)
	s.handle("POST", "/v1/fees/reconcile", "reconcile", finRead, s.reconcile)
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
		var b amountReq
		if err := decodeBody(r, &b); err != nil {
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
	for name, v := range map[string]string{"from": from, "to": to} { //det:ok validation only
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return nil, invalid(name, "%s=%q: expected a date YYYY-MM-DD", name, v)
		}
	}
	return &ledger.Period{From: from, To: to}, nil
}

func (s *Server) obligations(r *http.Request, _ Principal) (int, any, error) {
	if err := s.readConsistency(r); err != nil {
		return 0, nil, err
	}
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
	oq := ledger.ObligationQuery{Agency: s.cfg.Signer.Agency(), Role: q.Get("role"), Counterparty: q.Get("counterparty"),
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
	if err := s.readConsistency(r); err != nil {
		return 0, nil, err
	}
	id, err := pathUint(r, "id")
	if err != nil {
		return 0, nil, err
	}
	o, err := s.cfg.Ledger.Obligation(id)
	return http.StatusOK, o, err
}

func (s *Server) position(r *http.Request, _ Principal) (int, any, error) {
	if err := s.readConsistency(r); err != nil {
		return 0, nil, err
	}
	asOf := r.URL.Query().Get("as_of")
	if asOf == "" {
		asOf = s.cfg.Now().UTC().Format(time.DateOnly)
	}
	fp, err := s.cfg.Ledger.FeePosition(s.cfg.Signer.Agency(), asOf)
	return http.StatusOK, fp, err
}

func (s *Server) nettingPlan(r *http.Request, _ Principal) (int, any, error) {
	if err := s.readConsistency(r); err != nil {
		return 0, nil, err
	}
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
	if err := s.readConsistency(r); err != nil {
		return 0, nil, err
	}
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
	st, err := s.cfg.Ledger.Statement(s.cfg.Signer.Agency(), *p, asOf)
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
	rec, err := s.cfg.Ledger.Reconcile(r.Body, s.cfg.Signer.Agency(), *p) // bounded by api.body_bytes_max
	return http.StatusOK, rec, err
}
