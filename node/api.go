package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
)

// Replicator is how the API reaches the federation (consensus.Node in
// production). Declared here, where it is consumed.
type Replicator interface {
	// Propose submits a signed command and returns the ledger's definite result.
	Propose(ctx context.Context, signed []byte) (ledger.Result, error)
	// Barrier returns once this node has applied everything committed before the call.
	Barrier(ctx context.Context) error
	// Status describes the cluster as this node sees it.
	Status() protocol.ClusterStatus
}

// ServerConfig wires a Server.
type ServerConfig struct {
	Ledger       *ledger.Ledger
	Replicator   Replicator
	Signer       *ledger.Signer // the node's agency key: every write is signed with it
	Auth         *Authenticator
	AccessLog    io.Writer // JSON lines of every listing search and read (never the ledger)
	BodyBytesMax int64
	WriteTimeout time.Duration // bound on one write through the federation
	Ready        func() error
	Logger       *slog.Logger
	Now          func() time.Time
}

// Route is one API operation: what it is and who may call it.
type Route struct {
	Method, Pattern, OperationID string
	Roles                        []string // nil: no token needed
}

// Server is the HTTPS JSON API of one node. Safe for concurrent use.
type Server struct {
	cfg     ServerConfig
	log     *slog.Logger
	mux     *http.ServeMux
	routes  []Route
	reg     *prometheus.Registry
	reqs    *prometheus.CounterVec
	latency *prometheus.HistogramVec
	props   *prometheus.CounterVec
	alogMu  sync.Mutex
}

var idemKeyRe = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// NewServer builds the API and registers its routes.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Ledger == nil || cfg.Replicator == nil || cfg.Signer == nil || cfg.Auth == nil {
		return nil, errors.New("node: server needs Ledger, Replicator, Signer and Auth")
	}
	if cfg.BodyBytesMax <= 0 {
		cfg.BodyBytesMax = 1 << 20
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 15 * time.Second
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
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), reg: prometheus.NewRegistry()}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raaft_api_requests_total", Help: "API requests by operation and status."}, []string{"op", "status"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "raaft_api_request_seconds", Help: "API latency by operation.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"op"})
	s.props = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raaft_proposals_total", Help: "Writes by outcome."}, []string{"outcome"})
	s.reg.MustRegister(s.reqs, s.latency, s.props, collectors.NewGoCollector())
	s.registerRoutes()
	return s, nil
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Routes lists every registered operation (for the OpenAPI check and docs).
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// handlerFunc handles an authenticated request and returns the status and body to write.
type handlerFunc func(r *http.Request, p Principal) (int, any, error)

var (
	readers = []string{RoleMatching, RoleOperator, RoleAuditor, RoleFinance}
	anyRole = readers
)

func (s *Server) registerRoutes() {
	s.handle("GET", "/v1/listings", "searchListings", []string{RoleMatching, RoleOperator}, s.search)
	s.handle("POST", "/v1/listings", "publishListing", []string{RoleMatching}, s.publish)
	s.handle("GET", "/v1/listings/{token}", "getListing", []string{RoleMatching, RoleOperator}, s.getListing)
	s.handle("PUT", "/v1/listings/{token}", "updateListing", []string{RoleMatching}, s.updateListing)
	s.handle("GET", "/v1/listings/{token}/history", "listingHistory", []string{RoleMatching, RoleOperator, RoleAuditor}, s.history)
	for _, a := range []string{"pause", "resume", "withdraw"} {
		s.handle("POST", "/v1/listings/{token}/"+a, a+"Listing", []string{RoleMatching}, s.listingAction(a))
	}
	s.handle("POST", "/v1/reservations", "reserve", []string{RoleMatching}, s.reserve)
	s.handle("GET", "/v1/reservations", "listReservations", []string{RoleMatching, RoleOperator, RoleFinance}, s.reservations)
	s.handle("GET", "/v1/reservations/{id}", "getReservation", []string{RoleMatching, RoleOperator, RoleFinance}, s.getReservation)
	for _, a := range []string{"extend", "confirm", "expire", "release", "place"} {
		s.handle("POST", "/v1/reservations/{id}/"+a, a+"Reservation", []string{RoleMatching}, s.reservationAction(a))
	}
	s.handle("GET", "/v1/head", "head", readers, s.head)
	s.handle("GET", "/v1/entries/{seq}", "getEntry", []string{RoleAuditor, RoleOperator, RoleMatching, RoleFinance}, s.entry)
	s.handle("GET", "/v1/proofs/inclusion", "inclusionProof", readers, s.inclusion)
	s.handle("GET", "/v1/proofs/consistency", "consistencyProof", readers, s.consistency)
	s.handle("GET", "/v1/cluster", "clusterStatus", anyRole, s.cluster)
	s.handle("GET", "/v1/agencies", "listAgencies", anyRole, s.agencies)
	s.registerFeeRoutes()
	s.handle("GET", "/healthz", "healthz", nil, func(*http.Request, Principal) (int, any, error) {
		return http.StatusOK, map[string]string{"status": "ok"}, nil
	})
	s.handle("GET", "/readyz", "readyz", nil, s.readyz)
	s.routes = append(s.routes, Route{Method: "GET", Pattern: "/metrics", OperationID: "metrics"})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
}

// handle registers a route: authentication, role check, body limit,
// metrics, and one place where errors become problem+json.
func (s *Server) handle(method, pattern, op string, roles []string, h handlerFunc) {
	s.routes = append(s.routes, Route{Method: method, Pattern: pattern, OperationID: op, Roles: roles})
	s.mux.HandleFunc(method+" "+pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		status := s.serve(w, r, roles, h)
		s.reqs.WithLabelValues(op, strconv.Itoa(status)).Inc()
		s.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, roles []string, h handlerFunc) int {
	var p Principal
	if roles != nil {
		var err error
		if p, err = s.cfg.Auth.Authenticate(r); err != nil {
			return writeProblem(w, s.log, r, err)
		}
		if !p.Has(roles...) {
			return writeProblem(w, s.log, r, fmt.Errorf("%w: this operation needs one of %v", ErrForbidden, roles))
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.BodyBytesMax)
	status, body, err := h(r, p)
	if err != nil {
		return writeProblem(w, s.log, r, err)
	}
	if wr, ok := body.(*protocol.WriteResult); ok && wr.Duplicate {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if doc, ok := body.(rawDoc); ok {
		return s.writeDoc(w, r, doc)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
	return status
}

// decodeBody reads exactly one JSON value with no unknown fields.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return invalid("", "reading body: %v", err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalid(te.Field, "field %s: expected %s", te.Field, te.Type)
		}
		return invalid("", "body: %v", err)
	}
	if d.More() {
		return invalid("", "body: trailing data after the JSON value")
	}
	return nil
}

// propose builds, signs and submits a command for the node's agency.
func (s *Server) propose(r *http.Request, p Principal, typ string, payload any) (int, any, error) {
	key := r.Header.Get("Idempotency-Key")
	if !idemKeyRe.MatchString(key) {
		return 0, nil, invalid("Idempotency-Key", "header Idempotency-Key is required on writes: 8-64 characters of A-Z a-z 0-9 _ -")
	}
	cmd, err := ledger.NewCommand(typ, key, p.User, payload)
	if err != nil {
		return 0, nil, err
	}
	cmd.Agency, cmd.V = s.cfg.Signer.Agency(), ledger.CommandVersion
	if _, _, rj := ledger.DecodeCommand(mustJSON(cmd)); rj != nil {
		return 0, nil, rj // refuse bad input here: nothing reaches the ledger
	}
	signed, err := s.cfg.Signer.SignCommand(cmd)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WriteTimeout)
	defer cancel()
	res, err := s.cfg.Replicator.Propose(ctx, signed)
	if err != nil {
		s.props.WithLabelValues("error").Inc()
		return 0, nil, err
	}
	if res.Rejection != nil {
		s.props.WithLabelValues("rejected").Inc()
		return 0, nil, res.Rejection
	}
	s.props.WithLabelValues("accepted").Inc()
	wr := &protocol.WriteResult{Result: res}
	if typ == ledger.TypeReserve || typ == ledger.TypePropose {
		wr.ID = res.Seq
	}
	status := http.StatusOK
	if typ == ledger.TypePublish || typ == ledger.TypeReserve {
		status = http.StatusCreated
	}
	return status, wr, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// readConsistency honours ?consistency=linearizable (rqlite's level of that
// name): the node first applies everything committed before the request.
func (s *Server) readConsistency(r *http.Request) error {
	switch c := r.URL.Query().Get("consistency"); c {
	case "", "local":
		return nil
	case "linearizable":
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WriteTimeout)
		defer cancel()
		return s.cfg.Replicator.Barrier(ctx)
	default:
		return invalid("consistency", "consistency=%q: expected local or linearizable", c)
	}
}

// accessLog records a listing search or read locally (who, when, what), never on the ledger.
func (s *Server) accessLog(p Principal, op string, query any) {
	line, _ := json.Marshal(struct {
		Time  string   `json:"time"`
		User  string   `json:"user"`
		Roles []string `json:"roles"`
		Op    string   `json:"operation"`
		Query any      `json:"query"`
	}{s.cfg.Now().UTC().Format(time.RFC3339Nano), p.User, p.Roles, op, query})
	s.alogMu.Lock()
	defer s.alogMu.Unlock()
	if _, err := s.cfg.AccessLog.Write(append(line, '\n')); err != nil {
		s.log.Error("access log write failed", "err", err)
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// writeDoc writes a statement as CSV or JSON, byte for byte as the ledger renders it.
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
		return writeProblem(w, s.log, r, err)
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return http.StatusOK
}
