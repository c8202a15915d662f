package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"filippo.io/edwards25519"
)

// smallOrder are encodings of the eight points of order dividing 8, and
// non-canonical encodings of some of them: the inputs on which Ed25519
// verifiers are known to disagree ("Taming the many EdDSAs", CGN 2020).
var smallOrder = []string{
	"0100000000000000000000000000000000000000000000000000000000000000", // identity
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
	"0100000000000000000000000000000000000000000000000000000000000080", // identity, sign bit set
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 2, sign bit set
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p+1 (identity)
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p (order 4)
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p, sign bit set
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// scalarL is the group order l, little-endian: S = l is the smallest non-canonical S.
var scalarL = unhex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")

// sameVerdict checks that verifyKey, on its double-scalar path and (with
// tables, when tabled is given) on its fixed-base path, agrees with
// crypto/ed25519.
func sameVerdict(t *testing.T, pub, msg, sig []byte, tabled ...*verifyKey) {
	t.Helper()
	if len(pub) != ed25519.PublicKeySize {
		return // crypto/ed25519 panics; keys are checked for length when registered
	}
	want := ed25519.Verify(pub, msg, sig)
	for _, k := range append([]*verifyKey{newVerifyKey(pub)}, tabled...) {
		if got := k.verify(msg, sig); got != want {
			t.Fatalf("verifyKey (table %v) says %v, crypto/ed25519 says %v\npub %x\nmsg %x\nsig %x", k.table.Load() != nil, got, want, pub, msg, sig)
		}
	}
}

// tabledKeys returns, for each key, a verifyKey with its table built.
func tabledKeys(keys [][]byte) map[string]*verifyKey {
	out := map[string]*verifyKey{}
	for _, pub := range keys {
		if len(pub) == ed25519.PublicKeySize {
			out[string(pub)] = withTable(newVerifyKey(pub))
		}
	}
	return out
}

func TestSmallOrderEncodings(t *testing.T) {
	for _, s := range smallOrder {
		p, err := new(edwards25519.Point).SetBytes(unhex(s))
		if err != nil {
			continue // not a point: verification must fail, checked below
		}
		if p.MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) != 1 {
			t.Errorf("%s is not of small order", s)
		}
	}
}

func TestVerifyKeyMatchesStdlib(t *testing.T) {
	msg := []byte("raaft verify key test")
	var keys [][]byte
	var honest [][2][]byte // pub, sig over msg
	for i := range 8 {
		seed := sha256.Sum256(fmt.Appendf(nil, "verify-key-%d", i))
		priv := ed25519.NewKeyFromSeed(seed[:])
		pub := priv.Public().(ed25519.PublicKey)
		keys = append(keys, pub)
		honest = append(honest, [2][]byte{pub, ed25519.Sign(priv, msg)})
	}
	for _, s := range smallOrder {
		keys = append(keys, unhex(s))
	}
	var rs [][]byte
	for _, s := range smallOrder {
		rs = append(rs, unhex(s))
	}
	var ss [][]byte
	one := make([]byte, 32)
	one[0] = 1
	lMinus1 := append([]byte(nil), scalarL...)
	lMinus1[0]--
	ss = append(ss, make([]byte, 32), one, lMinus1, scalarL)
	for _, h := range honest {
		rs = append(rs, h[1][:32])
		ss = append(ss, h[1][32:])
	}
	tabled := tabledKeys(keys)
	t.Run("honest", func(t *testing.T) {
		for _, h := range honest {
			if !newVerifyKey(h[0]).verify(msg, h[1]) || !tabled[string(h[0])].verify(msg, h[1]) {
				t.Fatal("an honest signature does not verify")
			}
		}
	})
	t.Run("grid", func(t *testing.T) {
		// every key with every R and S: small-order keys and R values, S of
		// 0, 1, l-1, l (non-canonical) and honest ones
		accepted := 0
		for _, pub := range keys {
			for _, r := range rs {
				for _, s := range ss {
					sig := append(append([]byte(nil), r...), s...)
					sameVerdict(t, pub, msg, sig, tabled[string(pub)])
					if len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig) {
						accepted++
					}
				}
			}
		}
		// under a small-order key some forged signatures are valid (in
		// crypto/ed25519 too); both must accept exactly the same ones
		if accepted <= len(honest) {
			t.Fatalf("only %d accepted: the grid does not reach the edge cases", accepted)
		}
		t.Logf("%d of %d accepted by both", accepted, len(keys)*len(rs)*len(ss))
	})
	t.Run("batched", func(t *testing.T) {
		// the same grid, finished in batches of several sizes with one shared inversion
		type item struct{ pub, sig []byte }
		var items []item
		for _, pub := range keys {
			for _, r := range rs {
				for _, s := range ss {
					items = append(items, item{pub, append(append([]byte(nil), r...), s...)})
				}
			}
		}
		for _, h := range honest {
			items = append(items, item{h[0], h[1]})
		}
		for _, size := range []int{1, 2, 7, 8, 64} {
			for lo := 0; lo < len(items); lo += size {
				batch := items[lo:min(len(items), lo+size)]
				cs := make([]*sigCheck, len(batch))
				for i, it := range batch {
					cs[i] = &sigCheck{}
					k := newVerifyKey(it.pub) // alternate the two paths within a batch
					if i%2 == 1 && tabled[string(it.pub)] != nil {
						k = tabled[string(it.pub)]
					}
					k.prepare(msg, it.sig, cs[i])
				}
				finishChecks(cs)
				for i, it := range batch {
					if want := ed25519.Verify(it.pub, msg, it.sig); cs[i].ok != want {
						t.Fatalf("batch of %d: verdict %v, crypto/ed25519 %v\npub %x\nsig %x", size, cs[i].ok, want, it.pub, it.sig)
					}
				}
			}
		}
	})
	t.Run("torsion", func(t *testing.T) {
		// an honest signature with a small-order point added to R, or with
		// S+l: the cofactored equation of batch verification accepts the
		// first; crypto/ed25519 rejects both
		for _, h := range honest {
			r, err := new(edwards25519.Point).SetBytes(h[1][:32])
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range smallOrder[:8] {
				tp, _ := new(edwards25519.Point).SetBytes(unhex(s))
				sig := append(new(edwards25519.Point).Add(r, tp).Bytes(), h[1][32:]...)
				sameVerdict(t, h[0], msg, sig, tabled[string(h[0])])
			}
		}
	})
	t.Run("mutations", func(t *testing.T) {
		for _, h := range honest {
			for bit := range 64 * 8 {
				sig := append([]byte(nil), h[1]...)
				sig[bit/8] ^= 1 << (bit % 8)
				sameVerdict(t, h[0], msg, sig, tabled[string(h[0])])
			}
			for bit := range 32 * 8 {
				pub := append([]byte(nil), h[0]...)
				pub[bit/8] ^= 1 << (bit % 8)
				sameVerdict(t, pub, msg, h[1]) // the table path's arithmetic: TestFixedBaseMatchesScalarMult
			}
			sameVerdict(t, h[0], []byte("another message"), h[1], tabled[string(h[0])])
			sameVerdict(t, h[0], msg, h[1][:63], tabled[string(h[0])])
		}
	})
}

// FuzzVerifyKey: on any key, message and signature, verifyKey agrees with
// crypto/ed25519 on both of its paths.
func FuzzVerifyKey(f *testing.F) {
	seed := sha256.Sum256([]byte("fuzz-verify-key"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	msg := []byte("m")
	f.Add([]byte(priv.Public().(ed25519.PublicKey)), msg, ed25519.Sign(priv, msg))
	for _, s := range smallOrder {
		f.Add(unhex(s), msg, append(unhex(s), make([]byte, 32)...))
	}
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		if len(pub) != ed25519.PublicKeySize {
			return
		}
		sameVerdict(t, pub, msg, sig, withTable(newVerifyKey(pub)))
	})
}
