package node_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/raaft/raaft/consensus"
	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// apiEnv is a real one-node federation (ledger on bbolt, Raft over QUIC on
// 127.0.0.1) behind the real API on an httptest server.
type apiEnv struct {
	srv    *node.Server
	url    string
	iss    *node.DevIssuer
	alog   *lockedBuffer
	l      *ledger.Ledger
	tokens map[string]string
}

func freeUDP(t *testing.T) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	ag := ledgertest.NewAgency("solo", ledger.KindRAA, false, freeUDP(t))
	fed := ledgertest.Found([]*ledgertest.Agency{ag}, ledger.DefaultPolicy())
	dir := t.TempDir()
	l, err := ledger.Open(filepath.Join(dir, "ledger.db"), ledger.Options{NoSync: true, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.InitGenesis(fed.Genesis); err != nil {
		t.Fatal(err)
	}
	cn, err := consensus.Open(consensus.Config{NodeID: ag.Record.Nodes[0].ID, DataDir: filepath.Join(dir, "raft"), Ledger: l, Signer: ag.Signer,
		NodeKey: ag.NodeKey, BindAddr: ag.Record.Nodes[0].Address, Timings: consensus.FastTimings(), VotersMax: 3, NoSync: true, Bootstrap: true, ForwardTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := node.NewDevIssuer(ledgertest.Key("issuer"), "test-issuer", "raaft", "solo")
	if err != nil {
		t.Fatal(err)
	}
	auth, err := node.NewAuthenticator(node.AuthConfig{Issuer: "test-issuer", Audience: "raaft", Keys: iss.Keys(), Skew: 30 * time.Second, Agency: "solo"})
	if err != nil {
		t.Fatal(err)
	}
	alog := &lockedBuffer{}
	srv, err := node.NewServer(node.ServerConfig{Ledger: l, Replicator: node.ConsensusReplicator(cn), Signer: ag.Signer, Auth: auth, AccessLog: alog, BodyBytesMax: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); cn.Close(); l.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for cn.Status().LeaderID == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	e := &apiEnv{srv: srv, url: hs.URL, iss: iss, alog: alog, l: l, tokens: map[string]string{}}
	for _, r := range node.Roles {
		e.tokens[r] = e.token(t, []string{r}, time.Hour)
	}
	return e
}

func (e *apiEnv) token(t *testing.T, roles []string, ttl time.Duration) string {
	tok, err := e.iss.Issue("officer-1@example.org", roles, ttl, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *apiEnv) client(role string) *protocol.Client {
	return protocol.NewClient(e.url, e.tokens[role], nil)
}

func wantProblem(t *testing.T, err error, status int, code string) *protocol.Error {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Status != status || (code != "" && pe.Code != code) {
		t.Fatalf("got %v; want status %d code %q", err, status, code)
	}
	return pe
}

func TestAPIMatchingJourney(t *testing.T) {
	e := newAPIEnv(t)
	c := e.client(node.RoleMatching)
	ctx := context.Background()
	tok := protocol.NewToken()
	r, err := c.Publish(ctx, protocol.ListingRequest{Token: tok, Attrs: ledgertest.Attrs()}, "")
	if err != nil || !r.Accepted {
		t.Fatalf("publish: %v %+v", err, r)
	}
	res, err := c.Search(ctx, url.Values{"region": {"north_west"}, "children": {"2"}, "need.trauma_attachment": {"medium"}})
	if err != nil || res.Total != 1 || res.Listings[0].Token != tok {
		t.Fatalf("search: %v %+v", err, res)
	}
	if res, _ := c.Search(ctx, url.Values{"need.trauma_attachment": {"high"}}); res.Total != 0 {
		t.Fatal("need filter ignored")
	}
	hold, err := c.Reserve(ctx, protocol.ReserveRequest{Listing: tok, ChildTokens: []string{protocol.NewToken()}}, "")
	if err != nil || hold.ID == 0 {
		t.Fatalf("reserve: %v", err)
	}
	_, err = c.Reserve(ctx, protocol.ReserveRequest{Listing: tok, ChildTokens: []string{protocol.NewToken()}}, "")
	pe := wantProblem(t, err, http.StatusConflict, "conflict")
	if pe.HoldExpiresMs == 0 || !strings.Contains(pe.Type, "conflict") {
		t.Fatalf("conflict should carry the hold's expiry: %+v", pe)
	}
	v, err := c.Listing(ctx, tok, true)
	if err != nil || v.Hold == nil || v.Hold.ID != hold.ID {
		t.Fatalf("linearizable get: %v %+v", err, v)
	}
	for _, a := range []string{"extend", "confirm"} {
		if _, err := c.ReservationAction(ctx, hold.ID, a, ""); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	if _, err := c.Place(ctx, hold.ID, time.Now().Format(time.DateOnly), ""); err != nil {
		t.Fatalf("place: %v", err)
	}
	rs, err := c.Reservations(ctx, "", ledger.ResPlaced)
	if err != nil || len(rs) != 1 {
		t.Fatalf("reservations: %v %+v", err, rs)
	}
	hist, err := c.History(ctx, tok)
	if err != nil || len(hist) != 5 {
		t.Fatalf("history: %v, %d entries", err, len(hist))
	}
	if !strings.Contains(e.alog.String(), `"operation":"searchListings"`) || !strings.Contains(e.alog.String(), `"operation":"getListing"`) {
		t.Fatalf("access log: %s", e.alog.String())
	}
	if strings.Contains(e.alog.String(), "officer-1@example.org") {
		t.Fatal("the access log holds the raw subject; it should hold the pseudonym")
	}
	ent, _ := e.l.Entry(r.Seq)
	if strings.Contains(string(ent.Data), "example.org") {
		t.Fatal("a user identifier reached the ledger")
	}
}

func TestAPIAuditorReads(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	m := e.client(node.RoleMatching)
	for range 5 {
		if _, err := m.Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, ""); err != nil {
			t.Fatal(err)
		}
	}
	a := e.client(node.RoleAuditor)
	head, err := a.Head(ctx, true)
	if err != nil || head.Size != 6 {
		t.Fatalf("head: %v %+v", err, head)
	}
	p, err := a.Inclusion(ctx, 3, 0)
	if err != nil || p.Verify() != nil || p.Root != head.Root {
		t.Fatalf("inclusion: %v", err)
	}
	cp, err := a.Consistency(ctx, 2, 6)
	if err != nil || cp.Verify() != nil {
		t.Fatalf("consistency: %v", err)
	}
	if _, err := a.Entry(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Cluster(ctx); err != nil || st.LeaderID == "" || st.Head.Size != 6 {
		t.Fatalf("cluster: %v %+v", err, st)
	}
	if ags, err := a.Agencies(ctx); err != nil || len(ags) != 1 {
		t.Fatalf("agencies: %v", err)
	}
	_, err = a.Search(ctx, nil)
	wantProblem(t, err, http.StatusForbidden, "")
	if err := a.Ready(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestAPIAuth(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	_, err := protocol.NewClient(e.url, "", nil).Search(ctx, nil)
	wantProblem(t, err, http.StatusUnauthorized, "")
	_, err = protocol.NewClient(e.url, "not-a-jwt", nil).Search(ctx, nil)
	wantProblem(t, err, http.StatusUnauthorized, "")
	_, err = e.client(node.RoleFinance).Publish(ctx, protocol.ListingRequest{Token: protocol.NewToken(), Attrs: ledgertest.Attrs()}, "")
	wantProblem(t, err, http.StatusForbidden, "")
	// expired beyond the skew
	old, _ := e.iss.Issue("u", []string{node.RoleMatching}, time.Minute, time.Now().Add(-10*time.Minute))
	_, err = protocol.NewClient(e.url, old, nil).Search(ctx, nil)
	wantProblem(t, err, http.StatusUnauthorized, "")
	// another issuer's audience
	other, _ := node.NewDevIssuer(ledgertest.Key("issuer"), "test-issuer", "not-raaft", "solo")
	wrongAud, _ := other.Issue("u", []string{node.RoleMatching}, time.Hour, time.Now())
	_, err = protocol.NewClient(e.url, wrongAud, nil).Search(ctx, nil)
	wantProblem(t, err, http.StatusUnauthorized, "")
	// a key set whose key has no alg is refused when the node starts
	raw, _ := jwk.Import(ledgertest.Key("noalg").Public().(ed25519.PublicKey))
	raw.Set(jwk.KeyIDKey, "k1")
	set := jwk.NewSet()
	set.AddKey(raw)
	if _, err := node.NewAuthenticator(node.AuthConfig{Issuer: "i", Audience: "a", Keys: set}); err == nil || !strings.Contains(err.Error(), "alg") {
		t.Fatalf("key without alg: %v", err)
	}
}

func TestAPIBadInput(t *testing.T) {
	e := newAPIEnv(t)
	do := func(method, path, body string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.tokens[node.RoleMatching])
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s %s: %d without problem+json", method, path, resp.StatusCode)
		}
		return resp.StatusCode, b.String()
	}
	key := map[string]string{"Idempotency-Key": "key-000000001"}
	good := `{"token":"` + protocol.NewToken() + `","attrs":{"approval_date":"2026-01-15","children_max":1,"sibling_group_ok":false,"age_min_years":0,"age_max_years":4,"needs":{"physical_disability":"none","learning_disability":"none","developmental_uncertainty":"none","foetal_alcohol":"none","medical_needs":"none","trauma_attachment":"none"},"fostering_for_adoption":false,"concurrent_planning":false,"ethnicity_openness":"none","religion_openness":"none","language_openness":"none","region":"east","local_authority":"E06000001","travel_band":"local"}}`
	cases := []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		mention                  string
	}{
		{"malformed JSON", "POST", "/v1/listings", `{"token":`, key, 400, "body"},
		{"unknown field", "POST", "/v1/listings", strings.Replace(good, `"token"`, `"name":"Jane","token"`, 1), key, 400, "unknown field"},
		{"wrong type", "POST", "/v1/listings", strings.Replace(good, `"children_max":1`, `"children_max":"one"`, 1), key, 400, "children_max"},
		{"trailing data", "POST", "/v1/listings", good + `{}`, key, 400, "trailing"},
		{"no idempotency key", "POST", "/v1/listings", good, nil, 400, "Idempotency-Key"},
		{"personal data", "POST", "/v1/listings", strings.Replace(good, `"token":"`, `"token":"Jane Smith `, 1), key, 422, "token"},
		{"oversize", "POST", "/v1/listings", `{"token":"` + strings.Repeat("a", 70<<10) + `"}`, key, 413, ""},
		{"bad query param", "GET", "/v1/listings?children=two", "", nil, 400, "children"},
		{"unknown query param", "GET", "/v1/listings?colour=blue", "", nil, 400, "colour"},
		{"bad need", "GET", "/v1/listings?need.hair=high", "", nil, 400, "need.hair"},
		{"bad consistency", "GET", "/v1/listings?consistency=strong", "", nil, 400, "consistency"},
		{"bad reservation id", "POST", "/v1/reservations/abc/extend", "", key, 400, "id"},
		{"missing listing", "GET", "/v1/listings/" + protocol.NewToken(), "", nil, 404, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := do(c.method, c.path, c.body, c.hdr)
			if status != c.status || !strings.Contains(body, c.mention) {
				t.Fatalf("%d %s; want %d mentioning %q", status, body, c.status, c.mention)
			}
		})
	}
	if h, _ := e.l.Head(); h.Size != 1 {
		t.Fatalf("bad input reached the ledger: size %d", h.Size)
	}
	// idempotent replay: same key, same result, marked replayed
	status1, body1 := do("POST", "/v1/listings", good, key)
	req, _ := http.NewRequest("POST", e.url+"/v1/listings", strings.NewReader(good))
	req.Header.Set("Authorization", "Bearer "+e.tokens[node.RoleMatching])
	req.Header.Set("Idempotency-Key", "key-000000001")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if status1 != 201 || resp.Header.Get("Idempotent-Replayed") != "true" || !strings.Contains(body1, `"accepted":true`) {
		t.Fatalf("replay: first %d %s; second replayed=%q", status1, body1, resp.Header.Get("Idempotent-Replayed"))
	}
	if h, _ := e.l.Head(); h.Size != 2 {
		t.Fatalf("replayed write applied twice: size %d", h.Size)
	}
}

func newAPIEnvServer(t *testing.T) *node.Server { return newAPIEnv(t).srv }

func TestAPIGovernance(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	op := e.client(node.RoleOperator)
	newcomer := ledgertest.NewAgency("newcomer", ledger.KindVAA, false, "127.0.0.1:7999")
	_, err := e.client(node.RoleMatching).Propose(ctx, ledger.ProposePayload{Action: ledger.ActionAddAgency, Agency: &newcomer.Record}, "")
	wantProblem(t, err, http.StatusForbidden, "")
	r, err := op.Propose(ctx, ledger.ProposePayload{Action: ledger.ActionAddAgency, Agency: &newcomer.Record}, "")
	if err != nil || !r.Accepted {
		t.Fatalf("propose: %v", err)
	}
	p, err := op.Proposal(ctx, r.Seq)
	if err != nil || p.Status != "effective" { // one agency: its own approval is a quorum
		t.Fatalf("proposal %+v %v", p, err)
	}
	ags, _ := op.Agencies(ctx)
	if len(ags) != 2 {
		t.Fatalf("%d agencies after add_agency", len(ags))
	}
	_, err = op.Approve(ctx, r.Seq, "")
	wantProblem(t, err, http.StatusConflict, "conflict")
	nk := ledger.EncodePublicKey(ledgertest.Key("second-node").Public().(ed25519.PublicKey))
	if _, err := op.RegisterNode(ctx, ledger.Node{ID: "solo-node2", PublicKey: nk, Address: "127.0.0.1:7998"}, ""); err != nil {
		t.Fatal(err)
	}
	if nd, err := e.l.NodeByKey(nk); err != nil || nd.NodeID != "solo-node2" {
		t.Fatalf("registered node: %+v %v", nd, err)
	}
}
