package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
)

// Replicator is how the API reaches the federation: consensus.Node in
// production (ConsensusReplicator), LocalReplicator in tests. Declared
// here, where it is consumed. All methods are called from many request
// goroutines at once.
type Replicator interface {
	// Propose submits a signed command (compact JWS bytes from
	// ledger.Signer.SignCommand); it is forwarded to the leader if needed and
	// returns the ledger's definite result, whose Rejection (if any) is a
	// domain refusal, not an error. Errors: context.DeadlineExceeded or
	// consensus.ErrUnknownOutcome (outcome unknown: retry with the same
	// idempotency id), consensus.ErrNoLeader (definite: nothing was written).
	Propose(ctx context.Context, signed []byte) (ledger.Result, error)
	// Barrier returns once this node has applied everything committed
	// before the call (linearizable reads).
	Barrier(ctx context.Context) error
	// Status describes the cluster as this node sees it. It must not block.
	Status() protocol.ClusterStatus
}

// API limits and defaults.
const (
	// bodyBytesMaxDefault is the request body limit when
	// ServerConfig.BodyBytesMax is 0 (config api.body_bytes_max's default).
	bodyBytesMaxDefault = 1 << 20
	// writeTimeoutDefault bounds one write through the federation (and a
	// linearizable read's barrier) when ServerConfig.WriteTimeout is 0.
	writeTimeoutDefault = 15 * time.Second
	// queryBytesMax bounds a request's query string.
	queryBytesMax = 2048
	// headerReplayed marks the answer to an idempotent retry.
	headerReplayed = "Idempotent-Replayed"
	// headerIdempotencyKey carries the client's idempotency key on writes.
	headerIdempotencyKey = "Idempotency-Key"
)

// idemKeyRe is what an Idempotency-Key may be: 8-64 of A-Z a-z 0-9 _ -.
var idemKeyRe = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// ServerConfig wires a Server. Ledger, Replicator, Signer and Auth are
// required; every other field has a default.
type ServerConfig struct {
	// Ledger is this node's ledger; reads come from it.
	Ledger *ledger.Ledger
	// Replicator carries writes to the federation and orders linearizable reads.
	Replicator Replicator
	// Signer is the node's agency key: every write is signed with it.
	Signer *ledger.Signer
	// Agency is the node's agency; "" means Signer's. It must equal the
	// Signer's and the Authenticator's agency.
	Agency string
	// NodeID names this node in the access log; optional.
	NodeID string
	// Auth checks users' bearer tokens.
	Auth *Authenticator
	// AccessLog receives one JSON line per authenticated call, every
	// listing search and read included (never the ledger). Writes to it
	// are serialised. nil discards; a listing read whose line cannot be
	// written is refused (500), so no read goes unlogged.
	AccessLog io.Writer
	// BodyBytesMax is the largest request body accepted, in bytes; larger
	// bodies get 413, never truncated. 0 means 1 MiB.
	BodyBytesMax int64
	// WriteTimeout bounds one write through the federation and the barrier
	// of a linearizable read; past it the outcome is unknown (504).
	// 0 means 15 s.
	WriteTimeout time.Duration
	// Ready reports whether the node can serve (GET /readyz): nil, or why
	// not (503). nil means always ready.
	Ready func(ctx context.Context) (protocol.Readiness, error)
	// Serving reports nil, or why this node must not serve its ledger's
	// data at all (it differs from the federation's: 503 ledger_diverged
	// for every data request). nil means always.
	Serving func() error
	// Logger receives internal errors; nil discards.
	Logger *slog.Logger
	// Now is the clock for access log lines and default dates; nil means
	// time.Now. It never reaches the ledger: entries take the leader's time.
	Now func() time.Time
	// Keys holds the agency key files for POST /v1/agency/rotate-key; nil
	// refuses that operation (409).
	Keys KeyStore
	// Collectors are served on /metrics beside the API's own metrics
	// (raaft node run adds Raft's timings here).
	Collectors []prometheus.Collector
}

// Route is one API operation: what it is, who may call it and which query
// parameters it takes. Routes lists them for the docs and OpenAPI checks.
type Route struct {
	// Method and Pattern are the http.ServeMux pattern's parts
	// ("GET", "/v1/listings/{token}").
	Method, Pattern string
	// OperationID names the operation in metrics, the access log and the
	// OpenAPI document (searchListings, reserve, ...).
	OperationID string
	// Roles may call it; nil means no token is needed.
	Roles []string
	// Params are the query parameters it accepts; a trailing "*" accepts
	// a prefix (need.*). Every GET also accepts consistency, as does a
	// read sent as a POST that lists it. Any other parameter is refused
	// with 400, naming it.
	Params []string
	// Audited routes read listings: their access log line must be written
	// before the answer is sent.
	Audited bool
}

// Server is the HTTPS JSON API of one node. Its Handler is safe for
// concurrent use; the Server holds no goroutines and needs no Close.
type Server struct {
	cfg     ServerConfig
	log     *slog.Logger
	mux     *http.ServeMux
	routes  []Route
	alog    *accessLog
	reg     *prometheus.Registry
	reqs    *prometheus.CounterVec
	latency *prometheus.HistogramVec
	props   *prometheus.CounterVec
}

// handlerFunc handles an authenticated request and returns the status and
// body to write, or an error for the error table.
type handlerFunc func(r *http.Request, p Principal) (int, any, error)

// NewServer checks cfg and builds the API with its routes.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Ledger == nil || cfg.Replicator == nil || cfg.Signer == nil || cfg.Auth == nil {
		return nil, errors.New("node: ServerConfig needs Ledger, Replicator, Signer and Auth")
	}
	if cfg.Agency == "" {
		cfg.Agency = cfg.Signer.Agency()
	}
	if cfg.Agency != cfg.Signer.Agency() || cfg.Agency != cfg.Auth.cfg.Agency {
		return nil, fmt.Errorf("node: ServerConfig.Agency %q, Signer agency %q and Auth agency %q must be the same: a user acts only for the node's agency",
			cfg.Agency, cfg.Signer.Agency(), cfg.Auth.cfg.Agency)
	}
	if cfg.BodyBytesMax < 0 || cfg.WriteTimeout < 0 {
		return nil, fmt.Errorf("node: BodyBytesMax %d and WriteTimeout %v must not be negative", cfg.BodyBytesMax, cfg.WriteTimeout)
	}
	if cfg.BodyBytesMax == 0 {
		cfg.BodyBytesMax = bodyBytesMaxDefault
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = writeTimeoutDefault
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AccessLog == nil {
		cfg.AccessLog = io.Discard
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), reg: prometheus.NewRegistry(),
		alog: &accessLog{w: cfg.AccessLog, now: cfg.Now, node: cfg.NodeID}}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raaft_api_requests_total",
		Help: "API requests by operation and HTTP status."}, []string{"op", "status"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "raaft_api_request_seconds",
		Help: "API request latency by operation and HTTP status.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"op", "status"})
	s.props = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raaft_proposals_total",
		Help: "Writes proposed to the federation by outcome: accepted, duplicate, rejected, no_leader, unknown, error."}, []string{"outcome"})
	s.reg.MustRegister(s.reqs, s.latency, s.props, collectors.NewGoCollector(), buildInfoGauge())
	for _, c := range cfg.Collectors {
		if err := s.reg.Register(c); err != nil {
			return nil, fmt.Errorf("node: ServerConfig.Collectors: %w", err)
		}
	}
	s.registerRoutes()
	return s, nil
}

// Handler returns the HTTP handler: the routes, problem+json for unknown
// paths and methods, and a recovered panic as a logged 500.
func (s *Server) Handler() http.Handler { return s }

// Routes lists every registered operation, in registration order.
func (s *Server) Routes() []Route {
	out := make([]Route, len(s.routes))
	for i, r := range s.routes {
		r.Roles, r.Params = slices.Clone(r.Roles), slices.Clone(r.Params)
		out[i] = r
	}
	return out
}

// ServeHTTP serves the API (the Handler).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { // net/http's way to abort a response: let it through
				panic(v)
			}
			s.writeProblem(w, r, fmt.Errorf("panic serving %s %s: %v", r.Method, r.URL.Path, v))
		}
	}()
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.noRoute(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// noRoute answers a request no route matches: 405 with Allow when the
// path exists for other methods, else 404, both as problems.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, rt := range s.routes {
		probe := r.Clone(r.Context())
		probe.Method = rt.Method
		if _, pattern := s.mux.Handler(probe); pattern == rt.Method+" "+rt.Pattern && !slices.Contains(allow, rt.Method) {
			allow = append(allow, rt.Method)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeProblem(w, r, &inputError{kind: kindMethodNotAllowed, msg: fmt.Sprintf("%s %s: allowed methods are %s", r.Method, r.URL.Path, strings.Join(allow, ", "))})
		return
	}
	s.writeProblem(w, r, &inputError{kind: kindNotFound, msg: fmt.Sprintf("no API operation at %s", r.URL.Path)})
}

// handle registers a route: authentication, role, query parameters, read
// consistency, body limit, access log, metrics, and one place where errors
// become problem+json.
func (s *Server) handle(rt Route, h handlerFunc) {
	s.routes = append(s.routes, rt)
	s.mux.HandleFunc(rt.Method+" "+rt.Pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		status := s.serve(w, r, rt, h)
		code := strconv.Itoa(status)
		s.reqs.WithLabelValues(rt.OperationID, code).Inc()
		s.latency.WithLabelValues(rt.OperationID, code).Observe(time.Since(start).Seconds())
	})
}

// serve runs one request through the route's checks and its handler and
// returns the status written.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, rt Route, h handlerFunc) int {
	if s.cfg.Serving != nil && rt.Roles != nil {
		if err := s.cfg.Serving(); err != nil {
			return s.writeProblem(w, r, err)
		}
	}
	p, err := s.authorise(r, rt)
	if err != nil {
		return s.writeProblem(w, r, err)
	}
	if err := checkParams(r, rt); err != nil {
		return s.writeProblem(w, r, err)
	}
	if rt.Roles != nil && (rt.Method == http.MethodGet || slices.Contains(rt.Params, protocol.ParamConsistency)) {
		if err := s.readConsistency(r); err != nil {
			return s.writeProblem(w, r, err)
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.BodyBytesMax)
	status, body, err := h(r, p)
	if err != nil {
		status = kindOf(err).status
	}
	if rt.Roles != nil {
		if lerr := s.alog.record(r, rt, p, status); lerr != nil {
			s.log.Error("access log write failed", "op", rt.OperationID, "err", lerr)
			if rt.Audited {
				return s.writeProblem(w, r, fmt.Errorf("access log: %w", lerr))
			}
		}
	}
	if err != nil {
		return s.writeProblem(w, r, err)
	}
	return s.writeBody(w, r, status, body)
}

// kindOf is the error table row of err (for the access log's status).
func kindOf(err error) problemKind {
	k, _ := classify(err)
	return k
}

// writeBody writes a successful response.
func (s *Server) writeBody(w http.ResponseWriter, r *http.Request, status int, body any) int {
	switch b := body.(type) {
	case rawDoc:
		return s.writeDoc(w, r, b)
	case *protocol.WriteResult:
		if b.Replayed {
			w.Header().Set(headerReplayed, "true")
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(body); err != nil {
		s.log.Warn("writing response", "path", r.URL.Path, "err", err)
	}
	return status
}

// authorise authenticates the caller and checks the route's roles.
func (s *Server) authorise(r *http.Request, rt Route) (Principal, error) {
	if rt.Roles == nil {
		return Principal{}, nil
	}
	p, err := s.cfg.Auth.Authenticate(r)
	if err != nil {
		return Principal{}, err
	}
	if !p.Has(rt.Roles...) {
		return Principal{}, fmt.Errorf("%w: %s needs one of the roles %s", ErrForbidden, rt.OperationID, strings.Join(rt.Roles, ", "))
	}
	return p, nil
}

// checkParams refuses a query string that is too long or names a
// parameter the route does not take, naming it.
func checkParams(r *http.Request, rt Route) error {
	if len(r.URL.RawQuery) > queryBytesMax {
		return invalid("", "query string of %d bytes; at most %d", len(r.URL.RawQuery), queryBytesMax)
	}
	q, err := urlQuery(r)
	if err != nil {
		return err
	}
	for _, k := range sortedKeys(q) {
		ok := rt.Method == http.MethodGet && k == protocol.ParamConsistency
		for _, p := range rt.Params {
			if prefix, wild := strings.CutSuffix(p, "*"); wild && strings.HasPrefix(k, prefix) || p == k {
				ok = true
			}
		}
		if !ok {
			if len(rt.Params) == 0 {
				return invalid(k, "unknown query parameter %q: %s takes none", k, rt.OperationID)
			}
			return invalid(k, "unknown query parameter %q: %s takes %s", k, rt.OperationID, strings.Join(rt.Params, ", "))
		}
	}
	return nil
}

// readConsistency honours ?consistency= on reads, with rqlite's level
// names: local (the default) reads this node's ledger as it is;
// linearizable first waits until this node has applied everything
// committed before the request (Replicator.Barrier), bounded by WriteTimeout.
func (s *Server) readConsistency(r *http.Request) error {
	switch c := r.URL.Query().Get(protocol.ParamConsistency); c {
	case "", protocol.ConsistencyLocal:
		return nil
	case protocol.ConsistencyLinearizable:
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WriteTimeout)
		defer cancel()
		return s.cfg.Replicator.Barrier(ctx)
	default:
		return invalid(protocol.ParamConsistency, "consistency=%q: expected %s or %s", c, protocol.ConsistencyLocal, protocol.ConsistencyLinearizable)
	}
}
