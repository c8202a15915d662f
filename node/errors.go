package node

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/raaft/raaft/consensus"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
)

// problemKind is one row of the error table: status, type and title.
type problemKind struct {
	status int
	typ    string
	title  string
}

// The one table mapping ledger codes and operating errors to HTTP
// (STYLE rule 6). The protocol client maps type back to the same code.
var (
	kindInvalid      = problemKind{http.StatusBadRequest, "invalid", "Invalid request"}
	kindPersonalData = problemKind{http.StatusUnprocessableEntity, "personal_data", "Looks like personal data"}
	kindUnauthorised = problemKind{http.StatusForbidden, "unauthorised", "Not allowed for this agency"}
	kindConflict     = problemKind{http.StatusConflict, "conflict", "Conflict"}
	kindNotFound     = problemKind{http.StatusNotFound, "not_found", "Not found"}
	kindNoToken      = problemKind{http.StatusUnauthorized, "unauthenticated", "Sign-in required"}
	kindForbidden    = problemKind{http.StatusForbidden, "forbidden", "Your role does not allow this"}
	kindTooLarge     = problemKind{http.StatusRequestEntityTooLarge, "too_large", "Request body too large"}
	kindNoLeader     = problemKind{http.StatusServiceUnavailable, "no_leader", "The federation has no leader right now; nothing was written"}
	kindUnknown      = problemKind{http.StatusGatewayTimeout, "outcome_unknown", "The outcome is unknown; retry with the same Idempotency-Key"}
	kindNotReady     = problemKind{http.StatusServiceUnavailable, "not_ready", "Node not ready"}
	kindInternal     = problemKind{http.StatusInternalServerError, "internal", "Internal error"}

	codeKinds = map[ledger.Code]problemKind{
		ledger.CodeInvalid: kindInvalid, ledger.CodePersonalData: kindPersonalData, ledger.CodeUnauthorised: kindUnauthorised,
		ledger.CodeConflict: kindConflict, ledger.CodeNotFound: kindNotFound,
	}
)

// badRequest is an input error naming the field.
type badRequest struct {
	field, msg string
	kind       problemKind
}

func (b *badRequest) Error() string { return b.msg }

func invalid(field, format string, args ...any) error {
	return &badRequest{field: field, msg: sprintf(format, args...), kind: kindInvalid}
}

// classify maps any error to its problem.
func classify(err error) (problemKind, protocol.Problem) {
	var rj *ledger.Rejection
	var br *badRequest
	switch {
	case errors.As(err, &br):
		return br.kind, protocol.Problem{Detail: br.msg, Field: br.field, Code: br.kind.typ}
	case errors.As(err, &rj):
		k, ok := codeKinds[rj.Code]
		if !ok {
			k = kindInvalid
		}
		return k, protocol.Problem{Detail: rj.Message, Code: string(rj.Code), HoldExpiresMs: rj.HoldExpiresMs}
	case errors.Is(err, ErrNoToken), errors.Is(err, ErrBadToken):
		return kindNoToken, protocol.Problem{Detail: err.Error()}
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrWrongAgency):
		return kindForbidden, protocol.Problem{Detail: err.Error()}
	case errors.Is(err, ledger.ErrNotFound):
		return kindNotFound, protocol.Problem{Detail: err.Error(), Code: string(ledger.CodeNotFound)}
	case errors.Is(err, consensus.ErrNoLeader):
		return kindNoLeader, protocol.Problem{Detail: err.Error()}
	case errors.Is(err, consensus.ErrUnknownOutcome), errors.Is(err, context.DeadlineExceeded):
		return kindUnknown, protocol.Problem{Detail: err.Error()}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return kindTooLarge, protocol.Problem{Detail: err.Error()}
	}
	return kindInternal, protocol.Problem{}
}

// writeProblem writes err as application/problem+json. Unknown errors are
// logged and shown only as "Internal error".
func writeProblem(w http.ResponseWriter, log *slog.Logger, r *http.Request, err error) int {
	k, p := classify(err)
	if k == kindInternal {
		log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	p.Type, p.Title, p.Status = protocol.ProblemTypeBase+k.typ, k.title, k.status
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(k.status)
	_ = json.NewEncoder(w).Encode(p)
	return k.status
}
