package ledger_test

import (
	"strings"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
)

func TestDecodeCommandSchema(t *testing.T) {
	tok := ledgertest.Token("l")
	valid := `{"v":1,"type":"listing.pause","id":"abcdefgh1","agency":"a1","user":"u1","payload":{"token":"` + tok + `"}}`
	if _, _, rj := ledger.DecodeCommand([]byte(valid)); rj != nil {
		t.Fatalf("valid command rejected: %v", rj)
	}
	cases := []struct{ name, in, want string }{
		{"unknown field", strings.Replace(valid, `"user"`, `"name":"Jane","user"`, 1), "unknown field"},
		{"unknown payload field", strings.Replace(valid, `{"token"`, `{"note":"x","token"`, 1), "unknown field"},
		{"unknown type", strings.Replace(valid, "listing.pause", "listing.delete", 1), "type"},
		{"version", strings.Replace(valid, `"v":1`, `"v":2`, 1), "v:"},
		{"short id", strings.Replace(valid, "abcdefgh1", "abc", 1), "id:"},
		{"bad agency", strings.Replace(valid, `"a1"`, `"A 1"`, 1), "agency"},
		{"user is an email", strings.Replace(valid, `"u1"`, `"jane@example.org"`, 1), "user"},
		{"trailing data", valid + `{}`, "trailing"},
		{"wrong type", strings.Replace(valid, `"v":1`, `"v":"1"`, 1), "field v"},
		{"no payload", strings.Replace(valid, `,"payload":{"token":"`+tok+`"}`, "", 1), "payload"},
		{"oversize", strings.Replace(valid, `"u1"`, `"`+strings.Repeat("u", 20000)+`"`, 1), "bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, rj := ledger.DecodeCommand([]byte(c.in))
			if rj == nil || !strings.Contains(rj.Message, c.want) {
				t.Fatalf("got %v, want a rejection mentioning %q", rj, c.want)
			}
		})
	}
}

func TestTokensRejectPersonalData(t *testing.T) {
	x := newTL(t, 1)
	cases := []struct {
		token string
		code  ledger.Code
	}{
		{"JaneElizabethSmith", ledger.CodePersonalData},
		{"jane-elizabeth-smith", ledger.CodePersonalData},
		{"jane.smith@example.org", ledger.CodePersonalData},
		{"Jane Smith Adopter 1", ledger.CodePersonalData},
		{"tel-07700900123-x9Kq", ledger.CodePersonalData},
		{"x9Kq-0770-090-0123-ab", ledger.CodePersonalData},
		{"dob-2015-03-04-x9KqZ", ledger.CodePersonalData},
		{"x9Kq_04-03-2015_abZ7", ledger.CodePersonalData},
		{"adopter_SW1A1AA_k9Zq", ledger.CodePersonalData},
		{"k9Zq-M1-1AE-adopterX", ledger.CodePersonalData},
		{"short7X", ledger.CodeInvalid},
		{"aaaaaaaaaaaaaaaa1111", ledger.CodeInvalid},
		{"tok/with/slashes12345", ledger.CodeInvalid},
	}
	for _, c := range cases {
		t.Run(c.token, func(t *testing.T) {
			x.rejected(c.code, 0, ledger.TypePublish, ledger.ListingPayload{Token: c.token, Attrs: ledgertest.Attrs()})
		})
	}
	for i := range 200 { // generated tokens pass
		x.publish(0, "gen"+string(rune('A'+i%26))+string(rune('a'+i/26)))
	}
}

func TestListingAttrsClosed(t *testing.T) {
	x := newTL(t, 1)
	mut := []struct {
		name string
		f    func(a *ledger.ListingAttrs)
	}{
		{"children 0", func(a *ledger.ListingAttrs) { a.ChildrenMax = 0 }},
		{"children 5", func(a *ledger.ListingAttrs) { a.ChildrenMax = 5 }},
		{"siblings without flag", func(a *ledger.ListingAttrs) { a.SiblingGroupOK = false }},
		{"age range inverted", func(a *ledger.ListingAttrs) { a.AgeMinYears, a.AgeMaxYears = 5, 2 }},
		{"age 18", func(a *ledger.ListingAttrs) { a.AgeMaxYears = 18 }},
		{"region", func(a *ledger.ListingAttrs) { a.Region = "mars" }},
		{"la not GSS", func(a *ledger.ListingAttrs) { a.LocalAuthority = "Manchester" }},
		{"travel", func(a *ledger.ListingAttrs) { a.TravelBand = "anywhere" }},
		{"date", func(a *ledger.ListingAttrs) { a.ApprovalDate = "2026-02-30" }},
	}
	for _, m := range mut {
		t.Run(m.name, func(t *testing.T) {
			a := ledgertest.Attrs()
			m.f(&a)
			x.rejected(ledger.CodeInvalid, 0, ledger.TypePublish, ledger.ListingPayload{Token: ledgertest.Token(m.name), Attrs: a})
		})
	}
	// levels are a closed set in JSON
	bad := `{"v":1,"type":"listing.publish","id":"abcdefgh1","agency":"a1","user":"u1","payload":{"token":"` + ledgertest.Token("lv") +
		`","attrs":{"approval_date":"2026-01-01","children_max":1,"sibling_group_ok":false,"age_min_years":0,"age_max_years":3,` +
		`"needs":{"physical_disability":"extreme","learning_disability":"none","developmental_uncertainty":"none","foetal_alcohol":"none","medical_needs":"none","trauma_attachment":"none"},` +
		`"fostering_for_adoption":false,"concurrent_planning":false,"ethnicity_openness":"none","religion_openness":"none","language_openness":"none","region":"east","local_authority":"E08000003","travel_band":"local"}}}`
	if _, _, rj := ledger.DecodeCommand([]byte(bad)); rj == nil || !strings.Contains(rj.Message, "extreme") {
		t.Fatalf("level outside the closed set: %v", rj)
	}
}
