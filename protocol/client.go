package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/raaft/raaft/ledger"
)

// Client limits. A write whose outcome is unknown is retried with the same
// Idempotency-Key at most writeAttemptsMax times in all, waiting
// retryBackoffFirst, then twice as long each time up to retryBackoffMax
// (each wait jittered down by up to half, so clients that failed together
// do not retry together), and never past the caller's context.
const (
	writeAttemptsMax  = 5
	retryBackoffFirst = 200 * time.Millisecond
	retryBackoffMax   = 2 * time.Second
	// responseBytesMax bounds a response body; a larger one is an error,
	// never silently cut.
	responseBytesMax = 32 << 20
	// clientTimeoutDefault bounds one request when NewClient gets no
	// http.Client; it covers a write forwarded to the leader.
	clientTimeoutDefault = 30 * time.Second
)

// ErrUnreachable wraps transport failures: the node could not be reached,
// or the connection failed before a response arrived.
var ErrUnreachable = errors.New("node unreachable")

// ErrResponseTooLarge is returned when a response body exceeds the client's
// limit (32 MiB).
var ErrResponseTooLarge = errors.New("response too large")

// Client talks to one node's API with one user's token. It is safe for
// concurrent use; the zero value is not usable (use NewClient).
type Client struct {
	base        string
	token       string
	hc          *http.Client
	contentType string // of request bodies; "" = application/json
}

// NewClient returns a client for the node at baseURL (e.g.
// https://127.0.0.1:8440) acting with the bearer token. httpClient may be
// nil: a client with a 30 s timeout is used.
func NewClient(baseURL, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: clientTimeoutDefault}
	}
	return &Client{base: baseURL, token: token, hc: httpClient}
}

// response is what one attempt learnt about a request.
type response struct {
	replayed bool // Idempotent-Replayed: true
}

// do performs a request. Writes (with an idempotency key) are retried on
// 502, 503, 504 and connection failures with the same key, so a write is
// applied at most once; reads are not retried.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any, idemKey string, out any) (response, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return response{}, fmt.Errorf("encoding request: %w", err)
		}
	}
	attempts := 1
	if idemKey != "" {
		attempts = writeAttemptsMax
	}
	backoff := retryBackoffFirst
	var last error
	for i := range attempts {
		if i > 0 {
			wait := backoff/2 + rand.N(backoff/2+1)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return response{}, errors.Join(last, ctx.Err())
			case <-t.C:
			}
			backoff = min(2*backoff, retryBackoffMax)
		}
		resp, retry, err := c.once(ctx, method, path, q, raw, idemKey, out)
		if err == nil || !retry {
			return resp, err
		}
		last = err
	}
	return response{}, last
}

// doRaw sends a non-JSON body once (not retried).
func (c *Client) doRaw(ctx context.Context, method, path string, q url.Values, body []byte, contentType string, out any) error {
	c2 := *c
	c2.contentType = contentType
	_, _, err := c2.once(ctx, method, path, q, body, "", out)
	return err
}

// once performs one attempt and says whether a failure may be retried.
func (c *Client) once(ctx context.Context, method, path string, q url.Values, raw []byte, idemKey string, out any) (response, bool, error) {
	req, err := c.newRequest(ctx, method, path, q, raw, idemKey)
	if err != nil {
		return response{}, false, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{}, ctx.Err() == nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, responseBytesMax+1))
	if err != nil {
		return response{}, ctx.Err() == nil, fmt.Errorf("%w: reading response: %w", ErrUnreachable, err)
	}
	if len(b) > responseBytesMax {
		return response{}, false, fmt.Errorf("%w: %s %s: over %d bytes", ErrResponseTooLarge, method, path, responseBytesMax)
	}
	r := response{replayed: resp.Header.Get("Idempotent-Replayed") == "true"}
	if resp.StatusCode >= 300 {
		var p Problem
		_ = json.Unmarshal(b, &p) // a body that is not a problem still yields the status
		retry := resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable ||
			resp.StatusCode == http.StatusGatewayTimeout
		return r, retry, errorOf(resp.StatusCode, p)
	}
	switch o := out.(type) {
	case nil:
	case *rawBytes:
		o.set(b)
	default:
		if err := json.Unmarshal(b, out); err != nil {
			return r, false, fmt.Errorf("decoding %s %s response: %w", method, path, err)
		}
	}
	return r, false, nil
}

func (c *Client) newRequest(ctx context.Context, method, path string, q url.Values, raw []byte, idemKey string) (*http.Request, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	if raw != nil {
		ct := c.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	return req, nil
}

// get performs a read.
func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	_, err := c.do(ctx, http.MethodGet, path, q, nil, "", out)
	return err
}

// write performs a write with idempotency key key (a random one if empty).
func (c *Client) write(ctx context.Context, method, path string, body any, key string) (WriteResult, error) {
	if key == "" {
		key = NewIdempotencyKey()
	}
	var r WriteResult
	resp, err := c.do(ctx, method, path, nil, body, key, &r)
	r.Replayed = resp.replayed
	return r, err
}

func listingPath(token string) string { return "/v1/listings/" + url.PathEscape(token) }

func reservationPath(id uint64) string { return "/v1/reservations/" + strconv.FormatUint(id, 10) }

// consistency returns the query selecting a read level.
func consistency(linearizable bool) url.Values {
	if linearizable {
		return url.Values{ParamConsistency: {ConsistencyLinearizable}}
	}
	return nil
}

// Publish publishes a listing of the node's agency (201). key is the
// Idempotency-Key; "" picks a random one. The same holds for every write.
func (c *Client) Publish(ctx context.Context, req ListingRequest, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/listings", req, key)
}

// Update replaces a listing's attributes.
func (c *Client) Update(ctx context.Context, token string, attrs ledger.ListingAttrs, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPut, listingPath(token), UpdateRequest{Attrs: attrs}, key)
}

// ListingAction pauses, resumes or withdraws a listing (action: pause,
// resume, withdraw). Pause, Resume and Withdraw name each.
func (c *Client) ListingAction(ctx context.Context, token, action, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, listingPath(token)+"/"+url.PathEscape(action), struct{}{}, key)
}

// Pause takes an available listing out of searches until it is resumed.
func (c *Client) Pause(ctx context.Context, token, key string) (WriteResult, error) {
	return c.ListingAction(ctx, token, "pause", key)
}

// Resume makes a paused listing available again.
func (c *Client) Resume(ctx context.Context, token, key string) (WriteResult, error) {
	return c.ListingAction(ctx, token, "resume", key)
}

// Withdraw withdraws a listing for good.
func (c *Client) Withdraw(ctx context.Context, token, key string) (WriteResult, error) {
	return c.ListingAction(ctx, token, "withdraw", key)
}

// Search searches listings; q holds the query parameters (build them with
// SearchValues, or by hand with the Param* names).
func (c *Client) Search(ctx context.Context, q url.Values) (ledger.SearchResult, error) {
	var r ledger.SearchResult
	err := c.get(ctx, "/v1/listings", q, &r)
	return r, err
}

// Listing returns one listing with its current hold; linearizable reads
// after everything committed before the call.
func (c *Client) Listing(ctx context.Context, token string, linearizable bool) (ledger.ListingView, error) {
	var r ledger.ListingView
	err := c.get(ctx, listingPath(token), consistency(linearizable), &r)
	return r, err
}

// History returns the accepted entries that touched a listing, oldest first.
func (c *Client) History(ctx context.Context, token string) ([]ledger.HistoryEntry, error) {
	var r []ledger.HistoryEntry
	err := c.get(ctx, listingPath(token)+"/history", nil, &r)
	return r, err
}

// Reserve places a hold on a listing for a child (or sibling group) of the
// node's agency (201; WriteResult.ID is the reservation id).
func (c *Client) Reserve(ctx context.Context, req ReserveRequest, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/reservations", req, key)
}

// ReservationAction extends, confirms or expires a hold (action: extend,
// confirm, expire). Extend, Confirm and Expire name each.
func (c *Client) ReservationAction(ctx context.Context, id uint64, action, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, reservationPath(id)+"/"+url.PathEscape(action), struct{}{}, key)
}

// Extend extends a hold (once, by the policy's extension days).
func (c *Client) Extend(ctx context.Context, id uint64, key string) (WriteResult, error) {
	return c.ReservationAction(ctx, id, "extend", key)
}

// Confirm records that the matching panel agreed: the listing becomes matched.
func (c *Client) Confirm(ctx context.Context, id uint64, key string) (WriteResult, error) {
	return c.ReservationAction(ctx, id, "confirm", key)
}

// Expire expires a hold whose end has passed in ledger time.
func (c *Client) Expire(ctx context.Context, id uint64, key string) (WriteResult, error) {
	return c.ReservationAction(ctx, id, "expire", key)
}

// Release ends a hold, with a reason code (required when the approving
// agency releases).
func (c *Client) Release(ctx context.Context, id uint64, reason, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, reservationPath(id)+"/release", ReleaseRequest{Reason: reason}, key)
}

// Place records that the child moved in on moveIn (YYYY-MM-DD); between
// agencies it creates the interagency fee.
func (c *Client) Place(ctx context.Context, id uint64, moveIn, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, reservationPath(id)+"/place", PlaceRequest{MoveInDate: moveIn}, key)
}

// Reservation returns one reservation.
func (c *Client) Reservation(ctx context.Context, id uint64, linearizable bool) (ledger.Reservation, error) {
	var r ledger.Reservation
	err := c.get(ctx, reservationPath(id), consistency(linearizable), &r)
	return r, err
}

// Reservations lists holds an agency holds or whose adopter it approved,
// newest first (agency "" = the node's; status "" = any).
func (c *Client) Reservations(ctx context.Context, agency, status string) ([]ledger.Reservation, error) {
	q := url.Values{}
	if agency != "" {
		q.Set("agency", agency)
	}
	if status != "" {
		q.Set("status", status)
	}
	var r []ledger.Reservation
	err := c.get(ctx, "/v1/reservations", q, &r)
	return r, err
}

// Entry returns the ledger entry at seq with its signed bytes.
func (c *Client) Entry(ctx context.Context, seq uint64) (Entry, error) {
	var r Entry
	err := c.get(ctx, "/v1/entries/"+strconv.FormatUint(seq, 10), nil, &r)
	return r, err
}

// Head returns the ledger's tree head.
func (c *Client) Head(ctx context.Context, linearizable bool) (ledger.Head, error) {
	var r ledger.Head
	err := c.get(ctx, "/v1/head", consistency(linearizable), &r)
	return r, err
}

// Inclusion returns an RFC 6962 inclusion proof for entry seq in the tree
// of size (0 = the current size). Check it with its Verify method.
func (c *Client) Inclusion(ctx context.Context, seq, size uint64) (ledger.InclusionProof, error) {
	var r ledger.InclusionProof
	q := url.Values{"seq": {strconv.FormatUint(seq, 10)}, "size": {strconv.FormatUint(size, 10)}}
	err := c.get(ctx, "/v1/proofs/inclusion", q, &r)
	return r, err
}

// Consistency returns an RFC 6962 consistency proof between two tree sizes
// (size2 0 = the current size).
func (c *Client) Consistency(ctx context.Context, size1, size2 uint64) (ledger.ConsistencyProof, error) {
	var r ledger.ConsistencyProof
	q := url.Values{"size1": {strconv.FormatUint(size1, 10)}, "size2": {strconv.FormatUint(size2, 10)}}
	err := c.get(ctx, "/v1/proofs/consistency", q, &r)
	return r, err
}

// Cluster returns the node's view of the federation.
func (c *Client) Cluster(ctx context.Context) (ClusterStatus, error) {
	var r ClusterStatus
	err := c.get(ctx, "/v1/cluster", nil, &r)
	return r, err
}

// TransferLeadership asks the federation's leader, through this node, to
// hand leadership to the most caught-up other voter (operator).
func (c *Client) TransferLeadership(ctx context.Context) (LeadershipTransfer, error) {
	var r LeadershipTransfer
	_, err := c.do(ctx, http.MethodPost, "/v1/cluster/transfer-leadership", nil, struct{}{}, "", &r)
	return r, err
}

// Checkpoints returns the quorum-cosigned checkpoints the node keeps.
func (c *Client) Checkpoints(ctx context.Context) (CheckpointList, error) {
	var r CheckpointList
	err := c.get(ctx, "/v1/checkpoints", nil, &r)
	return r, err
}

// Agencies returns the registry, ordered by id.
func (c *Client) Agencies(ctx context.Context) ([]ledger.Agency, error) {
	var r []ledger.Agency
	err := c.get(ctx, "/v1/agencies", nil, &r)
	return r, err
}

// Policy returns the federation's governed policy: hold lengths, extensions, limits.
func (c *Client) Policy(ctx context.Context) (ledger.Policy, error) {
	var p ledger.Policy
	err := c.get(ctx, "/v1/policy", nil, &p)
	return p, err
}

// Healthz returns nil when the node's process answers (GET /healthz).
func (c *Client) Healthz(ctx context.Context) error {
	return c.get(ctx, "/healthz", nil, nil)
}

// Readyz returns nil when the node is ready to serve (GET /readyz), else
// an *Error (503, ProblemNotReady) saying why.
func (c *Client) Readyz(ctx context.Context) error {
	return c.get(ctx, "/readyz", nil, nil)
}

// Readiness is Readyz with the body of a ready answer: the node's and the
// leader's indexes.
func (c *Client) Readiness(ctx context.Context) (Readiness, error) {
	var r Readiness
	err := c.get(ctx, "/readyz", nil, &r)
	return r, err
}

// Ready is Readyz, under the name the CLI first used.
func (c *Client) Ready(ctx context.Context) error { return c.Readyz(ctx) }

// Propose opens a governance proposal (operator); the result's Seq is the proposal id.
func (c *Client) Propose(ctx context.Context, p ledger.ProposePayload, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/governance/proposals", p, key)
}

// Approve approves a proposal for the node's agency (operator).
func (c *Client) Approve(ctx context.Context, id uint64, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/governance/proposals/"+strconv.FormatUint(id, 10)+"/approve", struct{}{}, key)
}

// Proposal returns a governance proposal.
func (c *Client) Proposal(ctx context.Context, id uint64) (ledger.Proposal, error) {
	var r ledger.Proposal
	err := c.get(ctx, "/v1/governance/proposals/"+strconv.FormatUint(id, 10), url.Values{"consistency": {"linearizable"}}, &r)
	return r, err
}

// RegisterNode registers (or re-addresses) one of the agency's nodes (operator).
func (c *Client) RegisterNode(ctx context.Context, n ledger.Node, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/agency/nodes", n, key)
}

// RemoveNode removes one of the agency's nodes from the registry (operator).
func (c *Client) RemoveNode(ctx context.Context, nodeID, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/agency/nodes/"+url.PathEscape(nodeID)+"/remove", struct{}{}, key)
}

// RotateAgencyKey replaces the agency's signing key with the key waiting
// on the node's host (node.agency_key_file + ".next") (operator).
func (c *Client) RotateAgencyKey(ctx context.Context, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/agency/rotate-key", struct{}{}, key)
}

// Metrics returns the node's Prometheus metrics in the text exposition
// format (GET /metrics; no token needed), verbatim.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	var raw rawBytes
	err := c.get(ctx, "/metrics", nil, &raw)
	return raw, err
}
