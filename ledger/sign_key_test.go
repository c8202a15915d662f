package ledger

import (
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"testing"
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
