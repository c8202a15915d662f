package protocol

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/raaft/raaft/ledger"
)

// FeeRequest is the body of an obligation action. Each action takes only
// its own fields and refuses the others with 400 naming the field: invoice
// amount_pence and adjustment; dispute reason; propose-resolution and
// accept-resolution amount_pence; pay amount_pence and reference;
// request-write-off reason; a netting leg payment reference.
type FeeRequest struct {
	AmountPence int64  `json:"amount_pence,omitempty"`
	Adjustment  string `json:"adjustment,omitempty"`
	Reference   string `json:"reference,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// FeeAction performs an action on an obligation: invoice, acknowledge,
// dispute, propose-resolution, accept-resolution, pay, request-write-off, agree-write-off.
func (c *Client) FeeAction(ctx context.Context, id uint64, action string, req FeeRequest, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/fees/obligations/"+strconv.FormatUint(id, 10)+"/"+action, req, key)
}

// ConfirmReceipt confirms receipt of a recorded payment (creditor).
func (c *Client) ConfirmReceipt(ctx context.Context, paymentID uint64, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/fees/payments/"+strconv.FormatUint(paymentID, 10)+"/confirm", struct{}{}, key)
}

// Obligations lists the node agency's obligations (q: role, counterparty, status, year or from/to, after, limit).
func (c *Client) Obligations(ctx context.Context, q url.Values) ([]ledger.Obligation, error) {
	var r []ledger.Obligation
	err := c.get(ctx, "/v1/fees/obligations", q, &r)
	return r, err
}

// Obligation returns one obligation; linearizable reads after everything
// committed so far.
func (c *Client) Obligation(ctx context.Context, id uint64, linearizable bool) (ledger.Obligation, error) {
	var r ledger.Obligation
	err := c.get(ctx, "/v1/fees/obligations/"+strconv.FormatUint(id, 10), consistency(linearizable), &r)
	return r, err
}

// Position returns what the node's agency owes and is owed (asOf "" =
// today); linearizable reads after everything committed so far.
func (c *Client) Position(ctx context.Context, asOf string, linearizable bool) (ledger.FeePosition, error) {
	var r ledger.FeePosition
	q := url.Values{}
	if linearizable {
		q.Set(ParamConsistency, ConsistencyLinearizable)
	}
	if asOf != "" {
		q.Set("as_of", asOf)
	}
	err := c.get(ctx, "/v1/fees/position", q, &r)
	return r, err
}

// NettingPlan returns every agency's net position for a period and the transfers that clear them.
func (c *Client) NettingPlan(ctx context.Context, period url.Values) (ledger.NettingPlan, error) {
	var r ledger.NettingPlan
	err := c.get(ctx, "/v1/fees/netting", period, &r)
	return r, err
}

// OpenNetting opens a netting run over [from, to] (move-in dates).
func (c *Client) OpenNetting(ctx context.Context, from, to, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/fees/netting", ledger.NettingOpenPayload{From: from, To: to}, key)
}

// NettingRun returns a netting run; linearizable reads after everything
// committed so far.
func (c *Client) NettingRun(ctx context.Context, id uint64, linearizable bool) (ledger.NettingRun, error) {
	var r ledger.NettingRun
	err := c.get(ctx, "/v1/fees/netting/"+strconv.FormatUint(id, 10), consistency(linearizable), &r)
	return r, err
}

// NettingLeg pays (payer, with a reference) or confirms (payee) one leg of a run.
func (c *Client) NettingLeg(ctx context.Context, run uint64, leg int, pay bool, reference, key string) (WriteResult, error) {
	path := fmt.Sprintf("/v1/fees/netting/%d/legs/%d/", run, leg)
	if pay {
		return c.write(ctx, http.MethodPost, path+"pay", FeeRequest{Reference: reference}, key)
	}
	return c.write(ctx, http.MethodPost, path+"confirm", struct{}{}, key)
}

// Statement downloads the node agency's statement (q: year or from/to, as_of_seq, format=csv|json) as bytes.
func (c *Client) Statement(ctx context.Context, q url.Values) ([]byte, error) {
	var raw rawBytes
	err := c.get(ctx, "/v1/fees/statement", q, &raw)
	return raw, err
}

// Reconcile sends a finance system's statement CSV and returns the mismatches.
func (c *Client) Reconcile(ctx context.Context, period url.Values, csv io.Reader) (ledger.Reconciliation, error) {
	b, err := io.ReadAll(csv)
	if err != nil {
		return ledger.Reconciliation{}, err
	}
	var r ledger.Reconciliation
	err = c.doRaw(ctx, http.MethodPost, "/v1/fees/reconcile", period, b, "text/csv", &r)
	return r, err
}

// rawBytes receives a response body verbatim.
type rawBytes []byte

// set stores a body verbatim (once() detects rawBytes instead of decoding JSON).
func (r *rawBytes) set(b []byte) { *r = append((*r)[:0], b...) }
