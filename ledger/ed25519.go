package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"sync"
	"sync/atomic"

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

	// table holds the multiples of -A (see ed25519_fixed.go), built once
	// the key has verified fixedTableAfterUses signatures.
	table     atomic.Pointer[fixedTable]
	uses      atomic.Int64
	tableOnce sync.Once
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

// fixedTable returns the key's table, building it on the use that
// reaches fixedTableAfterUses; nil before that.
func (k *verifyKey) fixedTable() *fixedTable {
	if t := k.table.Load(); t != nil {
		return t
	}
	if k.uses.Add(1) < fixedTableAfterUses {
		return nil
	}
	k.tableOnce.Do(func() { k.table.Store(newFixedTable(k.minusA)) })
	return k.table.Load()
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
	p  extPoint
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
	if t := k.fixedTable(); t != nil {
		var sb, kb [32]byte
		copy(sb[:], sig[32:]) // canonical, checked above
		copy(kb[:], kh.Bytes())
		c.p.setIdentity()
		baseTable().addMultiple(&c.p, &sb)
		t.addMultiple(&c.p, &kb)
	} else {
		var p edwards25519.Point
		p.VarTimeDoubleScalarBaseMult(kh, k.minusA, s)
		X, Y, Z, T := p.ExtendedCoordinates()
		c.p = extPoint{X: *X, Y: *Y, Z: *Z, T: *T}
	}
	c.r, c.ok = sig[:32], true
}

// finishChecks completes the checks still ok: each stays ok only if its R
// is, byte for byte, the encoding of its point (as Point.Bytes computes
// it: y = Y/Z with the sign of x = X/Z in the top bit). The inverses of
// the Zs come from one shared inversion (invertAll).
func finishChecks(cs []*sigCheck) {
	var zs []field.Element
	var live []*sigCheck
	for _, c := range cs {
		if c.ok {
			live = append(live, c)
			zs = append(zs, c.p.Z)
		}
	}
	if len(live) == 0 {
		return
	}
	var zero field.Element
	for i := range zs {
		if zs[i].Equal(&zero) == 1 {
			// a Z of zero is no point (the formulas are complete, so never
			// happens); it encodes nothing, so nothing matches
			live[i].ok = false
			zs[i].One()
		}
	}
	invs := invertAll(zs)
	for i, c := range live {
		if !c.ok {
			continue
		}
		var x, y field.Element
		x.Multiply(&c.p.X, &invs[i])
		y.Multiply(&c.p.Y, &invs[i])
		var enc [32]byte
		copy(enc[:], y.Bytes())
		enc[31] |= byte(x.IsNegative() << 7)
		c.ok = bytes.Equal(c.r, enc[:])
	}
}
