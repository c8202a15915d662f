package ledger

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// TestDecodePublicKeyRefusesWeakKeys: a registered key must be a
// canonical encoding of a point of large order.
func TestDecodePublicKeyRefusesWeakKeys(t *testing.T) {
	good := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	if _, err := decodePublicKey(EncodePublicKey(good)); err != nil {
		t.Fatalf("an honest key: %v", err)
	}
	hexKey := func(h string) string {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		return EncodePublicKey(b)
	}
	for name, c := range map[string]struct{ key, want string }{
		"identity (small order)": {hexKey("0100000000000000000000000000000000000000000000000000000000000000"), "small order"},
		"order 2 (small order)":  {hexKey("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), "small order"},
		"order 8 (small order)":  {hexKey("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), "small order"},
		"non-canonical y":        {hexKey("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), "non-canonical"},
		"not a point":            {hexKey("0200000000000000000000000000000000000000000000000000000000000000"), "not a curve point"},
		"short":                  {EncodePublicKey(good[:31]), "43 characters"},
	} {
		if _, err := decodePublicKey(c.key); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error saying %q", name, err, c.want)
		}
	}
}

// TestSignMatchesJWX: Signer.Sign gives, byte for byte, the compact JWS
// jwx's jws.Sign gives for the same key, header and payload, and jwx
// verifies it; after a rotation too.
func TestSignMatchesJWX(t *testing.T) {
	for i, seed := range []byte{1, 2} {
		priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
		s, err := NewSigner("a1", priv)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 { // a rotated signer
			if err := s.Rotate(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))); err != nil {
				t.Fatal(err)
			}
			priv = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
		}
		for _, payload := range [][]byte{nil, []byte("{}"), []byte(`{"v":1,"type":"listing.publish","payload":{"token":"x"}}`), bytes.Repeat([]byte{0xff, 0, 'a'}, 700)} {
			got, err := s.Sign(payload)
			if err != nil {
				t.Fatal(err)
			}
			h := jws.NewHeaders()
			if err := h.Set(jws.KeyIDKey, s.KID()); err != nil {
				t.Fatal(err)
			}
			want, err := jws.Sign(payload, jws.WithKey(jwa.EdDSA(), priv, jws.WithProtectedHeaders(h)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Sign:\n%s\njws.Sign:\n%s", got, want)
			}
			if v, err := jws.Verify(got, jws.WithKey(jwa.EdDSA(), priv.Public())); err != nil || !bytes.Equal(v, payload) {
				t.Fatalf("jws.Verify: %v", err)
			}
		}
	}
}
