package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
)

// propose builds the command for one write, signs it with the agency key,
// submits it through the Replicator and turns the result into a response:
// 201 (publish, reserve) or 200 with the ledger's result, or the rejection
// through the error table. A retry with the same Idempotency-Key gets the
// first outcome again, status and body unchanged, with the header
// Idempotent-Replayed: true.
func (s *Server) propose(r *http.Request, p Principal, typ string, payload any) (int, any, error) {
	key := r.Header.Get(headerIdempotencyKey)
	if !idemKeyRe.MatchString(key) {
		return 0, nil, invalid(headerIdempotencyKey, "header %s is required on writes: 8-64 characters of A-Z a-z 0-9 _ -", headerIdempotencyKey)
	}
	cmd, err := ledger.NewCommand(typ, commandID(p.User, typ, key), p.User, payload)
	if err != nil {
		return 0, nil, fmt.Errorf("building %s: %w", typ, err)
	}
	cmd.Agency, cmd.V = s.cfg.Signer.Agency(), ledger.CommandVersion
	enc, err := json.Marshal(cmd)
	if err != nil {
		return 0, nil, fmt.Errorf("encoding %s: %w", typ, err)
	}
	if _, _, rj := ledger.DecodeCommand(enc); rj != nil {
		return 0, nil, rj // the ledger's own schema check, here: bad input never reaches the federation
	}
	signed, err := s.cfg.Signer.Sign(enc) // the bytes just checked are the bytes signed
	if err != nil {
		return 0, nil, fmt.Errorf("signing %s: %w", typ, err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WriteTimeout)
	defer cancel()
	res, err := s.cfg.Replicator.Propose(ctx, signed)
	if err != nil {
		s.props.WithLabelValues(proposalOutcome(err)).Inc()
		return 0, nil, err
	}
	if res.Duplicate && res.Accepted {
		if err := s.sameCommand(ctx, res.Seq, cmd); err != nil {
			return 0, nil, err
		}
	}
	return s.writeOutcome(typ, res)
}

// writeOutcome is the response to a definite result.
func (s *Server) writeOutcome(typ string, res ledger.Result) (int, any, error) {
	switch {
	case res.Duplicate:
		s.props.WithLabelValues("duplicate").Inc()
	case res.Rejection != nil:
		s.props.WithLabelValues("rejected").Inc()
	default:
		s.props.WithLabelValues("accepted").Inc()
	}
	if res.Rejection != nil {
		if res.Duplicate {
			return 0, nil, &replayed{res.Rejection}
		}
		return 0, nil, res.Rejection
	}
	replay := res.Duplicate
	res.Duplicate = false // the body of a replay is the body of the first answer
	wr := &protocol.WriteResult{Result: res, Replayed: replay}
	if typ == ledger.TypeReserve {
		wr.ID = res.Seq // a reservation's id is the sequence of its reserve entry
	}
	status := http.StatusOK
	if typ == ledger.TypePublish || typ == ledger.TypeReserve {
		status = http.StatusCreated
	}
	return status, wr, nil
}

// proposalOutcome labels a failed proposal for the metrics.
func proposalOutcome(err error) string {
	switch kindOf(err) {
	case kindNoLeader:
		return "no_leader"
	case kindOutcomeUnknown:
		return "unknown"
	}
	return "error"
}

// commandID is the ledger idempotency id of a write: a hash of the acting
// user, the command type and the client's Idempotency-Key. The ledger
// remembers results per (agency, id), and every user of an agency shares
// its id space; scoping the id to the user and the type means one officer's
// key can never replay another officer's write, nor a key reused for a
// different kind of write return the other's result. 43 characters of
// base64url, inside the ledger's 8-64.
func commandID(user, typ, key string) string {
	sum := sha256.Sum256([]byte("raaft-idempotency-v1\x00" + user + "\x00" + typ + "\x00" + key))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// sameCommand checks that the accepted entry a retry was answered with
// carries the same payload as the retry: a key reused for a different
// request (another reservation, say) must not look as if it succeeded.
// The entry may not be applied locally yet when the leader answered, so a
// miss waits for the Barrier once; if it is still missing the check is
// skipped (the result stands: it is the ledger's).
func (s *Server) sameCommand(ctx context.Context, seq uint64, cmd ledger.Command) error {
	e, err := s.cfg.Ledger.Entry(seq)
	if errors.Is(err, ledger.ErrNotFound) {
		if err := s.cfg.Replicator.Barrier(ctx); err != nil {
			return err
		}
		e, err = s.cfg.Ledger.Entry(seq)
	}
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		s.log.Warn("idempotent replay: entry not applied locally; payload not compared", "seq", seq)
		return nil
	case err != nil:
		return fmt.Errorf("idempotent replay: entry %d: %w", seq, err)
	}
	if e.Command != nil && e.Command.Type == cmd.Type && sameJSON(e.Command.Payload, cmd.Payload) {
		return nil
	}
	return &inputError{kind: kindIdemReused, field: headerIdempotencyKey, msg: fmt.Sprintf(
		"this %s was already used for another %s (ledger entry %d); use a new key for a new request", headerIdempotencyKey, cmd.Type, seq)}
}

// sameJSON compares two JSON documents byte for byte after compaction.
func sameJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
