package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/raaft/raaft/consensus"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
)

// problemKind is one row of the error table: HTTP status, problem name
// (the type URI is protocol.ProblemTypeBase + name) and title.
type problemKind struct {
	status int
	name   string
	title  string
}

// The error table (CONTRIBUTING.md, "Errors"): every error the API returns becomes
// exactly one of these rows, here and nowhere else. The protocol client maps
// the name back (protocol.Error.Code), so both sides see the same value.
var (
	kindInvalid          = problemKind{http.StatusBadRequest, protocol.ProblemInvalid, "Invalid request"}
	kindUnauthenticated  = problemKind{http.StatusUnauthorized, protocol.ProblemUnauthenticated, "Sign-in required"}
	kindForbidden        = problemKind{http.StatusForbidden, protocol.ProblemForbidden, "Your role or agency does not allow this"}
	kindUnauthorised     = problemKind{http.StatusForbidden, protocol.ProblemUnauthorised, "Not allowed for this agency"}
	kindNotFound         = problemKind{http.StatusNotFound, protocol.ProblemNotFound, "Not found"}
	kindMethodNotAllowed = problemKind{http.StatusMethodNotAllowed, protocol.ProblemMethodNotAllowed, "Method not allowed"}
	kindConflict         = problemKind{http.StatusConflict, protocol.ProblemConflict, "Conflict"}
	kindTooLarge         = problemKind{http.StatusRequestEntityTooLarge, protocol.ProblemTooLarge, "Request body too large"}
	kindPersonalData     = problemKind{http.StatusUnprocessableEntity, protocol.ProblemPersonalData, "Looks like personal data"}
	kindIdemReused       = problemKind{http.StatusUnprocessableEntity, protocol.ProblemIdempotencyKeyReused, "Idempotency-Key already used for another request"}
	kindNoLeader         = problemKind{http.StatusServiceUnavailable, protocol.ProblemNoLeader, "The federation has no leader right now; nothing was written"}
	kindNotReady         = problemKind{http.StatusServiceUnavailable, protocol.ProblemNotReady, "Node not ready"}
	kindDiverged         = problemKind{http.StatusServiceUnavailable, protocol.ProblemLedgerDiverged, "This node's ledger differs from the federation's; it serves nothing until it is rebuilt"}
	kindOutcomeUnknown   = problemKind{http.StatusGatewayTimeout, protocol.ProblemOutcomeUnknown, "Timed out; the outcome is unknown: retry a write with the same Idempotency-Key"}
	kindInternal         = problemKind{http.StatusInternalServerError, protocol.ProblemInternal, "Internal error"}
)

// codeKinds maps the ledger's rejection codes (the closed set ledger.Code).
// A rejection returned by Propose is a value in ledger.Result, not a Go
// error; propose turns it into a *ledger.Rejection error for this table.
var codeKinds = map[ledger.Code]problemKind{
	ledger.CodeInvalid:      kindInvalid,
	ledger.CodePersonalData: kindPersonalData,
	ledger.CodeUnauthorised: kindUnauthorised,
	ledger.CodeConflict:     kindConflict,
	ledger.CodeNotFound:     kindNotFound,
}

// sentinelKinds maps sentinel errors, matched with errors.Is in order.
// Three outcomes of a write stay apart (CONTRIBUTING.md): no leader (definite,
// nothing written: 503), unknown (deadline, lost leadership: 504, retry with
// the same key), and rejected (the ledger's codes above).
var sentinelKinds = []struct {
	err  error
	kind problemKind
}{
	{ErrNoToken, kindUnauthenticated},
	{ErrBadToken, kindUnauthenticated},
	{ErrForbidden, kindForbidden},
	{ErrWrongAgency, kindForbidden},
	{ledger.ErrNotFound, kindNotFound},
	{consensus.ErrNoLeader, kindNoLeader},
	{consensus.ErrNotLeader, kindNoLeader},
	{consensus.ErrUnknownOutcome, kindOutcomeUnknown},
	{context.DeadlineExceeded, kindOutcomeUnknown},
	// the caller went away: nobody reads the answer, and a write's outcome is unknown to it
	{context.Canceled, kindOutcomeUnknown},
	{consensus.ErrClosed, kindNotReady},
	{ledger.ErrClosed, kindNotReady},
	{errNotReady, kindNotReady},
	{ErrDiverged, kindDiverged},
}

// ErrDiverged is returned for every data request once this node's ledger
// has been found to differ from the one more than half of the agencies
// signed (Daemon.diverge).
var ErrDiverged = errors.New("this node's ledger differs from the federation's")

// errNotReady wraps the reason Ready gives for not serving.
var errNotReady = errors.New("node not ready")

// inputError is a problem with the request itself: it names the offending
// input (JSON field, query or path parameter, header) and its row of the table.
type inputError struct {
	kind  problemKind
	field string
	msg   string
}

func (e *inputError) Error() string { return e.msg }

// invalid is a 400 naming field.
func invalid(field, format string, args ...any) error {
	return &inputError{kind: kindInvalid, field: field, msg: fmt.Sprintf(format, args...)}
}

// replayed marks the error of an idempotent retry: the first request's
// problem, sent again with the header Idempotent-Replayed: true.
type replayed struct{ err error }

func (r *replayed) Error() string { return r.err.Error() }
func (r *replayed) Unwrap() error { return r.err }

// classify maps any error to its row and the problem's detail members.
// Unknown errors are internal: the caller logs them and shows no detail.
func classify(err error) (problemKind, protocol.Problem) {
	var in *inputError
	var rj *ledger.Rejection
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &in):
		return in.kind, protocol.Problem{Detail: in.msg, Field: in.field}
	case errors.As(err, &rj):
		k, ok := codeKinds[rj.Code]
		if !ok {
			return kindInternal, protocol.Problem{}
		}
		return k, protocol.Problem{Detail: rj.Message, Code: string(rj.Code), HoldExpiresMs: rj.HoldExpiresMs}
	case errors.As(err, &mbe):
		return kindTooLarge, protocol.Problem{Detail: fmt.Sprintf("request body over %d bytes", mbe.Limit)}
	}
	for _, s := range sentinelKinds {
		if errors.Is(err, s.err) {
			return s.kind, protocol.Problem{Detail: err.Error()}
		}
	}
	return kindInternal, protocol.Problem{}
}

// writeProblem writes err as application/problem+json (RFC 9457) and
// returns the status. Internal errors are logged with the request and shown
// only as "Internal error".
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) int {
	k, p := classify(err)
	if k == kindInternal {
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if p.Code == "" {
		p.Code = k.name
	}
	p.Type, p.Title, p.Status = protocol.ProblemTypeBase+k.name, k.title, k.status
	var rp *replayed
	if errors.As(err, &rp) {
		w.Header().Set(headerReplayed, "true")
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(k.status)
	_ = json.NewEncoder(w).Encode(p)
	return k.status
}
