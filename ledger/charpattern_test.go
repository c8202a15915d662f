package ledger

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// TestCharPatternsMatchRegexps: each byte-class pattern accepts exactly
// what its regular expression does, on edge cases and random strings.
func TestCharPatternsMatchRegexps(t *testing.T) {
	for _, c := range []struct {
		p  charPattern
		re string
	}{
		{slugRe, `^[a-z0-9][a-z0-9-]{1,62}$`},
		{idemRe, `^[A-Za-z0-9_-]{8,64}$`},
		{userRe, `^[A-Za-z0-9_-]{1,64}$`},
		{tokenCharsRe, `^[A-Za-z0-9_-]{1,64}$`},
	} {
		re := regexp.MustCompile(c.re)
		check := func(s string) {
			if got, want := c.p.MatchString(s), re.MatchString(s); got != want {
				t.Fatalf("%s on %q: %v, regexp %v", c.re, s, got, want)
			}
		}
		for _, s := range []string{"", "a", "ab", "-ab", "a-", "Ab", "a_b", "abcdefgh", "abcdefg", "a\nb", "é", "a b", "0-9"} {
			check(s)
		}
		r := rand.New(rand.NewPCG(1, 2))
		for i := range 20000 {
			alphabet := "aZ09-_ .é\x00\n"
			if i%2 == 0 {
				alphabet = "az09-_Q" // mostly valid, so lengths and first bytes decide
			}
			b := make([]byte, r.IntN(70))
			for i := range b {
				b[i] = alphabet[r.IntN(len(alphabet))]
			}
			check(string(b))
		}
	}
}
