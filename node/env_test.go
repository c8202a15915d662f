package node_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raaft/raaft/ledger"
	"github.com/raaft/raaft/ledger/ledgertest"
	"github.com/raaft/raaft/node"
	"github.com/raaft/raaft/protocol"
)

// testClock is a settable clock for the ledger's envelopes (the leader's
// time): tests move it to make holds fall due.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// lockedBuffer is a concurrency-safe sink for the access log and logger.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// spyReplicator wraps the LocalReplicator: it counts barriers and
// proposals, and can fail the next proposals with an error, before or
// after applying them (an unknown outcome that did land).
type spyReplicator struct {
	*node.LocalReplicator
	barriers  atomic.Int64
	proposals atomic.Int64

	mu        sync.Mutex
	failures  []error // returned by the next proposals, in order, without applying
	lateFails []error // returned by the next proposals after applying them
}

func (s *spyReplicator) Propose(ctx context.Context, signed []byte) (ledger.Result, error) {
	s.proposals.Add(1)
	s.mu.Lock()
	var early, late error
	if len(s.failures) > 0 {
		early, s.failures = s.failures[0], s.failures[1:]
	} else if len(s.lateFails) > 0 {
		late, s.lateFails = s.lateFails[0], s.lateFails[1:]
	}
	s.mu.Unlock()
	if early != nil {
		return ledger.Result{}, early
	}
	res, err := s.LocalReplicator.Propose(ctx, signed)
	if late != nil {
		return ledger.Result{}, late
	}
	return res, err
}

func (s *spyReplicator) Barrier(ctx context.Context) error {
	s.barriers.Add(1)
	return s.LocalReplicator.Barrier(ctx)
}

func (s *spyReplicator) failNext(errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, errs...)
}

func (s *spyReplicator) failAfterApplying(errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lateFails = append(s.lateFails, errs...)
}

// testEnv is a one-node federation of agency a1 (a2 is a second founder,
// proposing through the same replicator) on a real ledger file, behind the
// real API on an httptest server, with real JWTs.
type testEnv struct {
	url    string
	srv    *node.Server
	l      *ledger.Ledger
	rep    *spyReplicator
	clock  *testClock
	fed    *ledgertest.Federation
	iss    *node.DevIssuer
	alog   *lockedBuffer
	logs   *lockedBuffer
	ready  atomic.Pointer[error]
	tokens map[string]string // role -> token of officer-1@example.org
}

const (
	envIssuer   = "https://idp.a1.example"
	envAudience = "raaft-a1"
	envSubject  = "officer-1@example.org"
)

// envOptions change one environment.
type envOptions struct {
	accessLog    io.Writer
	bodyBytesMax int64
	keys         node.KeyStore
}

func newTestEnv(t *testing.T) *testEnv { return newTestEnvWith(t, envOptions{}) }

func newTestEnvWith(t *testing.T, o envOptions) *testEnv {
	t.Helper()
	fed := ledgertest.NewFederation(2)
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{NoSync: true, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.InitGenesis(fed.Genesis); err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.UnixMilli(ledgertest.GenesisTimeMs).Add(10 * 24 * time.Hour)}
	local, err := node.NewLocalReplicator(l, "a1-node", "a1", clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{l: l, rep: &spyReplicator{LocalReplicator: local}, clock: clock, fed: fed, alog: &lockedBuffer{}, logs: &lockedBuffer{}, tokens: map[string]string{}}
	if e.iss, err = node.NewDevIssuer(ledgertest.Key("issuer"), envIssuer, envAudience, "a1"); err != nil {
		t.Fatal(err)
	}
	auth, err := node.NewAuthenticator(node.AuthConfig{Issuer: envIssuer, Audience: envAudience, Keys: e.iss.Keys(), Skew: 30 * time.Second, Agency: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	var alog io.Writer = e.alog
	if o.accessLog != nil {
		alog = o.accessLog
	}
	if o.bodyBytesMax == 0 {
		o.bodyBytesMax = 16 << 10
	}
	e.srv, err = node.NewServer(node.ServerConfig{
		Ledger: l, Replicator: e.rep, Signer: fed.Agencies[0].Signer, NodeID: "a1-node", Auth: auth, AccessLog: alog,
		BodyBytesMax: o.bodyBytesMax, WriteTimeout: 5 * time.Second, Logger: slog.New(slog.NewJSONHandler(e.logs, nil)), Keys: o.keys,
		Ready: func(context.Context) (protocol.Readiness, error) {
			if p := e.ready.Load(); p != nil {
				return protocol.Readiness{}, *p
			}
			return protocol.Readiness{}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(e.srv.Handler())
	t.Cleanup(hs.Close)
	e.url = hs.URL
	for _, r := range node.Roles {
		e.tokens[r] = e.token(t, envSubject, r)
	}
	return e
}

func (e *testEnv) token(t *testing.T, sub string, roles ...string) string {
	t.Helper()
	tok, err := e.iss.Issue(sub, roles, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *testEnv) client(role string) *protocol.Client {
	return protocol.NewClient(e.url, e.tokens[role], nil)
}

func (e *testEnv) size(t *testing.T) uint64 {
	t.Helper()
	h, err := e.l.Head()
	if err != nil {
		t.Fatal(err)
	}
	return h.Size
}

// publish publishes a listing of a1 through the API and returns its token.
func (e *testEnv) publish(t *testing.T) string {
	t.Helper()
	tok := protocol.NewToken()
	if _, err := e.client(node.RoleMatching).Publish(context.Background(), protocol.ListingRequest{Token: tok, Attrs: ledgertest.Attrs()}, ""); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return tok
}

// publishA2 publishes a listing of the other agency, a2, straight through the replicator.
func (e *testEnv) publishA2(t *testing.T) string {
	t.Helper()
	tok := protocol.NewToken()
	res, err := e.rep.LocalReplicator.Propose(context.Background(),
		e.fed.Agencies[1].Sign(ledger.TypePublish, "a2-pub-"+tok[:10], ledger.ListingPayload{Token: tok, Attrs: ledgertest.Attrs()}))
	if err != nil || !res.Accepted {
		t.Fatalf("a2 publish: %v %+v", err, res.Rejection)
	}
	return tok
}

// rawResponse is what a hand-made request got.
type rawResponse struct {
	status int
	header http.Header
	body   string
}

// do sends a hand-made request with the token of role ("" for none).
func (e *testEnv) do(t *testing.T, method, path, body, role string, hdr map[string]string) rawResponse {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokens[role])
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// expectProblem checks that err is a *protocol.Error with status and code.
func expectProblem(t *testing.T, err error, status int, code string) *protocol.Error {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %v (%T); want a problem %d %s", err, err, status, code)
	}
	if pe.Status != status || pe.Code != code || pe.Type != protocol.ProblemTypeBase+protocol.ProblemName(pe.Type) {
		t.Fatalf("got %d %s (%s: %s); want %d %s", pe.Status, pe.Code, pe.Type, pe.Detail, status, code)
	}
	return pe
}
