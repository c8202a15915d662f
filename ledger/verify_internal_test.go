package ledger

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

// TestVerifyCommandStdlib: the audit's own signature check accepts a
// command its key signed, and refuses a changed signature, a changed
// payload, a key the registry lacks and a non-compact JWS.
func TestVerifyCommandStdlib(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	s, err := NewSigner("a1", priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCommand(TypePublish, "stdlib-0001", "u", map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.SignCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]ed25519.PublicKey{s.KID(): priv.Public().(ed25519.PublicKey)}
	if err := verifyCommandStdlib(jws, keys); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	dot := bytes.LastIndexByte(jws, '.')
	flip := func(i int) []byte {
		b := bytes.Clone(jws)
		b[i] ^= 1 // base64url letters stay letters: A<->B, a<->b
		return b
	}
	for name, bad := range map[string][]byte{
		"signature": flip(dot + 3),
		"payload":   flip(dot - 3),
		"parts":     jws[:dot],
	} {
		if err := verifyCommandStdlib(bad, keys); err == nil {
			t.Errorf("changed %s verified", name)
		}
	}
	if err := verifyCommandStdlib(jws, map[string]ed25519.PublicKey{}); !errors.Is(err, errUnknownKID) {
		t.Errorf("unknown kid: %v", err)
	}
}
