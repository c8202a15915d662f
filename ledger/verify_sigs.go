package ledger

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Verify checks every signature a second time here, with nothing of the
// apply path's verification: its own parsing of the JWS (RFC 7515
// compact and general serialisations) and crypto/ed25519.Verify instead
// of the fixed-base verifier in ed25519.go and ed25519_fixed.go. A bug
// that made the fast path accept a bad signature would otherwise be
// replayed, and accepted, by the same code.

// errUnknownKID means a signature names a key the registry, as replayed
// so far, does not hold.
var errUnknownKID = errors.New("signed with a key the registry does not hold")

// jwsHeaderStdlib is the part of a protected header Verify reads.
type jwsHeaderStdlib struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// verifyCommandStdlib verifies a compact JWS (header.payload.signature,
// base64url) with the key its header names.
func verifyCommandStdlib(jws []byte, keys map[string]ed25519.PublicKey) error {
	parts := bytes.Split(jws, []byte("."))
	if len(parts) != 3 {
		return fmt.Errorf("not a compact JWS: %d parts", len(parts))
	}
	return verifyPartsStdlib(parts[0], parts[1], parts[2], keys)
}

// verifyCompactPayloadStdlib verifies a compact JWS like
// verifyCommandStdlib and returns its decoded payload.
func verifyCompactPayloadStdlib(jws []byte, keys map[string]ed25519.PublicKey) ([]byte, error) {
	parts := bytes.Split(jws, []byte("."))
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a compact JWS: %d parts", len(parts))
	}
	if err := verifyPartsStdlib(parts[0], parts[1], parts[2], keys); err != nil {
		return nil, err
	}
	payload, err := base64.RawURLEncoding.DecodeString(string(parts[1]))
	if err != nil {
		return nil, errors.New("payload is not base64url")
	}
	return payload, nil
}

// verifyPartsStdlib verifies one JWS signature over protected "." payload.
func verifyPartsStdlib(prot, payload, sig []byte, keys map[string]ed25519.PublicKey) error {
	hb, err := base64.RawURLEncoding.DecodeString(string(prot))
	if err != nil {
		return errors.New("protected header is not base64url")
	}
	var h jwsHeaderStdlib
	if err := json.Unmarshal(hb, &h); err != nil {
		return fmt.Errorf("protected header: %w", err)
	}
	if h.Alg != "EdDSA" {
		return fmt.Errorf("alg %q is not EdDSA", h.Alg)
	}
	pub, ok := keys[h.Kid]
	if !ok {
		return fmt.Errorf("%w: kid %q", errUnknownKID, h.Kid)
	}
	s, err := base64.RawURLEncoding.DecodeString(string(sig))
	if err != nil {
		return errors.New("signature is not base64url")
	}
	input := make([]byte, 0, len(prot)+1+len(payload))
	input = append(append(append(input, prot...), '.'), payload...)
	if !ed25519.Verify(pub, input, s) {
		return fmt.Errorf("the signature by kid %q does not verify", h.Kid)
	}
	return nil
}

// verifyGenesisStdlib verifies every founder signature of a genesis
// document (a general JWS) and returns how many it verified.
func verifyGenesisStdlib(doc []byte, keys map[string]ed25519.PublicKey) (uint64, error) {
	var gj jwsGeneral
	if err := json.Unmarshal(doc, &gj); err != nil {
		return 0, fmt.Errorf("not a general JWS: %w", err)
	}
	if len(gj.Signatures) == 0 {
		return 0, errors.New("no signatures")
	}
	for i, s := range gj.Signatures {
		if err := verifyPartsStdlib([]byte(s.Protected), []byte(gj.Payload), []byte(s.Signature), keys); err != nil {
			return 0, fmt.Errorf("signature %d (crypto/ed25519): %w", i, err)
		}
	}
	return uint64(len(gj.Signatures)), nil
}
