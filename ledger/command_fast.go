package ledger

import "slices"

// decodeFast is DecodeCommand's fast path for the commonest commands: the
// listing commands and reserve, extend, expire, confirm and release. It
// accepts only a narrow subset of JSON: ASCII strings without escapes,
// non-negative integers of at most 9 digits, true and false, objects whose
// keys are exactly (case and all) the schema's field names, each at most
// once, "payload" after "type", and a payload type it has a decoder for.
// On anything else it returns ok false and DecodeCommand falls back to the
// strict encoding/json path, so the fast path never changes which commands
// are accepted or what they decode to: whatever it accepts, encoding/json
// with DisallowUnknownFields decodes to the same values (FuzzDecodeFast
// checks this). It exists because the reflective decoder costs about 15 µs
// per command, a fifth of the per-entry cost of ApplyBatch.
func decodeFast(b []byte) (*Command, any, bool) {
	s := fastScanner{b: b}
	var c Command
	var p any
	ok := s.fields(commandKeys, func(i int) bool {
		switch i {
		case 0:
			return s.int(&c.V)
		case 1:
			return s.str(&c.Type)
		case 2:
			return s.str(&c.ID)
		case 3:
			return s.str(&c.Agency)
		case 4:
			return s.str(&c.User)
		}
		// payload: only once the type is known, and only for the types below
		start := s.skipWS()
		var ok bool
		switch c.Type {
		case TypePublish, TypeUpdate:
			lp := &ListingPayload{}
			p, ok = lp, s.fields(listingPayloadKeys, func(i int) bool {
				if i == 0 {
					return s.str(&lp.Token)
				}
				return s.listingAttrs(&lp.Attrs)
			})
		case TypePause, TypeResume, TypeWithdraw:
			tp := &TokenPayload{}
			p, ok = tp, s.fields(tokenPayloadKeys, func(int) bool { return s.str(&tp.Token) })
		case TypeReserve:
			rp := &ReservePayload{}
			p, ok = rp, s.reservePayload(rp)
		case TypeExtend, TypeExpire, TypeConfirm:
			rp := &ReservationPayload{}
			p, ok = rp, s.fields(reservationPayloadKeys, func(int) bool { return s.uint64(&rp.ReservationID) })
		case TypeRelease:
			rp := &ReleasePayload{}
			p, ok = rp, s.fields(releasePayloadKeys, func(i int) bool {
				if i == 0 {
					return s.uint64(&rp.ReservationID)
				}
				return s.str(&rp.Reason)
			})
		default:
			return false
		}
		c.Payload = slices.Clone(b[start:s.i])
		return ok
	})
	if !ok || p == nil || s.skipWS() != len(b) {
		return nil, nil, false
	}
	return &c, p, true
}

// The structs' JSON names, in field order (TestFastDecodeKeys checks them).
var (
	commandKeys            = []string{"v", "type", "id", "agency", "user", "payload"}
	listingPayloadKeys     = []string{"token", "attrs"}
	tokenPayloadKeys       = []string{"token"}
	reservePayloadKeys     = []string{"listing", "child_tokens", "harder_to_place", "hold_days"}
	reservationPayloadKeys = []string{"reservation_id"}
	releasePayloadKeys     = []string{"reservation_id", "reason"}
)

// fastScanner reads the JSON subset decodeFast accepts. Every method
// returns false on anything outside it; none reports why.
type fastScanner struct {
	b []byte
	i int
}

func (s *fastScanner) skipWS() int {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return s.i
		}
	}
	return s.i
}

// seq reads a JSON array or object from its opening delimiter open to
// its closing one, calling item for each element (commas between, none
// trailing).
func (s *fastScanner) seq(open, close byte, item func() bool) bool {
	if s.skipWS(); s.i >= len(s.b) || s.b[s.i] != open {
		return false
	}
	s.i++
	if s.skipWS(); s.i < len(s.b) && s.b[s.i] == close {
		s.i++
		return true
	}
	for {
		if !item() {
			return false
		}
		if s.skipWS(); s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case close:
			s.i++
			return true
		default:
			return false
		}
	}
}

// fields reads an object whose keys are among names (at most 32), each
// exactly as written there and at most once; read reads the value of
// names[i]. encoding/json would also match other cases and take the last
// of duplicate keys: such input is declined and goes to it.
func (s *fastScanner) fields(names []string, read func(i int) bool) bool {
	var seen uint32
	return s.seq('{', '}', func() bool {
		key, ok := s.raw()
		if !ok {
			return false
		}
		if s.skipWS(); s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		i := index(names, key)
		if i < 0 || seen&(1<<i) != 0 {
			return false
		}
		seen |= 1 << i
		return read(i)
	})
}

// str reads a string of printable ASCII without escapes.
func (s *fastScanner) str(out *string) bool {
	v, ok := s.raw()
	if ok {
		*out = string(v)
	}
	return ok
}

// raw reads a string of printable ASCII without escapes and returns its
// bytes (a slice of the input).
func (s *fastScanner) raw() ([]byte, bool) {
	if s.skipWS(); s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return s.b[start:j], true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// index returns the position of key in names, or -1.
func index(names []string, key []byte) int {
	for i, n := range names {
		if n == string(key) {
			return i
		}
	}
	return -1
}

// int reads a non-negative integer of 1-9 digits, without a leading zero,
// fraction or exponent (so it fits any Go int).
func (s *fastScanner) int(out *int) bool {
	s.skipWS()
	n, start := 0, s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	if digits == 0 || digits > 9 || (digits > 1 && s.b[start] == '0') || !s.delimited() {
		return false
	}
	*out = n
	return true
}

// uint64 reads what int reads, into a uint64.
func (s *fastScanner) uint64(out *uint64) bool {
	var n int
	if !s.int(&n) {
		return false
	}
	*out = uint64(n)
	return true
}

// strs reads an array of strings as str does. Like encoding/json it gives
// a non-nil empty slice for []; null is outside the subset.
func (s *fastScanner) strs(out *[]string) bool {
	v := []string{}
	if !s.seq('[', ']', func() bool {
		var e string
		ok := s.str(&e)
		v = append(v, e)
		return ok
	}) {
		return false
	}
	*out = v
	return true
}

func (s *fastScanner) reservePayload(p *ReservePayload) bool {
	return s.fields(reservePayloadKeys, func(i int) bool {
		switch i {
		case 0:
			return s.str(&p.Listing)
		case 1:
			return s.strs(&p.ChildTokens)
		case 2:
			return s.strs(&p.Flags)
		}
		return s.int(&p.HoldDays)
	})
}

// bool reads true or false.
func (s *fastScanner) bool(out *bool) bool {
	s.skipWS()
	for _, lit := range [...]string{"true", "false"} {
		if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
			s.i += len(lit)
			*out = lit == "true"
			return s.delimited()
		}
	}
	return false
}

// delimited reports whether a number or literal ends here, as JSON requires.
func (s *fastScanner) delimited() bool {
	if s.i == len(s.b) {
		return true
	}
	switch s.b[s.i] {
	case ' ', '\t', '\n', '\r', ',', '}', ']':
		return true
	}
	return false
}

// level reads one of the four level names.
func (s *fastScanner) level(out *Level) bool {
	name, ok := s.raw()
	if !ok {
		return false
	}
	i := index(levelNames, name)
	*out = Level(i)
	return i >= 0
}

func (s *fastScanner) listingAttrs(a *ListingAttrs) bool {
	return s.fields(listingAttrsKeys, func(i int) bool {
		switch listingAttrsKeys[i] {
		case "approval_date":
			return s.str(&a.ApprovalDate)
		case "children_max":
			return s.int(&a.ChildrenMax)
		case "sibling_group_ok":
			return s.bool(&a.SiblingGroupOK)
		case "age_min_years":
			return s.int(&a.AgeMinYears)
		case "age_max_years":
			return s.int(&a.AgeMaxYears)
		case "needs":
			return s.needs(&a.Needs)
		case "fostering_for_adoption":
			return s.bool(&a.FosteringForAdopt)
		case "concurrent_planning":
			return s.bool(&a.ConcurrentPlanning)
		case "ethnicity_openness":
			return s.level(&a.EthnicityOpenness)
		case "religion_openness":
			return s.level(&a.ReligionOpenness)
		case "language_openness":
			return s.level(&a.LanguageOpenness)
		case "region":
			return s.str(&a.Region)
		case "local_authority":
			return s.str(&a.LocalAuthority)
		}
		return s.str(&a.TravelBand) // travel_band
	})
}

// listingAttrsKeys are ListingAttrs' JSON names (TestFastDecodeKeys checks them).
var listingAttrsKeys = []string{"approval_date", "children_max", "sibling_group_ok", "age_min_years",
	"age_max_years", "needs", "fostering_for_adoption", "concurrent_planning", "ethnicity_openness",
	"religion_openness", "language_openness", "region", "local_authority", "travel_band"}

func (s *fastScanner) needs(n *Needs) bool {
	levels := [...]*Level{&n.PhysicalDisability, &n.LearningDisability, &n.DevelopmentalUncertainty,
		&n.FoetalAlcohol, &n.MedicalNeeds, &n.TraumaAttachment}
	return s.fields(NeedCategories, func(i int) bool { return s.level(levels[i]) })
}
