package node

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/raaft/raaft/protocol"
)

// registerRoutes registers every operation. Roles per DESIGN: listing and
// reservation writes, searches and reads need matching (operators may
// read); ledger and proof reads take any role (auditors' work, and every
// officer may check a proof); cluster and registry reads take any role.
func (s *Server) registerRoutes() {
	s.registerListingRoutes()
	s.registerReservationRoutes()
	anyRole := []string{RoleMatching, RoleOperator, RoleAuditor, RoleFinance}
	s.handle(Route{Method: "GET", Pattern: "/v1/head", OperationID: "head", Roles: anyRole}, s.head)
	s.handle(Route{Method: "GET", Pattern: "/v1/entries/{seq}", OperationID: "getEntry", Roles: anyRole}, s.entry)
	s.handle(Route{Method: "GET", Pattern: "/v1/proofs/inclusion", OperationID: "inclusionProof", Roles: anyRole, Params: []string{"seq", "size"}}, s.inclusion)
	s.handle(Route{Method: "GET", Pattern: "/v1/proofs/consistency", OperationID: "consistencyProof", Roles: anyRole, Params: []string{"size1", "size2"}}, s.consistency)
	s.handle(Route{Method: "GET", Pattern: "/v1/cluster", OperationID: "clusterStatus", Roles: anyRole}, s.cluster)
	s.handle(Route{Method: "GET", Pattern: "/v1/checkpoints", OperationID: "listCheckpoints", Roles: anyRole}, s.checkpoints)
	s.handle(Route{Method: "POST", Pattern: "/v1/cluster/transfer-leadership", OperationID: "transferLeadership", Roles: []string{RoleOperator}}, s.transferLeadership)
	s.handle(Route{Method: "GET", Pattern: "/v1/agencies", OperationID: "listAgencies", Roles: anyRole}, s.agencies)
	s.handle(Route{Method: "GET", Pattern: "/v1/policy", OperationID: "getPolicy", Roles: anyRole}, s.policy)
	s.registerFeeRoutes()
	s.registerGovernanceRoutes()
	s.handle(Route{Method: "GET", Pattern: "/healthz", OperationID: "healthz"}, func(*http.Request, Principal) (int, any, error) {
		return http.StatusOK, protocol.Health{Status: "ok"}, nil
	})
	s.handle(Route{Method: "GET", Pattern: "/readyz", OperationID: "readyz"}, s.readyz)
	s.routes = append(s.routes, Route{Method: "GET", Pattern: "/metrics", OperationID: "metrics"})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}}))
}

// slogPrinter hands promhttp's errors to the server's logger.
type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Error("metrics", "err", fmt.Sprint(v...)) }

func (s *Server) head(*http.Request, Principal) (int, any, error) {
	h, err := s.cfg.Ledger.Head()
	return http.StatusOK, h, err
}

func (s *Server) entry(r *http.Request, _ Principal) (int, any, error) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		return 0, nil, invalid("seq", "seq %q: expected a non-negative integer", r.PathValue("seq"))
	}
	e, err := s.cfg.Ledger.Entry(seq)
	return http.StatusOK, protocol.Entry{HistoryEntry: e, Signed: string(e.Data)}, err
}

func (s *Server) inclusion(r *http.Request, _ Principal) (int, any, error) {
	q := r.URL.Query()
	if !q.Has("seq") {
		return 0, nil, invalid("seq", "seq is required: the entry to prove")
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
	if !q.Has("size1") {
		return 0, nil, invalid("size1", "size1 is required: the older tree size")
	}
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

// leadershipTransferrer is the optional ability of a Replicator to hand
// leadership to another voter (before maintenance on the leader's host).
type leadershipTransferrer interface {
	TransferLeadership(ctx context.Context) (protocol.LeadershipTransfer, error)
}

func (s *Server) transferLeadership(r *http.Request, _ Principal) (int, any, error) {
	if err := emptyBody(r); err != nil {
		return 0, nil, err
	}
	lt, ok := s.cfg.Replicator.(leadershipTransferrer)
	if !ok {
		return 0, nil, fmt.Errorf("%w: this node cannot transfer leadership", errNotReady)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WriteTimeout)
	defer cancel()
	out, err := lt.TransferLeadership(ctx)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

// checkpointLister is the optional ability of a Replicator to list the
// quorum-cosigned checkpoints it keeps.
type checkpointLister interface {
	Checkpoints() []protocol.Checkpoint
}

func (s *Server) checkpoints(*http.Request, Principal) (int, any, error) {
	g, err := s.cfg.Ledger.GenesisHash()
	if err != nil {
		return 0, nil, err
	}
	out := protocol.CheckpointList{Format: protocol.CheckpointListFormat, Genesis: g, Checkpoints: []protocol.Checkpoint{}}
	if cl, ok := s.cfg.Replicator.(checkpointLister); ok {
		out.Checkpoints = append(out.Checkpoints, cl.Checkpoints()...)
	}
	return http.StatusOK, out, nil
}

func (s *Server) agencies(*http.Request, Principal) (int, any, error) {
	ags, err := s.cfg.Ledger.Agencies()
	return http.StatusOK, ags, err
}

func (s *Server) policy(*http.Request, Principal) (int, any, error) {
	p, err := s.cfg.Ledger.Policy()
	return http.StatusOK, p, err
}

func (s *Server) readyz(r *http.Request, _ Principal) (int, any, error) {
	if s.cfg.Ready == nil {
		return http.StatusOK, protocol.Readiness{Status: "ready"}, nil
	}
	rd, err := s.cfg.Ready(r.Context())
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", errNotReady, err)
	}
	rd.Status = "ready"
	return http.StatusOK, rd, nil
}
