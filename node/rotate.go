package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/protocol"
)

// KeyStore is the node's agency key on disk, as rotating it needs: the key
// waiting to replace the current one, and the switch to it once the ledger
// has accepted the rotation.
type KeyStore interface {
	// Current returns the key in use on disk.
	Current() (ed25519.PrivateKey, error)
	// Next returns the waiting key, or an error wrapping fs.ErrNotExist.
	Next() (ed25519.PrivateKey, error)
	// Promote makes the waiting key the node's agency key on disk and keeps
	// the old one aside.
	Promote() error
}

// KeyFiles is a node's KeyStore: node.agency_key_file, and the waiting key
// beside it at the same path with ".next" added.
type KeyFiles struct {
	Path string           // node.agency_key_file
	Now  func() time.Time // names the retired file; nil means time.Now
}

// NextPath is where a key waiting to replace the agency key is kept.
func (k KeyFiles) NextPath() string { return k.Path + ".next" }

// Current reads the agency key file.
func (k KeyFiles) Current() (ed25519.PrivateKey, error) { return ReadKeyFile(k.Path) }

// Next reads the waiting key.
func (k KeyFiles) Next() (ed25519.PrivateKey, error) { return ReadKeyFile(k.NextPath()) }

// Promote swaps the files so that Path holds the waiting key at every
// moment a reader could look: the old key is hard-linked to
// Path.retired-TIME, then the waiting key renamed over Path.
func (k KeyFiles) Promote() error {
	now := time.Now
	if k.Now != nil {
		now = k.Now
	}
	retired := k.Path + ".retired-" + now().UTC().Format("20060102T150405Z")
	if err := os.Link(k.Path, retired); err != nil {
		return fmt.Errorf("keep the old agency key: %w", err)
	}
	if err := os.Rename(k.NextPath(), k.Path); err != nil {
		return fmt.Errorf("promote the new agency key: %w", err)
	}
	d, err := os.Open(filepath.Dir(k.Path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// rotateKey replaces the agency's signing key with the key waiting in the
// node's KeyStore: an agency.rotate_key entry signed with the current key
// (the ledger accepts nothing else), then, once accepted, every later
// signature with the new key and the key files swapped. A rotation the
// ledger already holds (the node stopped before it could switch) is
// completed without a new entry: the answer is marked replayed.
func (s *Server) rotateKey(r *http.Request, p Principal) (int, any, error) {
	if err := emptyBody(r); err != nil {
		return 0, nil, err
	}
	if s.cfg.Keys == nil {
		return 0, nil, &inputError{kind: kindConflict, msg: "this node keeps no agency key files (ServerConfig.Keys): it cannot rotate its key"}
	}
	next, err := s.cfg.Keys.Next()
	if errors.Is(err, fs.ErrNotExist) {
		// a retry of a rotation that went through: its first answer again
		key := r.Header.Get(headerIdempotencyKey)
		if prev, ok, err := s.cfg.Ledger.PreviousResult(s.cfg.Agency, commandID(p.User, ledger.TypeRotateKey, key)); err != nil {
			return 0, nil, err
		} else if ok && idemKeyRe.MatchString(key) {
			return s.writeOutcome(ledger.TypeRotateKey, prev)
		}
		return 0, nil, &inputError{kind: kindConflict, msg: "no agency key is waiting to replace the current one: create it on the node's host with `raaft governance new-key --config node.yaml`, then rotate"}
	}
	if err != nil {
		return 0, nil, fmt.Errorf("waiting agency key: %w", err)
	}
	pub := next.Public().(ed25519.PublicKey)
	kid, err := ledger.KeyID(pub)
	if err != nil {
		return 0, nil, err
	}
	if cur, err := s.cfg.Keys.Current(); err == nil && cur.Equal(next) {
		return 0, nil, &inputError{kind: kindConflict, msg: fmt.Sprintf("the waiting key is the key already in node.agency_key_file (%s): create a new one with `raaft governance new-key`", kid)}
	}
	done, err := s.keyActive(r.Context(), kid)
	if err != nil {
		return 0, nil, err
	}
	status, body := http.StatusOK, any(&protocol.WriteResult{Result: ledger.Result{Accepted: true}, Replayed: true})
	if !done {
		if status, body, err = s.propose(r, p, ledger.TypeRotateKey, ledger.RotateKeyPayload{PublicKey: ledger.EncodePublicKey(pub)}); err != nil {
			return 0, nil, err
		}
	}
	// From here the ledger accepts only the new key: switch first, then the files.
	if err := s.cfg.Signer.Rotate(next); err != nil {
		return 0, nil, err
	}
	if err := s.cfg.Keys.Promote(); err != nil {
		s.log.Error("agency key rotated on the ledger and in memory, but the key files were not swapped: move the .next file over node.agency_key_file before the node restarts", "kid", kid, "err", err)
		return 0, nil, err
	}
	s.log.Info("agency key rotated", "agency", s.cfg.Agency, "kid", kid)
	return status, body, nil
}

// keyActive reports whether kid is already the agency's active key, after
// a linearizable barrier so the registry read is current.
func (s *Server) keyActive(ctx context.Context, kid string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	if err := s.cfg.Replicator.Barrier(ctx); err != nil {
		return false, err
	}
	ag, err := s.cfg.Ledger.Agency(s.cfg.Agency)
	if err != nil {
		return false, err
	}
	return ag.ActiveKID() == kid, nil
}
