package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// accessLines parses the access log.
func accessLines(t *testing.T, s string) []node.AccessRecord {
	t.Helper()
	var out []node.AccessRecord
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var rec node.AccessRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("access log line %q: %v", sc.Text(), err)
		}
		out = append(out, rec)
	}
	return out
}

// TestAccessLog: every search and listing read appends one JSON line
// naming the caller's pseudonym (never the subject), the role, the
// operation and the query; concurrent calls never interleave lines.
func TestAccessLog(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	tok := e.publish(t)
	m, op := e.client(node.RoleMatching), e.client(node.RoleOperator)
	if _, err := m.Search(ctx, url.Values{"region": {"north_west"}, "need.medical_needs": {"low"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := op.Listing(ctx, tok, false); err != nil {
		t.Fatal(err)
	}
	lines := accessLines(t, e.alog.String())
	byOp := map[string]node.AccessRecord{}
	for _, l := range lines {
		byOp[l.Operation] = l
	}
	search, get := byOp["searchListings"], byOp["getListing"]
	switch {
	case search.User == "" || search.User != get.User || strings.Contains(e.alog.String(), envSubject):
		t.Fatalf("user should be the same pseudonym, never the subject: %s", e.alog.String())
	case search.Role != node.RoleMatching || get.Role != node.RoleOperator:
		t.Fatalf("roles %q %q", search.Role, get.Role)
	case !reflect.DeepEqual(search.Query, map[string][]string{"region": {"north_west"}, "need.medical_needs": {"low"}}):
		t.Fatalf("search query %v", search.Query)
	case !reflect.DeepEqual(get.Query, map[string][]string{"token": {tok}}) || get.Status != http.StatusOK || get.Node != "a1-node" || get.Time == "":
		t.Fatalf("get %+v", get)
	}
	if _, ok := byOp["publishListing"]; !ok {
		t.Fatal("writes are logged too")
	}
	ledgerBytes := ""
	for seq := range e.size(t) {
		en, _ := e.l.Entry(seq)
		ledgerBytes += string(en.Data)
	}
	if strings.Contains(ledgerBytes, "searchListings") {
		t.Fatal("the access log reached the ledger")
	}

	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := m.Search(ctx, url.Values{"status": {"available,reserved"}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := len(accessLines(t, e.alog.String())); got != len(lines)+n {
		t.Fatalf("%d lines after %d searches; want %d", got, n, len(lines)+n)
	}
}

// failingWriter is an access log that cannot be written.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestAccessLogFailsClosed: a listing read whose access line cannot be
// written is refused; other reads are served.
func TestAccessLogFailsClosed(t *testing.T) {
	e := newTestEnvWith(t, envOptions{accessLog: failingWriter{}})
	ctx := context.Background()
	m := e.client(node.RoleMatching)
	_, err := m.Search(ctx, nil)
	expectProblem(t, err, http.StatusInternalServerError, protocol.ProblemInternal)
	if _, err := m.Head(ctx, false); err != nil {
		t.Fatalf("a ledger read need not be refused: %v", err)
	}
	if !strings.Contains(e.logs.String(), "disk full") {
		t.Fatal("the failure was not logged")
	}
}

// TestMetrics: /metrics counts requests by operation and status, and
// proposals by outcome, from the server's own registry.
func TestMetrics(t *testing.T) {
	e := newTestEnv(t)
	e.publish(t)
	_, _ = e.client(node.RoleMatching).Search(context.Background(), url.Values{"children": {"x"}})
	resp, err := http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`raaft_api_requests_total{op="publishListing",status="201"} 1`,
		`raaft_api_requests_total{op="searchListings",status="400"} 1`,
		`raaft_api_request_seconds_bucket{op="publishListing",status="201"`,
		`raaft_proposals_total{outcome="accepted"} 1`,
		fmt.Sprintf(`raaft_build_info{go_version=%q,revision="unknown",version="(devel)"} 1`, runtime.Version()),
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestSearchParamsRoundTrip: protocol.SearchValues and node.ParseSearchQuery
// are inverses, so the client and the server agree on every filter.
func TestSearchParamsRoundTrip(t *testing.T) {
	age := 4
	zero := 0
	cases := []ledger.SearchQuery{
		{},
		{Status: []string{"available", "reserved"}, Regions: []string{"north_west", "london"}},
		{LocalAuthority: "E08000003", Agency: "a2", ChildAgeYears: &age, Children: 2, TravelMin: "regional"},
		{ChildAgeYears: &zero},
		{NeedsMin: map[string]ledger.Level{"trauma_attachment": ledger.LevelMedium, "foetal_alcohol": ledger.LevelHigh}},
		{EthnicityMin: ledger.LevelLow, ReligionMin: ledger.LevelMedium, LanguageMin: ledger.LevelHigh},
		{FosteringForAdopt: true, ConcurrentPlan: true, Limit: 10, After: 77},
	}
	for i, q := range cases {
		v := protocol.SearchValues(q)
		got, err := node.ParseSearchQuery(v)
		if err != nil {
			t.Fatalf("case %d: %v (%s)", i, err, v.Encode())
		}
		if !reflect.DeepEqual(got, q) {
			t.Fatalf("case %d: %s parsed as %+v; want %+v", i, v.Encode(), got, q)
		}
	}
	comma, err := node.ParseSearchQuery(url.Values{"status": {"available, reserved"}, "region": {"east", "london"}})
	if err != nil || !slices.Equal(comma.Status, []string{"available", "reserved"}) || !slices.Equal(comma.Regions, []string{"east", "london"}) {
		t.Fatalf("repeatable and comma-separated: %v %+v", err, comma)
	}
	bad := []struct{ param, value string }{
		{"status", "lost"}, {"region", "mars"}, {"local_authority", "Manchester"}, {"agency", "A B"},
		{"child_age_years", "four"}, {"child_age_years", "40"}, {"children", "-1"},
		{"need.medical_needs", "all"}, {"need.shoe_size", "low"}, {"ethnicity_min", "x"}, {"religion_min", "x"}, {"language_min", "x"},
		{"fostering_for_adoption", "yes please"}, {"concurrent_planning", "2"}, {"travel_min", "orbit"},
		{"limit", "1000"}, {"limit", "ten"}, {"after", "-1"}, {"after", "99999999999"}, {"colour", "blue"},
	}
	e := newTestEnv(t)
	for _, b := range bad {
		t.Run(b.param+"="+b.value, func(t *testing.T) {
			if _, err := node.ParseSearchQuery(url.Values{b.param: {b.value}}); err == nil {
				t.Fatal("accepted")
			}
			r := e.do(t, "GET", "/v1/listings?"+url.Values{b.param: {b.value}}.Encode(), "", node.RoleMatching, nil)
			var p protocol.Problem
			if err := json.Unmarshal([]byte(r.body), &p); err != nil || r.status != http.StatusBadRequest || p.Field != b.param {
				t.Fatalf("%d %s: want 400 naming %q", r.status, r.body, b.param)
			}
		})
	}
}

// TestNewServerChecks: a server must act for one agency: the signer's,
// the authenticator's and the configured one must agree.
func TestNewServerChecks(t *testing.T) {
	e := newTestEnv(t)
	a1, a2 := e.fed.Agencies[0].Signer, e.fed.Agencies[1].Signer
	auth, err := node.NewAuthenticator(node.AuthConfig{Issuer: envIssuer, Audience: envAudience, Keys: e.iss.Keys(), Agency: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  node.ServerConfig
	}{
		{"no ledger", node.ServerConfig{Replicator: e.rep, Signer: a1, Auth: auth}},
		{"signer of another agency", node.ServerConfig{Ledger: e.l, Replicator: e.rep, Signer: a2, Auth: auth}},
		{"agency differs", node.ServerConfig{Ledger: e.l, Replicator: e.rep, Signer: a1, Auth: auth, Agency: "a2"}},
		{"negative body limit", node.ServerConfig{Ledger: e.l, Replicator: e.rep, Signer: a1, Auth: auth, BodyBytesMax: -1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := node.NewServer(c.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	srv, err := node.NewServer(node.ServerConfig{Ledger: e.l, Replicator: e.rep, Signer: a1, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.Routes() {
		if r.OperationID == "" || !strings.HasPrefix(r.Pattern, "/") {
			t.Fatalf("route %+v", r)
		}
		if strings.HasPrefix(r.Pattern, "/v1/") && len(r.Roles) == 0 {
			t.Fatalf("%s %s needs no role", r.Method, r.Pattern)
		}
	}
}
