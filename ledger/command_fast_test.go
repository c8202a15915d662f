package ledger

import (
	"reflect"
	"strings"
	"testing"
)

// decodeSlow is DecodeCommand's encoding/json path alone (decoding only,
// no validation), the reference the fast path must agree with.
func decodeSlow(b []byte) (*Command, any, bool) {
	var c Command
	if strictUnmarshal(b, &c) != nil {
		return nil, nil, false
	}
	p := newPayload(c.Type)
	if p == nil || len(c.Payload) == 0 || strictUnmarshal(c.Payload, p) != nil {
		return nil, nil, false
	}
	return &c, p, true
}

const fastListing = `{"v":1,"type":"listing.publish","id":"bench-000000001","agency":"agency-a","user":"user-1","payload":{"token":"AbCdEfGhIjKlMnOpQrSt7q","attrs":{"approval_date":"2026-01-15","children_max":2,"sibling_group_ok":true,"age_min_years":0,"age_max_years":6,"needs":{"physical_disability":"none","learning_disability":"none","developmental_uncertainty":"none","foetal_alcohol":"none","medical_needs":"low","trauma_attachment":"medium"},"fostering_for_adoption":false,"concurrent_planning":false,"ethnicity_openness":"high","religion_openness":"medium","language_openness":"low","region":"north_west","local_authority":"E08000003","travel_band":"regional"}}}`

// fastCases are inputs the fast path must decline (it may not know they
// are wrong, only that they are outside its subset) or decode exactly as
// encoding/json does.
var fastCases = []struct {
	name   string
	in     string
	accept bool // the fast path decodes it
}{
	{"listing", fastListing, true},
	{"whitespace", " {\n\t\"v\" : 1 , \"type\":\"listing.pause\",\"id\":\"abcdefgh1\",\"agency\":\"a1\",\"user\":\"u1\",\"payload\": { \"token\" : \"AbCdEfGhIjKlMnOpQrSt7q\" } }\r\n", true},
	{"missing fields", `{"type":"listing.pause","payload":{}}`, true},
	{"payload before type", `{"payload":{"token":"x"},"type":"listing.pause"}`, false},
	{"no payload", `{"v":1,"type":"listing.pause"}`, false},
	{"reserve", `{"v":1,"type":"reservation.reserve","id":"abcdefgh1","agency":"a1","user":"u1","payload":{"listing":"AbCdEfGhIjKlMnOpQrSt7q","child_tokens":["ChIlDtOkEnAbCdEfGhIj1","ChIlDtOkEnAbCdEfGhIj2"],"harder_to_place":["sibling_group"],"hold_days":14}}`, true},
	{"reserve, no flags, empty list", `{"v":1,"type":"reservation.reserve","payload":{"listing":"x","child_tokens":[ ]}}`, true},
	{"reserve, null list", `{"v":1,"type":"reservation.reserve","payload":{"listing":"x","child_tokens":null}}`, false},
	{"reserve, duplicate list", `{"v":1,"type":"reservation.reserve","payload":{"child_tokens":["a"],"child_tokens":["b"]}}`, false},
	{"reserve, number in list", `{"v":1,"type":"reservation.reserve","payload":{"child_tokens":[1]}}`, false},
	{"reserve, trailing comma in list", `{"v":1,"type":"reservation.reserve","payload":{"child_tokens":["a",]}}`, false},
	{"extend", `{"v":1,"type":"reservation.extend","payload":{"reservation_id":3}}`, true},
	{"confirm", `{"v":1,"type":"reservation.confirm","payload":{"reservation_id":123456789}}`, true},
	{"expire, id too long", `{"v":1,"type":"reservation.expire","payload":{"reservation_id":1234567890}}`, false},
	{"release", `{"v":1,"type":"reservation.release","payload":{"reservation_id":7,"reason":"child_plan_changed"}}`, true},
	{"release, unknown key", `{"v":1,"type":"reservation.release","payload":{"reservation_id":7,"why":"x"}}`, false},
	{"other type", `{"v":1,"type":"reservation.place","payload":{"reservation_id":3,"move_in_date":"2026-05-01"}}`, false},
	{"duplicate key", `{"v":1,"v":1,"type":"listing.pause","payload":{"token":"x"}}`, false},
	{"duplicate payload key", `{"type":"listing.pause","payload":{"token":"x","token":"y"}}`, false},
	{"duplicate attrs", strings.Replace(fastListing, `"children_max":2,`, `"children_max":2,"children_max":3,`, 1), false},
	{"duplicate need", strings.Replace(fastListing, `"medical_needs":"low",`, `"medical_needs":"low","medical_needs":"high",`, 1), false},
	{"case variant key", `{"V":1,"type":"listing.pause","payload":{"token":"x"}}`, false},
	{"unknown key", `{"v":1,"type":"listing.pause","extra":1,"payload":{"token":"x"}}`, false},
	{"escape", `{"v":1,"type":"listing.pause","id":"a\u0062cdefgh","payload":{"token":"x"}}`, false},
	{"non-ascii", `{"v":1,"type":"listing.pause","id":"é","payload":{"token":"x"}}`, false},
	{"leading zero", `{"v":01,"type":"listing.pause","payload":{"token":"x"}}`, false},
	{"fraction", `{"v":1.0,"type":"listing.pause","payload":{"token":"x"}}`, false},
	{"exponent", `{"v":1e0,"type":"listing.pause","payload":{"token":"x"}}`, false},
	{"negative", `{"v":-1,"type":"listing.pause","payload":{"token":"x"}}`, false},
	{"big", `{"v":1234567890,"type":"listing.pause","payload":{"token":"x"}}`, false},
	{"null", `{"v":null,"type":"listing.pause","payload":{"token":"x"}}`, false},
	{"string for int", `{"v":"1","type":"listing.pause","payload":{"token":"x"}}`, false},
	{"bad level", strings.Replace(fastListing, `"low","trauma`, `"LOW","trauma`, 1), false},
	{"bool prefix", strings.Replace(fastListing, `"sibling_group_ok":true`, `"sibling_group_ok":truex`, 1), false},
	{"trailing data", fastListing + `{}`, false},
	{"trailing comma", `{"v":1,"type":"listing.pause","payload":{"token":"x"},}`, false},
	{"truncated", fastListing[:len(fastListing)-1], false},
	{"empty", ``, false},
}

func TestDecodeFast(t *testing.T) {
	for _, tc := range fastCases {
		t.Run(tc.name, func(t *testing.T) {
			c, p, ok := decodeFast([]byte(tc.in))
			if ok != tc.accept {
				t.Fatalf("fast path ok = %v, want %v", ok, tc.accept)
			}
			if ok {
				sameAsSlow(t, []byte(tc.in), c, p)
			}
		})
	}
}

func sameAsSlow(t *testing.T, b []byte, c *Command, p any) {
	t.Helper()
	sc, sp, ok := decodeSlow(b)
	if !ok {
		t.Fatalf("fast path accepted what encoding/json refuses: %q", b)
	}
	if !reflect.DeepEqual(c, sc) || !reflect.DeepEqual(p, sp) {
		t.Fatalf("fast and encoding/json disagree on %q:\n%+v %+v\n%+v %+v", b, c, p, sc, sp)
	}
}

// FuzzDecodeFast: whatever the fast path accepts, encoding/json (strict)
// decodes to the same command and payload.
func FuzzDecodeFast(f *testing.F) {
	for _, tc := range fastCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, p, ok := decodeFast(b); ok {
			sameAsSlow(t, b, c, p)
		}
	})
}

// TestFastDecodeKeys: the fast path's field names are the structs' JSON names.
func TestFastDecodeKeys(t *testing.T) {
	names := func(v any) []string {
		var out []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			out = append(out, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
		}
		return out
	}
	if got := names(ListingAttrs{}); !reflect.DeepEqual(got, listingAttrsKeys) {
		t.Errorf("ListingAttrs keys %v, fast path has %v", got, listingAttrsKeys)
	}
	if got := names(Needs{}); !reflect.DeepEqual(got, NeedCategories) {
		t.Errorf("Needs keys %v, NeedCategories %v", got, NeedCategories)
	}
	for _, c := range []struct {
		v    any
		keys []string
	}{
		{Command{}, commandKeys}, {ListingPayload{}, listingPayloadKeys}, {TokenPayload{}, tokenPayloadKeys},
		{ReservePayload{}, reservePayloadKeys}, {ReservationPayload{}, reservationPayloadKeys}, {ReleasePayload{}, releasePayloadKeys},
	} {
		if got := names(c.v); !reflect.DeepEqual(got, c.keys) {
			t.Errorf("%T keys %v, fast path has %v", c.v, got, c.keys)
		}
	}
}

func BenchmarkDecodeCommand(b *testing.B) {
	in := []byte(fastListing)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, _, rj := DecodeCommand(in); rj != nil {
				b.Fatal(rj)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, _, ok := decodeSlow(in); !ok {
				b.Fatal("refused")
			}
		}
	})
}
