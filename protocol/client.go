package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/raaft/raaft/ledger"
)

// Client limits.
const (
	writeAttemptsMax    = 5
	retryBackoffFirst   = 200 * time.Millisecond
	responseBytesMax    = 8 << 20
	defaultClientTimout = 30 * time.Second
)

// ErrUnreachable wraps transport failures (the node could not be reached).
var ErrUnreachable = errors.New("node unreachable")

// Client talks to one node's API with one user's token. Safe for concurrent use.
type Client struct {
	base        string
	token       string
	hc          *http.Client
	contentType string // of request bodies; "" = application/json
}

// NewClient returns a client for baseURL (e.g. https://127.0.0.1:8441).
// httpClient may be nil (a client with a 30 s timeout is used).
func NewClient(baseURL, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: defaultClientTimout}
	}
	return &Client{base: baseURL, token: token, hc: httpClient}
}

// do performs one request. Writes (with an idempotency key) are retried on
// 503, 504 and connection errors with the same key, so a write is applied
// at most once; reads are not retried.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any, idemKey string, out any) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return err
		}
	}
	attempts := 1
	if idemKey != "" {
		attempts = writeAttemptsMax
	}
	backoff := retryBackoffFirst
	var last error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(last, ctx.Err())
			case <-time.After(backoff):
			}
			backoff *= 2
		}
		retry, err := c.once(ctx, method, path, q, raw, idemKey, out)
		if err == nil || !retry {
			return err
		}
		last = err
	}
	return last
}

// doRaw sends a non-JSON body once (not retried).
func (c *Client) doRaw(ctx context.Context, method, path string, q url.Values, body []byte, contentType string, out any) error {
	c2 := *c
	c2.contentType = contentType
	_, err := c2.once(ctx, method, path, q, body, "", out)
	return err
}

func (c *Client) once(ctx context.Context, method, path string, q url.Values, raw []byte, idemKey string, out any) (retry bool, err error) {
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
		return false, err
	}
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
	resp, err := c.hc.Do(req)
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, responseBytesMax))
	if err != nil {
		return true, fmt.Errorf("%w: reading response: %v", ErrUnreachable, err)
	}
	if resp.StatusCode >= 300 {
		var p Problem
		_ = json.Unmarshal(b, &p)
		e := &Error{Status: resp.StatusCode, Type: p.Type, Title: p.Title, Detail: p.Detail, Code: p.Code, Field: p.Field, HoldExpiresMs: p.HoldExpiresMs}
		if e.Title == "" {
			e.Title = http.StatusText(resp.StatusCode)
		}
		return resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout, e
	}
	if rb, ok := out.(*rawBytes); ok {
		rb.set(b)
		return false, nil
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return false, fmt.Errorf("decoding response: %w", err)
		}
	}
	return false, nil
}

func (c *Client) write(ctx context.Context, method, path string, body any, key string) (WriteResult, error) {
	if key == "" {
		key = NewIdempotencyKey()
	}
	var r WriteResult
	err := c.do(ctx, method, path, nil, body, key, &r)
	return r, err
}

// Publish publishes a listing of the node's agency.
func (c *Client) Publish(ctx context.Context, req ListingRequest, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/listings", req, key)
}

// Update replaces a listing's attributes.
func (c *Client) Update(ctx context.Context, token string, attrs ledger.ListingAttrs, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPut, "/v1/listings/"+url.PathEscape(token), ledger.ListingPayload{Token: token, Attrs: attrs}, key)
}

// ListingAction pauses, resumes or withdraws a listing (action: pause, resume, withdraw).
func (c *Client) ListingAction(ctx context.Context, token, action, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/listings/"+url.PathEscape(token)+"/"+action, struct{}{}, key)
}

// Search searches listings; q holds query parameters as the API documents them.
func (c *Client) Search(ctx context.Context, q url.Values) (ledger.SearchResult, error) {
	var r ledger.SearchResult
	err := c.do(ctx, http.MethodGet, "/v1/listings", q, nil, "", &r)
	return r, err
}

// Listing returns one listing with its current hold.
func (c *Client) Listing(ctx context.Context, token string, linearizable bool) (ledger.ListingView, error) {
	var r ledger.ListingView
	err := c.do(ctx, http.MethodGet, "/v1/listings/"+url.PathEscape(token), consistency(linearizable), nil, "", &r)
	return r, err
}

// History returns the entries that touched a listing.
func (c *Client) History(ctx context.Context, token string) ([]ledger.HistoryEntry, error) {
	var r []ledger.HistoryEntry
	err := c.do(ctx, http.MethodGet, "/v1/listings/"+url.PathEscape(token)+"/history", nil, nil, "", &r)
	return r, err
}

// Reserve places a hold on a listing for a child (or sibling group) of the node's agency.
func (c *Client) Reserve(ctx context.Context, req ReserveRequest, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/reservations", req, key)
}

// ReservationAction extends, confirms or expires a hold (action: extend, confirm, expire).
func (c *Client) ReservationAction(ctx context.Context, id uint64, action, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/reservations/"+strconv.FormatUint(id, 10)+"/"+action, struct{}{}, key)
}

// Release ends a hold, with a reason code (required when the approving agency releases).
func (c *Client) Release(ctx context.Context, id uint64, reason, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/reservations/"+strconv.FormatUint(id, 10)+"/release", ReleaseRequest{Reason: reason}, key)
}

// Place records that the child moved in.
func (c *Client) Place(ctx context.Context, id uint64, moveIn, key string) (WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/v1/reservations/"+strconv.FormatUint(id, 10)+"/place", PlaceRequest{MoveInDate: moveIn}, key)
}

// Reservation returns one reservation.
func (c *Client) Reservation(ctx context.Context, id uint64, linearizable bool) (ledger.Reservation, error) {
	var r ledger.Reservation
	err := c.do(ctx, http.MethodGet, "/v1/reservations/"+strconv.FormatUint(id, 10), consistency(linearizable), nil, "", &r)
	return r, err
}

// Reservations lists holds an agency holds or whose adopter it approved (agency "" = the node's).
func (c *Client) Reservations(ctx context.Context, agency, status string) ([]ledger.Reservation, error) {
	q := url.Values{}
	if agency != "" {
		q.Set("agency", agency)
	}
	if status != "" {
		q.Set("status", status)
	}
	var r []ledger.Reservation
	err := c.do(ctx, http.MethodGet, "/v1/reservations", q, nil, "", &r)
	return r, err
}

// Entry returns the ledger entry at seq.
func (c *Client) Entry(ctx context.Context, seq uint64) (ledger.HistoryEntry, error) {
	var r ledger.HistoryEntry
	err := c.do(ctx, http.MethodGet, "/v1/entries/"+strconv.FormatUint(seq, 10), nil, nil, "", &r)
	return r, err
}

// Head returns the ledger's tree head.
func (c *Client) Head(ctx context.Context, linearizable bool) (ledger.Head, error) {
	var r ledger.Head
	err := c.do(ctx, http.MethodGet, "/v1/head", consistency(linearizable), nil, "", &r)
	return r, err
}

// Inclusion returns an inclusion proof for seq in the tree of size (0 = current).
func (c *Client) Inclusion(ctx context.Context, seq, size uint64) (ledger.InclusionProof, error) {
	var r ledger.InclusionProof
	q := url.Values{"seq": {strconv.FormatUint(seq, 10)}, "size": {strconv.FormatUint(size, 10)}}
	err := c.do(ctx, http.MethodGet, "/v1/proofs/inclusion", q, nil, "", &r)
	return r, err
}

// Consistency returns a consistency proof between two tree sizes.
func (c *Client) Consistency(ctx context.Context, size1, size2 uint64) (ledger.ConsistencyProof, error) {
	var r ledger.ConsistencyProof
	q := url.Values{"size1": {strconv.FormatUint(size1, 10)}, "size2": {strconv.FormatUint(size2, 10)}}
	err := c.do(ctx, http.MethodGet, "/v1/proofs/consistency", q, nil, "", &r)
	return r, err
}

// Cluster returns the node's view of the federation.
func (c *Client) Cluster(ctx context.Context) (ClusterStatus, error) {
	var r ClusterStatus
	err := c.do(ctx, http.MethodGet, "/v1/cluster", nil, nil, "", &r)
	return r, err
}

// Agencies returns the registry.
func (c *Client) Agencies(ctx context.Context) ([]ledger.Agency, error) {
	var r []ledger.Agency
	err := c.do(ctx, http.MethodGet, "/v1/agencies", nil, nil, "", &r)
	return r, err
}

// Ready returns nil when the node reports ready.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", nil, nil, "", nil)
}

func consistency(linearizable bool) url.Values {
	if linearizable {
		return url.Values{"consistency": {"linearizable"}}
	}
	return nil
}
