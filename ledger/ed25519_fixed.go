package ledger

import (
	"sync"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// Fixed-base multiplication for signature verification.
//
// A verification computes [S]B + [k](-A): B is the curve's base point and
// -A one of the federation's few agency keys, both fixed long before the
// signature arrives. For a fixed point P a table of its multiples turns
// [n]P into about 256/w additions and no doublings: with n written in
// signed radix-2^w digits d_j (|d_j| <= 2^(w-1)), [n]P = Σ d_j·2^(wj)·P,
// and table[j][|d|-1] holds |d|·2^(wj)·P. VarTimeDoubleScalarBaseMult
// spends most of its time on 252 doublings; here there are none, and each
// addition is a mixed addition with an affine point (7 field
// multiplications). The arithmetic is exact, so the point computed is the
// same group element, and its encoding the same bytes, as
// VarTimeDoubleScalarBaseMult gives: the verdicts do not change
// (TestFixedBaseMatchesScalarMult, TestVerifyKeyMatchesStdlib).
//
// Variable time is fine: every input (keys, signatures, messages) is public.

const (
	// fixedWindowBits is w. Wider windows mean fewer additions and larger
	// tables: measured on the build machine (BenchmarkVerifyKey, one warm
	// key), w = 5, 6, 7, 8 take 14.9, 13.3, 12.6, 12.2 µs a signature with
	// tables of 98, 165, 284, 492 KiB; 6 keeps each key's table well inside
	// a core's cache when three nodes share two cores.
	fixedWindowBits = 6
	// fixedWindows digit positions cover every scalar below the group order
	// l < 2^253 with room for the last carry: w·windows >= 254.
	fixedWindows = (254 + fixedWindowBits - 1) / fixedWindowBits
	// fixedMultiples is the table width: multiples 1..2^(w-1) of each position.
	fixedMultiples = 1 << (fixedWindowBits - 1)
	// fixedTableAfterUses is how many signatures a key verifies the slow
	// way before its table is built (0.44 ms and 165 KiB): a key that
	// signs rarely, such as one rotated out, never pays for a table.
	fixedTableAfterUses = 64
)

// nielsPoint is an affine point (x, y) as y+x, y-x and 2d·x·y, the form a
// mixed addition takes.
type nielsPoint struct{ ypx, ymx, t2d field.Element }

// fixedTable holds table[j][i] = (i+1)·2^(w·j)·P.
type fixedTable [fixedWindows][fixedMultiples]nielsPoint

// extPoint is a point in extended coordinates (X:Y:Z:T), x = X/Z,
// y = Y/Z, x·y = T/Z.
type extPoint struct{ X, Y, Z, T field.Element }

func (p *extPoint) setIdentity() {
	p.X.Zero()
	p.Y.One()
	p.Z.One()
	p.T.Zero()
}

// addNiels adds q (or -q if neg) to p. The formula (add-2008-hwcd-3 with
// Z2 = 1, as ref10's ge_madd) is complete on edwards25519: it holds for
// every pair of points, the identity and equal points included.
func (p *extPoint) addNiels(q *nielsPoint, neg bool) {
	ypx, ymx := &q.ypx, &q.ymx
	if neg { // -(x, y) = (-x, y): swap y+x and y-x, negate 2dxy
		ypx, ymx = ymx, ypx
	}
	var a, b, c, d, e, f, g, h field.Element
	a.Subtract(&p.Y, &p.X)
	a.Multiply(&a, ymx)
	b.Add(&p.Y, &p.X)
	b.Multiply(&b, ypx)
	c.Multiply(&p.T, &q.t2d)
	d.Add(&p.Z, &p.Z)
	e.Subtract(&b, &a)
	h.Add(&b, &a)
	if neg {
		f.Add(&d, &c)
		g.Subtract(&d, &c)
	} else {
		f.Subtract(&d, &c)
		g.Add(&d, &c)
	}
	p.X.Multiply(&e, &f)
	p.Y.Multiply(&g, &h)
	p.T.Multiply(&e, &h)
	p.Z.Multiply(&f, &g)
}

// addMultiple adds [n]P to acc, n a canonical little-endian scalar.
func (t *fixedTable) addMultiple(acc *extPoint, n *[32]byte) {
	var digits [fixedWindows]int8
	signedDigits(n, &digits)
	for j, d := range digits {
		switch {
		case d > 0:
			acc.addNiels(&t[j][d-1], false)
		case d < 0:
			acc.addNiels(&t[j][-d-1], true)
		}
	}
}

// signedDigits writes n (little-endian, below 2^253) as digits d_j in
// [-2^(w-1), 2^(w-1)) with n = Σ d_j·2^(wj).
func signedDigits(n *[32]byte, out *[fixedWindows]int8) {
	carry := 0
	for j := range fixedWindows {
		v := carry + windowAt(n, j*fixedWindowBits)
		carry = 0
		if v >= fixedMultiples {
			v -= 1 << fixedWindowBits
			carry = 1
		}
		out[j] = int8(v)
	}
}

// windowAt returns the w bits of n starting at bit pos (zeros past the end).
func windowAt(n *[32]byte, pos int) int {
	var v uint32
	for i := range 3 { // w <= 8 bits span at most two bytes; read three for any alignment
		if b := pos/8 + i; b < len(n) {
			v |= uint32(n[b]) << (8 * i)
		}
	}
	return int(v>>(pos%8)) & (1<<fixedWindowBits - 1)
}

// newFixedTable builds the table of P's multiples: for each position the
// multiples by repeated addition, then all of them made affine with one
// shared inversion.
func newFixedTable(P *edwards25519.Point) *fixedTable {
	pts := make([]edwards25519.Point, 0, fixedWindows*fixedMultiples)
	base := new(edwards25519.Point).Set(P)
	for range fixedWindows {
		m := new(edwards25519.Point).Set(base)
		for i := range fixedMultiples {
			if i > 0 {
				m.Add(m, base)
			}
			pts = append(pts, *m)
		}
		base.Add(m, m) // 2^(w-1)·base doubled: the next position's base
	}
	zs := make([]field.Element, len(pts))
	for i := range pts {
		_, _, z, _ := pts[i].ExtendedCoordinates()
		zs[i] = *z
	}
	invs := invertAll(zs)
	t := new(fixedTable)
	for i := range pts {
		X, Y, _, _ := pts[i].ExtendedCoordinates()
		var x, y field.Element
		x.Multiply(X, &invs[i])
		y.Multiply(Y, &invs[i])
		q := &t[i/fixedMultiples][i%fixedMultiples]
		q.ypx.Add(&y, &x)
		q.ymx.Subtract(&y, &x)
		q.t2d.Multiply(&x, &y)
		q.t2d.Multiply(&q.t2d, curveD2())
	}
	return t
}

// invertAll returns the inverses of zs (none zero) with one field
// inversion (Montgomery's trick): prefix products, one inversion of the
// whole product, then each inverse peeled off from the end.
func invertAll(zs []field.Element) []field.Element {
	out := make([]field.Element, len(zs))
	if len(zs) == 0 {
		return out
	}
	prefix := make([]field.Element, len(zs))
	prefix[0] = zs[0]
	for i := 1; i < len(zs); i++ {
		prefix[i].Multiply(&prefix[i-1], &zs[i])
	}
	var inv field.Element
	inv.Invert(&prefix[len(zs)-1])
	for i := len(zs) - 1; i > 0; i-- {
		out[i].Multiply(&inv, &prefix[i-1]) // 1/zi
		inv.Multiply(&inv, &zs[i])          // 1/(z0·…·z(i-1))
	}
	out[0] = inv
	return out
}

// curveD2 is 2d, d = -121665/121666 the curve constant.
var curveD2 = sync.OnceValue(func() *field.Element {
	var num, den, d field.Element
	num.Mult32(new(field.Element).One(), 121665)
	num.Negate(&num)
	den.Mult32(new(field.Element).One(), 121666)
	d.Multiply(&num, den.Invert(&den))
	return d.Add(&d, &d)
})

// baseTable is the table of the base point B, built on first use and
// never changed: shared by every ledger like the library's own tables.
var baseTable = sync.OnceValue(func() *fixedTable {
	return newFixedTable(edwards25519.NewGeneratorPoint())
})
