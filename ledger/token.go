package ledger

import (
	"regexp"
	"strings"
)

// Opaque tokens stand for an adopter or a child on the ledger. Only the
// agency that made a token can map it back to a person, in its own case
// system. A token must therefore carry no meaning: the checks below reject
// anything that looks like a personal identifier typed by mistake (a name,
// an email, a phone number, a postcode, a date of birth). They cannot stop a
// determined misuse, which is why tokens are also agency-scoped and random
// by construction (see NewToken in the node, 128 random bits).
const (
	tokenLenMin      = 16
	tokenLenMax      = 64
	tokenDistinctMin = 8 // random base64url of 16+ chars has ~14+ distinct characters
	tokenDigitRunMax = 7 // 8+ digits in a row is a date (ddmmyyyy) or a phone number
)

var (
	tokenCharsRe = charPattern{first: isIDChar, rest: isIDChar, min: 1, max: tokenLenMax} // ^[A-Za-z0-9_-]+$ (length checked first)
	// A name: letters only, possibly split by separators ("jane-smith", "JaneSmith").
	nameLikeRe = regexp.MustCompile(`^[A-Za-z]+([_-][A-Za-z]+)*$`)
	// A date with separators or in ISO order anywhere in the token.
	dateLikeRe = regexp.MustCompile(`(^|[^0-9])((19|20)[0-9]{2}[_-]?[01][0-9][_-]?[0-3][0-9]|[0-3][0-9][_-][01][0-9][_-](19|20)?[0-9]{2})($|[^0-9])`)
	// A UK postcode standing alone between separators or at the ends.
	postcodeRe = regexp.MustCompile(`(?i)(^|[_-])[A-Z]{1,2}[0-9][A-Z0-9]?[_-]?[0-9][A-Z]{2}($|[_-])`)
	// A phone number: 10+ digits, possibly split by separators.
	phoneRe    = regexp.MustCompile(`[0-9]([_-]?[0-9]){9,}`)
	digitRunRe = regexp.MustCompile(`[0-9]{8,}`)
)

// checkToken returns a rejection naming field if s is not an acceptable opaque token.
// The pattern checks only run when they could match (a date or phone needs
// 6+ digits, a postcode inside a token needs a separator, a name has no
// digit): this is on the hot path of every command.
func checkToken(field, s string) *Rejection {
	digits, seps := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '-' || c == '_':
			seps = true
		}
	}
	switch {
	case len(s) < tokenLenMin || len(s) > tokenLenMax:
		return reject(CodeInvalid, "%s: %d characters; an opaque token has %d..%d", field, len(s), tokenLenMin, tokenLenMax)
	case strings.ContainsAny(s, "@ ."):
		return reject(CodePersonalData, "%s: looks like an email address or a name; use the record's opaque token", field)
	case !tokenCharsRe.MatchString(s):
		return reject(CodeInvalid, "%s: only A-Z a-z 0-9 _ - are allowed in an opaque token", field)
	case digits == 0 && nameLikeRe.MatchString(s):
		return reject(CodePersonalData, "%s: looks like a name (letters only); use the record's opaque token", field)
	case digits >= 6 && dateLikeRe.MatchString(s):
		return reject(CodePersonalData, "%s: contains what looks like a date; dates of birth never go on the ledger", field)
	case seps && postcodeRe.MatchString(s):
		return reject(CodePersonalData, "%s: contains what looks like a postcode", field)
	case digits >= 8 && (phoneRe.MatchString(s) || digitRunRe.MatchString(s)):
		return reject(CodePersonalData, "%s: contains what looks like a phone number or date", field)
	case distinctChars(s) < tokenDistinctMin:
		return reject(CodeInvalid, "%s: too few distinct characters to be a random token", field)
	}
	return nil
}

func distinctChars(s string) int {
	var seen [128]bool
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 128 && !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n
}

// CheckToken reports whether s is acceptable as an opaque token, for
// clients that want to check before sending.
func CheckToken(s string) error {
	if r := checkToken("token", s); r != nil {
		return r
	}
	return nil
}
