package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// verifyKey is an Ed25519 public key decoded once, for the parallel
// verification phase of ApplyBatch. crypto/ed25519.Verify decompresses
// the public key (a field square root) on every call, about a seventh of
// a verification; a ledger verifies every command of an agency with the
// same few keys.
//
// verify is crypto/ed25519.Verify (pure Ed25519, RFC 8032 §5.1.7 as Go
// implements it: cofactorless, S must be canonical, R compared as bytes
// with the encoding of [S]B - [k]A, non-canonical A accepted as its point
// but hashed as given) computed with filippo.io/edwards25519, the same
// code the standard library vendors as crypto/internal/fips140/edwards25519.
// It must accept exactly what crypto/ed25519.Verify accepts:
// TestVerifyKeyMatchesStdlib and FuzzVerifyKey compare the two on valid,
// mutated and small-order inputs. It is not batch verification, which
// uses the cofactored equation and accepts signatures that
// crypto/ed25519 rejects. And it only ever speeds up acceptance: a
// signature it rejects is verified again with crypto/ed25519 in authorise.
type verifyKey struct {
	raw    []byte              // the 32 bytes as registered; hashed into k
	minusA *edwards25519.Point // nil if raw is not a point: nothing verifies
}

func newVerifyKey(pub ed25519.PublicKey) *verifyKey {
	k := &verifyKey{raw: bytes.Clone(pub)}
	if len(pub) != ed25519.PublicKeySize {
		return k
	}
	if A, err := new(edwards25519.Point).SetBytes(pub); err == nil {
		k.minusA = new(edwards25519.Point).Negate(A)
	}
	return k
}

// verify reports whether sig is a valid Ed25519 signature of msg by k.
// Pure: safe to call from many goroutines.
func (k *verifyKey) verify(msg, sig []byte) bool {
	var c sigCheck
	k.prepare(msg, sig, &c)
	finishChecks([]*sigCheck{&c})
	return c.ok
}

// sigCheck is one signature verified up to its last step: comparing R
// with the encoding of the computed point [k](-A) + [S]B. Encoding needs
// a field inversion (about a twelfth of a verification); finishChecks
// shares one inversion among many checks (Montgomery's trick). The
// inverse of each Z is the same number however it is computed, so the
// encodings, and the verdicts, are those of Point.Bytes.
type sigCheck struct {
	r  []byte // the signature's R
	p  edwards25519.Point
	ok bool // false: already rejected, or (after finishChecks) R differs
}

// prepare runs crypto/ed25519's verification of sig over msg up to the
// final comparison, which finishChecks does.
func (k *verifyKey) prepare(msg, sig []byte, c *sigCheck) {
	c.ok = false
	if k.minusA == nil || len(sig) != ed25519.SignatureSize || sig[63]&224 != 0 {
		return
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(k.raw)
	h.Write(msg)
	var digest [sha512.Size]byte
	kh, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(digest[:0]))
	if err != nil {
		panic("ledger: ed25519: SetUniformBytes of 64 bytes failed")
	}
	s, err := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
	if err != nil {
		return
	}
	// [S]B = R + [k]A  <=>  [k](-A) + [S]B = R
	c.p.VarTimeDoubleScalarBaseMult(kh, k.minusA, s)
	c.r, c.ok = sig[:32], true
}

// finishChecks completes the checks still ok: each stays ok only if its R
// is, byte for byte, the encoding of its point (as Point.Bytes computes
// it: y = Y/Z with the sign of x = X/Z in the top bit).
func finishChecks(cs []*sigCheck) {
	var zs, prefix []field.Element
	var live []*sigCheck
	for _, c := range cs {
		if c.ok {
			_, _, z, _ := c.p.ExtendedCoordinates()
			live = append(live, c)
			zs = append(zs, *z)
		}
	}
	if len(live) == 0 {
		return
	}
	// prefix[i] = z0·…·zi; one inversion of the product, then each inverse
	// is peeled off from the end.
	prefix = make([]field.Element, len(zs))
	prefix[0] = zs[0]
	for i := 1; i < len(zs); i++ {
		prefix[i].Multiply(&prefix[i-1], &zs[i])
	}
	var zero, inv field.Element
	if prefix[len(zs)-1].Equal(&zero) == 1 {
		// a Z of zero is no point; never happens, but then no inverse is shared
		for _, c := range live {
			c.ok = bytes.Equal(c.r, c.p.Bytes())
		}
		return
	}
	inv.Invert(&prefix[len(zs)-1])
	for i := len(zs) - 1; i >= 0; i-- {
		var zInv field.Element
		if i > 0 {
			zInv.Multiply(&inv, &prefix[i-1]) // 1/zi
			inv.Multiply(&inv, &zs[i])        // 1/(z0·…·z(i-1))
		} else {
			zInv = inv
		}
		X, Y, _, _ := live[i].p.ExtendedCoordinates()
		var x, y field.Element
		x.Multiply(X, &zInv)
		y.Multiply(Y, &zInv)
		var enc [32]byte
		copy(enc[:], y.Bytes())
		enc[31] |= byte(x.IsNegative() << 7)
		live[i].ok = bytes.Equal(live[i].r, enc[:])
	}
}
