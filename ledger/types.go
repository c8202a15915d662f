package ledger

import (
	"regexp"
	"slices"
)

// Limits of the schema. Each bound is part of the protocol: changing one
// changes which commands are valid, so they are constants, not config.
// The bounds of ids, idempotency ids (8-64), acting users (1-64) and
// agency names (2-100) are in the patterns below.
const (
	councilsMax      = 40 // member councils of one RAA
	agencyNodesMax   = 8  // nodes one agency may register
	childrenMax      = 4  // children in one sibling group reservation or approval range
	childAgeYearsMax = 17 // approval ranges are for children under 18
	commandBytesMax  = 16 << 10
	genesisBytesMax  = 256 << 10
	foundersMax      = 64
)

var (
	// slugRe, idemRe and userRe check every command on every node, so
	// they are byte classes (charPattern), not the regexp engine; their
	// regular expressions are in TestCharPatternsMatchRegexps.
	slugRe    = charPattern{first: isLowerDigit, rest: isSlugChar, min: 2, max: 63} // ^[a-z0-9][a-z0-9-]{1,62}$
	idemRe    = charPattern{first: isIDChar, rest: isIDChar, min: 8, max: 64}       // ^[A-Za-z0-9_-]{8,64}$
	userRe    = charPattern{first: isIDChar, rest: isIDChar, min: 1, max: 64}       // ^[A-Za-z0-9_-]{1,64}$
	urnRe     = regexp.MustCompile(`^[A-Z]{0,2}[0-9]{5,8}$`)
	gssRe     = regexp.MustCompile(`^[EWSN][0-9]{8}$`)
	agNameRe  = regexp.MustCompile(`^[A-Za-z0-9 &'(),.@-]{2,100}$`)
	dateRe    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	addressRe = regexp.MustCompile(`^[A-Za-z0-9.-]{1,253}:[0-9]{1,5}$`)
)

// charPattern matches a string of min..max bytes whose first byte is in
// one class and the others in another.
type charPattern struct {
	first, rest func(byte) bool
	min, max    int
}

// MatchString reports whether s matches the pattern.
func (p charPattern) MatchString(s string) bool {
	if len(s) < p.min || len(s) > p.max || !p.first(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !p.rest(s[i]) {
			return false
		}
	}
	return true
}

func isLowerDigit(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') }
func isSlugChar(c byte) bool   { return isLowerDigit(c) || c == '-' }
func isIDChar(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'
}

// AgencyKind is the kind of adoption agency.
type AgencyKind string

// Agency kinds: Regional Adoption Agency, Voluntary Adoption Agency, a council outside an RAA.
const (
	KindRAA AgencyKind = "RAA"
	KindVAA AgencyKind = "VAA"
	KindLA  AgencyKind = "LA"
)

// Nations of the UK (fee schedules differ by nation).
var nations = []string{"england", "wales", "scotland", "northern_ireland"}

// Regions are the coarse locations a listing may carry: the nine English
// regions and the three other nations. Never anything finer than a council.
var Regions = []string{
	"north_east", "north_west", "yorkshire_humber", "east_midlands", "west_midlands",
	"east", "london", "south_east", "south_west", "wales", "scotland", "northern_ireland",
}

// Level is an ordered openness level: none < low < medium < high.
type Level uint8

// Openness levels, in order.
const (
	LevelNone Level = iota
	LevelLow
	LevelMedium
	LevelHigh
	levelCount
)

var levelNames = []string{"none", "low", "medium", "high"}

// String returns the level's name.
func (l Level) String() string {
	if l < levelCount {
		return levelNames[l]
	}
	return "invalid"
}

// MarshalText encodes the level as its name.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText accepts exactly the names of the closed set.
func (l *Level) UnmarshalText(b []byte) error {
	i := slices.Index(levelNames, string(b))
	if i < 0 {
		return reject(CodeInvalid, "level %q: expected one of none, low, medium, high", truncate(string(b)))
	}
	*l = Level(i)
	return nil
}

// NeedCategories is the closed list of needs an approval states openness to.
var NeedCategories = []string{
	"physical_disability", "learning_disability", "developmental_uncertainty",
	"foetal_alcohol", "medical_needs", "trauma_attachment",
}

// TravelBands are willing-to-travel bands, in increasing distance.
var TravelBands = []string{"local", "regional", "national"}

// Listing statuses.
const (
	StatusAvailable = "available"
	StatusReserved  = "reserved"
	StatusMatched   = "matched"
	StatusPlaced    = "placed"
	StatusPaused    = "paused"
	StatusWithdrawn = "withdrawn"
)

// ListingStatuses is the closed set of listing statuses.
var ListingStatuses = []string{StatusAvailable, StatusReserved, StatusMatched, StatusPlaced, StatusPaused, StatusWithdrawn}

// Reservation statuses. Active is the only one that holds the listing
// exclusively; released, expired and confirmed end the hold (at most once);
// placed follows confirmed.
const (
	ResActive    = "active"
	ResReleased  = "released"
	ResExpired   = "expired"
	ResConfirmed = "confirmed"
	ResPlaced    = "placed"
)

// HarderToPlaceFlags are the DfE "harder to place" criteria a hold may carry.
var HarderToPlaceFlags = []string{"age_5_plus", "disability", "sibling_group", "minority_ethnic", "waited_18_months"}

// OwnerReleaseReasons are the reasons an approving agency may give to end
// another agency's hold on its adopter.
var OwnerReleaseReasons = []string{"adopter_withdrew", "adopter_circumstances_changed", "approval_under_review", "adopter_matched_elsewhere"}

// HolderReleaseReasons are the reasons a holder may give (optional).
var HolderReleaseReasons = []string{"not_a_match", "child_plan_changed", "other_family_chosen", "panel_declined"}

// Needs holds an openness level for each need category, in NeedCategories order.
type Needs struct {
	PhysicalDisability       Level `json:"physical_disability"`
	LearningDisability       Level `json:"learning_disability"`
	DevelopmentalUncertainty Level `json:"developmental_uncertainty"`
	FoetalAlcohol            Level `json:"foetal_alcohol"`
	MedicalNeeds             Level `json:"medical_needs"`
	TraumaAttachment         Level `json:"trauma_attachment"`
}

// Levels returns the levels in NeedCategories order.
func (n Needs) Levels() [6]Level {
	return [6]Level{n.PhysicalDisability, n.LearningDisability, n.DevelopmentalUncertainty, n.FoetalAlcohol, n.MedicalNeeds, n.TraumaAttachment}
}

// ListingAttrs are the coarse attributes matching needs. All closed
// enumerations or bounded integers: there is no free text.
type ListingAttrs struct {
	ApprovalDate       string `json:"approval_date"`
	ChildrenMax        int    `json:"children_max"`
	SiblingGroupOK     bool   `json:"sibling_group_ok"`
	AgeMinYears        int    `json:"age_min_years"`
	AgeMaxYears        int    `json:"age_max_years"`
	Needs              Needs  `json:"needs"`
	FosteringForAdopt  bool   `json:"fostering_for_adoption"`
	ConcurrentPlanning bool   `json:"concurrent_planning"`
	EthnicityOpenness  Level  `json:"ethnicity_openness"`
	ReligionOpenness   Level  `json:"religion_openness"`
	LanguageOpenness   Level  `json:"language_openness"`
	Region             string `json:"region"`
	LocalAuthority     string `json:"local_authority"`
	TravelBand         string `json:"travel_band"`
}

// Listing is an adopter (or adoptive family) an agency has approved and published.
type Listing struct {
	Token   string       `json:"token"`
	Agency  string       `json:"agency"`
	Ordinal uint32       `json:"ordinal"` // dense number for the search index
	Status  string       `json:"status"`
	Attrs   ListingAttrs `json:"attrs"`
	HoldID  uint64       `json:"hold_id,omitempty"` // active or confirmed reservation
	Created uint64       `json:"created_seq"`
	Updated uint64       `json:"updated_seq"`
}

// Reservation is an exclusive, time-limited hold one agency places on a listing for a child.
type Reservation struct {
	ID            uint64   `json:"id"` // the sequence of the reserve entry
	Listing       string   `json:"listing"`
	ListingAgency string   `json:"listing_agency"`
	Holder        string   `json:"holder"`
	ChildTokens   []string `json:"child_tokens"`
	Children      int      `json:"children"`
	Flags         []string `json:"harder_to_place,omitempty"`
	Status        string   `json:"status"`
	CreatedMs     int64    `json:"created_ms"`
	ExpiresMs     int64    `json:"expires_ms"`
	Extensions    int      `json:"extensions"`
	EndedSeq      uint64   `json:"ended_seq,omitempty"`
	EndReason     string   `json:"end_reason,omitempty"`
	MoveInDate    string   `json:"move_in_date,omitempty"`
	PlacedSeq     uint64   `json:"placed_seq,omitempty"`
}

// Policy is governed data: set at genesis, changed by quorum.
type Policy struct {
	HoldDaysDefault  int `json:"hold_days_default"`
	HoldDaysMax      int `json:"hold_days_max"`
	ExtensionDays    int `json:"extension_days"`
	ExtensionsMax    int `json:"extensions_max"`
	HoldsPerChildMax int `json:"holds_per_child_max"`
	ProposalDays     int `json:"proposal_days"`
}

// DefaultPolicy is the policy a genesis gets when it names none: a 28-day
// hold, one extension of 28 days, at most 3 families considered per child.
func DefaultPolicy() Policy {
	return Policy{HoldDaysDefault: 28, HoldDaysMax: 28, ExtensionDays: 28, ExtensionsMax: 1, HoldsPerChildMax: 3, ProposalDays: 30}
}

func (p Policy) validate() *Rejection {
	switch {
	case p.HoldDaysDefault < 1 || p.HoldDaysDefault > 90:
		return reject(CodeInvalid, "policy.hold_days_default %d: expected 1..90", p.HoldDaysDefault)
	case p.HoldDaysMax < p.HoldDaysDefault || p.HoldDaysMax > 90:
		return reject(CodeInvalid, "policy.hold_days_max %d: expected hold_days_default..90", p.HoldDaysMax)
	case p.ExtensionDays < 1 || p.ExtensionDays > 90:
		return reject(CodeInvalid, "policy.extension_days %d: expected 1..90", p.ExtensionDays)
	case p.ExtensionsMax < 0 || p.ExtensionsMax > 3:
		return reject(CodeInvalid, "policy.extensions_max %d: expected 0..3", p.ExtensionsMax)
	case p.HoldsPerChildMax < 1 || p.HoldsPerChildMax > 10:
		return reject(CodeInvalid, "policy.holds_per_child_max %d: expected 1..10", p.HoldsPerChildMax)
	case p.ProposalDays < 1 || p.ProposalDays > 365:
		return reject(CodeInvalid, "policy.proposal_days %d: expected 1..365", p.ProposalDays)
	}
	return nil
}

// Node is one registered node of an agency: its TLS key is pinned by peers.
type Node struct {
	ID        string `json:"id"`
	PublicKey string `json:"public_key"` // base64url raw Ed25519 public key
	Address   string `json:"address"`    // host:port of its QUIC (UDP) endpoint
}

// AgencyKey is one signing key of an agency. Keys are never deleted, so
// old entries stay verifiable; Active says whether it may sign now.
type AgencyKey struct {
	KID       string `json:"kid"`        // RFC 7638 JWK thumbprint, base64url
	PublicKey string `json:"public_key"` // base64url raw Ed25519 public key
	Active    bool   `json:"active"`
}

// Agency is one member of the federation.
type Agency struct {
	ID       string      `json:"id"`
	URN      string      `json:"urn"`
	Name     string      `json:"name"`
	Kind     AgencyKind  `json:"kind"`
	Nation   string      `json:"nation"`
	London   bool        `json:"london"`
	RAA      string      `json:"raa,omitempty"` // for an LA inside an RAA: the RAA's id
	Councils []string    `json:"councils,omitempty"`
	Keys     []AgencyKey `json:"keys"`
	Nodes    []Node      `json:"nodes"`
	Status   string      `json:"status"` // active | removed
}

func (a *Agency) clone() Agency {
	c := *a
	c.Councils = slices.Clone(a.Councils)
	c.Keys = slices.Clone(a.Keys)
	c.Nodes = slices.Clone(a.Nodes)
	return c
}

// ActiveKID returns the kid of the agency's active key, or "".
func (a *Agency) ActiveKID() string {
	for _, k := range a.Keys {
		if k.Active {
			return k.KID
		}
	}
	return ""
}

func truncate(s string) string {
	const n = 40
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
