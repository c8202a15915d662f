package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"filippo.io/edwards25519"
)

// withTable returns k with its fixed-base table built now, so the next
// verification takes the table path.
func withTable(k *verifyKey) *verifyKey {
	if k.minusA != nil {
		k.tableOnce.Do(func() { k.table.Store(newFixedTable(k.minusA)) })
	}
	return k
}

// fixedScalars are scalars at the edges of the signed-digit recoding:
// 0, 1, l-1, all-ones windows (every digit carries), digits of exactly
// ±2^(w-1), and random ones.
func fixedScalars(t testing.TB) [][32]byte {
	var out [][32]byte
	add := func(b []byte) {
		var n [32]byte
		copy(n[:], b)
		out = append(out, n)
	}
	add(nil)
	add([]byte{1})
	lMinus1 := append([]byte(nil), scalarL...)
	lMinus1[0]--
	add(lMinus1)
	for _, v := range []byte{0x3f, 0x40, 0x41, 0x7f, 0x80, 0xff, 0xaa, 0x55} {
		b := make([]byte, 32)
		for i := range b {
			b[i] = v
		}
		b[31] &= 0x0f // below 2^252 < l
		add(b)
	}
	r := rand.New(rand.NewPCG(7, 9))
	for range 200 {
		var wide [64]byte
		for i := range wide {
			wide[i] = byte(r.Uint32())
		}
		s, err := edwards25519.NewScalar().SetUniformBytes(wide[:])
		if err != nil {
			t.Fatal(err)
		}
		add(s.Bytes())
	}
	return out
}

// TestFixedBaseMatchesScalarMult: the table computes [n]P exactly, for
// the base point, honest keys and points with small-order components (a
// weak key is refused at registration, but the arithmetic must not care).
func TestFixedBaseMatchesScalarMult(t *testing.T) {
	points := []*edwards25519.Point{edwards25519.NewGeneratorPoint(), edwards25519.NewIdentityPoint()}
	for i := range 3 {
		seed := sha256.Sum256(fmt.Appendf(nil, "fixed-base-%d", i))
		pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
		p, err := new(edwards25519.Point).SetBytes(pub)
		if err != nil {
			t.Fatal(err)
		}
		points = append(points, p)
	}
	for _, s := range smallOrder[:8] {
		tp, err := new(edwards25519.Point).SetBytes(unhex(s))
		if err != nil {
			t.Fatal(err)
		}
		points = append(points, tp, new(edwards25519.Point).Add(points[2], tp))
	}
	scalars := fixedScalars(t)
	for pi, P := range points {
		tab := newFixedTable(P)
		if pi == 0 {
			tab = baseTable()
		}
		for _, n := range scalars {
			var acc extPoint
			acc.setIdentity()
			tab.addMultiple(&acc, &n)
			got, err := new(edwards25519.Point).SetExtendedCoordinates(&acc.X, &acc.Y, &acc.Z, &acc.T)
			if err != nil {
				t.Fatalf("point %d, scalar %x: result is not on the curve: %v", pi, n, err)
			}
			sc, err := edwards25519.NewScalar().SetCanonicalBytes(n[:])
			if err != nil {
				t.Fatal(err)
			}
			if want := new(edwards25519.Point).ScalarMult(sc, P); got.Equal(want) != 1 {
				t.Fatalf("point %d, scalar %x: table gives %x, ScalarMult %x", pi, n, got.Bytes(), want.Bytes())
			}
		}
	}
}

func TestSignedDigits(t *testing.T) {
	for _, n := range fixedScalars(t) {
		var d [fixedWindows]int8
		signedDigits(&n, &d)
		// Σ d_j·2^(wj), accumulated as a scalar, gives n back
		sum := edwards25519.NewScalar()
		pow := edwards25519.NewScalar()
		pow.SetCanonicalBytes([]byte{1, 31: 0})
		var step [32]byte
		step[0] = 1 << fixedWindowBits
		stepS, _ := edwards25519.NewScalar().SetCanonicalBytes(step[:])
		for _, dj := range d {
			if dj < -fixedMultiples || dj >= fixedMultiples {
				t.Fatalf("digit %d out of range", dj)
			}
			var mag [32]byte
			mag[0] = byte(max(dj, -dj))
			m, _ := edwards25519.NewScalar().SetCanonicalBytes(mag[:])
			m.Multiply(m, pow)
			if dj < 0 {
				sum.Subtract(sum, m)
			} else {
				sum.Add(sum, m)
			}
			pow.Multiply(pow, stepS)
		}
		if got := sum.Bytes(); string(got) != string(n[:]) {
			t.Fatalf("digits of %x sum to %x", n, got)
		}
	}
}

// TestVerifyKeyBuildsTableAfterUses: a key takes the table path once it
// has verified fixedTableAfterUses signatures, and gives the same verdicts.
func TestVerifyKeyBuildsTableAfterUses(t *testing.T) {
	seed := sha256.Sum256([]byte("table-after-uses"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	k := newVerifyKey(priv.Public().(ed25519.PublicKey))
	msg := []byte("m")
	good := ed25519.Sign(priv, msg)
	bad := append([]byte(nil), good...)
	bad[5] ^= 1
	for i := range fixedTableAfterUses + 2 {
		if k.table.Load() != nil && i < fixedTableAfterUses-1 {
			t.Fatalf("table built after %d uses", i)
		}
		sig := good
		if i%2 == 1 {
			sig = bad
		}
		if k.verify(msg, sig) != (i%2 == 0) {
			t.Fatalf("use %d: wrong verdict", i)
		}
	}
	if k.table.Load() == nil {
		t.Fatalf("no table after %d uses", fixedTableAfterUses+2)
	}
}

// benchVerifyKey is a key, a command-sized message and its signature for
// the verification benchmarks; mode fixed-base builds the key's table,
// double-scalar keeps the key from ever building one.
func benchVerifyKey(mode string) (k *verifyKey, msg, sig []byte) {
	seed := sha256.Sum256([]byte("bench-verify-key"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	msg = make([]byte, 900)
	sig = ed25519.Sign(priv, msg)
	k = newVerifyKey(priv.Public().(ed25519.PublicKey))
	if mode == "fixed-base" {
		withTable(k)
		baseTable()
	} else {
		k.uses.Store(-1 << 62)
	}
	return k, msg, sig
}

// BenchmarkVerifyKey: one signature over a command-sized message, with the
// double-scalar multiplication and with the fixed-base tables.
func BenchmarkVerifyKey(b *testing.B) {
	for _, mode := range []string{"double-scalar", "fixed-base"} {
		b.Run(mode, func(b *testing.B) {
			k, msg, sig := benchVerifyKey(mode)
			for b.Loop() {
				if !k.verify(msg, sig) {
					b.Fatal("does not verify")
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
		})
	}
	b.Run("table-build", func(b *testing.B) {
		k, _, _ := benchVerifyKey("double-scalar")
		for b.Loop() {
			newFixedTable(k.minusA)
		}
	})
}

// BenchmarkVerifyKeyCold: as BenchmarkVerifyKey, with the caches
// thrashed (8 MiB written) before every verification, as on a node whose
// cores run other work between one batch and the next.
func BenchmarkVerifyKeyCold(b *testing.B) {
	junk := make([]byte, 8<<20)
	for _, mode := range []string{"double-scalar", "fixed-base"} {
		b.Run(mode, func(b *testing.B) {
			k, msg, sig := benchVerifyKey(mode)
			var inVerify time.Duration
			for b.Loop() {
				for i := 0; i < len(junk); i += 64 {
					junk[i]++
				}
				t0 := time.Now()
				if !k.verify(msg, sig) {
					b.Fatal("does not verify")
				}
				inVerify += time.Since(t0)
			}
			b.ReportMetric(float64(inVerify.Nanoseconds())/float64(b.N), "ns/verify")
		})
	}
}
