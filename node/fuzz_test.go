package node_test

import (
	"net/url"
	"reflect"
	"testing"

	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// FuzzParseSearchQuery: any query string either is refused or parses to a
// search that protocol.SearchValues writes back to the same search.
func FuzzParseSearchQuery(f *testing.F) {
	for _, s := range []string{
		"", "status=available,reserved&region=north_west", "need.trauma_attachment=high&children=2",
		"child_age_years=4&limit=10&after=3", "fostering_for_adoption=true&travel_min=regional", "colour=blue", "region=%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		sq, err := node.ParseSearchQuery(q)
		if err != nil {
			return
		}
		again, err := node.ParseSearchQuery(protocol.SearchValues(sq))
		if err != nil || !reflect.DeepEqual(again, sq) {
			t.Fatalf("%q parsed as %+v, which encodes back as %+v (%v)", raw, sq, again, err)
		}
	})
}
